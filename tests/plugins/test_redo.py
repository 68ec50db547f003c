"""ReDO (plugins/redo): module shapes at the thesis size and a small one,
losses, a few training steps, the collapse restart, sampling, evaluation
against a numpy reference, clear errors, and the shipped weights."""

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.devices import Dist
from zoo.engine import Step
from zoo.errors import ConfigError, DataError, InputError
from zoo.plugins.redo.method import (
    ReDO,
    discriminator_loss,
    generator_loss,
    information_loss,
    smaller_region_share,
)
from zoo.plugins.redo.model import MaskNetwork, RegionGenerator, ResidualEncoder

TINY = dict(size=32, ch=4, nf_f=8, nf_d=8, z_dim=8, batch_size=8)


def tiny(**changes) -> ReDO:
    return ReDO(ReDO.Config(**{**TINY, **changes}))


def make_step(method, model) -> Step:
    return Step(method.configure_optimizers(model), {}, {}, 1, None, Dist(), torch.device("cpu"))


def one_line_error(result, needle):
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert lines and lines[-1].startswith("Error:") and "Traceback" not in result.output
    assert needle in result.output, result.output


# ---------------------------------------------------------------------------
# Modules


def test_modules_at_the_thesis_size_follow_tables_5_1_to_5_3():
    torch.manual_seed(0)
    c = ReDO.Config()
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    F = MaskNetwork(128, 2, c.nf_f, c.n_res)
    assert F.down(x).shape == (1, 64, 32, 32)
    assert F.ppm(F.res(F.down(x))).shape == (1, 68, 32, 32)
    m = F(x)
    assert m.shape == (1, 2, 128, 128) and F.up[-1].out_channels == 1
    G = RegionGenerator(128, c.z_dim, c.ch, True)
    assert G.dense.out_features == 16 * 32 * 4 * 4 and len(G.blocks) == 5
    assert [b.conv_b.out_channels for b in G.blocks] == [512, 256, 128, 64, 32]
    V = G(m[:, :1], torch.randn(1, 32))
    assert V.shape == (1, 3, 128, 128)
    D = ResidualEncoder(128, c.nf_d, 1, True)
    assert D.first(x).shape == (1, 64, 64, 64) and D.linear.in_features == 1024
    assert D(x).shape == (1, 1)  # δ is the same trunk without self-attention (checked at 32 px below)


@pytest.mark.parametrize("n", [2, 3])
def test_model_outputs_at_a_small_size(n):
    torch.manual_seed(0)
    method = tiny(n_regions=n)
    model = method.build()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    z = torch.randn(3, n, 8)
    masks, V, fakes = model(x, z)
    assert masks.shape == (3, n, 32, 32) and V.shape == (3, n, 3, 32, 32) and fakes.shape == (3, n, 3, 32, 32)
    assert torch.allclose(masks.sum(1), torch.ones(3, 32, 32), atol=1e-5)
    assert masks.min() >= 0 and masks.max() <= 1
    # X_k keeps the image outside region k, and G_k draws nothing outside its mask
    assert torch.allclose(fakes, V + (1 - masks.unsqueeze(2)) * x.unsqueeze(1))
    hard = torch.zeros(3, 1, 32, 32)
    hard[:, :, 8:20, 4:30] = 1
    V_0 = model.G[0](hard, z[:, 0])
    assert V_0.shape == (3, 3, 32, 32) and (V_0 * (1 - hard)).abs().max() == 0 and V_0.abs().sum() > 0
    assert model.D(x).shape == (3, 1)
    assert model.delta_z(x).shape == (3, n, 8) and model.delta.linear.out_features == n * 8
    assert isinstance(model.delta.attention, torch.nn.Identity) and not isinstance(model.D.attention, torch.nn.Identity)
    assert len(model.G) == n


def test_orthogonal_init_and_spectral_norm():
    torch.manual_seed(0)
    model = tiny().build()
    w = model.F.down[1].weight.flatten(1)                          # (out, in*k*k), out < in
    assert torch.allclose(w @ w.T, 0.8**2 * torch.eye(len(w)), atol=1e-4)
    conv = model.D.first.body[1]                                   # spectrally normalised
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.02)


def test_bad_config_values_are_clear_errors():
    with pytest.raises(ConfigError, match="power of two"):
        tiny(size=48)
    with pytest.raises(ConfigError, match="even"):
        tiny(batch_size=7)
    with pytest.raises(ConfigError, match="n_regions"):
        tiny(n_regions=1)


def test_lambda_z_follows_the_thesis_rule():
    assert ReDO().lambda_z == pytest.approx(5 / 64)
    from zoo.method import make_config

    lfw = make_config(ReDO, preset="thesis", dataset="lfw")
    assert (lfw.ch, lfw.lambda_z_scale) == (64, 15.0) and ReDO(lfw).lambda_z == pytest.approx(15 / 64)


