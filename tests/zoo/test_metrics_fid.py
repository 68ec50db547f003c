"""FID against a direct scipy computation, the Inception Score on known
cases, and Inception-v3 loaded from a safetensors file with no download."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.errors import CheckpointError, InputError
from zoo.metrics.fid import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    inception_outputs,
    inception_score,
    load_inception,
)


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(200, 16))
    b = rng.normal(size=(150, 16)) @ rng.normal(size=(16, 16)) * 0.5 + rng.normal(size=16)
    assert fid_from_features(a, b) == pytest.approx(_scipy_fid(a, b), rel=1e-7, abs=1e-8)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_rank_deficient_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 32)), rng.normal(size=(5, 32))  # fewer samples than dimensions
    value = fid_from_features(a, b)
    assert np.isfinite(value) and value == pytest.approx(_scipy_fid(a, b), rel=1e-5)
    with pytest.raises(InputError, match="differ in shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(InputError, match="at least 2"):
        feature_statistics(np.zeros((1, 3)))


def test_inception_score_known_values():
    k = 10
    assert inception_score(np.full((50, k), 1 / k))[0] == pytest.approx(1.0)  # no confidence
    assert inception_score(np.eye(k)[np.arange(100) % k], splits=1)[0] == pytest.approx(k)  # confident, all classes
    assert inception_score(np.eye(k)[np.zeros(30, int)], splits=3)[0] == pytest.approx(1.0)  # one class only


@pytest.fixture
def one_thread():
    """A 299x299 Inception pass runs faster alone on one busy core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_inception_v3_from_a_user_safetensors_file(tmp_path, one_thread):
    from safetensors.torch import save_file

    from zoo.metrics.fid import build_inception

    torch.manual_seed(0)
    net = build_inception()
    for p in net.parameters():  # the architecture is built untrained; give it something
        torch.nn.init.normal_(p, std=0.02)
    save_file(net.state_dict(), str(tmp_path / "inception-v3.safetensors"))
    loaded = load_inception(tmp_path / "inception-v3.safetensors")
    grey, rgb = torch.rand(1, 1, 8, 8), torch.rand(1, 3, 20, 20)
    feats, probs = inception_outputs(loaded, [grey, rgb])
    assert feats.shape == (2, 2048) and probs.shape == (2, 1000)
    assert np.allclose(probs.sum(1), 1.0)
    partial = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    save_file(partial, str(tmp_path / "broken.safetensors"))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_inception(tmp_path / "broken.safetensors")
    with pytest.raises(InputError, match="1 or 3"):
        inception_outputs(loaded, [torch.rand(1, 2, 8, 8)])
