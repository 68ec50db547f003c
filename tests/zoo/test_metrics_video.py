"""Video metrics: PSNR/SSIM against an independent numpy implementation, the
best-of-N protocol, and the LPIPS/FVD networks' plumbing (user-supplied weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.errors import CheckpointError, MissingDependencyError
from zoo.metrics.video import best_of, evaluate_video_prediction, mean_ci95, psnr, ssim


# ---------------------------------------------------------------------------
# Reference implementations, written directly from Wang et al. (2004)


def ref_ssim(a: np.ndarray, b: np.ndarray, L: float = 1.0) -> float:
    """Mean SSIM of two 2-d images: an 11x11 Gaussian window (sigma 1.5) slid
    over every valid position, local statistics as weighted sums."""
    k = 11
    ax = np.arange(k) - (k - 1) / 2
    win = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5**2))
    win /= win.sum()
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    h, w = a.shape
    values = []
    for i in range(h - k + 1):
        for j in range(w - k + 1):
            pa, pb = a[i : i + k, j : j + k], b[i : i + k, j : j + k]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va = (win * (pa - ma) ** 2).sum()
            vb = (win * (pb - mb) ** 2).sum()
            cov = (win * (pa - ma) * (pb - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def ref_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of (C, H, W) frames: per channel, then averaged."""
    return float(np.mean([10 * math.log10(1 / np.mean((a[c] - b[c]) ** 2)) for c in range(a.shape[0])]))


def _pair(seed: int, shape=(3, 24, 20)):
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    a[0] = (np.sin(xx / 3) * np.cos(yy / 4) + 1) / 2  # some structure
    b = np.clip(a + rng.normal(0, 0.15, shape) + 0.05, 0, 1)
    return a, b


def test_ssim_matches_the_reference():
    for seed in range(2):
        a, b = _pair(seed)
        expected = np.mean([ref_ssim(a[c], b[c]) for c in range(3)])
        got = ssim(torch.tensor(b), torch.tensor(a)).item()
        assert got == pytest.approx(expected, abs=1e-9)


def test_psnr_matches_the_reference():
    a, b = _pair(3)
    assert psnr(torch.tensor(b), torch.tensor(a)).item() == pytest.approx(ref_psnr(b, a), abs=1e-9)


def test_frame_metrics_keep_leading_dimensions():
    x = torch.rand(2, 5, 1, 16, 16)
    y = (x + 0.1).clamp(0, 1)
    assert psnr(x, y).shape == (2, 5) and ssim(x, y).shape == (2, 5)
    assert torch.allclose(ssim(x, x), torch.ones(2, 5))
    assert (psnr(x, y) < psnr(x, (x + 0.01).clamp(0, 1))).all()


def test_ci_is_196_population_std_over_sqrt_n():
    v = [1.0, 2.0, 4.0, 7.0]
    mean, ci = mean_ci95(v)
    assert mean == pytest.approx(3.5)
    assert ci == pytest.approx(1.96 * np.std(v) / 2)
    assert best_of(torch.tensor([[1.0, 3.0], [5.0, 2.0]]), True).tolist() == [3.0, 5.0]
    assert best_of(torch.tensor([[1.0, 3.0], [5.0, 2.0]]), False).tolist() == [1.0, 2.0]


class _Clips(torch.utils.data.Dataset):
    def __init__(self, n=5, t=6):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, t, 1, 16, 16, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"video": self.x[i]}


