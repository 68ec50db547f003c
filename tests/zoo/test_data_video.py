"""Video data sets: Stochastic Moving MNIST generation, and the KTH, BAIR and
Human3.6M loaders on tiny fixtures in the layouts SRVP's preprocessing writes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset
from zoo.data.video import (
    DATASETS,
    bounce_trajectory,
    load_bair,
    load_human36m,
    load_kth,
    load_smmnist,
    load_smmnist_digits,
)
from zoo.errors import DataError

SPECS = {s.name: s for s in DATASETS}


# ---------------------------------------------------------------------------
# Stochastic Moving MNIST


def test_trajectories_stay_inside_and_bounce_at_random():
    limit, speed = 18.0, 3
    changed = 0
    for seed in range(40):
        path = bounce_trajectory(30, limit, speed, torch.Generator().manual_seed(seed))
        assert path.shape == (30, 2)
        assert (path >= 0).all() and (path <= limit).all()
        steps = path.diff(dim=0).abs()
        assert (steps <= speed + 1e-6).all(), "no axis moves more than max_speed per frame"
        # between bounces the velocity is constant; a bounce may change its size
        speeds = steps.max(dim=1).values
        changed += int((speeds[1:] - speeds[:-1]).abs().gt(0.5).any())
    assert changed > 10, "bounces should draw new random velocities"


def test_embedded_smmnist_is_deterministic_per_index():
    train = load_smmnist_digits(None, "train", length=12, size=32)
    a, b = train[7]["video"], train[7]["video"]
    assert a.shape == (12, 1, 32, 32) and torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and a.max() > 0.5
    assert not torch.equal(a, train[8]["video"])
    test = load_smmnist_digits(None, "test", length=25, size=64, channels=3)
    assert test[0]["video"].shape == (25, 3, 64, 64) and len(test) == 256


def _write_idx(path, array: np.ndarray):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_smmnist_reads_the_mnist_files(tmp_path):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", 5010), ("t10k", 20)):
        _write_idx(raw / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{part}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    train = load_dataset(SPECS["smmnist"], "train", tmp_path, length=6, size=64, channels=1)
    x = train[0]["video"]
    assert x.shape == (6, 1, 64, 64)
    assert not torch.equal(x, train[0]["video"]), "training clips are drawn fresh at each access"
    test = load_dataset(SPECS["smmnist"], "test", tmp_path, length=25, size=64, channels=1)
    assert len(test) == 10_000 and torch.equal(test[3]["video"], test[3]["video"])
    with pytest.raises(DataError, match="t10k-images"):
        load_smmnist(tmp_path / "elsewhere", "test")


# ---------------------------------------------------------------------------
# KTH


def _png(path, value: int, rgb: bool = True, size: int = 64):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((size, size, 3) if rgb else (size, size), value, np.uint8)
    Image.fromarray(array).save(path)


def _kth(root, frames=12):
    for person, action, d in ((1, "boxing", 1), (2, "walking", 2), (3, "running", 1), (21, "boxing", 1)):
        for t in range(frames):
            _png(root / "processed_64" / action / f"person{person:02d}_{action}_d{d}" / f"image-{t + 1:03d}.png", t * 10)
    for action in ("handclapping", "handwaving", "jogging"):
        (root / "processed_64" / action).mkdir(parents=True)
    sequences = np.arange(3 * 40 * 64 * 64, dtype=np.int64).reshape(3, 40, 64, 64) % 251
    np.savez_compressed(root / "svg_test_set_40.npz", sequences=sequences.astype(np.uint8),
                        persons=np.array([21, 22, 23]), actions=np.array(["boxing", "walking", "running"]))


def test_kth_layout(tmp_path):
    root = tmp_path / "kth"
    _kth(root)
    train = load_kth(root, "train", length=5, size=64)
    val = load_kth(root, "val", length=5, size=64)
    assert len(train) + len(val) == 3, "persons 1-20 only; 5% (at least one video) held out"
    assert len(val) == 1
    clip = train[0]["video"]
    assert clip.shape == (5, 1, 64, 64)
    values = (clip[:, 0, 0, 0] * 255).round()
    assert torch.equal(values.diff(), torch.full((4,), 10.0)), "consecutive frames in order"
    assert torch.equal(val[0]["video"], val[0]["video"])
    small = load_kth(root, "train", length=5, size=32)
    assert small[0]["video"].shape == (5, 1, 32, 32)
    test = load_kth(root, "test", length=40, size=64)
    assert len(test) == 3 and test[1]["video"].shape == (40, 1, 64, 64)
    with pytest.raises(DataError, match="fewer than the 41"):
        load_kth(root, "test", length=41)
    with pytest.raises(DataError, match="fewer than 20 frames"):
        load_kth(root, "val", length=20)


def test_kth_missing_files_name_the_layout(tmp_path):
    with pytest.raises(DataError, match="processed_64"):
        load_dataset(SPECS["kth"], "train", tmp_path)
    with pytest.raises(DataError, match="svg_test_set_40.npz"):
        load_dataset(SPECS["kth"], "test", tmp_path)


# ---------------------------------------------------------------------------
# BAIR


def test_bair_layout(tmp_path):
    root = tmp_path / "bair"
    for part, shards in (("train", 2), ("test", 1)):
        for s in range(shards):
            for k in range(1, 3):
                for t in range(30):
                    _png(root / "processed_data" / part / f"traj_{s * 256}_to_{s * 256 + 255}" / f"{k:03d}" / f"{t:03d}.png", t * 8)
    train = load_bair(root, "train", length=12)
    val = load_bair(root, "val", length=12)
    assert len(train) == 3 and len(val) == 1
    assert train[0]["video"].shape == (12, 3, 64, 64)
    test = load_bair(root, "test", length=30)
    x = test[0]["video"]
    assert len(test) == 2 and x.shape == (30, 3, 64, 64)
    assert (x[:, 0, 0, 0] * 255).round().tolist() == [t * 8.0 for t in range(30)], "test clips start at frame 0"
    with pytest.raises(DataError, match="processed_data/train"):
        load_bair(tmp_path / "none", "train")


# ---------------------------------------------------------------------------
# Human3.6M


def _video(frames: int) -> np.ndarray:
    return (np.arange(frames) % 256).astype(np.uint8)[:, None, None, None] * np.ones((1, 64, 64, 3), np.uint8)


def test_human36m_layout(tmp_path):
    root = tmp_path / "human36m"
    (root / "train").mkdir(parents=True)
    for subject, name in ((1, "Walking"), (5, "Eating 1"), (9, "Walking")):  # S9 is a test subject: left out
        np.savez(root / "train" / f"S{subject}-{name}.npz", image=_video(200), filename=name, subject=subject)
    (root / "test_set_53_8").mkdir()
    for i in range(3):
        np.savez(root / "test_set_53_8" / f"test_{i}.npz", image=_video(417), filename="Walking", subject=9, frame=0)
    train = load_human36m(root, "train", length=16)
    val = load_human36m(root, "val", length=16)
    assert len(train) + len(val) == 2
    clip = train[0]["video"]
    assert clip.shape == (16, 3, 64, 64)
    assert torch.equal((clip[:, 0, 0, 0] * 255).round().diff(), torch.full((15,), 8.0)), "one frame in 8 (6.25 Hz)"
    test = load_human36m(root, "test", length=53)
    assert len(test) == 3
    assert (test[2]["video"][:, 0, 0, 0] * 255).round().tolist() == [(8.0 * t) % 256 for t in range(53)]
    with pytest.raises(DataError, match="fewer than the 425"):
        load_human36m(root, "test", length=54)
    np.savez(root / "train" / "S6-Bad.npz", other=_video(10))
    with pytest.raises(DataError, match="no array 'image'"):  # whichever split the file falls in
        for split in ("train", "val"):
            load_human36m(root, split, length=16)
