"""Bits/dim, levels and uniform dequantization."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.errors import InputError
from zoo.metrics.density import bits_per_dim, dequantize, nats_to_bits_per_dim, quantize, to_levels


def test_levels_round_trip_at_the_data_bit_depth():
    for n_bins in (2, 17, 256):
        k = torch.randint(0, n_bins, (4, 3, 5, 5)).float()
        x = k / (n_bins - 1)
        assert torch.equal(to_levels(x, n_bins), k)
        x_tilde = dequantize(k, n_bins)
        assert x_tilde.min() >= 0 and x_tilde.max() < 1
        assert torch.equal((x_tilde * n_bins).floor(), k), "dequantized values left their bin"
        assert torch.equal(quantize(x_tilde, n_bins), x)


def test_other_bit_depths_and_ranges_are_refused():
    digits = torch.arange(17).float() / 16
    with pytest.raises(InputError, match="not 256-level data"):
        to_levels(digits, 256)
    with pytest.raises(InputError, match=r"lie in \[0, 1\]"):
        to_levels(digits * 2, 17)


def test_bits_per_dim_is_the_discrete_likelihood_bound_in_bits():
    # a uniform density on [0, 1)^D gives each of the n_bins^D images probability n_bins^-D
    D = 64
    for n_bins in (17, 256):
        assert bits_per_dim(torch.zeros(2), D, n_bins).allclose(torch.full((2,), math.log2(n_bins)))
    # a density of e^D on the cube (twice as likely per nat and dimension)
    assert bits_per_dim(torch.tensor([float(D)]), D, 256).item() == pytest.approx(8 - 1 / math.log(2))
    assert nats_to_bits_per_dim(torch.tensor(D * math.log(2.0)), D).item() == pytest.approx(1.0)


def test_dequantization_noise_is_reproducible_with_a_generator():
    k = torch.zeros(3, 4)
    a = dequantize(k, 17, torch.Generator().manual_seed(0))
    b = dequantize(k, 17, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and torch.equal(dequantize(k, 17, noise=torch.full_like(k, 0.5)), k + 0.5 / 17)
