"""Small natural images for density models: CIFAR-10, downsampled ImageNet
32×32 and 64×64, and the embedded `color-blobs`.

`cifar10` reads the files torchvision keeps on disk. Either layout works:

* `cifar-10-batches-bin/` (the binary version: `data_batch_1.bin` ...
  `data_batch_5.bin`, `test_batch.bin`; each record is 1 label byte then
  3,072 pixel bytes, red plane, green plane, blue plane), read as raw bytes;
* `cifar-10-batches-py/` (`data_batch_1` ... `data_batch_5`, `test_batch`:
  Python pickles of {data: uint8 array (10000, 3072), labels: list}), read by
  a restricted unpickler that never imports or calls anything from the file:
  the only globals it accepts (numpy's array and dtype reconstructors,
  `_codecs.encode`) are replaced by inert stand-ins that collect the raw
  bytes, and the result must be exactly that dict of one uint8 array and a
  list of ints. Any other global is refused.

When both folders are there the binary one is used. The last 5,000 training
images are the validation split; `test_batch` is the test split.

`imagenet32` / `imagenet64` read the downsampled ImageNet of Chrabaszcz et
al. (2017) in its npz version (`Imagenet32_train_npz/train_data_batch_1.npz`
... `_10.npz` and `Imagenet32_val_npz/val_data.npz`; for 64×64 the training
batches come in `Imagenet64_train_part1_npz/` and `..._part2_npz/`), with
`np.load(allow_pickle=False)`. Each holds `data` (N, 3·S·S) uint8, planar RGB,
and `labels` (N,) in 1..1000. The official validation set is our test split;
the last 10,000 training images are the validation split. Everything is held
in memory (3.9 GB at 32×32, 15.7 GB at 64×64).

`color-blobs` is generated: 16×16 RGB, 8-bit images of colour gradients with
soft coloured blobs and stripes, deterministic per split and index. It keeps
the three-channel, 8-bit path of the CIFAR models running with nothing
downloaded.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.data import DatasetSpec, require
from zoo.errors import DataError


class ImageArray(Dataset):
    """Items {"image": (C, S, S) float in [0, 1], "label": int64} from a
    uint8 array (N, C, S, S); `levels` is the number of intensity levels."""

    levels = 256

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i].float() / 255, "label": self.labels[i]}


def _split(images: torch.Tensor, labels: torch.Tensor, split: str, n_val: int) -> ImageArray:
    if split == "train":
        return ImageArray(images[:-n_val], labels[:-n_val])
    if split == "val":
        return ImageArray(images[-n_val:], labels[-n_val:])
    return ImageArray(images, labels)


# ---------------------------------------------------------------------------
# CIFAR-10

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_VAL = 5000
CIFAR_RECORD = 1 + 3 * 32 * 32


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % CIFAR_RECORD:
        raise DataError(f"{path} is not a CIFAR-10 binary batch: {len(raw)} bytes is not a multiple of {CIFAR_RECORD}")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path} has label {labels.max()}; CIFAR-10 labels are 0..9")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class _Inert:
    """What the restricted unpickler builds instead of numpy objects."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ArrayStub(_Inert):
    pass


class _DTypeStub(_Inert):
    def __init__(self, name: Any):
        self.name = name


_NDARRAY = object()


def _reconstruct(cls: Any, shape: Any, code: Any) -> _ArrayStub:
    if cls is not _NDARRAY:
        raise pickle.UnpicklingError("array reconstructor called on something other than ndarray")
    return _ArrayStub()


def _dtype(name: Any, align: Any = False, copy: Any = False) -> _DTypeStub:
    return _DTypeStub(name)


