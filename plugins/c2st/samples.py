"""Reading a user's sample for `zoo c2st test`: an array file (.npy, .npz,
.safetensors), a numeric text table (.csv, .tsv, .txt; one point per row,
an optional header line) or a folder of images. Nothing is ever unpickled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.errors import InputError

ARRAY_SUFFIXES = (".npy", ".npz", ".safetensors")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass
class Sample:
    """`data` holds points (n, ...) or, when `images`, images (n, C, H, W) in [0, 1]."""

    path: Path
    data: torch.Tensor
    images: bool


def read_sample(path: str | Path, *, key: str | None = None, image_size: int = 64) -> Sample:
    """Read one sample. Image folders are resized and centre-cropped to
    `image_size`; arrays shaped (n, C, H, W) with C in {1, 3} count as images
    (uint8 is divided by 255)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"sample {str(path)!r} does not exist")
    if path.is_dir():
        from zoo.images import IMAGE_SUFFIXES, load_images

        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            raise InputError(f"folder {str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return Sample(path, load_images([path], size=image_size), True)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = _np_load(path)
    elif suffix == ".npz":
        with _np_load(path) as archive:
            name = _pick(path, list(archive.files), key)
            array = _guard(path, lambda: archive[name])
    elif suffix == ".safetensors":
        from zoo.checkpoint import load_tensors
        from zoo.errors import CheckpointError

        try:
            tensors, _ = load_tensors(path)
        except CheckpointError as exc:
            raise InputError(f"cannot read {path}: {exc.message}") from None
        array = tensors[_pick(path, sorted(tensors), key)]
    elif suffix in TEXT_SUFFIXES:
        array = _read_table(path)
    else:
        raise InputError(f"{path.name}: unsupported sample file",
                         f"use {', '.join(ARRAY_SUFFIXES + TEXT_SUFFIXES)} or a folder of images")
    data = torch.as_tensor(np.asarray(array)) if not isinstance(array, torch.Tensor) else array
    images = data.dim() == 4 and data.shape[1] in (1, 3)
    if data.dtype == torch.uint8:
        data = data.float() / 255 if images else data.float()
    if not (data.is_floating_point() or data.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)):
        raise InputError(f"{path} holds {data.dtype} values, not numbers")
    return Sample(path, data.float(), images)


def _read_table(path: Path) -> np.ndarray:
    """Rows of numbers separated by commas (.csv), tabs or spaces; a first
    line that is not numbers is taken as a header and skipped."""
    delimiter = "," if path.suffix.lower() == ".csv" else None
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if lines:
        try:
            [float(v) for v in lines[0].split(delimiter)]
        except ValueError:
            lines = lines[1:]  # a header
    if not lines:
        raise InputError(f"{path} holds no rows of numbers")
    try:
        return np.loadtxt(lines, delimiter=delimiter, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"cannot read {path}: {exc}", "every row needs the same number of numeric columns") from None


def _np_load(path: Path):
    return _guard(path, lambda: np.load(path, allow_pickle=False))


def _guard(path: Path, read):
    try:
        return read()
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"{path} holds pickled objects, which zoo never loads", "save plain numeric arrays") from None
        raise InputError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile, OSError, EOFError...
        raise InputError(f"cannot read {path}: it is not a valid NumPy file ({type(exc).__name__}: {exc})") from None


def _pick(path: Path, keys: list[str], key: str | None) -> str:
    if key is not None:
        if key not in keys:
            raise InputError(f"{path} has no array {key!r}", f"it has: {', '.join(keys) or 'none'}")
        return key
    if len(keys) != 1:
        raise InputError(f"{path} holds {len(keys)} arrays ({', '.join(keys) or 'none'})", "choose one with --key NAME")
    return keys[0]
