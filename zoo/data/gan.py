"""Unlabelled photographs for GAN training: LSUN bedrooms and LFW faces.

Items are ``{"image": (3, S, S) float in [0, 1]}`` at the side `S` the method
asks for (`size`, 64 in the thesis). As in the DCGAN code the thesis reused
(dcgan.torch), an image is resized so its shorter side is `load_size` (96)
and cropped to `S`: a random crop for the train split, the centre crop for
val and test.

* ``lsun-bedroom``: the bedroom category of LSUN (Yu et al. 2015) as the
  official tool exports it from its LMDB (``python data.py export
  bedroom_train_lmdb --out_dir bedroom_train``): image files (.webp, or .jpg
  / .png) under ``lsun/bedroom_train/``, nested by key prefix or flat.
  Every 300th image in key order is held out as the test split (about
  10,000 of the 3,033,042, the size of the thesis's held-out set); val is
  the official ``bedroom_val/`` export when present, else another 1/300.
* ``lfw-faces``: Labeled Faces in the Wild (Huang et al. 2007) in its
  official folder layout, ``lfw/<Name>/<Name>_NNNN.jpg`` (the ``lfw``,
  ``lfw_funneled`` or ``lfw-deepfunneled`` tarball). Split by person: the
  official ``peopleDevTrain.txt`` / ``peopleDevTest.txt`` when present (the
  last twentieth of the train people is val), else a fixed hash of the name
  (70 / 10 / 20).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data import DatasetSpec
from zoo.errors import DataError

IMAGE_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png")
LSUN_URL = "https://github.com/fyu/lsun"
LFW_URL = "https://vis-www.cs.umass.edu/lfw/"
LSUN_HOLDOUT = 300          # every 300th image (key order) is a test image
LFW_VARIANTS = ("lfw", "lfw_funneled", "lfw-deepfunneled")
DEFAULT_SIZE, DEFAULT_LOAD_SIZE = 64, 96  # dcgan.torch: fineSize 64, loadSize 96


def read_image(path: Path) -> torch.Tensor:
    """An image file as (3, H, W) float in [0, 1]; a DataError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"missing file {path}", "the data set folder changed while reading it") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    return torch.from_numpy(array).permute(2, 0, 1).float() / 255  # (3, H, W)


def scale_and_crop(x: torch.Tensor, load_size: int, size: int, random: bool) -> torch.Tensor:
    """Shorter side to `load_size`, then a `size` crop (random or centred)."""
    _, h, w = x.shape
    load_size = max(load_size, size)
    s = load_size / min(h, w)
    nh, nw = max(load_size, round(h * s)), max(load_size, round(w * s))
    if (nh, nw) != (h, w):
        x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
    if random:
        top = int(torch.randint(0, nh - size + 1, (1,)))
        left = int(torch.randint(0, nw - size + 1, (1,)))
    else:
        top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, top : top + size, left : left + size].clamp(0, 1)


class ImageFiles(Dataset):
    """A list of image files, scaled and cropped as dcgan.torch does."""

    def __init__(self, files: list[Path], size: int, load_size: int, random_crop: bool):
        self.files, self.size, self.load_size, self.random_crop = files, size, load_size, random_crop

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = read_image(self.files[i])
        return {"image": scale_and_crop(x, self.load_size, self.size, self.random_crop)}


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


# ---------------------------------------------------------------------------
# LSUN bedrooms


