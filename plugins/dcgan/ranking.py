"""The GAN ranking protocol of §5.3.3: each generator's samples against
held-out real images, with MMD, C2ST-KNN and C2ST-NN on chosen features."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from zoo.errors import ConfigError, InputError
from zoo.metrics.features import features as featurize
from zoo.metrics.features import featurizer
from zoo.metrics.two_sample import resolve_test, two_sample_test

COLUMN = {"mmd": "mmd", "c2st-knn": "knn", "c2st-nn": "nn"}


@dataclass
class Ranked:
    """One generator's row of a Table C.1/C.2-shaped ranking."""

    label: str
    gf: int
    df: int
    epoch: float | None
    step: int | None
    stats: dict[str, float] = field(default_factory=dict)


def parse_tests(text: str) -> list[str]:
    tests = list(dict.fromkeys(resolve_test(t) for t in text.split(",") if t.strip()))
    if not tests:
        raise ConfigError("no two-sample test given", "use e.g. --tests mmd,knn,nn")
    return tests


def real_images(data, n: int, seed: int = 0) -> torch.Tensor:
    """Up to n images of a split, a fixed random subset: (n, C, H, W) in [0, 1]."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.stack([data[int(i)]["image"] for i in order])


def epochs_of(info: dict[str, Any], method) -> float | None:
    """Epochs a checkpoint was trained for: step / ceil(training images / batch)."""
    from zoo.data import load_dataset
    from zoo.plugin_manager import get_plugin_manager

    step, data = info.get("step"), info.get("data")
    batch = (info.get("config") or {}).get("batch_size")
    if not (step and data and batch):
        return None
    try:
        spec = get_plugin_manager().dataset(data)
        n_train = len(load_dataset(spec, "train", **method.data_options(data, "train")))
    except Exception:  # noqa: BLE001 - the data may be absent here: no epoch then
        return None
    return step / math.ceil(n_train / batch)


def label_of(gf: int, df: int, epoch: float | None, step: int | None) -> str:
    if epoch is not None:
        return f"gf{gf}-df{df}-ep{epoch:.3g}"
    return f"gf{gf}-df{df}-step{step}" if step is not None else f"gf{gf}-df{df}"


def load_checkpoints(refs: str) -> list[tuple[Any, dict[str, Any]]]:
    """(module, info) of each comma-separated weights reference."""
    from zoo import api

    models = []
    for ref in (r.strip() for r in refs.split(",")):
        if ref:
            model = api.load("dcgan", ref)
            models.append((model.module, {**model.info, "ref": ref}))
    if not models:
        raise InputError("--checkpoints names no weights", "give a comma-separated list of run dirs or files")
    return models


def score(model, reals: torch.Tensor, featurize_fn, tests: list[str], *, seed: int, epochs: int) -> dict[str, float]:
    """The statistics of one generator's samples against `reals`."""
    from .method import generate, to_model_range

    dev = next(model.parameters()).device
    real = (to_model_range(reals.to(dev), model) + 1) / 2  # the model's channels, [0, 1]
    g = torch.Generator().manual_seed(seed)
    fake = generate(model, torch.randn(len(real), model.nz, generator=g).to(dev))
    fr, ff = featurize(real, featurize_fn), featurize(fake, featurize_fn)
    stats = {}
    for test in tests:
        result = two_sample_test(fr, ff, test, seed=seed, epochs=epochs, device=dev)
        stats[COLUMN[test]] = result.statistic
    return stats


def rank_models(method, model, data, *, checkpoints: str = "", features: str = "pixels",
                feature_weights: str | None = None, n: int = 10000, tests: str = "mmd,knn,nn",
                epochs: int = 100, seed: int = 0) -> list[Ranked]:
    """Score `model` (or every model in `checkpoints`) against `data`."""
    test_names = parse_tests(tests)
    if checkpoints:
        models = load_checkpoints(checkpoints)
    else:
        c = method.config
        models = [(model, {"config": {"gf": c.gf, "df": c.df}, "label": "model"})]
    dev = next(models[0][0].parameters()).device
    reals = real_images(data, n, seed)
    fn = featurizer(features, weights=feature_weights, size=64, device=dev)
    rows = []
    for module, info in models:
        cfg = info.get("config") or {}
        epoch = epochs_of(info, method) if checkpoints else None
        step = info.get("step")
        label = info.get("label") or label_of(cfg.get("gf", 0), cfg.get("df", 0), epoch, step)
        stats = score(module, reals, fn, test_names, seed=seed, epochs=epochs)
        rows.append(Ranked(label, cfg.get("gf", 0), cfg.get("df", 0), epoch, step, stats))
    labels = [r.label for r in rows]
    for i, row in enumerate(rows):  # two checkpoints with the same config and step get their position appended
        if labels.count(row.label) > 1:
            row.label = f"{row.label}#{i + 1}"
    return rows


def fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