# ---------------------------------------------------------------------------
# Losses and training


def test_losses_match_their_equations():
    d_real, d_fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    assert discriminator_loss(d_real, d_fake).item() == pytest.approx((0 + 0.5 + 2) / 3 + (0 + 1 + 2) / 3)
    assert generator_loss(d_fake).item() == pytest.approx(1 / 3)
    z, z_hat = torch.zeros(2, 2, 3), torch.ones(2, 2, 3)
    # λ_z Σ_k ||δ_k - z_k||² = the code's w_z · MSE with w_z = λ_z n size_z
    assert information_loss(z_hat, z, 0.5).item() == pytest.approx(0.5 * 6)
    assert information_loss(z_hat, z, 5 / 6).item() == pytest.approx(5 * torch.nn.functional.mse_loss(z_hat, z).item())
    masks = torch.zeros(1, 2, 4, 4)
    masks[:, 0, :1] = 1
    masks[:, 1, 1:] = 1
    assert smaller_region_share(masks).item() == pytest.approx(0.25)


def test_training_steps_are_finite_and_learn():
    torch.manual_seed(0)
    method = tiny()
    model = method.build()
    step = make_step(method, model)
    from zoo.data.segmentation import SyntheticFlowers

    data = SyntheticFlowers("train", 32)
    batch = {"image": torch.stack([data[i]["image"] for i in range(8)])}
    D_before = [p.clone() for p in model.D.parameters()]
    F_before = [p.clone() for p in model.F.parameters()]
    logs = []
    for i in range(12):
        step.index = i
        logs.append({k: float(v) for k, v in method.train_step(model, batch, step).items()})
    assert all(np.isfinite(v) for log in logs for v in log.values())
    first, last = logs[:4], logs[-4:]
    mean = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    assert mean(last, "loss_z") < mean(first, "loss_z")   # δ learns to recover z
    assert mean(last, "loss_d") < mean(first, "loss_d")   # D learns to separate
    assert any(not torch.equal(a, b) for a, b in zip(D_before, model.D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(F_before, model.F.parameters()))


def test_collapse_restarts_reinitialise_and_stop_after_the_limit():
    torch.manual_seed(0)
    method = tiny(restart_share=1.0, eval_every=2, restart_until=2)  # every check sees a "collapse"
    model = method.build()
    step = make_step(method, model)
    batch = {"image": torch.rand(8, 3, 32, 32)}
    step.index = 0
    method.train_step(model, batch, step)
    trained = model.F.down[1].weight.clone()
    step.index = 1
    method.train_step(model, batch, step)                  # step 2: a check, restart
    assert model.restarts.item() == 1
    assert all(len(opt.state) == 0 for opt in step.optimizers.values())
    w = model.F.down[1].weight.flatten(1)
    assert not torch.equal(w.view_as(trained), trained)
    assert torch.allclose(w @ w.T, 0.8**2 * torch.eye(len(w)), atol=1e-4)  # a fresh orthogonal init
    for i in (2, 3):                                        # step 4 > restart_until: no restart
        step.index = i
        method.train_step(model, batch, step)
    assert model.restarts.item() == 1 and len(step.optimizers["G"].state) > 0


# ---------------------------------------------------------------------------
# Sampling and evaluation


def test_sample_grid_and_input_images(tmp_path):
    torch.manual_seed(0)
    method = tiny()
    model = method.build().eval()
    grid = method.sample(model, 3, variants=2)
    assert grid.shape == (3, 1 + 1 + 2 * 2, 3, 32, 32) and grid.min() >= 0 and grid.max() <= 1
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 60, 3), np.uint8)).save(tmp_path / f"{i}.png")
    from_files = method.sample(model, 5, input=[tmp_path / "0.png", tmp_path / "1.png"], variants=1)
    assert from_files.shape == (2, 4, 3, 32, 32)
    from_folder = method.sample(model, 2, input=[tmp_path], variants=1)
    assert from_folder.shape == (2, 4, 3, 32, 32)                   # at most n rows
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="cannot read image"):
        method.sample(model, 2, input=[tmp_path / "notes.txt"])
    with pytest.raises(InputError, match="does not exist"):
        method.sample(model, 2, input=[tmp_path / "missing.png"])


class FixedMasks(torch.nn.Module):
    """A stand-in model whose F returns given masks, to check `evaluate`."""

    def __init__(self, masks):
        super().__init__()
        self.masks = masks
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.seen = 0

    def F(self, x):
        out = self.masks[self.seen : self.seen + len(x)]
        self.seen += len(x)
        return out


