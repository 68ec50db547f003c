"""DCGAN: the App. C architectures, the losses of Eq. 5.2, sampling and
interpolation, the ranking protocol of §5.3.3 (evaluate, `zoo dcgan rank`,
`zoo dcgan grid`), Tables C.1/C.2 and the shipped weights. (Training,
checkpoint round-trip and export run in the conformance kit.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.method import make_config
from zoo.plugins.dcgan.method import DCGANMethod, discriminator_loss, generator_loss, to_model_range
from zoo.plugins.dcgan.model import DCGAN, Discriminator, Generator
from zoo.plugins.dcgan.tables import TABLE_C1_LSUN, TABLE_C2_LFW, thesis_row


class StepStub:
    def __init__(self, optimizers):
        self.optimizers, self.index = optimizers, 0

    def optimize(self, name, loss):
        opt = self.optimizers[name]
        params = [p for g in opt.param_groups for p in g["params"]]
        opt.zero_grad()
        torch.autograd.backward(loss, inputs=params)
        opt.step()


def tiny(**changes) -> DCGANMethod:
    return DCGANMethod(make_config(DCGANMethod, overrides={"gf": 4, "df": 4, "image_size": 32, "nc": 1, **changes}))


# ---------------------------------------------------------------------------
# Architecture (App. C)


def test_generator_states_follow_appendix_c():
    g = Generator(nz=100, gf=8, nc=3, image_size=64)
    x = torch.randn(2, 100)
    shapes = []
    h = x.view(2, 100, 1, 1)
    for name, layer in g.main.named_children():
        h = layer(h)
        if name.startswith("dc"):
            shapes.append((name, tuple(h.shape[1:])))
    assert shapes == [("dc1", (64, 4, 4)), ("dc2", (32, 8, 8)), ("dc3", (16, 16, 16)), ("dc4", (8, 32, 32)),
                      ("dc5", (3, 64, 64))]
    out = g(x)
    assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1  # tanh


def test_discriminator_states_and_variants():
    d = Discriminator(df=8, nc=3, image_size=64)
    h, shapes = torch.randn(2, 3, 64, 64), []
    for name, layer in d.features.named_children():
        h = layer(h)
        if name.startswith("c"):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)]  # c1 has stride 2 (App. C prints 1)
    assert d(torch.randn(2, 3, 64, 64)).shape == (2,)
    names = dict(d.features.named_children())
    assert "bn1" not in names and isinstance(names["act1"], torch.nn.LeakyReLU)  # dcgan.torch
    literal = dict(Discriminator(8, 3, 64, thesis_literal=True).features.named_children())
    assert "bn1" in literal and isinstance(literal["act1"], torch.nn.ReLU)  # App. C as printed


def test_32px_drops_one_stage():
    m = DCGAN(nz=100, gf=8, df=8, nc=1, image_size=32)
    assert len([n for n, _ in m.generator.main.named_children() if n.startswith("dc")]) == 4
    assert m(torch.randn(3, 100)).shape == (3, 1, 32, 32)
    assert m.discriminator(torch.randn(3, 1, 32, 32)).shape == (3,)
    assert m.encode(torch.rand(3, 1, 32, 32)).shape == (3, 32 * 4 * 4)
    assert m.encode(torch.rand(3, 3, 64, 64)).shape == (3, 32 * 4 * 4)  # RGB and other sizes are adapted
    with pytest.raises(ValueError, match="power of two"):
        DCGAN(image_size=48)


def test_dcgan_torch_initialisation():
    torch.manual_seed(0)
    m = DCGAN(gf=32, df=32)
    w = m.generator.main.dc2.weight
    w = w.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    bn = m.generator.main.bn2
    assert abs(float(bn.weight.detach().mean()) - 1) < 0.01 and float(bn.bias.detach().abs().max()) == 0


# ---------------------------------------------------------------------------
# Losses and training


def test_losses_are_eq_5_2():
    torch.manual_seed(0)
    m = DCGAN(gf=4, df=4, nc=1, image_size=32)
    real, fake = torch.rand(5, 1, 32, 32) * 2 - 1, torch.rand(5, 1, 32, 32) * 2 - 1
    d_real, d_fake = torch.sigmoid(m.discriminator(real)), torch.sigmoid(m.discriminator(fake))
    expected_d = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert torch.allclose(discriminator_loss(m, real, fake), expected_d, atol=1e-5)
    assert torch.allclose(generator_loss(m, fake), -torch.log(d_fake).mean(), atol=1e-5)


def test_train_step_updates_both_networks_and_the_discriminator_learns():
    torch.manual_seed(0)
    method = tiny(lr=1e-3)
    model = method.build()
    step = StepStub(method.configure_optimizers(model))
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    real = torch.rand(16, 1, 32, 32) * 0.1  # an easy, dark "data set"
    out = method.train_step(model, {"image": real}, step)
    assert set(out) == {"loss_d", "loss_g"} and all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    # with the generator frozen, the discriminator's loss falls
    fixed = model.generator(torch.randn(16, model.nz)).detach()
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    first = float(discriminator_loss(model, real * 2 - 1, fixed).detach())
    for _ in range(30):
        loss = discriminator_loss(model, real * 2 - 1, fixed)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first * 0.5


def test_channels_and_sizes_are_adapted_or_refused():
    m = DCGAN(gf=4, df=4, nc=3, image_size=32)
    assert to_model_range(torch.rand(2, 1, 32, 32), m).shape == (2, 3, 32, 32)
    from zoo.errors import DataError

    with pytest.raises(DataError, match="32x32 images, the data are 16x16"):
        to_model_range(torch.rand(2, 3, 16, 16), m)


def test_sample_and_interpolation():
    method = tiny()
    model = method.build().eval()
    torch.manual_seed(0)
    x = method.sample(model, 5)
    assert x.shape == (5, 1, 32, 32) and 0 <= x.min() and x.max() <= 1
    torch.manual_seed(1)
    walk = method.sample(model, 2, interpolate=6)
    assert walk.shape == (2, 6, 1, 32, 32)
    torch.manual_seed(1)
    z1, z2 = torch.randn(2, 1, model.nz), torch.randn(2, 1, model.nz)
    from zoo.plugins.dcgan.method import generate

    assert torch.allclose(walk[:, 0], generate(model, z1[:, 0]), atol=1e-6)
    assert torch.allclose(walk[:, -1], generate(model, z2[:, 0]), atol=1e-6)


def test_bad_image_size_is_a_config_error():
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="power of two"):
        tiny(image_size=40).build()


# ---------------------------------------------------------------------------
# Ranking (§5.3.3, Tables C.1/C.2)


def test_tables_and_thesis_lookup():
    assert len(TABLE_C1_LSUN) == len(TABLE_C2_LFW) == 45
    assert (32, 96, 200, 0.037, 0.779, 0.995) in TABLE_C2_LFW  # the row the thesis mislabels "64 96 200"
    assert min(r[4] for r in TABLE_C1_LSUN) == 0.670 and min(r[5] for r in TABLE_C1_LSUN) == 0.949
    assert min(r[5] for r in TABLE_C2_LFW) == 0.950
    assert thesis_row("lfw-faces", 64, 64, 100.0) == ("Tab. C.2", {"mmd": 0.020, "knn": 0.784, "nn": 0.950})
    assert thesis_row("lsun-bedroom", 64, 64, 3.0) is None and thesis_row("digits", 64, 64, 1.0) is None


def _export(method, tmp_path, name, step, seed):
    torch.manual_seed(seed)
    module = method.build()
    return method.export(module, tmp_path / name, data="digits", step=step)


def test_evaluate_ranks_checkpoints(tmp_path):
    from zoo.data.digits import Digits

    method = tiny()
    a = _export(method, tmp_path, "a", 21, 0)  # 21 steps = 1 epoch of the 1,297 digits at batch 64
    b = _export(method, tmp_path, "b", 105, 1)
    data = Digits("test", size=32)
    one = method.evaluate(method.build(), data, n=64, epochs=3)
    assert set(one) == {"mmd", "knn", "nn"} and 0 <= one["knn"] <= 1
    both = method.evaluate(method.build(), data, checkpoints=f"{a},{b}", n=64, epochs=3, tests="knn")
    assert set(both) == {"gf4-df4-ep1.knn", "gf4-df4-ep5.knn"}
    encoded = method.evaluate(method.build(), data, checkpoints=str(a), n=64, tests="knn",
                              features="dcgan", feature_weights=str(b))
    assert set(encoded) == {"gf4-df4-ep1.knn"}


def test_rank_command_prints_the_table(cli, tmp_path):
    method = tiny()
    a = _export(method, tmp_path, "a", 21, 0)
    b = _export(method, tmp_path, "b", 42, 1)
    out = cli("dcgan", "rank", a, b, "--n", "64", "--nn-epochs", "3", "--json", tmp_path / "rank.json")
    assert out.exit_code == 0, out.output
    assert "MMD" in out.output and "KNN" in out.output and "best by KNN" in out.output
    import json

    rows = json.loads((tmp_path / "rank.json").read_text())["rows"]
    assert [(r["gf"], r["df"], r["epoch"]) for r in rows] == [(4, 4, 1.0), (4, 4, 2.0)]
    bad = cli("dcgan", "rank", tmp_path / "missing")
    assert bad.exit_code == 2 and "not found" in bad.output


def test_grid_command_trains_snapshots_and_ranks(cli, tmp_path):
    out = cli("dcgan", "grid", "--out", tmp_path / "grid", "--gf", "4", "--df", "4,8", "--epochs", "1,2",
              "--set", "image_size=32", "--n", "64", "--nn-epochs", "2", "--tests", "knn,mmd", "--device", "cpu")
    assert out.exit_code == 0, out.output
    for df in (4, 8):
        for ep in (1, 2):
            assert (tmp_path / "grid" / f"gf4-df{df}" / f"ep{ep}" / "model.safetensors").is_file()
    assert "Trained 4 snapshots" in out.output and "best by KNN" in out.output
    bad = cli("dcgan", "grid", "--out", tmp_path / "g2", "--epochs", "0,x")
    assert bad.exit_code == 2 and "--epochs" in bad.output


def test_shipped_weights_match_their_golden_samples():
    from zoo.testing import check_golden

    check_golden("dcgan.digits")


def test_readme_sample_commands_run_as_written(cli, tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "plugins" / "dcgan" / "README.md").read_text(encoding="utf-8")
    lines = [line.split("#")[0].split() for line in readme.splitlines() if line.startswith("zoo sample dcgan")]
    assert len(lines) == 2
    for args in lines:
        result = cli(*args[1:])
        assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "samples").glob("dcgan-*.png"))) >= 1