def load_lsun_bedroom(root: Path, split: str, size: int = DEFAULT_SIZE, load_size: int = DEFAULT_LOAD_SIZE) -> ImageFiles:
    train_dir = root / "bedroom_train"
    if not train_dir.is_dir():
        raise DataError(
            f"data set 'lsun-bedroom' not found: missing bedroom_train/ under {root}",
            f"export LSUN's bedroom_train_lmdb with the official tool ({LSUN_URL}: "
            f"python data.py export bedroom_train_lmdb --out_dir {train_dir}), "
            "or point --data-root / $ZOO_DATA at the folder that holds lsun/",
        )
    files = _images_under(train_dir)
    if not files:
        raise DataError(f"{train_dir} holds no .webp/.jpg/.png images", "was the LMDB export interrupted?")
    val_dir = root / "bedroom_val"
    official_val = _images_under(val_dir) if val_dir.is_dir() else []
    index = np.arange(len(files))
    test = index % LSUN_HOLDOUT == 0
    val = np.zeros_like(test) if official_val else index % LSUN_HOLDOUT == 1
    if split == "test":
        chosen = [f for f, t in zip(files, test) if t]
    elif split == "val":
        chosen = official_val or [f for f, v in zip(files, val) if v]
    else:
        chosen = [f for f, t, v in zip(files, test, val) if not (t or v)]
    return ImageFiles(chosen, size, load_size, random_crop=split == "train")


# ---------------------------------------------------------------------------
# LFW


def _lfw_images(root: Path) -> Path:
    for variant in LFW_VARIANTS:
        folder = root / variant
        if folder.is_dir() and any(p.is_dir() for p in folder.iterdir()):
            return folder
    raise DataError(
        f"data set 'lfw-faces' not found: none of {', '.join(v + '/' for v in LFW_VARIANTS)} under {root}",
        f"download lfw.tgz from {LFW_URL} and extract it in {root} (giving {root / 'lfw'}/<Name>/<Name>_0001.jpg), "
        "or point --data-root / $ZOO_DATA at the folder that holds lfw/",
    )


def _read_people(path: Path) -> list[str]:
    """Names in an official peopleDev*.txt: a count, then `Name<TAB>images`."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    names = []
    for n, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise DataError(f"{path}, line {n}: expected 'Name<TAB>count', got {line!r}")
        names.append(parts[0])
    return names


def lfw_people_split(root: Path, people: list[str], split: str) -> set[str]:
    dev_train, dev_test = root / "peopleDevTrain.txt", root / "peopleDevTest.txt"
    if dev_train.is_file() and dev_test.is_file():
        train = sorted(_read_people(dev_train))
        n_val = max(1, len(train) // 20)
        return {"train": set(train[:-n_val]), "val": set(train[-n_val:]), "test": set(_read_people(dev_test))}[split]
    bucket = {p: zlib.crc32(p.encode("utf-8")) % 10 for p in people}
    ranges = {"train": range(0, 7), "val": range(7, 8), "test": range(8, 10)}[split]
    return {p for p, b in bucket.items() if b in ranges}


def load_lfw_faces(root: Path, split: str, size: int = DEFAULT_SIZE, load_size: int = DEFAULT_LOAD_SIZE) -> ImageFiles:
    images = _lfw_images(root)
    people = sorted(p.name for p in images.iterdir() if p.is_dir())
    chosen = lfw_people_split(root, people, split)
    files = [f for person in people if person in chosen for f in _images_under(images / person)]
    return ImageFiles(files, size, load_size, random_crop=split == "train")


DATASETS = [
    DatasetSpec(
        name="lsun-bedroom",
        description="LSUN bedrooms (3,033,042 images) exported from LMDB to image files; 1/300 held out as test",
        load=load_lsun_bedroom,
        folder="lsun",
        url=LSUN_URL,
        layout="lsun/{bedroom_train/**/<key>.webp (official export, nested or --flat), [bedroom_val/**/<key>.webp]}",
    ),
    DatasetSpec(
        name="lfw-faces",
        description="LFW, 13,233 face photos of 5,749 people, split by person (unlabelled, for GANs)",
        load=load_lfw_faces,
        folder="lfw",
        url=LFW_URL,
        layout="lfw/{lfw|lfw_funneled|lfw-deepfunneled}/<Name>/<Name>_NNNN.jpg, [peopleDevTrain.txt, peopleDevTest.txt]",
    ),
]
