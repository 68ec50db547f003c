"""Cause-effect pairs: samples {(x_i, y_i)} whose causal direction is known.

* ``tuebingen``: the Tübingen cause-effect pairs (Mooij et al. 2016) in their
  official file format: ``pairmeta.txt`` (one line per pair: id, first and
  last column of the cause, first and last column of the effect, weight) and
  ``pairXXXX.txt`` (whitespace-separated columns). Only the scalar pairs are
  kept (meta ``1 1 2 2``: X -> Y; ``2 2 1 1``: Y -> X), with their official
  weights. Without the files, the copy that the ``cdt`` package ships
  (``Tuebingen_pairs.csv``, every pair stored cause-first, no weights) is used
  when cdt is installed, each pair's columns swapped with probability 1/2 by a
  fixed seed (otherwise "always X -> Y" would score 100%).
* ``cause-effect-synth`` (embedded): pairs drawn from known structural
  equations, x from a mixture of Gaussians or a uniform, y = f(x) + n
  (additive), y = f(x) + s(x) n (heteroskedastic) or y = h(f(x) + n)
  (post-nonlinear), f a smooth random function (a Gaussian-process draw
  with a random length scale), n Gaussian, uniform or Laplace
  noise; each pair swapped with probability 1/2. Deterministic per index.

The `test` split of either is the benchmark, a `PairCollection` (one item per
pair). With the option `pair=k`, a split is instead the points of pair k (a
`PairPoints`: items {"x": (1,), "y": (1,)}), which is what a conditional GAN
trains on; for the synthetic pairs the val split is a fresh draw from the
same equations, for Tübingen it is the same points.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.data import DatasetSpec, require
from zoo.errors import DataError

TUEBINGEN_URL = "https://webdav.tuebingen.mpg.de/cause-effect/"
SYNTH_PAIRS = 100
SYNTH_POINTS = 500
NOISE_SCALE = (0.2, 0.6)  # noise standard deviation relative to that of f(x)
LENGTHSCALE = (0.5, 2.0)  # of the random function, in standard deviations of the cause
SPLIT_SEEDS = {"train": 101, "val": 102, "test": 103}


@dataclass
class Pair:
    """One cause-effect pair: `xy` (n, 2) raw values, `label` 0 if the first
    column causes the second (X -> Y), 1 if Y -> X, and its benchmark weight."""

    name: str
    xy: np.ndarray
    label: int
    weight: float = 1.0
    kind: str = ""  # the mechanism of a synthetic pair


# ---------------------------------------------------------------------------
# Pre-processing of the released code


def remove_outliers(xy: np.ndarray, rng: np.random.Generator, fraction: float = 0.05, anchors: int = 20) -> np.ndarray:
    """Drop the `fraction` of points farthest from their nearest of `anchors`
    random anchor points (the data's own points)."""
    if fraction <= 0 or len(xy) <= anchors:
        return xy
    a = xy[rng.permutation(len(xy))[:anchors]]  # (anchors, 2)
    d = np.sqrt(((xy[:, None, :] - a[None]) ** 2).sum(-1)).min(1)  # (n,)
    keep = np.argsort(d, kind="stable")[: len(xy) - int(np.floor(len(xy) * fraction))]
    return xy[keep]


def prepare_pair(xy: np.ndarray, rng: np.random.Generator, points: int = 5000, outliers: float = 0.05) -> np.ndarray:
    """Outliers out, subsample to at most `points`, each column standardised."""
    xy = remove_outliers(np.asarray(xy, dtype=np.float64), rng, outliers)
    if len(xy) > points:
        xy = xy[rng.permutation(len(xy))[:points]]
    xy = xy - xy.mean(0, keepdims=True)
    sd = xy.std(0, keepdims=True)
    return xy / np.where(sd > 0, sd, 1.0)


# ---------------------------------------------------------------------------
# Data sets


class PairCollection(Dataset):
    """A benchmark: items {"xy": (n, 2) float64 tensor, "label": int, "weight": float, "name": str}."""

    def __init__(self, pairs: list[Pair]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        p = self.pairs[i]
        return {"xy": torch.from_numpy(p.xy), "label": p.label, "weight": p.weight, "name": p.name}


class PairPoints(Dataset):
    """The pre-processed points of one pair: items {"x": (1,), "y": (1,)}."""

    def __init__(self, pair: Pair, points: int = 5000, outliers: float = 0.05, seed: int = 0):
        self.pair = pair
        xy = torch.from_numpy(prepare_pair(pair.xy, np.random.default_rng(seed), points, outliers)).float()
        self.x, self.y = xy[:, :1], xy[:, 1:]  # (n, 1) each

    @property
    def label(self) -> int:
        return self.pair.label

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


def _select(pairs: list[Pair], pair: int | None, points: int, outliers: float) -> Dataset:
    if pair is None:
        return PairCollection(pairs)
    if not 0 <= pair < len(pairs):
        raise DataError(f"pair index {pair} is out of range: the data set has {len(pairs)} pairs (0..{len(pairs) - 1})")
    return PairPoints(pairs[pair], points, outliers)


# ---------------------------------------------------------------------------
# Synthetic pairs from known structural equations


def synthetic_pair(seed: int, n: int = SYNTH_POINTS, name: str = "", draw: int = 0) -> Pair:
    """One labelled pair from a random structural equation model. The
    equations depend on `seed` only; `draw` picks an independent sample."""
    rng = np.random.default_rng(seed)  # the equations
    uniform_cause = rng.random() < 0.25
    k = int(rng.integers(1, 5))
    means, sds, mix = rng.normal(0, 1, k), rng.uniform(0.4, 1.0, k), rng.dirichlet(2 * np.ones(k))
    features = 50  # f ~ a Gaussian process with an RBF kernel, by random Fourier features
    lengthscale = rng.uniform(*LENGTHSCALE)
    omega, phase = rng.normal(0, 1 / lengthscale, features), rng.uniform(0, 2 * np.pi, features)
    weights = rng.normal(0, 1, features) * np.sqrt(2 / features)
    scale, noise_kind, mechanism = rng.uniform(*NOISE_SCALE), int(rng.integers(3)), int(rng.integers(3))
    slope, cube = rng.normal(0, 1.5), rng.random() < 0.5
    label = int(rng.random() < 0.5)

    r = np.random.default_rng([seed, draw])  # the sample
    if uniform_cause:
        x = r.uniform(-2, 2, n)
    else:
        comp = r.choice(k, size=n, p=mix)
        x = means[comp] + sds[comp] * r.standard_normal(n)
    if noise_kind == 0:
        e = r.standard_normal(n)
    elif noise_kind == 1:
        e = r.uniform(-np.sqrt(3), np.sqrt(3), n)
    else:
        e = r.laplace(0, 1 / np.sqrt(2), n)
    xs = (x - x.mean()) / (x.std() + 1e-12)
    fx = np.cos(xs[:, None] * omega + phase) @ weights  # (n,): a smooth random function
    fx = (fx - fx.mean()) / (fx.std() + 1e-12)
    if mechanism == 0:  # additive noise
        y = fx + scale * e
    elif mechanism == 1:  # heteroskedastic noise
        y = fx + scale * np.exp(0.7 * np.tanh(slope * xs)) * e
    else:  # post-nonlinear
        y = np.cbrt(fx + scale * e) if cube else np.tanh(1.5 * (fx + scale * e))
    xy = np.stack([x, y], 1)
    if label:
        xy = xy[:, ::-1].copy()
    kind = ("additive", "heteroskedastic", "post-nonlinear")[mechanism]
    return Pair(name or f"synth{seed}", xy, label, kind=kind)


def synthetic_pairs(split: str, count: int = SYNTH_PAIRS, n: int = SYNTH_POINTS) -> list[Pair]:
    base = SPLIT_SEEDS[split] * 100_000
    return [synthetic_pair(base + i, n, f"{split}-{i:03d}") for i in range(count)]


def load_cause_effect_synth(root, split: str, pair: int | None = None, pairs: int = SYNTH_PAIRS,
                            n: int = SYNTH_POINTS, points: int = 5000, outliers: float = 0.05) -> Dataset:
    if pair is None:
        return PairCollection(synthetic_pairs(split, pairs, n))
    if not 0 <= pair < pairs:
        raise DataError(f"pair index {pair} is out of range: the data set has {pairs} pairs (0..{pairs - 1})")
    # pair k of the benchmark (test split); its val split is a fresh sample of the same equations
    seed = SPLIT_SEEDS["test"] * 100_000 + pair
    chosen = synthetic_pair(seed, n, f"test-{pair:03d}", draw=1 if split == "val" else 0)
    return PairPoints(chosen, points, outliers)


# ---------------------------------------------------------------------------
# Tübingen pairs


def read_pairmeta(path: Path) -> list[tuple[str, int, float]]:
    """(pair id, label, weight) of the scalar pairs in pairmeta.txt."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise DataError(f"{path}, line {n}: expected 6 columns (id, cause from/to, effect from/to, weight)")
        pid, c0, c1, e0, e1 = parts[:5]
        try:
            weight = float(parts[5])
        except ValueError:
            raise DataError(f"{path}, line {n}: weight {parts[5]!r} is not a number") from None
        if (c0, c1, e0, e1) == ("1", "1", "2", "2"):
            out.append((pid, 0, weight))
        elif (c0, c1, e0, e1) == ("2", "2", "1", "1"):
            out.append((pid, 1, weight))
    return out


def read_pair_file(path: Path) -> np.ndarray:
    """The two numeric columns of a pairXXXX.txt: (n, 2) float64."""
    try:
        rows = [line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        data = np.array([[float(v) for v in r] for r in rows if r], dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read pair file {path}: {exc}") from None
    if data.ndim != 2 or data.shape[1] != 2 or len(data) < 2:
        raise DataError(f"{path} must hold two numeric columns, got shape {data.shape}")
    return data


def _official_pairs(root: Path) -> list[Pair]:
    pairs = []
    for pid, label, weight in read_pairmeta(root / "pairmeta.txt"):
        file = root / f"pair{pid}.txt"
        if not file.is_file():
            raise DataError(f"pairmeta.txt lists pair {pid} but {file} is missing")
        pairs.append(Pair(f"pair{pid}", read_pair_file(file), label, weight))
    if not pairs:
        raise DataError(f"{root / 'pairmeta.txt'} lists no scalar pair (columns 1 1 2 2 or 2 2 1 1)")
    return pairs


def cdt_resources() -> Path | None:
    """The folder of the cdt package's data files, found without importing cdt
    (its import configures GPUs and R)."""
    spec = importlib.util.find_spec("cdt")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "resources"
    return folder if (folder / "Tuebingen_pairs.csv").is_file() else None


def read_cdt_pairs(folder: Path, seed: int = 0) -> list[Pair]:
    """cdt's Tuebingen_pairs.csv (SampleID, A, B: space-separated values), all
    stored A -> B; each pair is swapped with probability 1/2 (fixed seed)."""
    rng = np.random.default_rng(seed)
    csv.field_size_limit(1 << 30)
    pairs = []
    with open(folder / "Tuebingen_pairs.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            a = np.array(row["A"].split(), dtype=np.float64)
            b = np.array(row["B"].split(), dtype=np.float64)
            if len(a) != len(b) or len(a) < 2:
                continue
            xy, label = np.stack([a, b], 1), int(rng.random() < 0.5)
            pairs.append(Pair(row["SampleID"], xy[:, ::-1].copy() if label else xy, label))
    return pairs


def load_tuebingen(root: Path, split: str, pair: int | None = None, points: int = 5000,
                   outliers: float = 0.05) -> Dataset:
    if (root / "pairmeta.txt").is_file():
        pairs = _official_pairs(root)
    elif (found := cdt_resources()) is not None:
        pairs = read_cdt_pairs(found)
    else:
        require(root, "tuebingen", ["pairmeta.txt", "pair0001.txt"], url=TUEBINGEN_URL,
                what="the Tübingen cause-effect pairs (or pip install cdt, which ships a copy)")
    return _select(pairs, pair, points, outliers)


DATASETS = [
    DatasetSpec(
        name="tuebingen",
        description="Tübingen cause-effect pairs (Mooij et al. 2016), the scalar pairs with official weights",
        load=load_tuebingen,
        splits=("train", "test"),
        url=TUEBINGEN_URL,
        layout="tuebingen/{pairmeta.txt, pair0001.txt ... pair0108.txt} (or the copy in the cdt package)",
        kind="pairs",
    ),
    DatasetSpec(
        name="cause-effect-synth",
        description="100 synthetic cause-effect pairs (additive, heteroskedastic, post-nonlinear), 500 points each",
        load=load_cause_effect_synth,
        embedded=True,
        layout="nothing: generated",
        kind="pairs",
    ),
]
