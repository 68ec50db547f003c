"""SRVP: module shapes, the objective's terms, the thesis settings, filtering
inference, sampling from the user's frames, the evaluation protocol and the
shipped weights. (Training, checkpoint round-trip and export run in the
conformance kit, tests/plugins/test_conformance.py.)"""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from zoo.errors import InputError, MissingDependencyError
from zoo.method import make_config
from zoo.plugins.srvp.method import SRVP, gaussian_nll, kl_normal, residual_penalty, srvp_loss
from zoo.plugins.srvp.model import (
    SRVP as SRVPNet,
    Content,
    DCGANDecoder,
    DCGANEncoder,
    VGGDecoder,
    VGGEncoder,
)

TINY = dict(nf=4, enc_size=16, content_size=16, h_size=6, z_size=5, inf_hidden=16, lstm_hidden=16,
            res_hidden=16, k=2, n_cond=3, n_pred=4, train_len=6, batch_size=4, frame_size=32)


def tiny(**changes) -> SRVP:
    return SRVP(make_config(SRVP, overrides={**TINY, **changes}))


# ---------------------------------------------------------------------------
# Networks


@pytest.mark.parametrize("Encoder,Decoder,widths", [
    (DCGANEncoder, DCGANDecoder, [(512, 4), (256, 8), (128, 16), (64, 32)]),
    (VGGEncoder, VGGDecoder, [(512, 8), (256, 16), (128, 32), (64, 64)]),
])
def test_thesis_encoders_and_decoders_at_64px(Encoder, Decoder, widths):
    enc = Encoder(3, 64, 64, 128)
    dec = Decoder(3, 64, 64, 128 + 50, skip=True)
    e, skips = enc(torch.rand(2, 3, 64, 64))
    assert e.shape == (2, 128) and e.abs().max() <= 1  # tanh output
    assert [(s.shape[1], s.shape[-1]) for s in skips] == widths  # deepest level first
    x = dec(torch.randn(2, 178), skips)
    assert x.shape == (2, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    plain = Decoder(1, 64, 64, 148, skip=False)
    assert plain(torch.randn(2, 148)).shape == (2, 1, 64, 64)


def test_smaller_frames_drop_levels_not_layers():
    enc = DCGANEncoder(1, 32, 16, 64)
    assert len(enc.blocks) == 3 and enc(torch.rand(2, 1, 32, 32))[0].shape == (2, 64)
    assert len(VGGEncoder(1, 32, 8, 64).blocks) == 3


def test_content_is_permutation_invariant():
    c = Content(16, 8)
    e = torch.randn(3, 5, 16)
    assert c(e).shape == (3, 8)
    assert torch.allclose(c(e), c(e[:, torch.randperm(5)]), atol=1e-6)


def test_model_output_shapes_and_residual_dynamic():
    torch.manual_seed(0)
    net = tiny(arch="vgg", skip=True).build()
    x = torch.rand(2, 6, 1, 32, 32)
    out = net(x)
    assert out.frames.shape == (2, 6, 1, 32, 32)
    assert out.q_h1[0].shape == (2, 6) and (out.q_h1[1] > 0).all()
    roll = out.rollout
    assert roll.h.shape == (2, 6, 6) and roll.residuals.shape == (2, 5, 6)
    assert roll.q_z[0].shape == roll.p_z[0].shape == (2, 5, 5)
    assert torch.allclose(roll.h[:, 1:], roll.h[:, :-1] + roll.residuals, atol=1e-6), "h_t = h_{t-1} + f(h_{t-1}, z_t)"
    net.eval()
    assert net.predict(x[:, :3], 7).shape == (2, 7, 1, 32, 32)
    assert net.predict(x[:, :3], 7, with_cond=True).shape == (2, 10, 1, 32, 32)


def test_residual_mlp_is_orthogonal_with_the_thesis_gain():
    net = tiny(res_gain=1.2).build()
    square = [m.weight for m in net.residual.modules() if isinstance(m, torch.nn.Linear) and m.weight.shape[0] == m.weight.shape[1]]
    assert square
    for w in square:
        assert torch.allclose(w @ w.T, 1.2**2 * torch.eye(len(w)), atol=1e-4)


def test_inference_is_filtering():
    """q(z_t | x_{1:t}): changing a later frame leaves earlier posteriors alone."""
    torch.manual_seed(0)
    net = tiny().build().eval()
    e = torch.randn(1, 6, 16)
    e2 = e.clone()
    e2[:, 4] += 1.0
    q1 = net.q_z(net.q_z_lstm(e)[0])
    q2 = net.q_z(net.q_z_lstm(e2)[0])
    assert torch.allclose(q1[:, :4], q2[:, :4]) and not torch.allclose(q1[:, 4], q2[:, 4])


# ---------------------------------------------------------------------------
# The objective


def test_loss_terms_match_torch_distributions():
    x, mean = torch.rand(3, 4, 1, 8, 8), torch.rand(3, 4, 1, 8, 8)
    nu = 0.04
    expected = -D.Normal(mean, math.sqrt(nu)).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_nll(x, mean, nu), expected, rtol=1e-5)
    mq, sq, mp, sp = torch.randn(3, 5, 7), torch.rand(3, 5, 7) + 0.1, torch.randn(3, 5, 7), torch.rand(3, 5, 7) + 0.1
    expected = D.kl_divergence(D.Normal(mq, sq), D.Normal(mp, sp)).flatten(1).sum(1)
    assert torch.allclose(kl_normal(mq, sq, mp, sp), expected, rtol=1e-5)
    res = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])
    assert residual_penalty(res).tolist() == [6.0], "plain L2 norms, summed over time"


