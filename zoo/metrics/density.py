"""Density metrics: quantized images, uniform dequantization and bits/dim.

A data set stores images as floats in [0, 1] that are exactly `k / (n_bins - 1)`
for integer levels k (the shipped digits have 17 levels, 8-bit data 256). A
continuous density model sees the dequantized image

    x~ = (k + u) / n_bins,    u ~ U[0, 1)^D,

which lies in [0, 1)^D, and the probability of the discrete image is bounded
by the density of x~ over its bin of volume n_bins^-D:

    log P(k) >= E_u[log p(x~)] - D log n_bins.

Bits per dimension is the negative of that bound in bits, divided by the
number of dimensions D = C * H * W:

    bpd = (-log p(x~) + D log n_bins) / (D ln 2).
"""

from __future__ import annotations

import math

import torch

from zoo.errors import InputError

# Images are stored as k / (n_bins - 1) in float32: a value further than this
# (in levels) from an integer level is not data of that bit depth.
LEVEL_TOLERANCE = 0.01


def to_levels(x: torch.Tensor, n_bins: int, what: str = "images") -> torch.Tensor:
    """Integer levels k in 0..n_bins-1 (as float) of images `x` in [0, 1].

    Raises InputError when `x` is outside [0, 1] or is not on the grid of
    `n_bins` levels (data of another bit depth)."""
    if n_bins < 2:
        raise InputError(f"n_bins must be at least 2, got {n_bins}")
    if x.numel() and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise InputError(
            f"{what} must lie in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]"
        )
    scaled = x * (n_bins - 1)
    levels = scaled.round()
    off = (scaled - levels).abs().max().item() if x.numel() else 0.0
    if off > LEVEL_TOLERANCE:
        raise InputError(
            f"{what} are not {n_bins}-level data (a value lies {off:.2f} levels off the grid k/{n_bins - 1})",
            "set n_bins to the number of intensity levels of the data (--set n_bins=...)",
        )
    return levels.clamp(0, n_bins - 1)


def dequantize(levels: torch.Tensor, n_bins: int, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform dequantization: (k + u) / n_bins with u ~ U[0, 1), in [0, 1).
    `noise` gives u explicitly (e.g. 0.5 for the centre of each bin)."""
    if noise is None:
        if generator is None:
            noise = torch.rand_like(levels)
        else:
            noise = torch.rand(levels.shape, generator=generator, device=generator.device).to(levels)
    return (levels + noise) / n_bins


def quantize(x: torch.Tensor, n_bins: int) -> torch.Tensor:
    """A continuous image in [0, 1) back to its level, as an image in [0, 1]:
    floor(x * n_bins) / (n_bins - 1). Values outside [0, 1) are clipped."""
    levels = (x * n_bins).floor().clamp(0, n_bins - 1)
    return levels / (n_bins - 1)


def bits_per_dim(log_density: torch.Tensor, dims: int, n_bins: int) -> torch.Tensor:
    """Bits/dim of discrete images from the log-density (nats) of their
    dequantized version x~ in [0, 1)^dims (one value per image)."""
    return (-log_density + dims * math.log(n_bins)) / (dims * math.log(2.0))


def nats_to_bits_per_dim(nll: torch.Tensor, dims: int) -> torch.Tensor:
    """A negative log-likelihood of discrete data (nats per image) in bits/dim."""
    return nll / (dims * math.log(2.0))
