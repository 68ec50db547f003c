"""The core data sets: shipped digits and MNIST's IDX files."""

import gzip
import struct

import numpy as np
import pytest
import torch

from zoo.data import DatasetSpec, data_root, load_dataset, require
from zoo.data.digits import MNIST, Digits, read_idx
from zoo.errors import DataError


def test_digits_match_scikit_learn():
    sklearn = pytest.importorskip("sklearn.datasets")
    ref = sklearn.load_digits()
    ds = [Digits(s) for s in ("train", "val", "test")]
    assert [len(d) for d in ds] == [1297, 200, 300]
    ours = torch.cat([d.images for d in ds]).mul(16).round().to(torch.uint8).squeeze(1)
    ours_sorted = sorted(map(bytes, ours.numpy().reshape(len(ours), -1)))
    ref_sorted = sorted(map(bytes, ref.images.astype(np.uint8).reshape(len(ref.images), -1)))
    assert ours_sorted == ref_sorted
    assert Digits("test", size=32)[0]["image"].shape == (1, 32, 32)


def write_idx(path, array, gz=False):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_torchvision_layout(tmp_path, gz):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (5010, 28, 28))
    suffix = ".gz" if gz else ""
    write_idx(raw / f"train-images-idx3-ubyte{suffix}", train, gz)
    write_idx(raw / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, 5010), gz)
    write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", train[:7], gz)
    write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", np.arange(7), gz)
    ds = MNIST(tmp_path / "mnist", "train")
    assert len(ds) == 10 and len(MNIST(tmp_path / "mnist", "val")) == 5000
    item = ds[3]
    assert item["image"].shape == (1, 28, 28)
    assert torch.allclose(item["image"][0] * 255, torch.from_numpy(train[3]).float())
    assert MNIST(tmp_path / "mnist", "test")[6]["label"] == 6


def test_mnist_missing_and_truncated(tmp_path):
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte"):
        MNIST(tmp_path / "mnist", "train")
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, np.zeros((2, 3, 3)))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_require_names_what_to_put_where(tmp_path):
    with pytest.raises(DataError) as info:
        require(tmp_path / "flowers", "flowers", ["jpg/", "setid.mat"], url="https://example.org", what="Flowers")
    text = str(info.value)
    assert "missing jpg/, setid.mat" in text and str(tmp_path / "flowers") in text and "https://example.org" in text


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("ZOO_DATA")
    assert data_root().parts[-3:] == (".cache", "zoo", "data")


def test_unknown_split_and_empty_data():
    spec = DatasetSpec("x", "x", lambda root, split: [], splits=("train",))
    with pytest.raises(DataError, match="no split 'test'"):
        load_dataset(spec, "test")
    with pytest.raises(DataError, match="is empty"):
        load_dataset(spec, "train")


def test_item_ref_names_one_test_item_unless_a_file_has_that_name(tmp_path, monkeypatch):
    from zoo.data import item_ref

    monkeypatch.chdir(tmp_path)
    assert item_ref("smmnist-digits:12") == ("smmnist-digits", 12)
    assert item_ref("digits") is None and item_ref("Digits:1") is None and item_ref("digits:-1") is None
    (tmp_path / "digits:3").write_text("a file")
    assert item_ref("digits:3") is None