def test_beta_weights_only_the_z_kl():
    torch.manual_seed(0)
    method = tiny()
    net = method.build()
    x = torch.rand(2, 6, 1, 32, 32)
    torch.manual_seed(1)
    a = srvp_loss(x, net(x), method.config)
    torch.manual_seed(1)
    b = srvp_loss(x, net(x), tiny(beta_z=3.0).config)
    assert torch.allclose(b["loss"] - a["loss"], a["kl_z"] * (3.0 - method.config.beta_z), rtol=1e-4)


def test_training_lowers_the_loss():
    from zoo.devices import Dist
    from zoo.engine import Step

    torch.manual_seed(0)
    method = tiny(lr=3e-3, nu=0.1, train_len=4)
    net = method.build()
    opt, sched = method.configure_optimizers(net)["model"]
    step = Step({"model": opt}, {}, {}, 1, None, Dist(), torch.device("cpu"))
    from zoo.data.video import load_smmnist_digits

    data = load_smmnist_digits(None, "train", length=4, size=32)
    batch = {"video": torch.stack([data[i]["video"] for i in range(2)])}
    losses = [float(method.train_step(net, batch, step)["loss"]) for _ in range(25)]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    method = tiny(steps=10, lr_decay_steps=4, lr=1.0)
    opt, sched = method.configure_optimizers(method.build())["model"]
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0])


# ---------------------------------------------------------------------------
# Thesis settings


def test_thesis_values_per_data_set():
    mm = make_config(SRVP, preset="thesis", dataset="smmnist")
    assert (mm.arch, mm.skip, mm.h_size, mm.k, mm.nu, mm.beta_z, mm.batch_size, mm.res_gain) == \
        ("dcgan", False, 20, 5, 1.0, 2.0, 128, 1.41)
    assert (mm.train_len, mm.n_cond, mm.n_pred, mm.steps, mm.lr_decay_steps) == (15, 5, 20, 1_100_000, 100_000)
    kth = make_config(SRVP, preset="thesis", dataset="kth")
    assert (kth.arch, kth.skip, kth.h_size, kth.z_size, kth.k, kth.nu, kth.beta_z, kth.res_gain) == \
        ("vgg", True, 50, 50, 3, 0.04, 1.0, 1.2)
    assert (kth.train_len, kth.n_cond, kth.n_pred, kth.batch_size, kth.steps, kth.lr_decay_steps) == (20, 10, 30, 100, 200_000, 50_000)
    h36 = make_config(SRVP, preset="thesis", dataset="human36m")
    assert (h36.channels, h36.n_cond, h36.n_pred, h36.steps, h36.lr_decay_steps) == (3, 8, 45, 350_000, 25_000)
    bair = make_config(SRVP, preset="thesis", dataset="bair")
    assert (bair.channels, bair.k, bair.nu, bair.n_cond, bair.n_pred, bair.batch_size, bair.steps) == (3, 2, 0.5, 2, 28, 192, 1_500_000)
    assert SRVP.selection == ("psnr", "max")
    assert SRVP(kth).data_options("kth", "test") == {"length": 40, "size": 64, "channels": 1}
    assert SRVP(kth).data_options("kth", "train")["length"] == 20