def _encode(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused _codecs.encode call")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Reads a CIFAR-10 python batch without importing anything it names."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")


def _stub_to_uint8(stub: Any, path: Path) -> np.ndarray:
    if not isinstance(stub, _ArrayStub) or not isinstance(getattr(stub, "state", None), tuple):
        raise DataError(f"{path}: 'data' is not a numpy array")
    state = stub.state
    if len(state) != 5:
        raise DataError(f"{path}: unexpected array state")
    _version, shape, dtype, fortran, raw = state
    if not isinstance(dtype, _DTypeStub) or dtype.name not in ("u1", b"u1"):
        raise DataError(f"{path}: 'data' is not a uint8 array")
    if isinstance(raw, str):
        raw = raw.encode("latin1")
    if not isinstance(raw, (bytes, bytearray)) or not isinstance(shape, tuple) or fortran:
        raise DataError(f"{path}: 'data' is not a C-ordered uint8 array")
    count = int(np.prod(shape))
    if len(raw) != count:
        raise DataError(f"{path}: 'data' has {len(raw)} bytes for shape {shape}")
    return np.frombuffer(bytes(raw), dtype=np.uint8).reshape(shape)


def read_cifar_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) of a python batch."""
    try:
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR-10 python batch (not a dict)")
    obj = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in obj or "labels" not in obj:
        raise DataError(f"{path} lacks 'data' or 'labels'")
    data = _stub_to_uint8(obj["data"], path)
    labels = obj["labels"]
    if not isinstance(labels, list) or not all(isinstance(v, int) and 0 <= v <= 9 for v in labels):
        raise DataError(f"{path}: 'labels' is not a list of integers 0..9")
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"{path}: 'data' has shape {data.shape} for {len(labels)} labels; expected (N, 3072)")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


@lru_cache(maxsize=2)
def read_cifar10(folder: Path, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 3, 32, 32) uint8, labels (N,)) of the `train` or `test` batches."""
    names = CIFAR_TRAIN if part == "train" else (CIFAR_TEST,)
    binary = folder / "cifar-10-batches-bin"
    if all((binary / f"{n}.bin").is_file() for n in names):
        parts = [_read_cifar_bin(binary / f"{n}.bin") for n in names]
    else:
        python = folder / "cifar-10-batches-py"
        if not python.is_dir() and binary.is_dir():
            require(folder, "cifar10", [f"cifar-10-batches-bin/{n}.bin" for n in names], url=CIFAR_URL,
                    what="binary version")
        require(folder, "cifar10", [f"cifar-10-batches-py/{n}" for n in names], url=CIFAR_URL,
                what="python or binary version")
        parts = [read_cifar_pickle(python / n) for n in names]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]).copy())
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return images, labels


def load_cifar10(root: Path, split: str) -> ImageArray:
    images, labels = read_cifar10(Path(root), "test" if split == "test" else "train")
    return _split(images, labels, split, CIFAR_VAL)


# ---------------------------------------------------------------------------
# Downsampled ImageNet (npz)

IMAGENET_URL = "https://image-net.org/download-images.php (Downsampled ImageNet, npz)"
IMAGENET_VAL = 10_000
IMAGENET_BATCHES = 10


