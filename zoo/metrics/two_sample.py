"""Two-sample tests: do two samples come from the same distribution?

The classifier two-sample tests of Oquab (2018, §5.3; Lopez-Paz & Oquab,
ICLR 2017) and their linear-time MMD baseline (Gretton et al. 2012):

* **C2ST-NN** trains a two-layer network (d -> 20 -> 1, ReLU, Adam, 100
  epochs) to tell the two samples apart on one half of the pooled data and
  returns its accuracy on the other half (Eq. 5.4);
* **C2ST-KNN** does the same with a k-nearest-neighbour vote,
  k = floor(sqrt(n_train));
* **MMD** is the linear-time unbiased estimate of the squared MMD with an RBF
  kernel whose width is chosen on one half of the data (the ratio mean/std of
  the statistic over gamma in {2^-15, ..., 2^10}) and evaluated on the other.

Under H0 (P = Q) the C2ST accuracy t times n_te is Binomial(n_te, 1/2), so
t ~ N(1/2, 1/(4 n_te)) and p = 1 - Phi((t - 1/2) / sqrt(1/(4 n_te))); the
exact binomial tail is available too. The MMD p-value is 1 - Phi(mean / sd).
Lower statistics mean "harder to tell apart": they rank GANs (Tables C.1/C.2).

    from zoo.metrics.two_sample import two_sample_test

    result = two_sample_test(real_features, fake_features, "knn", seed=0)
    result.statistic, result.p_value, result.reject

Every test also has a batched form (`*_many`) that runs R independent tests
on (R, n, d) tensors at once, which the Monte-Carlo error-rate studies and the
cause-effect ensembles use.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import InputError

MIN_POINTS = 8  # per sample: a 50/50 split and the MMD's paired halves need a few points each
TESTS = ("c2st-nn", "c2st-knn", "mmd")
ALIASES = {"nn": "c2st-nn", "knn": "c2st-knn", "mmd": "mmd", "mmd-linear": "mmd",
           "c2st-nn": "c2st-nn", "c2st-knn": "c2st-knn"}
MMD_GAMMAS = tuple(2.0**e for e in range(-15, 11))  # the kernel widths searched by the released code


@dataclass(frozen=True)
class TwoSampleResult:
    """The outcome of one two-sample test. `reject` is the decision at `alpha`
    (p < alpha: the samples come from different distributions)."""

    test: str                 # "c2st-nn", "c2st-knn" or "mmd"
    statistic: float          # C2ST: held-out accuracy; MMD: linear-time MMD^2 estimate
    p_value: float
    alpha: float
    n_test: int               # points the statistic was computed on
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reject(self) -> bool:
        return self.p_value < self.alpha

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reject": self.reject}


# ---------------------------------------------------------------------------
# Null distributions and p-values


def normal_sf(z: float) -> float:
    """P(N(0, 1) > z)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def binomial_half_sf(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    j = torch.arange(k, n + 1, dtype=torch.float64)
    log_terms = math.lgamma(n + 1) - torch.lgamma(j + 1) - torch.lgamma(n - j + 1) - n * math.log(2.0)
    return float(torch.logsumexp(log_terms, 0).exp().clamp(max=1.0))


def c2st_p_value(statistic: float, n_test: int, exact: bool = False) -> float:
    """p-value of a C2ST accuracy over `n_test` held-out points: the normal
    approximation of §5.3.2, or with `exact` the binomial tail P(T >= t)."""
    if exact:
        return binomial_half_sf(int(round(statistic * n_test)), n_test)
    return normal_sf((statistic - 0.5) / math.sqrt(0.25 / n_test))


def mmd_p_value(mean: float, variance: float) -> float:
    """p-value of the linear-time MMD: 1 - Phi(mean / sqrt(variance))."""
    if not variance > 0:
        return 0.0 if mean > 0 else 1.0
    return normal_sf(mean / math.sqrt(variance))


# ---------------------------------------------------------------------------
# Checking and arranging the samples


def as_points(sample: Any, name: str = "sample") -> torch.Tensor:
    """A sample as a float (n, d) tensor: 1-d input is n scalars, and images
    (n, C, H, W) are flattened. Raises InputError on bad input."""
    if isinstance(sample, np.ndarray):
        if sample.dtype == object or not np.issubdtype(sample.dtype, np.number) and sample.dtype != bool:
            raise InputError(f"{name} is an array of {sample.dtype}, not numbers")
        sample = torch.from_numpy(np.ascontiguousarray(sample))
    if not isinstance(sample, torch.Tensor):
        raise InputError(f"{name} must be an array or tensor, got {type(sample).__name__}")
    if sample.dim() == 0:
        raise InputError(f"{name} is a single number, not a sample of points")
    x = sample.detach().float()
    if len(x) == 0:
        raise InputError(f"{name} has 0 points; a two-sample test needs at least {MIN_POINTS} per sample")
    x = x.reshape(len(x), -1) if x.dim() != 1 else x[:, None]  # (n, d)
    if x.shape[1] == 0:
        raise InputError(f"{name} has points with no features (shape {tuple(sample.shape)})")
    if len(x) < MIN_POINTS:
        raise InputError(
            f"{name} has {len(x)} point(s); a two-sample test needs at least {MIN_POINTS} per sample",
            "give larger samples",
        )
    bad = (~torch.isfinite(x)).sum().item()
    if bad:
        raise InputError(f"{name} contains {bad} NaN or infinite value(s) out of {x.numel()}", "clean the data first")
    return x


def check_pair(x: Any, y: Any, names: tuple[str, str] = ("sample A", "sample B")) -> tuple[torch.Tensor, torch.Tensor]:
    """Both samples as (n, d) float tensors with the same d."""
    x, y = as_points(x, names[0]), as_points(y, names[1])
    if x.shape[1] != y.shape[1]:
        raise InputError(
            f"{names[0]} has {x.shape[1]} feature(s) per point but {names[1]} has {y.shape[1]}",
            "both samples must live in the same space (same array shape after the first axis)",
        )
    return x, y


def balance(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsample the larger sample to the size of the smaller (§5.3.2 assumes
    m = n; with unequal classes a classifier beats chance by always answering
    the larger one, which would break the null distribution)."""
    n = min(len(x), len(y))
    if len(x) > n:
        x = x[torch.randperm(len(x), generator=generator)[:n]]
    if len(y) > n:
        y = y[torch.randperm(len(y), generator=generator)[:n]]
    return x, y


def _split(xs: torch.Tensor, ys: torch.Tensor, split: float, generator: torch.Generator):
    """Pool (R, n, d) samples with labels 0/1, shuffle each replica, split it.
    Returns z_tr (R, n_tr, d), l_tr (R, n_tr), z_te (R, n_te, d), l_te (R, n_te)."""
    if not 0.0 < split < 1.0:
        raise InputError(f"split must be in (0, 1), got {split}", "0.5 is the thesis's 50/50 split")
    R, n, d = xs.shape
    z = torch.cat([xs, ys], 1)  # (R, 2n, d)
    labels = torch.cat([torch.zeros(R, n), torch.ones(R, n)], 1).to(xs.device)  # (R, 2n)
    perm = torch.rand(R, 2 * n, generator=generator).argsort(1).to(xs.device)  # (R, 2n)
    z = torch.gather(z, 1, perm[..., None].expand(-1, -1, d))
    labels = torch.gather(labels, 1, perm)
    n_tr = int(math.floor(2 * n * split))
    if n_tr < 2 or 2 * n - n_tr < 2:
        raise InputError(f"split {split} leaves fewer than 2 points on one side of {2 * n}", "use a split nearer 0.5")
    return z[:, :n_tr], labels[:, :n_tr], z[:, n_tr:], labels[:, n_tr:]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _stack(xs, ys, names=("sample A", "sample B")) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, n, d) float tensors for the batched tests."""
    xs = torch.as_tensor(xs).float()
    ys = torch.as_tensor(ys).float()
    if xs.dim() == 2:
        xs, ys = xs[..., None], ys[..., None]
    if xs.dim() != 3 or ys.shape != xs.shape:
        raise InputError(f"batched samples must both be (R, n, d), got {tuple(xs.shape)} and {tuple(ys.shape)}")
    if xs.shape[1] < MIN_POINTS:
        raise InputError(f"a two-sample test needs at least {MIN_POINTS} points per sample, got {xs.shape[1]}")
    if not (torch.isfinite(xs).all() and torch.isfinite(ys).all()):
        raise InputError("the samples contain NaN or infinite values")
    return xs, ys


# ---------------------------------------------------------------------------
# C2ST-NN


class C2STNet(nn.Module):
    """R independent copies of the C2ST-NN classifier of §5.3.3: Linear(d, 20)
    -> ReLU -> Linear(20, 1) -> sigmoid, as batched matrices so that many tests
    train at once. `forward` returns logits; f(z) = sigmoid(logit)."""

    def __init__(self, dim: int, hidden: int = 20, replicas: int = 1, generator: torch.Generator | None = None):
        super().__init__()
        self.dim, self.hidden, self.replicas = dim, hidden, replicas
        b1, b2 = 1 / math.sqrt(dim), 1 / math.sqrt(hidden)  # nn.Linear's default init bounds

        def uniform(*shape, bound):
            return nn.Parameter((torch.rand(*shape, generator=generator) * 2 - 1) * bound)

        self.w1 = uniform(replicas, dim, hidden, bound=b1)
        self.b1 = uniform(replicas, 1, hidden, bound=b1)
        self.w2 = uniform(replicas, hidden, 1, bound=b2)
        self.b2 = uniform(replicas, 1, 1, bound=b2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        R, B, d = z.shape  # (replicas, points, features)
        h = torch.relu(torch.baddbmm(self.b1, z, self.w1))  # (R, B, hidden)
        return torch.baddbmm(self.b2, h, self.w2).squeeze(-1)  # (R, B) logits


def fit_c2st_net(
    z: torch.Tensor,
    labels: torch.Tensor,
    *,
    hidden: int = 20,
    epochs: int = 100,
    lr: float = 1e-3,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
) -> C2STNet:
    """Train R C2ST-NN classifiers on z (R, n, d) with labels (R, n): BCE,
    Adam (lr 1e-3), mini-batches of 64, a fresh shuffle per epoch."""
    generator = generator or _generator(0)
    R, n, d = z.shape
    net = C2STNet(d, hidden, R, generator).to(z.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.rand(R, n, generator=generator).argsort(1).to(z.device)  # (R, n)
            for lo in range(0, n, batch_size):
                idx = order[:, lo : lo + batch_size]  # (R, b)
                zb = torch.gather(z, 1, idx[..., None].expand(-1, -1, d))  # (R, b, d)
                lb = torch.gather(labels, 1, idx)
                # each replica's mean loss, summed, so every replica gets its own gradient
                loss = F.binary_cross_entropy_with_logits(net(zb), lb, reduction="none").mean(1).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return net


@torch.no_grad()
def accuracy(net: C2STNet, z: torch.Tensor, labels: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Per-replica accuracy of I(f(z) > 1/2) against `labels` (Eq. 5.4)."""
    correct = torch.zeros(z.shape[0], device=z.device)
    for lo in range(0, z.shape[1], chunk):
        pred = (net(z[:, lo : lo + chunk]) > 0).float()  # f(z) > 1/2 <=> logit > 0
        correct += (pred == labels[:, lo : lo + chunk]).float().sum(1)
    return correct / z.shape[1]


def c2st_nn_many(xs, ys, *, split: float = 0.5, hidden: int = 20, epochs: int = 100, lr: float = 1e-3,
                 batch_size: int = 64, alpha: float = 0.05, seed: int = 0, exact: bool = False,
                 device: str | torch.device | None = None) -> list[TwoSampleResult]:
    """R independent C2ST-NN tests on samples xs, ys of shape (R, n, d)."""
    xs, ys = _stack(xs, ys)
    g = _generator(seed)
    dev = torch.device(device) if device is not None else xs.device
    z_tr, l_tr, z_te, l_te = (t.to(dev) for t in _split(xs, ys, split, g))
    net = fit_c2st_net(z_tr, l_tr, hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size, generator=g)
    acc = accuracy(net, z_te, l_te).cpu()
    n_te = z_te.shape[1]
    return [
        TwoSampleResult("c2st-nn", float(t), c2st_p_value(float(t), n_te, exact), alpha, n_te,
                        {"hidden": hidden, "epochs": epochs, "split": split, "seed": seed})
        for t in acc
    ]


def c2st_nn(x, y, *, split: float = 0.5, hidden: int = 20, epochs: int = 100, lr: float = 1e-3,
            batch_size: int = 64, alpha: float = 0.05, seed: int = 0, exact: bool = False,
            device: str | torch.device | None = None) -> TwoSampleResult:
    """C2ST-NN (§5.3.2-5.3.3) on samples x (n, ...) and y (m, ...)."""
    x, y = balance(*check_pair(x, y), _generator(seed + 1))
    return c2st_nn_many(x[None], y[None], split=split, hidden=hidden, epochs=epochs, lr=lr,
                        batch_size=batch_size, alpha=alpha, seed=seed, exact=exact, device=device)[0]


# ---------------------------------------------------------------------------
# C2ST-KNN


def knn_k(n_train: int) -> int:
    """k = floor(sqrt(n_tr)) (ICLR 2017); the thesis's sqrt(|D_te|) is the same
    number under the 50/50 split."""
    return max(1, int(math.floor(math.sqrt(n_train))))


@torch.no_grad()
def knn_predict(z_tr: torch.Tensor, l_tr: torch.Tensor, z_te: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Majority vote of the k nearest training points (Euclidean), per replica:
    z_tr (R, n_tr, d), l_tr (R, n_tr), z_te (R, n_te, d) -> (R, n_te) in {0, 1}.
    A tie (possible for even k) goes to label 0."""
    out = []
    for lo in range(0, z_te.shape[1], chunk):
        dist = torch.cdist(z_te[:, lo : lo + chunk], z_tr)  # (R, c, n_tr)
        idx = dist.topk(k, dim=2, largest=False).indices  # (R, c, k)
        votes = torch.gather(l_tr[:, None, :].expand(-1, idx.shape[1], -1), 2, idx).sum(2)  # (R, c)
        out.append((2 * votes > k).float())
    return torch.cat(out, 1)


def c2st_knn_many(xs, ys, *, split: float = 0.5, k: int | None = None, alpha: float = 0.05, seed: int = 0,
                  exact: bool = False, device: str | torch.device | None = None) -> list[TwoSampleResult]:
    """R independent C2ST-KNN tests on samples xs, ys of shape (R, n, d)."""
    xs, ys = _stack(xs, ys)
    g = _generator(seed)
    dev = torch.device(device) if device is not None else xs.device
    z_tr, l_tr, z_te, l_te = (t.to(dev) for t in _split(xs, ys, split, g))
    kk = k or knn_k(z_tr.shape[1])
    if not 1 <= kk <= z_tr.shape[1]:
        raise InputError(f"k = {kk} neighbours, but the training half has {z_tr.shape[1]} points")
    acc = (knn_predict(z_tr, l_tr, z_te, kk) == l_te).float().mean(1).cpu()
    n_te = z_te.shape[1]
    return [
        TwoSampleResult("c2st-knn", float(t), c2st_p_value(float(t), n_te, exact), alpha, n_te,
                        {"k": kk, "split": split, "seed": seed})
        for t in acc
    ]


def c2st_knn(x, y, *, split: float = 0.5, k: int | None = None, alpha: float = 0.05, seed: int = 0,
             exact: bool = False, device: str | torch.device | None = None) -> TwoSampleResult:
    """C2ST-KNN (§5.3.3) on samples x (n, ...) and y (m, ...)."""
    x, y = balance(*check_pair(x, y), _generator(seed + 1))
    return c2st_knn_many(x[None], y[None], split=split, k=k, alpha=alpha, seed=seed, exact=exact, device=device)[0]


# ---------------------------------------------------------------------------
# Linear-time MMD


def rbf(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    """k(a_i, b_i) = exp(-||a_i - b_i||^2 / (2 gamma^2)) row by row: (..., n, d) -> (..., n)."""
    return torch.exp(-((a - b) ** 2).sum(-1) / (2.0 * gamma**2))


def mmd_terms(x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """The linear-time MMD's per-pair terms h_i = k(x_i, x_i') + k(y_i, y_i')
    - k(x_i, y_i') - k(x_i', y_i), pairing the first half of each sample
    with its second half: (R, n, d) -> (R, n // 2)."""
    m2 = x.shape[1] // 2
    x1, x2, y1, y2 = x[:, :m2], x[:, m2 : 2 * m2], y[:, :m2], y[:, m2 : 2 * m2]
    return rbf(x1, x2, gamma) + rbf(y1, y2, gamma) - rbf(x1, y2, gamma) - rbf(x2, y1, gamma)


def choose_gamma(x: torch.Tensor, y: torch.Tensor, gammas=MMD_GAMMAS) -> torch.Tensor:
    """Per replica, the kernel width maximising mean(h) / (std(h) + 1e-3) on
    (x, y); 1.0 when no width gives a positive ratio (as the released code)."""
    best = torch.ones(x.shape[0], dtype=torch.float64)
    best_ratio = torch.zeros(x.shape[0], dtype=torch.float64)
    for g in gammas:
        h = mmd_terms(x, y, g).double()  # (R, m2)
        ratio = (h.mean(1) / (h.std(1) + 1e-3)).cpu()
        better = ratio > best_ratio
        best = torch.where(better, torch.tensor(g, dtype=torch.float64), best)
        best_ratio = torch.where(better, ratio, best_ratio)
    return best


def mmd_linear_many(xs, ys, *, alpha: float = 0.05, seed: int = 0, gammas=MMD_GAMMAS,
                    device: str | torch.device | None = None) -> list[TwoSampleResult]:
    """R linear-time MMD tests on samples xs, ys of shape (R, n, d): each
    sample is shuffled (seed), its first half picks the kernel width, the
    second half gives the statistic mean(h) and variance var(h) / #pairs."""
    xs, ys = _stack(xs, ys)
    g = _generator(seed)
    dev = torch.device(device) if device is not None else xs.device
    R, n, d = xs.shape
    px = torch.rand(R, n, generator=g).argsort(1)
    py = torch.rand(R, n, generator=g).argsort(1)
    xs = torch.gather(xs, 1, px[..., None].expand(-1, -1, d)).to(dev)
    ys = torch.gather(ys, 1, py[..., None].expand(-1, -1, d)).to(dev)
    half = (n + 1) // 2
    chosen = choose_gamma(xs[:, :half], ys[:, :half], gammas)
    results = []
    for r in range(R):
        h = mmd_terms(xs[r : r + 1, half:], ys[r : r + 1, half:], float(chosen[r]))[0].double()  # (pairs,)
        if len(h) < 2:
            raise InputError(f"the MMD needs at least {MIN_POINTS} points per sample, got {n}")
        mean, var = float(h.mean()), float(h.var() / len(h))
        results.append(TwoSampleResult("mmd", mean, mmd_p_value(mean, var), alpha, len(h),
                                       {"gamma": float(chosen[r]), "variance": var, "seed": seed}))
    return results


def mmd_linear(x, y, *, alpha: float = 0.05, seed: int = 0, gammas=MMD_GAMMAS,
               device: str | torch.device | None = None) -> TwoSampleResult:
    """The linear-time MMD test (Gretton et al. 2012) on x (n, ...) and y (m, ...)."""
    x, y = balance(*check_pair(x, y), _generator(seed + 1))
    return mmd_linear_many(x[None], y[None], alpha=alpha, seed=seed, gammas=gammas, device=device)[0]


# ---------------------------------------------------------------------------
# One entry point


def resolve_test(name: str) -> str:
    key = name.lower().strip()
    if key not in ALIASES:
        from zoo.errors import unknown

        raise unknown("two-sample test", name, sorted(set(ALIASES)))
    return ALIASES[key]


def two_sample_test(x, y, test: str = "c2st-nn", *, alpha: float = 0.05, split: float = 0.5, seed: int = 0,
                    epochs: int = 100, hidden: int = 20, k: int | None = None, exact: bool = False,
                    device: str | torch.device | None = None) -> TwoSampleResult:
    """Run one two-sample test between x and y: `test` is "c2st-nn" ("nn"),
    "c2st-knn" ("knn") or "mmd". Usable on any features, e.g. inside a GAN's
    `evaluate` on real vs generated images (the thesis's proposal)."""
    kind = resolve_test(test)
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    if kind == "c2st-nn":
        return c2st_nn(x, y, split=split, hidden=hidden, epochs=epochs, alpha=alpha, seed=seed, exact=exact,
                       device=device)
    if kind == "c2st-knn":
        return c2st_knn(x, y, split=split, k=k, alpha=alpha, seed=seed, exact=exact, device=device)
    return mmd_linear(x, y, alpha=alpha, seed=seed, device=device)


def two_sample_tests_many(xs, ys, test: str = "c2st-nn", **kwargs) -> list[TwoSampleResult]:
    """The batched form of `two_sample_test` on (R, n, d) samples."""
    kind = resolve_test(test)
    if kind == "c2st-nn":
        return c2st_nn_many(xs, ys, **kwargs)
    if kind == "c2st-knn":
        kwargs = {k: v for k, v in kwargs.items() if k not in ("hidden", "epochs", "lr", "batch_size")}
        return c2st_knn_many(xs, ys, **kwargs)
    kwargs = {k: v for k, v in kwargs.items() if k in ("alpha", "seed", "gammas", "device")}
    return mmd_linear_many(xs, ys, **kwargs)