def test_impossible_settings_are_config_errors():
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="k = 5"):
        tiny(k=5, n_cond=3)
    with pytest.raises(ConfigError, match="power of two"):
        tiny(frame_size=48)
    with pytest.raises(ConfigError, match="'dcgan' or 'vgg'"):
        tiny(arch="resnet")


# ---------------------------------------------------------------------------
# Sampling from the user's frames


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    method = tiny()
    return method, method.build().eval()


def test_sample_conditions_on_a_test_sequence(small):
    method, net = small
    torch.manual_seed(0)
    out = method.sample(net, 3)
    assert out.shape == (3, 7, 1, 32, 32) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[0, :3], out[1, :3]), "every future starts from the same conditioning frames"
    from zoo.data.video import load_smmnist_digits

    test = load_smmnist_digits(None, "test", length=3, size=32)
    assert torch.allclose(out[0, :3], test[0]["video"])
    assert method.sample(net, 1, n_pred=2, sequence=5).shape == (1, 5, 1, 32, 32)
    with pytest.raises(InputError, match="out of range"):
        method.sample(net, 1, sequence=10_000)


def test_sample_from_a_gif_and_a_folder(small, tmp_path):
    from zoo.video import write_gif

    method, net = small
    clip = torch.rand(5, 1, 32, 32)
    gif = write_gif(clip, tmp_path / "in.gif", scale=1)
    out = method.sample(net, 2, input=str(gif))
    assert out.shape == (2, 7, 1, 32, 32)
    assert torch.allclose(out[0, :3], clip[-3:], atol=1 / 255 + 1e-6), "the last n_cond frames condition"
    folder = tmp_path / "frames"
    folder.mkdir()
    from PIL import Image

    for i in range(4):
        Image.fromarray((clip[i, 0] * 255).round().byte().numpy()).convert("RGB").save(folder / f"{i:02d}.png")
    assert method.sample(net, 1, input=str(folder)).shape == (1, 7, 1, 32, 32)


def test_sample_refuses_bad_videos_clearly(small, tmp_path):
    from zoo.video import write_gif

    method, net = small
    with pytest.raises(InputError, match="64x64, the model takes 32x32"):
        method.sample(net, 1, input=str(write_gif(torch.rand(5, 1, 64, 64), tmp_path / "big.gif", scale=1)))
    ok = method.sample(net, 1, input=str(tmp_path / "big.gif"), resize=True)
    assert ok.shape == (1, 7, 1, 32, 32)
    with pytest.raises(InputError, match="at least 3"):
        method.sample(net, 1, input=str(write_gif(torch.rand(2, 1, 32, 32), tmp_path / "short.gif", scale=1)))
    (tmp_path / "bad.gif").write_bytes(b"not a gif")
    with pytest.raises(InputError, match="cannot read"):
        method.sample(net, 1, input=str(tmp_path / "bad.gif"))


@pytest.fixture(scope="module")
def lively():
    """A tiny model whose weights are moved off their near-zero initial
    values, so that its frames depend on its inputs and latents."""
    torch.manual_seed(0)
    method = tiny()
    net = method.build().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return method, net


