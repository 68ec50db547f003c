"""Frame metrics for video prediction, and the best-of-N protocol.

The stochastic video prediction protocol (Denton & Fergus 2018, used by SRVP):
for each test sequence, draw N futures from the model; score each sample
against the true future with a metric averaged over the predicted frames;
keep the best sample *per metric* (max PSNR, max SSIM, min LPIPS, chosen
independently); report the mean over sequences with a 95% confidence interval
1.96 * std / sqrt(number of sequences).

PSNR is 10 log10(1 / MSE) on frames in [0, 1], the MSE taken over the pixels of
one channel of one frame, then averaged over channels and frames. SSIM is the
Gaussian-window SSIM of Wang et al. (2004): 11x11 window, sigma 1.5,
K1 = 0.01, K2 = 0.03, data range 1, computed on the "valid" part of the frame
(no padding), averaged over pixels, then over channels and frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from zoo.errors import InputError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(pred: torch.Tensor, target: torch.Tensor, what: str) -> None:
    if pred.shape != target.shape:
        raise InputError(f"{what}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.dim() < 3:
        raise InputError(f"{what} takes (..., C, H, W) frames, got {tuple(pred.shape)}")


# ---------------------------------------------------------------------------
# Per-frame metrics: (..., C, H, W) -> (...)


def psnr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """PSNR of frames in [0, 1], per frame: (..., C, H, W) -> (...).

    The MSE is taken per channel; the channel PSNRs are averaged."""
    _check_pair(pred, target, "PSNR")
    mse = (pred.double() - target.double()).pow(2).mean(dim=(-2, -1))  # (..., C)
    return (10 * torch.log10(1 / mse.clamp_min(eps))).mean(-1).to(pred.dtype)  # (...)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 1-d Gaussian (size,); the 2-d window is its outer product."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of (N, 1, H, W)."""
    k = len(g)
    x = F.conv2d(x, g.view(1, 1, 1, k))  # (N, 1, H, W-k+1)
    return F.conv2d(x, g.view(1, 1, k, 1))  # (N, 1, H-k+1, W-k+1)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Gaussian-window SSIM (Wang et al. 2004) per frame: (..., C, H, W) -> (...).

    Frames must be at least 11x11. The SSIM map of each channel is averaged
    over its valid pixels; the channel values are averaged."""
    _check_pair(pred, target, "SSIM")
    *lead, c, h, w = pred.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise InputError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {h}x{w}")
    x = pred.double().reshape(-1, 1, h, w)  # (N*C, 1, H, W)
    y = target.double().reshape(-1, 1, h, w)
    g = gaussian_window().to(x.device)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    var_x = _blur(x * x, g) - mu_x**2
    var_y = _blur(y * y, g) - mu_y**2
    cov = _blur(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    per_channel = (num / den).mean(dim=(-3, -2, -1))  # (N*C,)
    return per_channel.view(*lead, c).mean(-1).to(pred.dtype)  # (...)


# ---------------------------------------------------------------------------
# The best-of-N protocol


def sequence_scores(metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    samples: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Score N sampled futures against one true future.

    samples (N, T, C, H, W), target (T, C, H, W) -> (N,): the metric averaged
    over the T predicted frames of each sample."""
    if samples.dim() != 5 or samples.shape[1:] != target.shape:
        raise InputError(f"samples {tuple(samples.shape)} do not match the target {tuple(target.shape)}")
    return metric(samples, target.unsqueeze(0).expand_as(samples)).mean(dim=1)  # (N,)


def best_of(scores: torch.Tensor, higher_is_better: bool) -> torch.Tensor:
    """(S, N) scores of N samples for S sequences -> (S,) the best per sequence."""
    return scores.max(dim=1).values if higher_is_better else scores.min(dim=1).values


