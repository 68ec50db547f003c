"""FID and Inception Score from Inception-v3, with weights the user supplies.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to
the 2048-d pool features of real and generated images:

    FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)).

The Inception Score (Salimans et al. 2016) is exp(E_x KL(p(y|x) || p(y)))
over the 1000-way softmax, averaged over `splits` parts of the samples.

The network is torchvision's Inception-v3 architecture, built without
downloading anything; its weights come from a safetensors file the user
supplies (torchvision's `inception_v3` ImageNet weights, converted once with
`safetensors.torch.save_file(torch.load(path, weights_only=True), ...)`), found
by `zoo.metrics.require_metric_weights`. Images in [0, 1] are repeated to
three channels if grey, resized to 299x299 (bilinear) and scaled to [-1, 1],
the input range of those weights. Numbers are comparable between runs of this
code; they differ slightly from the TensorFlow graph of the original FID.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import InputError

INCEPTION = "inception-v3"
INCEPTION_SIZE = 299


# ---------------------------------------------------------------------------
# The network


def build_inception(aux_logits: bool = True) -> nn.Module:
    """torchvision's Inception-v3, untrained, with no download."""
    from torchvision.models import inception_v3

    return inception_v3(weights=None, aux_logits=aux_logits, transform_input=False, init_weights=False)


def load_inception(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Inception-v3 with the weights in the safetensors file `path`."""
    from zoo.checkpoint import load_state_dict, load_tensors

    tensors, _ = load_tensors(Path(path))
    net = build_inception(aux_logits=any(k.startswith("AuxLogits.") for k in tensors))
    load_state_dict(net, tensors, str(path))
    return net.to(device).eval()


def _prepare(images: torch.Tensor) -> torch.Tensor:
    """(N, 1 or 3, H, W) in [0, 1] -> (N, 3, 299, 299) in [-1, 1]."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"FID/IS take (N, 1 or 3, H, W) images, got {tuple(images.shape)}")
    x = images.float().clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # (N, 3, H, W)
    x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return x * 2 - 1


@torch.no_grad()
def inception_outputs(net: nn.Module, batches: Iterable[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Pool features (N, 2048) and class probabilities (N, 1000) of images
    given as an iterable of (B, C, H, W) batches in [0, 1]."""
    device = next(net.parameters()).device
    pooled: list[torch.Tensor] = []
    hook = net.avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(out.flatten(1).double().cpu()))
    probs = []
    try:
        for batch in batches:
            logits = net(_prepare(batch).to(device))  # (B, 1000); hook stores (B, 2048)
            probs.append(F.softmax(logits.double(), dim=1).cpu())
    finally:
        hook.remove()
    if not probs:
        raise InputError("FID/IS got no images")
    return torch.cat(pooled).numpy(), torch.cat(probs).numpy()


# ---------------------------------------------------------------------------
# The statistics


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise InputError(f"FID needs at least 2 feature vectors, got an array of shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the
    eigenvalues of S1^(1/2) S2 S1^(1/2), which is symmetric and has the same
    spectrum as S1 S2, so no non-symmetric matrix square root is needed."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise InputError(f"FID statistics differ in shape: {mu1.shape} vs {mu2.shape}")
    root = _sqrt_psd(s1)
    middle = root @ s2 @ root
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over `splits` parts of
    exp(mean_x KL(p(y|x) || p(y))); fewer parts when there are few samples."""
    p = np.asarray(probs, dtype=np.float64)
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