def test_swapping_a_video_with_itself_is_its_reconstruction(lively):
    """Content swap takes w and skips from one clip and (h, z) from another;
    with the same clip on both sides it is the model's reconstruction."""
    _, net = lively
    x = torch.rand(2, 6, 1, 32, 32)
    torch.manual_seed(1)
    swapped = net.swap(x, x)
    torch.manual_seed(1)
    assert torch.allclose(swapped, net.predict(x, 0, with_cond=True), atol=1e-6)
    assert net.swap(x[:, :3], x, n_pred=4).shape == (2, 10, 1, 32, 32)


def test_swap_follows_the_dynamics_and_keeps_the_content(lively):
    """Two content clips under one dynamics clip: the outputs differ (w and
    the skips are used), and one content clip under two dynamics clips: they
    differ too (h and z are used). The rows are the inputs and the result."""
    method, net = lively
    a, b, d = torch.rand(3, 6, 1, 32, 32).unbind(0)
    torch.manual_seed(2)
    rows_a = method.swap(net, a[:3], d, n_pred=2)
    torch.manual_seed(2)
    rows_b = method.swap(net, b[:3], d, n_pred=2)
    torch.manual_seed(2)
    rows_e = method.swap(net, a[:3], b, n_pred=2)
    assert rows_a.shape == (3, 8, 1, 32, 32)
    assert torch.equal(rows_a[0, :6], d) and torch.equal(rows_a[1, :3], a[:3]) and (rows_a[1, 3:] == 1).all()
    assert not torch.allclose(rows_a[2], rows_b[2]) and not torch.allclose(rows_a[2], rows_e[2])
    with pytest.raises(InputError, match="at least k = 2 frames"):
        method.swap(net, a[:1], d)


def test_interpolation_moves_only_the_initial_state(lively):
    method, net = lively
    a, b = torch.rand(2, 6, 1, 32, 32).unbind(0)
    rows = method.interpolate(net, a, b, steps=4, seed=3)
    assert rows.shape == (8, 6, 1, 32, 32)
    assert torch.equal(rows[0], a) and torch.equal(rows[-1], b)
    same = method.interpolate(net, a, a, steps=3, seed=3)
    assert torch.allclose(same[2], same[3]) and torch.allclose(same[3], same[4]), "the prior noise is shared by the path"
    assert torch.allclose(same[2], rows[2]), "the path starts at A's initial state"
    assert not torch.allclose(rows[2], rows[5])
    with pytest.raises(InputError, match="at least its two ends"):
        method.interpolate(net, a, b, steps=1)
    with pytest.raises(InputError, match="differ in shape"):
        method.interpolate(net, a, b[:5])


def test_read_clip_takes_files_folders_and_test_sequences(small, tmp_path):
    from zoo.data.video import load_smmnist_digits
    from zoo.video import write_gif

    method, _ = small
    clip = method.read_clip("smmnist-digits:4", 6)
    assert torch.allclose(clip, load_smmnist_digits(None, "test", length=6, size=32)[4]["video"])
    gif = write_gif(torch.rand(8, 1, 32, 32), tmp_path / "in.gif", scale=1)
    assert method.read_clip(str(gif), 5).shape == (5, 1, 32, 32)
    with pytest.raises(InputError, match="smmnist-digits:9999 is out of range"):
        method.read_clip("smmnist-digits:9999", 6)
    with pytest.raises(InputError, match="neither a video file or folder"):
        method.read_clip("nothing-here", 6)


def test_swap_and_interpolate_commands(cli, tmp_path, small):
    method, net = small
    run = tmp_path / "tiny"
    method.export(net, run, data="smmnist-digits")
    out = cli("srvp", "swap", "smmnist-digits:0", "smmnist-digits:1", "--weights", run, "--out", tmp_path / "s.png",
              "--n-pred", "2")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "s.png").stat().st_size > 0 and "Wrote" in out.output
    out = cli("srvp", "interpolate", "smmnist-digits:0", "smmnist-digits:1", "--weights", run,
              "--out", tmp_path / "i.png", "--steps", "3", "--frames", "5")
    assert out.exit_code == 0, out.output
    from PIL import Image

    assert Image.open(tmp_path / "i.png").size[1] > Image.open(tmp_path / "s.png").size[1]  # 7 rows against 3
    bad = cli("srvp", "swap", "smmnist-digits:0", "smmnist-digits:1", "--weights", run, "--out", tmp_path / "s.gif")
    assert bad.exit_code == 2 and "must be a .png file" in bad.output