def mean_ci95(values: torch.Tensor | list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% confidence interval, 1.96 std / sqrt(n)
    (population std, as in the thesis's evaluation code)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise InputError("no values to average")
    return float(v.mean()), float(1.96 * v.std(unbiased=False) / math.sqrt(v.numel()))


def evaluate_video_prediction(
    predict: Callable[[torch.Tensor, int], torch.Tensor],
    data,
    *,
    n_cond: int,
    n_pred: int,
    samples: int,
    batch_size: int = 16,
    max_batch: int = 256,
    lpips_net=None,
    i3d_net=None,
) -> dict[str, float]:
    """Run the best-of-N protocol over a data set of {"video": (T, C, H, W)} items.

    `predict(cond, n_pred)` maps conditioning frames (B, n_cond, C, H, W) to
    one sampled future (B, n_pred, C, H, W) per row. Returns, for PSNR and SSIM
    (and LPIPS with `lpips_net`), the mean over sequences of the best of
    `samples` futures and its 95% interval (`<metric>_ci`); the same metrics
    for copying the last conditioning frame (`<metric>_copy_last`); and, with
    `i3d_net`, FVD between the real clips and the clips completed with the
    first sample (conditioning frames included in both)."""
    from torch.utils.data import DataLoader

    if samples < 1:
        raise InputError(f"the protocol needs at least one sample per sequence, got {samples}")
    metrics = {"psnr": (psnr, True), "ssim": (ssim, True)}
    if lpips_net is not None:
        from zoo.metrics.lpips import lpips_frames

        metrics["lpips"] = (lambda a, b: lpips_frames(lpips_net, a, b), False)
    best: dict[str, list[torch.Tensor]] = {k: [] for k in metrics}
    copy: dict[str, list[torch.Tensor]] = {k: [] for k in metrics}
    real, fake = [], []
    for batch in DataLoader(data, batch_size=batch_size):
        x = batch["video"]  # (B, T, C, H, W)
        if x.shape[1] < n_cond + n_pred:
            raise InputError(f"test clips have {x.shape[1]} frames; {n_cond} + {n_pred} are needed")
        cond, target = x[:, :n_cond], x[:, n_cond : n_cond + n_pred]
        B = len(x)
        per_call = max(1, min(samples, max_batch // B))
        scores: dict[str, list[torch.Tensor]] = {k: [] for k in metrics}
        done = 0
        while done < samples:
            take = min(per_call, samples - done)
            pred = predict(cond.repeat_interleave(take, dim=0), n_pred).float().cpu().clamp(0, 1)
            pred = pred.view(B, take, *target.shape[1:])  # (B, take, n_pred, C, H, W)
            truth = target.unsqueeze(1).expand_as(pred)
            for name, (fn, _) in metrics.items():
                scores[name].append(fn(pred, truth).mean(-1))  # (B, take): averaged over frames
            if done == 0 and i3d_net is not None:
                real.append(torch.cat([cond, target], 1).mul(255).round().byte())
                fake.append(torch.cat([cond, pred[:, 0]], 1).mul(255).round().byte())
            done += take
        last = cond[:, -1:].expand_as(target)  # (B, n_pred, C, H, W)
        for name, (fn, higher) in metrics.items():
            best[name].append(best_of(torch.cat(scores[name], dim=1), higher))
            copy[name].append(fn(last, target).mean(-1))
    out: dict[str, float] = {}
    for name in metrics:
        out[name], out[f"{name}_ci"] = mean_ci95(torch.cat(best[name]))
    for name in metrics:
        out[f"{name}_copy_last"] = mean_ci95(torch.cat(copy[name]))[0]
    if i3d_net is not None:
        from zoo.metrics.fvd import fvd_from_features, i3d_features

        feats = [i3d_features(i3d_net, torch.cat(v).float() / 255) for v in (real, fake)]
        out["fvd"] = fvd_from_features(*feats)
    out["samples"] = float(samples)
    out["sequences"] = float(sum(len(b) for b in best["psnr"]))
    return out
