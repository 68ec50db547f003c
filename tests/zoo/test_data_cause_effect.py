"""Cause-effect pairs: the Tübingen files in their official format (and
cdt's CSV copy), the synthetic pairs, the released code's pre-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo.data.cause_effect as ce
from zoo.data import load_dataset
from zoo.errors import DataError

SPECS = {s.name: s for s in ce.DATASETS}


def _tuebingen(folder):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    meta = ["0001 1 1 2 2 1", "0002 2 2 1 1 0.5", "0003 1 2 3 3 1", "0004 1 1 2 2 0.5"]
    (folder / "pairmeta.txt").write_text("\n".join(meta) + "\n")
    for pid, cols in (("0001", 2), ("0002", 2), ("0003", 3), ("0004", 2)):
        data = rng.normal(size=(40, cols))
        sep = "\t" if pid == "0002" else "   "  # the official files mix tabs and runs of spaces
        (folder / f"pair{pid}.txt").write_text("\n".join(sep.join(f"{v:.6g}" for v in row) for row in data) + "\n")
    return folder


def test_official_format(tmp_path):
    folder = _tuebingen(tmp_path / "tuebingen")
    bench = load_dataset(SPECS["tuebingen"], "test", tmp_path)
    assert [p.name for p in bench.pairs] == ["pair0001", "pair0002", "pair0004"]  # the 3-column pair is skipped
    assert [p.label for p in bench.pairs] == [0, 1, 0]
    assert [p.weight for p in bench.pairs] == [1.0, 0.5, 0.5]
    item = bench[1]
    assert item["xy"].shape == (40, 2) and item["label"] == 1
    points = load_dataset(SPECS["tuebingen"], "train", tmp_path, pair=1, outliers=0.05)
    assert len(points) == 38 and points[0]["x"].shape == (1,)  # 5% outliers dropped
    assert abs(float(points.x.mean())) < 1e-5 and abs(float(points.y.std(unbiased=False)) - 1) < 1e-4
    with pytest.raises(DataError, match="out of range"):
        load_dataset(SPECS["tuebingen"], "train", tmp_path, pair=3)


def test_official_format_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(ce, "cdt_resources", lambda: None)
    with pytest.raises(DataError, match="missing pairmeta.txt, pair0001.txt.*cdt"):
        load_dataset(SPECS["tuebingen"], "test", tmp_path)
    folder = tmp_path / "tuebingen"
    folder.mkdir()
    (folder / "pairmeta.txt").write_text("0001 1 1 2 2\n")
    with pytest.raises(DataError, match="line 1: expected 6 columns"):
        load_dataset(SPECS["tuebingen"], "test", tmp_path)
    (folder / "pairmeta.txt").write_text("0001 1 1 2 2 1\n")
    with pytest.raises(DataError, match="pair0001.txt is missing"):
        load_dataset(SPECS["tuebingen"], "test", tmp_path)
    (folder / "pair0001.txt").write_text("1 2\n3 x\n")
    with pytest.raises(DataError, match="cannot read pair file"):
        load_dataset(SPECS["tuebingen"], "test", tmp_path)


def test_cdt_copy_is_used_and_swapped(tmp_path, monkeypatch):
    resources = tmp_path / "cdt" / "data" / "resources"
    resources.mkdir(parents=True)
    rows = ["SampleID,A,B"] + [f"pair{i},{' '.join(str(v) for v in range(10))},{' '.join(str(2 * v) for v in range(10))}"
                               for i in range(1, 21)]
    (resources / "Tuebingen_pairs.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(ce, "cdt_resources", lambda: resources)
    bench = load_dataset(SPECS["tuebingen"], "test", tmp_path)
    labels = [p.label for p in bench.pairs]
    assert len(bench) == 20 and 0 < sum(labels) < 20  # stored cause-first; randomly swapped
    for p in bench.pairs:
        first, second = p.xy[:, 0], p.xy[:, 1]
        assert np.allclose(second, 2 * first) if p.label == 0 else np.allclose(first, 2 * second)
    again = load_dataset(SPECS["tuebingen"], "test", tmp_path)
    assert labels == [p.label for p in again.pairs]  # the swap is seeded


def test_synthetic_pairs_are_deterministic_and_labelled():
    a = load_dataset(SPECS["cause-effect-synth"], "test", None, pairs=12)
    b = load_dataset(SPECS["cause-effect-synth"], "test", None, pairs=12)
    assert len(a) == 12 and all(np.array_equal(p.xy, q.xy) for p, q in zip(a.pairs, b.pairs))
    assert {p.label for p in a.pairs} == {0, 1} and all(p.kind for p in a.pairs)
    train = load_dataset(SPECS["cause-effect-synth"], "train", None, pair=2)
    val = load_dataset(SPECS["cause-effect-synth"], "val", None, pair=2)
    assert train.label == val.label == a.pairs[2].label
    assert not torch.equal(train.x, val.x)  # a fresh draw of the same equations
    assert len(train) == 475  # 500 points, 5% outliers out


def test_synthetic_swap_keeps_the_mechanism():
    pair = ce.synthetic_pair(123, 300)
    same = ce.synthetic_pair(123, 300, draw=1)
    assert pair.label == same.label and pair.kind == same.kind
    assert not np.array_equal(pair.xy, same.xy)


def test_remove_outliers_drops_the_farthest_points():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(size=(95, 2)), np.full((5, 2), 50.0)])
    kept = ce.remove_outliers(xy, rng, fraction=0.05, anchors=20)
    assert len(kept) == 95 and kept.max() < 10