def test_evaluate_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    gt = rng.random((10, 1, 8, 8)) < 0.4
    m1 = rng.random((10, 1, 8, 8)).astype(np.float32)
    masks = torch.cat([torch.from_numpy(m1), 1 - torch.from_numpy(m1)], 1)
    data = [{"image": torch.zeros(3, 8, 8), "mask": torch.from_numpy(g.astype(np.float32))} for g in gt]
    ours = tiny().evaluate(FixedMasks(masks), data, batch_size=4)

    fg = m1[:, 0] >= 0.5                                   # the code's binarisation of M^1
    g = gt[:, 0]
    acc = np.stack([(fg == g).mean((1, 2)), (~fg == g).mean((1, 2))])
    def iou(p):
        return np.array([(a & b).sum() / (a | b).sum() for a, b in zip(p, g)])
    ious = np.stack([iou(fg), iou(~fg)])
    best = ious.mean(1).argmax()
    assert ours["acc"] == pytest.approx(acc.max(0).mean(), abs=1e-6)
    assert ours["iou"] == pytest.approx(ious.max(0).mean(), abs=1e-6)
    assert ours["acc_fixed"] == pytest.approx(acc[best].mean(), abs=1e-6)
    assert ours["iou_fixed"] == pytest.approx(ious[best].mean(), abs=1e-6)
    assert ours["iou"] >= ours["iou_fixed"]
    share = fg.mean()
    assert ours["smallest_region"] == pytest.approx(min(share, 1 - share), abs=1e-6)
    first3 = tiny().evaluate(FixedMasks(masks), data, limit=3)
    assert first3["iou"] == pytest.approx(ious[:, :3].max(0).mean(), abs=1e-6)


def test_disc_baseline_and_unlabelled_splits():
    method = tiny()
    model = method.build().eval()
    gt = torch.zeros(1, 32, 32)
    gt[:, 8:24, 8:24] = 1
    data = [{"image": torch.rand(3, 32, 32), "mask": gt}] * 3
    scores = method.evaluate(model, data, baseline="disc")
    assert 0.6 < scores["iou"] < 1 and scores["smallest_region"] == pytest.approx(0.25, abs=0.02)
    with pytest.raises(InputError, match="baseline"):
        method.evaluate(model, data, baseline="ellipse")
    with pytest.raises(DataError, match="no ground-truth masks"):
        method.evaluate(model, [{"image": torch.rand(3, 32, 32)}])


# ---------------------------------------------------------------------------
# The command line and the shipped weights


def test_missing_real_data_is_one_line(cli):
    one_line_error(cli("train", "redo", "--data", "flowers"), "setid.mat")


def test_bad_input_image_is_one_line(cli, tmp_path):
    (tmp_path / "photo.jpg").write_text("not a jpeg")
    one_line_error(cli("sample", "redo", "--input", tmp_path / "photo.jpg"), "cannot read image")


def test_sample_from_the_shipped_weights(cli, tmp_path):
    Image.fromarray(np.full((50, 50, 3), 90, np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "grid.png"
    result = cli("sample", "redo", "--input", tmp_path / "a.png", "--variants", "2", "--out", out)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] > Image.open(out).size[1] > 0


def test_shipped_weights_reproduce_their_golden_samples():
    from zoo.testing import check_golden

    check_golden("redo.synthetic-flowers")


def test_shipped_weights_beat_the_trivial_baseline():
    from zoo import api
    from zoo.registry import load_registry

    model = api.load("redo")
    ours = model.evaluate(split="test", limit=300)
    disc = model.evaluate(split="test", limit=300, baseline="disc")
    assert ours["iou"] > disc["iou"] + 0.1 and ours["iou_fixed"] > disc["iou_fixed"] + 0.1
    entry = load_registry().get_weights("redo.synthetic-flowers")
    assert entry.metrics["iou"] == pytest.approx(model.evaluate(split="test")["iou"], abs=5e-4)


def test_readme_commands_parse_and_its_sample_command_runs(cli, tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "plugins" / "redo" / "README.md").read_text(encoding="utf-8")
    commands = [line.split("#")[0].split() for line in readme.splitlines() if line.startswith("zoo ")]
    assert ["zoo", "train", "redo"] in commands and ["zoo", "sample", "redo"] in commands
    for args in commands:  # every README command is a valid invocation
        if args[1] in ("train", "sample", "evaluate") and "&&" not in args:
            assert cli(*args[1:], "--help").exit_code == 0, args
    result = cli("sample", "redo")
    assert result.exit_code == 0, result.output
    assert [p.suffix for p in (tmp_path / "samples").iterdir()] == [".png"]