def test_save_samples_writes_strip_and_gif(small, tmp_path):
    from zoo.video import mp4_encoder

    method, _ = small
    samples = torch.rand(2, 7, 1, 32, 32)
    paths = method.save_samples(samples, tmp_path / "s.png")
    assert {p.suffix for p in paths} >= {".png", ".gif"} and all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(InputError, match=".png"):
        method.save_samples(samples, tmp_path / "s.jpg")
    if mp4_encoder() is None:
        with pytest.raises(MissingDependencyError, match="imageio"):
            method.save_samples(samples, tmp_path / "x.mp4")
        assert not list(tmp_path.glob("x.*")), "nothing half-written"


# ---------------------------------------------------------------------------
# Evaluation


def test_evaluate_follows_the_protocol(small, tmp_path, monkeypatch):
    from zoo.data.video import load_smmnist_digits

    method, net = small
    data = load_smmnist_digits(None, "test", length=7, size=32)
    out = method.evaluate(net, data, samples=3, sequences=4)
    assert out["sequences"] == 4 and out["samples"] == 3
    for key in ("psnr", "psnr_ci", "ssim", "ssim_ci", "psnr_copy_last", "ssim_copy_last"):
        assert math.isfinite(out[key])
    torch.manual_seed(0)
    more = method.evaluate(net, data, samples=12, sequences=4)
    assert more["psnr"] >= out["psnr"] - 0.5, "more samples can only help the best of N (up to noise)"
    monkeypatch.setenv("ZOO_METRIC_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="--lpips-weights"):
        method.evaluate(net, data, samples=1, sequences=1, lpips=True)
    with pytest.raises(MissingDependencyError, match="FVD needs i3d-kinetics-400"):
        method.evaluate(net, data, samples=1, sequences=1, fvd=True)


def test_evaluate_with_lpips_weights(small, tmp_path):
    from safetensors.torch import save_file

    from zoo.data.video import load_smmnist_digits
    from zoo.metrics.lpips import CHANNELS, LPIPS

    method, net = small
    features = {f"features.{k}": v for k, v in LPIPS().features.state_dict().items()}
    lins = {f"lin{i}.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(CHANNELS)}
    save_file({**features, **lins}, str(tmp_path / "lp.safetensors"))
    data = load_smmnist_digits(None, "test", length=7, size=32)
    out = method.evaluate(net, data, samples=2, sequences=2, lpips_weights=str(tmp_path / "lp.safetensors"))
    assert out["lpips"] >= 0 and math.isfinite(out["lpips_ci"]) and "lpips_copy_last" in out


# ---------------------------------------------------------------------------
# Shipped weights and the README


def test_shipped_weights_reproduce_their_golden_samples():
    from zoo.testing import check_golden

    check_golden("srvp.smmnist-digits")


def test_registry_lists_the_shipped_weights_with_test_metrics():
    from zoo.registry import load_registry

    entry = load_registry().default_weights("srvp")
    assert entry.name == "srvp.smmnist-digits" and entry.data == "smmnist-digits" and entry.bundled
    assert {"psnr", "ssim", "psnr_copy_last"} <= set(entry.metrics)
    assert entry.metrics["psnr"] > entry.metrics["psnr_copy_last"]


def test_readme_sample_command_runs_as_written(tmp_path):
    from pathlib import Path

    from typer.testing import CliRunner

    from zoo.cli.app import build_app
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    readme = (Path(__file__).resolve().parents[2] / "plugins" / "srvp" / "README.md").read_text(encoding="utf-8")
    line = next(l for l in readme.splitlines() if l.startswith("zoo sample srvp "))
    args = line.split("#")[0].split()[1:]
    assert args == ["sample", "srvp"]
    app = build_app(PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False))
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    written = sorted(p.suffix for p in (tmp_path / "samples").iterdir())
    assert ".png" in written and ".gif" in written
