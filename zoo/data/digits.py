"""Handwritten digits shipped inside the package, and MNIST from its IDX files.

`digits` is the 1,797 8×8 images of the UCI "Optical Recognition of
Handwritten Digits" test set as scikit-learn distributes them
(`sklearn.datasets.load_digits`), stored in `assets/digits.safetensors`:
intensities 0..16 (17 levels), labels 0..9. It needs no download, and several
methods use it as their embedded data set or as sprites.

`mnist` reads the four IDX files torchvision keeps on disk (`MNIST/raw/`),
gzipped or not.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data import DatasetSpec
from zoo.errors import DataError

ASSET = Path(__file__).parent / "assets" / "digits.safetensors"
DIGITS_LEVELS = 17
# A fixed shuffle of the 1,797 digits, split 1,297 / 200 / 300.
DIGITS_SPLITS = {"train": (0, 1297), "val": (1297, 1497), "test": (1497, 1797)}


@lru_cache(maxsize=1)
def digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """(images (1797, 8, 8) uint8 in 0..16, labels (1797,) int64), shuffled once."""
    from zoo.checkpoint import load_tensors

    tensors, _ = load_tensors(ASSET)
    order = torch.randperm(len(tensors["labels"]), generator=torch.Generator().manual_seed(0))
    return tensors["images"][order], tensors["labels"][order].long()


class Digits(Dataset):
    """Items: {"image": (1, size, size) float in [0, 1], "label": int64}.

    With `size` 8 (the default) `image * 16` recovers the integer levels; a
    larger `size` upsamples (bilinear, for the GANs that need 32 or 64 px)."""

    levels = DIGITS_LEVELS

    def __init__(self, split: str = "train", size: int = 8):
        images, labels = digits_arrays()
        lo, hi = DIGITS_SPLITS[split]
        x = images[lo:hi].float().unsqueeze(1) / (DIGITS_LEVELS - 1)  # (N, 1, 8, 8)
        if size != 8:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
        self.images, self.labels = x, labels[lo:hi]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "label": self.labels[i]}


def load_digits(root: Path, split: str, size: int = 8) -> Digits:
    return Digits(split, size=size)


# ---------------------------------------------------------------------------
# MNIST in torchvision's on-disk layout

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_VAL = 5000  # the last 5,000 training images are the validation split


def _find_idx(folder: Path, name: str) -> Path | None:
    for base in (folder / "MNIST" / "raw", folder / "raw", folder):
        for candidate in (base / name, base / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable IDX file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) if dims else 0
    if len(data) - offset != expected:
        raise DataError(f"{path} is truncated: {len(data) - offset} bytes of data, expected {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def read_mnist(folder: Path, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 28, 28) uint8, labels (N,) int64) of the `train` or `test` files."""
    names = MNIST_FILES[part]
    paths = [_find_idx(folder, n) for n in names]
    if any(p is None for p in paths):
        missing = [n for n, p in zip(names, paths) if p is None]
        raise DataError(
            f"data set 'mnist' not found: missing {', '.join(missing)} under {folder}",
            f"put torchvision's MNIST files ({', '.join(n for pair in MNIST_FILES.values() for n in pair)}, "
            f"gzipped or not) in {folder}/MNIST/raw/, or point --data-root / $ZOO_DATA at the folder holding mnist/",
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"MNIST files under {folder} disagree: {images.shape} images, {labels.shape} labels")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


class MNIST(Dataset):
    """Items: {"image": (1, size, size) float in [0, 1], "label": int64}."""

    levels = 256

    def __init__(self, folder: Path, split: str = "train", size: int = 28):
        images, labels = read_mnist(folder, "test" if split == "test" else "train")
        if split == "train":
            images, labels = images[:-MNIST_VAL], labels[:-MNIST_VAL]
        elif split == "val":
            images, labels = images[-MNIST_VAL:], labels[-MNIST_VAL:]
        self.images, self.labels, self.size = images, labels, size

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.images[i].float().div(255).unsqueeze(0)  # (1, 28, 28)
        if self.size != 28:
            x = F.interpolate(x[None], size=(self.size, self.size), mode="bilinear", align_corners=False)[0]
        return {"image": x, "label": self.labels[i]}


def load_mnist(root: Path, split: str, size: int = 28) -> MNIST:
    return MNIST(root, split, size=size)


DATASETS = [
    DatasetSpec(
        name="digits",
        description="1,797 handwritten digits, 8×8, 17 grey levels, shipped with zoo (scikit-learn's load_digits)",
        load=load_digits,
        embedded=True,
        layout="nothing: shipped inside the package",
    ),
    DatasetSpec(
        name="mnist",
        description="MNIST, 70,000 handwritten digits, 28×28 (train 55,000 / val 5,000 / test 10,000)",
        load=load_mnist,
        url="https://yann.lecun.com/exdb/mnist/",
        layout="mnist/MNIST/raw/{" + ",".join(n for pair in MNIST_FILES.values() for n in pair) + "}[.gz]",
    ),
]
