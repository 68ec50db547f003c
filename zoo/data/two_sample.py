"""Synthetic two-sample problems (Lopez-Paz & Oquab, ICLR 2017, §4.1).

Each problem draws two samples S_P and S_Q of n points:

* `null`: x, y ~ N(0, 1)^d, the same distribution (type-I error);
* `student`: N(0, 1) versus Student's t with nu degrees of freedom, both
  shifted and scaled to zero mean and unit variance (a test must look at the
  peaks to tell them apart);
* `sinusoid`: independence testing as two-sample testing, {(x_i, y_i)} versus
  {(x_i, y_sigma(i))} with x ~ N(0, 1), y = cos(delta x) + eps,
  eps ~ N(0, gamma^2), both coordinates standardised.

The generators take a NumPy `Generator`, so every draw is reproducible. The
two embedded data sets `gauss-vs-t` and `sinusoid` pool one draw per split
into a labelled classification set (label 0 = S_P, 1 = S_Q): exactly the
D_tr / D_te of a C2ST, so `zoo train c2st` fits the C2ST-NN classifier of a
test and `zoo evaluate c2st` measures it on fresh held-out points.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.data import DatasetSpec

SPLIT_SEEDS = {"train": 11, "val": 12, "test": 13}


def standardize(a: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column (population std, as sklearn's scale)."""
    a = a - a.mean(0, keepdims=True)
    sd = a.std(0, keepdims=True)
    return a / np.where(sd > 0, sd, 1.0)


def null_problem(n: int, rng: np.random.Generator, d: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Two samples of N(0, I_d): H0 holds."""
    return rng.standard_normal((n, d)), rng.standard_normal((n, d))


def student_problem(n: int, nu: float, rng: np.random.Generator, d: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """N(0, 1) versus a standardised Student's t(nu), n points each."""
    return standardize(rng.standard_normal((n, d))), standardize(rng.standard_t(nu, (n, d)))


def sinusoid_problem(n: int, delta: float, gamma: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """P(X, Y) versus P(X)P(Y) for y = cos(delta x) + N(0, gamma^2): (n, 2) each."""
    x = standardize(rng.standard_normal((n, 1)))
    y = standardize(np.cos(delta * x) + gamma * rng.standard_normal((n, 1)))
    shuffled = y[rng.permutation(n)]
    return np.concatenate([x, y], 1), np.concatenate([x, shuffled], 1)


class TwoSampleProblem(Dataset):
    """Items: {"z": (d,) float32, "label": float32 0 (sample P) or 1 (sample Q)}."""

    def __init__(self, p: np.ndarray, q: np.ndarray):
        self.z = torch.from_numpy(np.concatenate([p, q], 0)).float()  # (2n, d)
        self.label = torch.cat([torch.zeros(len(p)), torch.ones(len(q))])  # (2n,)
        self.p, self.q = torch.from_numpy(p).float(), torch.from_numpy(q).float()

    @property
    def dim(self) -> int:
        return self.z.shape[1]

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"z": self.z[i], "label": self.label[i]}


def load_gauss_vs_t(root, split: str, n: int = 1000, nu: float = 3.0) -> TwoSampleProblem:
    rng = np.random.default_rng(SPLIT_SEEDS[split])
    return TwoSampleProblem(*student_problem(n, nu, rng))


def load_sinusoid(root, split: str, n: int = 1000, delta: float = 1.0, gamma: float = 0.25) -> TwoSampleProblem:
    rng = np.random.default_rng(SPLIT_SEEDS[split])
    return TwoSampleProblem(*sinusoid_problem(n, delta, gamma, rng))


DATASETS = [
    DatasetSpec(
        name="gauss-vs-t",
        description="two-sample problem: N(0,1) vs standardised Student-t(3), 1,000 points each per split (ICLR 2017 §4.1)",
        load=load_gauss_vs_t,
        embedded=True,
        splits=("train", "test"),  # D_tr and D_te: a C2ST has no validation split
        kind="points",
        layout="nothing: generated",
    ),
    DatasetSpec(
        name="sinusoid",
        description="independence as two-sample problem: (x, cos(x)+noise) vs shuffled pairs, 1,000 each per split",
        load=load_sinusoid,
        embedded=True,
        splits=("train", "test"),  # D_tr and D_te: a C2ST has no validation split
        kind="points",
        layout="nothing: generated",
    ),
]