def _read_npz(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            data, labels = f["data"], f["labels"]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise DataError(f"{path} is not a downsampled-ImageNet npz batch ({exc})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * size * size:
        raise DataError(f"{path}: 'data' is {data.dtype} {data.shape}, expected uint8 (N, {3 * size * size})")
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != len(data) or labels.min() < 1 or labels.max() > 1000:
        raise DataError(f"{path}: 'labels' must be N integers in 1..1000")
    return data.reshape(-1, 3, size, size), labels - 1


def _batch_number(path: Path) -> int:
    m = re.search(r"_(\d+)\.npz$", path.name)
    return int(m.group(1)) if m else 0


@lru_cache(maxsize=2)
def read_imagenet(folder: Path, size: int, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = f"Imagenet{size}"
    if part == "test":
        found = sorted(folder.glob("**/val_data.npz"))
        if not found:
            require(folder, f"imagenet{size}", [f"{prefix}_val_npz/val_data.npz"], url=IMAGENET_URL,
                    what="the npz version")
        files = found[:1]
    else:
        files = sorted(folder.glob("**/train_data_batch_*.npz"), key=_batch_number)
        numbers = [_batch_number(f) for f in files]
        if numbers != list(range(1, IMAGENET_BATCHES + 1)):
            where = f"{prefix}_train_npz/" if size == 32 else f"{prefix}_train_part1_npz/ and _part2_npz/"
            missing = sorted(set(range(1, IMAGENET_BATCHES + 1)) - set(numbers))
            raise DataError(
                f"data set 'imagenet{size}' not found: missing train_data_batch_{{{','.join(map(str, missing))}}}.npz"
                f" under {folder}" if missing else f"imagenet{size}: duplicate training batches under {folder}",
                f"download the npz version ({IMAGENET_URL}) and put train_data_batch_1..10.npz in {folder}/{where}, "
                f"or point --data-root / $ZOO_DATA at the folder that holds {folder.name}/",
            )
    parts = [_read_npz(f, size) for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return images, labels


def _imagenet_loader(size: int):
    def load(root: Path, split: str) -> ImageArray:
        images, labels = read_imagenet(Path(root), size, "test" if split == "test" else "train")
        if split != "test" and len(labels) <= IMAGENET_VAL:
            raise DataError(f"imagenet{size} has only {len(labels)} training images under {root}")
        return _split(images, labels, split, IMAGENET_VAL)

    return load


# ---------------------------------------------------------------------------
# color-blobs: embedded 16×16 RGB

BLOBS_SIZE = 16
BLOBS_SPLITS = {"train": (0, 4000), "val": (1, 500), "test": (2, 500)}


def color_blobs(n: int, seed: int, size: int = BLOBS_SIZE) -> torch.Tensor:
    """`n` images (n, 3, size, size) uint8: a two-colour gradient, one to
    three soft blobs and, for half of them, faint stripes."""
    g = torch.Generator().manual_seed(seed)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # (S,)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (S, S) each

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    angle = rand(n, 1, 1) * 2 * math.pi
    t = ((xx - 0.5) * angle.cos() + (yy - 0.5) * angle.sin() + 0.71) / 1.42  # (n, S, S) in [0, 1]
    c0, c1 = rand(n, 3, 1, 1), rand(n, 3, 1, 1)
    img = c0 * (1 - t[:, None]) + c1 * t[:, None]  # (n, 3, S, S)
    count = torch.randint(1, 4, (n,), generator=g)
    for k in range(3):
        centre, radius = rand(n, 2, 1, 1), 0.08 + 0.17 * rand(n, 1, 1)
        d2 = (xx - centre[:, 0]) ** 2 + (yy - centre[:, 1]) ** 2  # (n, S, S)
        alpha = torch.exp(-d2 / (2 * radius**2)) * (count > k).float()[:, None, None]
        colour = rand(n, 3, 1, 1)
        img = img * (1 - alpha[:, None]) + colour * alpha[:, None]
    freq, phase, turn = 2 + 4 * rand(n, 1, 1), 2 * math.pi * rand(n, 1, 1), rand(n, 1, 1) * math.pi
    wave = torch.sin(2 * math.pi * freq * (xx * turn.cos() + yy * turn.sin()) + phase)  # (n, S, S)
    stripes = (rand(n, 1, 1) < 0.5).float() * 0.12
    img = img + (stripes * wave)[:, None] * (rand(n, 3, 1, 1) - 0.5) * 2
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


class ColorBlobs(ImageArray):
    def __init__(self, split: str = "train"):
        seed, n = BLOBS_SPLITS[split]
        super().__init__(color_blobs(n, seed=1000 + seed), torch.zeros(n, dtype=torch.int64))


def load_color_blobs(root: Path, split: str) -> ColorBlobs:
    return ColorBlobs(split)


DATASETS = [
    DatasetSpec(
        name="color-blobs",
        description="16×16 RGB, 8-bit: colour gradients with soft blobs and stripes, generated (4,000 / 500 / 500)",
        load=load_color_blobs,
        embedded=True,
        layout="nothing: generated",
    ),
    DatasetSpec(
        name="cifar10",
        description="CIFAR-10, 60,000 RGB images, 32×32, 8-bit (train 45,000 / val 5,000 / test 10,000)",
        load=load_cifar10,
        url=CIFAR_URL,
        layout="cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin "
        "or cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch}",
    ),
    DatasetSpec(
        name="imagenet32",
        description="Downsampled ImageNet 32×32, 8-bit (train 1,271,167 / val 10,000 / test 50,000)",
        load=_imagenet_loader(32),
        url=IMAGENET_URL,
        layout="imagenet32/Imagenet32_train_npz/train_data_batch_{1..10}.npz, imagenet32/Imagenet32_val_npz/val_data.npz",
    ),
    DatasetSpec(
        name="imagenet64",
        description="Downsampled ImageNet 64×64, 8-bit (train 1,271,167 / val 10,000 / test 50,000)",
        load=_imagenet_loader(64),
        url=IMAGENET_URL,
        layout="imagenet64/Imagenet64_train_part{1,2}_npz/train_data_batch_{1..10}.npz, "
        "imagenet64/Imagenet64_val_npz/val_data.npz",
    ),
]
