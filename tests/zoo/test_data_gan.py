"""LSUN bedrooms (exported image folders) and LFW (official folder layout):
tiny fixtures in the exact official formats prove the loaders."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset
from zoo.data.gan import DATASETS, LSUN_HOLDOUT, load_lfw_faces, load_lsun_bedroom, scale_and_crop
from zoo.errors import DataError

SPECS = {s.name: s for s in DATASETS}


def _image(path, size=(120, 90), seed=0, fmt=None):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, format=fmt)


def _lsun(root, n=8, nested=True, val=0):
    folder = root / "lsun"
    for i in range(n):
        key = hashlib.sha1(str(i).encode()).hexdigest()  # LSUN keys are 40 hex digits
        sub = folder / "bedroom_train" / ("/".join(key[:6]) if nested else "")
        _image(sub / f"{key}.webp", seed=i, fmt="WEBP")
    for i in range(val):
        key = hashlib.sha1(f"v{i}".encode()).hexdigest()
        _image(folder / "bedroom_val" / "/".join(key[:6]) / f"{key}.webp", seed=100 + i, fmt="WEBP")
    return folder


@pytest.mark.parametrize("nested", [True, False])
def test_lsun_exported_folder(tmp_path, nested):
    folder = _lsun(tmp_path, n=8, nested=nested)
    train = load_lsun_bedroom(folder, "train", size=32, load_size=48)
    test = load_lsun_bedroom(folder, "test", size=32, load_size=48)
    val = load_lsun_bedroom(folder, "val", size=32, load_size=48)
    assert (len(train), len(val), len(test)) == (6, 1, 1)  # keys 0 and 1 (mod 300) held out
    item = train[0]["image"]
    assert item.shape == (3, 32, 32) and item.dtype == torch.float32 and 0 <= item.min() and item.max() <= 1
    assert not set(train.files) & set(test.files)
    assert torch.equal(test[0]["image"], test[0]["image"])  # centre crop: deterministic
    assert LSUN_HOLDOUT == 300


def test_lsun_official_val_folder_is_used(tmp_path):
    folder = _lsun(tmp_path, n=5, val=2)
    assert len(load_lsun_bedroom(folder, "val")) == 2
    assert len(load_lsun_bedroom(folder, "train")) == 4  # only the test images are held out of train


def test_lsun_missing_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="missing bedroom_train/.*data.py export"):
        load_dataset(SPECS["lsun-bedroom"], "train", tmp_path)
    (tmp_path / "lsun" / "bedroom_train").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no .webp"):
        load_dataset(SPECS["lsun-bedroom"], "train", tmp_path)


def _lfw(root, people=12, variant="lfw"):
    folder = root / "lfw"
    names = [f"Person_{chr(65 + i)}{i}" for i in range(people)]
    for i, name in enumerate(names):
        for k in range(1 + i % 3):
            _image(folder / variant / name / f"{name}_{k + 1:04d}.jpg", size=(250, 250), seed=i * 10 + k)
    return folder, names


def test_lfw_hash_split_by_person(tmp_path):
    folder, names = _lfw(tmp_path, people=30)
    splits = {s: load_lfw_faces(folder, s, size=64) for s in ("train", "val", "test")}
    people = {s: {f.parent.name for f in d.files} for s, d in splits.items()}
    assert not (people["train"] & people["test"]) and not (people["train"] & people["val"])
    assert sum(len(d) for d in splits.values()) == sum(1 + i % 3 for i in range(30))
    x = splits["train"][0]["image"]
    assert x.shape == (3, 64, 64)


@pytest.mark.parametrize("variant", ["lfw", "lfw_funneled", "lfw-deepfunneled"])
def test_lfw_official_people_files(tmp_path, variant):
    folder, names = _lfw(tmp_path, people=12, variant=variant)
    train_people, test_people = names[:8], names[8:]
    (folder / "peopleDevTrain.txt").write_text(
        f"{len(train_people)}\n" + "".join(f"{n}\t{1 + names.index(n) % 3}\n" for n in train_people))
    (folder / "peopleDevTest.txt").write_text(
        f"{len(test_people)}\n" + "".join(f"{n}\t{1 + names.index(n) % 3}\n" for n in test_people))
    test = load_lfw_faces(folder, "test")
    val = load_lfw_faces(folder, "val")
    train = load_lfw_faces(folder, "train")
    assert {f.parent.name for f in test.files} == set(test_people)
    assert {f.parent.name for f in val.files} == {sorted(train_people)[-1]}
    assert len(train) + len(val) == sum(1 + names.index(n) % 3 for n in train_people)


def test_lfw_errors(tmp_path):
    with pytest.raises(DataError, match="none of lfw/, lfw_funneled/, lfw-deepfunneled/.*lfw.tgz"):
        load_dataset(SPECS["lfw-faces"], "train", tmp_path)
    folder, _ = _lfw(tmp_path, people=3)
    (folder / "peopleDevTrain.txt").write_text("1\nbroken line here\n")
    (folder / "peopleDevTest.txt").write_text("0\n")
    with pytest.raises(DataError, match="peopleDevTrain.txt, line 2"):
        load_lfw_faces(folder, "train")


def test_unreadable_image_is_a_data_error(tmp_path):
    folder, names = _lfw(tmp_path, people=1)
    bad = folder / "lfw" / names[0] / f"{names[0]}_0001.jpg"
    bad.write_bytes(b"not a jpeg")
    data = next(d for d in (load_lfw_faces(folder, s) for s in ("train", "val", "test")) if len(d))
    with pytest.raises(DataError, match="cannot read image"):
        data[0]


def test_scale_and_crop_shapes():
    x = torch.rand(3, 250, 180)
    torch.manual_seed(0)
    assert scale_and_crop(x, 96, 64, random=True).shape == (3, 64, 64)
    assert scale_and_crop(x, 32, 64, random=False).shape == (3, 64, 64)  # load size below the crop is raised
