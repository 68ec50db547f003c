"""CIFAR-10, downsampled ImageNet and color-blobs, proven on tiny fixtures
written in the official on-disk formats."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch

from zoo.data import load_dataset
from zoo.data.small_images import (
    CIFAR_TEST,
    CIFAR_TRAIN,
    DATASETS,
    ColorBlobs,
    read_cifar10,
    read_cifar_pickle,
    read_imagenet,
)
from zoo.errors import DataError

SPECS = {spec.name: spec for spec in DATASETS}


@pytest.fixture(autouse=True)
def _fresh_caches():
    read_cifar10.cache_clear()
    read_imagenet.cache_clear()
    yield
    read_cifar10.cache_clear()
    read_imagenet.cache_clear()


# ---------------------------------------------------------------------------
# CIFAR-10 fixtures in the official formats


def _py2_str(b: bytes) -> bytes:
    """A Python 2 `str` as cPickle writes it (SHORT_BINSTRING / BINSTRING)."""
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _py2_int(v: int) -> bytes:
    if v < 256:
        return b"K" + bytes([v])
    if v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def py2_cifar_batch(data: np.ndarray, labels: list[int], name: bytes) -> bytes:
    """The bytes of a `cifar-10-batches-py` file: cPickle protocol 2 of
    {data: uint8 array (N, 3072), labels: list, batch_label: str, filenames: list}."""
    n = len(data)
    out = b"\x80\x02}q\x01("
    out += _py2_str(b"data") + b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85"
    out += _py2_str(b"b") + b"\x87Rq\x04(K\x01" + _py2_int(n) + _py2_int(3072) + b"\x86cnumpy\ndtype\nq\x05"
    out += _py2_str(b"u1") + b"K\x00K\x01\x87Rq\x06(K\x03" + _py2_str(b"|")
    out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + _py2_str(data.tobytes()) + b"tb"
    out += _py2_str(b"labels") + b"](" + b"".join(_py2_int(v) for v in labels) + b"e"
    out += _py2_str(b"batch_label") + _py2_str(name)
    out += _py2_str(b"filenames") + b"](" + b"".join(_py2_str(b"img_%d.png" % i) for i in range(n)) + b"e"
    return out + b"u."


def _batch(seed: int, n: int = 4) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, size=n)]


def write_cifar_python(folder, n: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    batches = {}
    for i, name in enumerate((*CIFAR_TRAIN, CIFAR_TEST)):
        batches[name] = _batch(i, n)
        (root / name).write_bytes(py2_cifar_batch(*batches[name], name.encode()))
    return batches


def write_cifar_binary(folder, n: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    root = folder / "cifar-10-batches-bin"
    root.mkdir(parents=True)
    batches = {}
    for i, name in enumerate((*CIFAR_TRAIN, CIFAR_TEST)):
        data, labels = batches[name] = _batch(10 + i, n)
        records = np.concatenate([np.array(labels, np.uint8)[:, None], data], axis=1)  # (N, 1 + 3072)
        (root / f"{name}.bin").write_bytes(records.tobytes())
    return batches


def test_the_python_fixture_is_a_real_cpickle_batch(tmp_path):
    """The hand-written bytes load with the ordinary unpickler and numpy,
    as the official files do."""
    data, labels = _batch(0)
    full = pickle.loads(py2_cifar_batch(data, labels, b"training batch 1 of 5"), encoding="bytes")
    assert np.array_equal(full[b"data"], data) and full[b"labels"] == labels


def test_cifar10_python_batches(tmp_path, monkeypatch):
    batches = write_cifar_python(tmp_path / "cifar10", n=1200)
    import zoo.data.small_images as si

    monkeypatch.setattr(si, "CIFAR_VAL", 1000)
    train = load_dataset(SPECS["cifar10"], "train", tmp_path)
    val = load_dataset(SPECS["cifar10"], "val", tmp_path)
    test = load_dataset(SPECS["cifar10"], "test", tmp_path)
    assert (len(train), len(val), len(test)) == (5 * 1200 - 1000, 1000, 1200)
    item = test[3]
    data, labels = batches[CIFAR_TEST]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert torch.equal(item["image"], torch.from_numpy(data[3].reshape(3, 32, 32)).float() / 255)
    assert item["label"] == labels[3] and test.levels == 256
    first = train[0]["image"]
    assert torch.equal(first, torch.from_numpy(batches["data_batch_1"][0][0].reshape(3, 32, 32)).float() / 255)


def test_cifar10_binary_batches_are_preferred(tmp_path):
    write_cifar_python(tmp_path / "cifar10")
    batches = write_cifar_binary(tmp_path / "cifar10")
    images, labels = read_cifar10(tmp_path / "cifar10", "test")
    data, want = batches[CIFAR_TEST]
    assert torch.equal(images, torch.from_numpy(data.reshape(-1, 3, 32, 32)))
    assert labels.tolist() == want


def test_python3_pickles_of_the_batches_also_load(tmp_path):
    data, labels = _batch(3)
    path = tmp_path / "batch"
    for protocol in (2, 4):
        path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=protocol))
        images, got = read_cifar_pickle(path)
        assert np.array_equal(images.reshape(-1, 3072), data) and got.tolist() == labels


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_a_pickle_naming_anything_else_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [1]}, protocol=2))
    with pytest.raises(DataError, match="not allowed"):
        read_cifar_pickle(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, protocol=2))
    with pytest.raises(DataError, match="not a uint8 array"):
        read_cifar_pickle(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, protocol=2))
    with pytest.raises(DataError, match="labels"):
        read_cifar_pickle(path)
    path.write_bytes(b"\x80\x02}q\x01(U\x04data")  # truncated
    with pytest.raises(DataError, match="not a CIFAR-10 python batch"):
        read_cifar_pickle(path)


def test_missing_or_broken_cifar_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match=r"missing cifar-10-batches-py/data_batch_1.*put .* in"):
        load_dataset(SPECS["cifar10"], "train", tmp_path)
    root = tmp_path / "cifar10" / "cifar-10-batches-bin"
    root.mkdir(parents=True)
    (root / "test_batch.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(DataError, match="not a multiple of 3073"):
        load_dataset(SPECS["cifar10"], "test", tmp_path)


# ---------------------------------------------------------------------------
# Downsampled ImageNet (npz)


def write_imagenet(folder, size: int, n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(size)
    prefix = f"Imagenet{size}"
    parts = [f"{prefix}_train_npz"] if size == 32 else [f"{prefix}_train_part1_npz", f"{prefix}_train_part2_npz"]
    train = []
    for i in range(1, 11):
        part = folder / parts[0 if i <= 5 or len(parts) == 1 else 1]
        part.mkdir(parents=True, exist_ok=True)
        data = rng.integers(0, 256, size=(n, 3 * size * size), dtype=np.uint8)
        labels = list(rng.integers(1, 1001, size=n))
        np.savez(part / f"train_data_batch_{i}.npz", data=data, labels=labels, mean=data.mean(0))
        train.append(data)
    (folder / f"{prefix}_val_npz").mkdir()
    val = rng.integers(0, 256, size=(n, 3 * size * size), dtype=np.uint8)
    np.savez(folder / f"{prefix}_val_npz" / "val_data.npz", data=val, labels=[1, 500, 1000][:n])
    return np.concatenate(train)


@pytest.mark.parametrize("size", [32, 64])
def test_imagenet_npz_batches(tmp_path, monkeypatch, size):
    import zoo.data.small_images as si

    monkeypatch.setattr(si, "IMAGENET_VAL", 5)
    train_data = write_imagenet(tmp_path / f"imagenet{size}", size)
    spec = SPECS[f"imagenet{size}"]
    train, val, test = (load_dataset(spec, s, tmp_path) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (25, 5, 3)
    assert train[4]["image"].shape == (3, size, size)
    assert torch.equal(train[4]["image"], torch.from_numpy(train_data[4].reshape(3, size, size)).float() / 255)
    assert [int(test[i]["label"]) for i in range(3)] == [0, 499, 999]


def test_imagenet_missing_batches_and_pickled_npz_are_refused(tmp_path):
    folder = tmp_path / "imagenet32"
    write_imagenet(folder, 32)
    (folder / "Imagenet32_train_npz" / "train_data_batch_7.npz").unlink()
    with pytest.raises(DataError, match=r"missing train_data_batch_\{7\}\.npz"):
        load_dataset(SPECS["imagenet32"], "train", tmp_path)
    np.savez(folder / "Imagenet32_val_npz" / "val_data.npz", data=np.array([object()]), labels=[1])
    with pytest.raises(DataError, match="not a downsampled-ImageNet npz batch"):
        load_dataset(SPECS["imagenet32"], "test", tmp_path)
    with pytest.raises(DataError, match="Imagenet64_val_npz/val_data.npz"):
        load_dataset(SPECS["imagenet64"], "test", tmp_path)


# ---------------------------------------------------------------------------
# color-blobs


def test_color_blobs_are_deterministic_8_bit_rgb():
    a, b = ColorBlobs("test"), ColorBlobs("test")
    assert len(a) == 500 and len(ColorBlobs("train")) == 4000 and a.levels == 256
    x = a[7]["image"]
    assert x.shape == (3, 16, 16) and torch.equal(x, b[7]["image"])
    assert torch.allclose(x * 255, (x * 255).round()) and 0 <= x.min() and x.max() <= 1
    assert not torch.equal(ColorBlobs("val")[7]["image"], x), "splits must differ"
    stack = torch.stack([a[i]["image"] for i in range(100)])
    assert stack.std(dim=(0, 2, 3)).min() > 0.1, "colours should vary"
    assert SPECS["color-blobs"].embedded