def test_protocol_keeps_the_best_sample_per_sequence():
    data = _Clips()
    truth = data.x[:, 2:6]
    calls = []

    def predict(cond, n):  # sample 0 is noise, sample 1 the truth: best-of-2 is perfect
        rows = torch.stack([truth[i] for i in range(len(truth)) for _ in range(len(cond) // len(truth))])
        calls.append(len(cond))
        noise = torch.rand_like(rows)
        pick = (torch.arange(len(cond)) % 2 == 1).view(-1, 1, 1, 1, 1)
        return torch.where(pick, rows, noise)

    out = evaluate_video_prediction(predict, data, n_cond=2, n_pred=4, samples=2, batch_size=5)
    assert out["ssim"] == pytest.approx(1.0) and out["psnr"] > 90
    assert out["sequences"] == 5 and out["samples"] == 2
    copy = float(psnr(data.x[:, 1:2].expand(-1, 4, -1, -1, -1), truth).mean(1).mean())
    assert out["psnr_copy_last"] == pytest.approx(copy, rel=1e-6)


def test_protocol_with_one_sample_is_the_plain_average():
    data = _Clips()
    out = evaluate_video_prediction(lambda c, n: c[:, -1:].expand(-1, n, -1, -1, -1), data,
                                    n_cond=2, n_pred=4, samples=1, batch_size=2)
    assert out["psnr"] == pytest.approx(out["psnr_copy_last"], rel=1e-6)
    assert out["ssim"] == pytest.approx(out["ssim_copy_last"], rel=1e-6)


# ---------------------------------------------------------------------------
# LPIPS and FVD networks


def test_lpips_is_a_distance_and_loads_both_key_namings(tmp_path):
    from safetensors.torch import save_file

    from zoo.metrics.lpips import CHANNELS, LPIPS, load_lpips

    torch.manual_seed(0)
    net = LPIPS()
    features = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(CHANNELS)}
    save_file({**features, **lins}, str(tmp_path / "lpips-alex.safetensors"))
    loaded = load_lpips(tmp_path / "lpips-alex.safetensors")
    assert torch.equal(loaded.lins[2].weight, lins["lin2.model.1.weight"])
    x, y = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    d = loaded(x, y)
    assert d.shape == (3,) and (d > 0).all()
    assert torch.allclose(d, loaded(y, x)) and torch.allclose(loaded(x, x), torch.zeros(3))
    grey = torch.rand(2, 1, 32, 32)
    assert torch.allclose(loaded(grey, grey * 0.5), loaded(grey.expand(-1, 3, -1, -1), grey.expand(-1, 3, -1, -1) * 0.5))
    save_file(features, str(tmp_path / "no-lins.safetensors"))
    with pytest.raises(CheckpointError, match="lin0"):
        load_lpips(tmp_path / "no-lins.safetensors")


def test_metric_weights_are_never_guessed(tmp_path, monkeypatch):
    from zoo.metrics import require_metric_weights

    monkeypatch.setenv("ZOO_METRIC_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="--i3d-weights"):
        require_metric_weights("i3d-kinetics-400", None, "FVD", "--i3d-weights")


def test_i3d_shapes_and_weight_names(tmp_path):
    from safetensors.torch import save_file

    from zoo.metrics.fvd import I3D, _prepare, fvd_from_features, load_i3d

    torch.manual_seed(0)
    net = I3D().eval()
    keys = net.state_dict().keys()
    assert "Conv3d_1a_7x7.conv3d.weight" in keys and "Mixed_4f.b1b.bn.running_var" in keys
    assert "logits.conv3d.bias" in keys
    assert sum(p.numel() for p in net.parameters()) == 12_697_264  # Inception-v1 I3D with a 400-way head
    with torch.no_grad():
        assert net(torch.randn(2, 3, 8, 64, 64)).shape == (2, 400)
    assert _prepare(torch.rand(2, 4, 1, 16, 16)).shape == (2, 3, 4, 224, 224)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "i3d.safetensors"))
    again = load_i3d(tmp_path / "i3d.safetensors")
    assert torch.equal(again.logits.conv3d.weight, net.logits.conv3d.weight)
    feats = np.random.default_rng(0).normal(size=(50, 5))
    assert fvd_from_features(feats, feats) == pytest.approx(0.0, abs=1e-6)
    assert fvd_from_features(feats, feats + 1.0) == pytest.approx(5.0, rel=1e-6)  # |mu1 - mu2|^2


class _TinyFeatures(torch.nn.Module):
    """Stands in for I3D: (B, 3, T, 224, 224) -> (B, 4) features."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 4)

    def forward(self, x):
        return self.proj(torch.stack([x.mean(dim=(1, 2, 3, 4)), x.std(dim=(1, 2, 3, 4)), x[:, :, -1].mean(dim=(1, 2, 3))], 1))


def test_protocol_fvd_compares_real_and_completed_clips():
    torch.manual_seed(0)
    data, net = _Clips(n=6), _TinyFeatures()
    truth = data.x[:, 2:6]

    def oracle(cond, n):
        return truth[: len(cond)]

    same = evaluate_video_prediction(oracle, data, n_cond=2, n_pred=4, samples=1, batch_size=6, i3d_net=net)
    assert same["fvd"] == pytest.approx(0.0, abs=1e-6)
    zeros = evaluate_video_prediction(lambda c, n: torch.zeros_like(truth[: len(c)]), data, n_cond=2, n_pred=4,
                                      samples=1, batch_size=6, i3d_net=net)
    assert zeros["fvd"] > 1e-3
