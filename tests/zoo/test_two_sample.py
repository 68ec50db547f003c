"""Two-sample tests (zoo.metrics.two_sample): null distributions against
scipy, the MMD against a direct pairwise computation, C2ST-KNN against
scikit-learn, type-I error under H0, monotone response to corruption, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.data.digits import Digits
from zoo.data.two_sample import null_problem, sinusoid_problem, student_problem
from zoo.errors import InputError, UnknownNameError
from zoo.metrics import two_sample as ts

scipy_stats = pytest.importorskip("scipy.stats")


# -- p-values ----------------------------------------------------------------


@pytest.mark.parametrize("t,n", [(0.5, 100), (0.53, 400), (0.6, 50), (0.47, 1000), (0.51, 10000)])
def test_normal_p_value_matches_scipy(t, n):
    expected = scipy_stats.norm.sf(t, loc=0.5, scale=math.sqrt(0.25 / n))
    assert ts.c2st_p_value(t, n) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("k,n", [(0, 10), (5, 10), (7, 10), (10, 10), (60, 100), (530, 1000), (11, 10)])
def test_binomial_p_value_matches_scipy(k, n):
    expected = scipy_stats.binom.sf(k - 1, n, 0.5)  # P(X >= k)
    assert ts.binomial_half_sf(k, n) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert ts.c2st_p_value(k / n, n, exact=True) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_mmd_p_value_matches_scipy():
    assert ts.mmd_p_value(0.01, 0.0004) == pytest.approx(scipy_stats.norm.sf(0.01 / 0.02))
    assert ts.mmd_p_value(0.0, 0.0) == 1.0 and ts.mmd_p_value(0.2, 0.0) == 0.0


# -- MMD against a direct O(n^2) computation ---------------------------------------


def _kernel_matrix(a, b, gamma):
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # every pair, O(n^2)
    return torch.exp(-d2 / (2 * gamma**2))


def test_mmd_terms_match_pairwise_kernel_matrices():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 20, 3, generator=g), torch.randn(1, 20, 3, generator=g) + 0.5
    for gamma in (0.25, 1.0, 4.0):
        h = ts.mmd_terms(x, y, gamma)[0]
        kxx, kyy, kxy = _kernel_matrix(x[0], x[0], gamma), _kernel_matrix(y[0], y[0], gamma), _kernel_matrix(x[0], y[0], gamma)
        m2 = 10
        direct = torch.stack([kxx[i, i + m2] + kyy[i, i + m2] - kxy[i, i + m2] - kxy[i + m2, i] for i in range(m2)])
        assert torch.allclose(h, direct, atol=1e-6)


def test_mmd_statistic_matches_direct_computation():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) * 1.5
    result = ts.mmd_linear(x, y, seed=3)
    # redo the test by hand: the same shuffles, a brute-force width search, the statistic from kernel matrices
    g = torch.Generator().manual_seed(3)  # balance() draws nothing for equal sizes
    xs, ys = torch.tensor(x, dtype=torch.float32)[None], torch.tensor(y, dtype=torch.float32)[None]
    px, py = torch.rand(1, 40, generator=g).argsort(1), torch.rand(1, 40, generator=g).argsort(1)
    xs, ys = xs[0, px[0]], ys[0, py[0]]
    best, best_ratio = 1.0, 0.0
    for gamma in ts.MMD_GAMMAS:
        kxx, kyy, kxy = (_kernel_matrix(a, b, gamma) for a, b in ((xs[:20], xs[:20]), (ys[:20], ys[:20]), (xs[:20], ys[:20])))
        h = torch.stack([kxx[i, i + 10] + kyy[i, i + 10] - kxy[i, i + 10] - kxy[i + 10, i] for i in range(10)]).double()
        ratio = float(h.mean() / (h.std() + 1e-3))
        if ratio > best_ratio:
            best, best_ratio = gamma, ratio
    assert result.details["gamma"] == best
    kxx, kyy, kxy = (_kernel_matrix(a, b, best) for a, b in ((xs[20:], xs[20:]), (ys[20:], ys[20:]), (xs[20:], ys[20:])))
    h = torch.stack([kxx[i, i + 10] + kyy[i, i + 10] - kxy[i, i + 10] - kxy[i + 10, i] for i in range(10)]).double()
    assert result.statistic == pytest.approx(float(h.mean()), abs=1e-6)
    assert result.details["variance"] == pytest.approx(float(h.var() / 10), rel=1e-4)
    assert result.p_value == pytest.approx(scipy_stats.norm.sf(float(h.mean()) / math.sqrt(float(h.var() / 10))), rel=1e-4)


# -- C2ST-KNN against scikit-learn -----------------------------------------------


def test_knn_accuracy_matches_sklearn():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(2)
    p, q = student_problem(300, 3, rng)
    xs, ys = torch.tensor(p, dtype=torch.float32)[None], torch.tensor(q, dtype=torch.float32)[None]
    z_tr, l_tr, z_te, l_te = ts._split(xs, ys, 0.5, torch.Generator().manual_seed(5))
    k = 25  # odd: no ties, so both vote the same way
    ours = float((ts.knn_predict(z_tr, l_tr, z_te, k) == l_te).float().mean())
    clf = KNeighborsClassifier(n_neighbors=k).fit(z_tr[0].numpy(), l_tr[0].numpy())
    assert ours == pytest.approx(clf.score(z_te[0].numpy(), l_te[0].numpy()), abs=1e-6)  # float32 mean
    assert ts.knn_k(300) == 17


# -- behaviour ------------------------------------------------------------------


@pytest.mark.parametrize("test", ["c2st-nn", "c2st-knn", "mmd"])
def test_type_one_error_stays_at_alpha_under_the_null(test):
    rng = np.random.default_rng(10)
    draws = [null_problem(200, rng, d=2) for _ in range(40)]
    xs = torch.tensor(np.stack([p for p, _ in draws]), dtype=torch.float32)
    ys = torch.tensor(np.stack([q for _, q in draws]), dtype=torch.float32)
    results = ts.two_sample_tests_many(xs, ys, test, alpha=0.05, seed=0, epochs=20)
    rate = np.mean([r.reject for r in results])
    # 40 tests at alpha = 0.05: at most 5 false rejections has probability > 0.98 when the test is valid
    assert rate <= 5 / 40, f"{test} rejected {rate:.0%} of true nulls"
    stats = [r.statistic for r in results]
    if test != "mmd":
        assert abs(np.mean(stats) - 0.5) < 0.03  # accuracy at chance


@pytest.mark.parametrize("test", ["c2st-nn", "c2st-knn"])
def test_power_on_the_sinusoid_problem(test):
    rng = np.random.default_rng(11)
    draws = [sinusoid_problem(500, 1.0, 0.25, rng) for _ in range(8)]
    xs = torch.tensor(np.stack([p for p, _ in draws]), dtype=torch.float32)
    ys = torch.tensor(np.stack([q for _, q in draws]), dtype=torch.float32)
    assert all(r.reject for r in ts.two_sample_tests_many(xs, ys, test, seed=0, epochs=100))


@pytest.mark.parametrize("test", ["c2st-knn", "c2st-nn", "mmd"])
def test_statistic_rises_with_the_strength_of_the_corruption(test):
    from torchvision.transforms.functional import gaussian_blur

    images = torch.cat([Digits("train", size=16).images, Digits("val", size=16).images])  # (1497, 1, 16, 16)
    real, other = images[:700], images[700:1400]
    stats = []
    for sigma in (0.0, 0.6, 1.2, 2.0, 3.0):  # Gaussian blur of increasing width
        corrupted = other if sigma == 0 else gaussian_blur(other, kernel_size=9, sigma=sigma)
        stats.append(ts.two_sample_test(real, corrupted, test, seed=0, epochs=10).statistic)
    assert all(b > a for a, b in zip(stats, stats[1:])), f"{test}: {stats}"
    if test != "mmd":
        assert stats[0] < 0.56 and stats[-1] > 0.9


def test_unequal_samples_are_balanced():
    rng = np.random.default_rng(3)
    result = ts.c2st_knn(rng.normal(size=(100, 2)), rng.normal(size=(400, 2)), seed=0)
    assert result.n_test == 100  # 2 x 100 points, half held out
    assert not result.reject


def test_result_dataclass():
    r = ts.TwoSampleResult("c2st-nn", 0.7, 0.001, 0.05, 100)
    assert r.reject and r.as_dict()["reject"] is True
    assert not ts.TwoSampleResult("mmd", 0.0, 0.5, 0.05, 10).reject


def test_c2st_net_shapes_and_training_separates_easy_samples():
    net = ts.C2STNet(dim=3, hidden=20, replicas=4)
    assert net(torch.randn(4, 7, 3)).shape == (4, 7)
    z = torch.cat([torch.randn(4, 50, 3) - 2, torch.randn(4, 50, 3) + 2], 1)
    labels = torch.cat([torch.zeros(4, 50), torch.ones(4, 50)], 1)
    trained = ts.fit_c2st_net(z, labels, epochs=200)
    assert (ts.accuracy(trained, z, labels) > 0.95).all()


# -- bad input -----------------------------------------------------------------


def test_bad_inputs_are_clear_errors():
    good = np.zeros((20, 3))
    with pytest.raises(InputError, match="3 feature.*but sample B has 4"):
        ts.two_sample_test(good, np.zeros((20, 4)))
    with pytest.raises(InputError, match="at least 8"):
        ts.two_sample_test(good, np.zeros((3, 3)))
    with pytest.raises(InputError, match="has 0 point"):
        ts.two_sample_test(np.zeros((0, 3)), good)
    bad = good.copy()
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="1 NaN or infinite"):
        ts.two_sample_test(bad, good, "knn")
    with pytest.raises(InputError, match="not numbers"):
        ts.two_sample_test(np.array([["a"]] * 10, dtype=object), good)
    with pytest.raises(UnknownNameError, match="two-sample test"):
        ts.two_sample_test(good, good, "t-test")
    with pytest.raises(InputError, match="alpha"):
        ts.two_sample_test(good, good, "knn", alpha=2.0)
    with pytest.raises(InputError, match="split"):
        ts.two_sample_test(good, good, "knn", split=1.0)
