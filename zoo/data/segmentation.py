"""Object segmentation data: images with ground-truth foreground masks.

Items are ``{"image": (3, S, S) float in [0, 1], "mask": (1, S, S) float in
{0, 1}}`` at the side `S` the method asks for (`size`); a split without
labels (LFW's training images) has no ``"mask"``. Real images are resized so
the shorter side is `S` and centre-cropped; masks are resized with nearest
neighbours so they stay binary.

* ``synthetic-flowers`` (embedded): procedural flowers on textured
  backgrounds, object and background colours drawn independently,
  deterministic per index.
* ``flowers``: Oxford Flowers-102 (`jpg/`, `segmim/`, `setid.mat`), with
  the ReDO split (the official split reversed).
* ``cub``: CUB-200-2011 images and segmentations with ReDO's split file.
* ``lfw``: LFW funneled with the part labels of Kae et al. 2013, and ReDO's
  split files; masks for val and test only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data import DatasetSpec, require
from zoo.errors import DataError, MissingDependencyError

DEFAULT_SIZE = 128  # ReDO's resolution (thesis Sec. 5.3.1)
REDO_SPLITS_URL = "https://github.com/mickaelChen/ReDO/tree/master/datasplits"


# ---------------------------------------------------------------------------
# Resizing


def resize_center_crop(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """(C, H, W) -> (C, size, size): shorter side to `size`, centre crop."""
    _, h, w = x.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) != (h, w):
        if mode == "nearest":
            x = F.interpolate(x[None], size=(nh, nw), mode="nearest")[0]
        else:
            x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, top : top + size, left : left + size]


def read_rgb(path: Path) -> np.ndarray:
    """An image file as a (H, W, 3) uint8 array; a DataError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"missing file {path}", "the data set folder is incomplete") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def read_gray(path: Path) -> np.ndarray:
    """An image file's first channel as a (H, W) uint8 array."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "1", "P", "I", "I;16"):
                img = img.convert("RGB")
                return np.asarray(img, dtype=np.uint8)[:, :, 0].copy()
            return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"missing file {path}", "the data set folder is incomplete") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def image_tensor(rgb: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)  # (3, H, W)
    return resize_center_crop(x, size, "bilinear").clamp(0, 1)


def mask_tensor(fg: np.ndarray, size: int) -> torch.Tensor:
    m = torch.from_numpy(fg.astype(np.float32))[None]             # (1, H, W)
    return resize_center_crop(m, size, "nearest")


# ---------------------------------------------------------------------------
# Image files with masks


class SegmentationFiles(Dataset):
    """Items read from image files; `mask_of(path) -> (H, W) bool` turns a
    ground-truth file into the foreground (None: no masks in this split)."""

    def __init__(
        self,
        images: list[Path],
        masks: list[Path] | None,
        mask_of: Callable[[Path], np.ndarray] | None,
        size: int = DEFAULT_SIZE,
    ):
        self.images, self.masks, self.mask_of, self.size = images, masks, mask_of, size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"image": image_tensor(read_rgb(self.images[i]), self.size)}
        if self.masks is not None:
            item["mask"] = mask_tensor(self.mask_of(self.masks[i]), self.size)
        return item


# ---------------------------------------------------------------------------
# Oxford Flowers-102


FLOWERS_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
# ReDO reverses the official split: the 6,149 official test images train.
FLOWERS_SPLIT_KEYS = {"train": "tstid", "val": "valid", "test": "trnid"}


def loadmat(path: Path) -> dict:
    """scipy.io.loadmat, imported only when a .mat file must be read."""
    try:
        from scipy.io import loadmat as _loadmat
    except ImportError:
        raise MissingDependencyError(
            f"reading {path.name} needs scipy, which is not installed", "pip install scipy (or thesis-zoo[data])"
        ) from None
    try:
        return _loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several kinds
        raise DataError(f"{path} is not a readable .mat file ({type(exc).__name__}: {exc})") from None


def flowers_foreground(path: Path) -> np.ndarray:
    """Foreground of a `segmim` image: every pixel that is not the blue
    background, i.e. not (R == 0 or G == 0 or B == 254) ([code] of ReDO)."""
    seg = read_rgb(path)
    background = (seg[:, :, 0] == 0) | (seg[:, :, 1] == 0) | (seg[:, :, 2] == 254)
    return ~background


def load_flowers(root: Path, split: str, size: int = DEFAULT_SIZE) -> SegmentationFiles:
    require(root, "flowers", ["jpg/", "segmim/", "setid.mat"], url=FLOWERS_URL, what="Flowers-102 images, segmentations, data splits")
    ids = loadmat(root / "setid.mat")
    key = FLOWERS_SPLIT_KEYS[split]
    if key not in ids:
        raise DataError(f"{root / 'setid.mat'} has no {key!r} array", "use the official setid.mat of Flowers-102")
    numbers = [int(i) for i in np.asarray(ids[key]).ravel()]
    images = [root / "jpg" / f"image_{i:05d}.jpg" for i in numbers]
    masks = [root / "segmim" / f"segmim_{i:05d}.jpg" for i in numbers]
    return SegmentationFiles(images, masks, flowers_foreground, size)


# ---------------------------------------------------------------------------
# CUB-200-2011


CUB_URL = "https://www.vision.caltech.edu/datasets/cub_200_2011/"
CUB_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def cub_foreground(path: Path) -> np.ndarray:
    """CUB's segmentations are soft (averaged annotators): threshold at 0.5."""
    return read_gray(path) > 127


def _cub_base(root: Path) -> Path:
    nested = root / "CUB_200_2011"
    return nested if (nested / "images.txt").is_file() or not (root / "images.txt").is_file() else root


def load_cub(root: Path, split: str, size: int = DEFAULT_SIZE) -> SegmentationFiles:
    base = _cub_base(root)
    require(base, "cub", ["images.txt", "images/", "train_val_test_split.txt"], url=CUB_URL,
            what=f"CUB-200-2011 images; train_val_test_split.txt from {REDO_SPLITS_URL}/cub")
    seg_root = root / "segmentations" if (root / "segmentations").is_dir() else base / "segmentations"
    require(seg_root.parent, "cub", ["segmentations/"], url=CUB_URL, what="CUB-200-2011 segmentations")
    names = _read_table(base / "images.txt", 2)
    splits = _read_table(base / "train_val_test_split.txt", 2)
    which = {int(i): int(s) for i, s in splits}
    wanted = CUB_SPLIT_IDS[split]
    files = [name for i, name in names if which.get(int(i)) == wanted]
    if len(which) != len(names):
        raise DataError(f"{base / 'train_val_test_split.txt'} lists {len(which)} images, images.txt {len(names)}")
    images = [base / "images" / f for f in files]
    masks = [seg_root / (f[: -len(Path(f).suffix)] + ".png") for f in files]
    return SegmentationFiles(images, masks, cub_foreground, size)


def _read_table(path: Path, columns: int) -> list[list[str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != columns or not parts[0].lstrip("-").isdigit():
            raise DataError(f"{path}, line {n}: expected {columns} columns starting with an id, got {line!r}")
        rows.append(parts)
    return rows


# ---------------------------------------------------------------------------
# LFW funneled + part labels


LFW_URL = "https://vis-www.cs.umass.edu/lfw/"


def lfw_foreground(path: Path) -> np.ndarray:
    """Part labels: red hair, green skin, blue background. Foreground is
    1 - the blue channel ([code]), i.e. hair and face, thresholded at 0.5."""
    return read_rgb(path)[:, :, 2] < 128


def load_lfw(root: Path, split: str, size: int = DEFAULT_SIZE) -> SegmentationFiles:
    needed = ["lfw_funneled/", f"{split}.txt"] + (["parts_lfw_funneled_gt_images/"] if split != "train" else [])
    require(root, "lfw", needed, url=LFW_URL,
            what=f"LFW funneled images and part labels; train.txt, val.txt, test.txt from {REDO_SPLITS_URL}")
    rows = []
    for n, line in enumerate((root / f"{split}.txt").read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                raise DataError(f"{root / f'{split}.txt'}, line {n}: expected '<Name> <Name_0001>', got {line!r}")
            rows.append(parts)
    images = [root / "lfw_funneled" / person / f"{stem}.jpg" for person, stem in rows]
    if split == "train":  # the training images are the unlabelled ones
        return SegmentationFiles(images, None, None, size)
    masks = [root / "parts_lfw_funneled_gt_images" / f"{stem}.ppm" for _, stem in rows]
    return SegmentationFiles(images, masks, lfw_foreground, size)


# ---------------------------------------------------------------------------
# synthetic-flowers: the embedded stand-in


SYNTHETIC_SPLITS = {"train": (6000, 0), "val": (500, 1_000_000), "test": (1000, 2_000_000)}  # (size, seed offset)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] (any broadcastable shapes) -> RGB stacked on dim 0."""
    h = h % 1.0
    i = torch.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    i = i.long() % 6
    r = torch.stack([v, q, p, p, t, v])
    g = torch.stack([t, v, v, q, p, p])
    b = torch.stack([p, p, t, v, v, q])
    pick = lambda c: torch.gather(c, 0, i.unsqueeze(0)).squeeze(0)  # noqa: E731
    return torch.stack([pick(r), pick(g), pick(b)])


def _smooth_noise(g: torch.Generator, cells: int, side: int) -> torch.Tensor:
    coarse = torch.randn(1, 1, cells, cells, generator=g)
    return F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False)[0, 0]  # (side, side)


def render_flower(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One synthetic flower: ((3, size, size) image in [0, 1], (1, size, size)
    mask in {0, 1}). Rendered at twice the size and averaged down, so edges
    are anti-aliased; the mask is the covered area thresholded at 0.5.

    Background: low-frequency value/hue noise around a random hue. Flower:
    5-9 elliptic petals around a centre, shaded along their length, with a
    darker centre disk, in a hue drawn independently of the background's."""
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * float(torch.rand((), generator=g))  # noqa: E731
    S = 2 * size
    coords = (torch.arange(S, dtype=torch.float32) + 0.5) / S
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (S, S) each, in [0, 1]

    # background
    tex = 0.65 * _smooth_noise(g, 4, S) + 0.35 * _smooth_noise(g, 9, S)  # (S, S)
    bg_h, bg_s, bg_v = u(0, 1), u(0.25, 0.85), u(0.3, 0.85)
    background = hsv_to_rgb(bg_h + 0.05 * tex, torch.full_like(tex, bg_s), (bg_v * (1 + 0.3 * tex)).clamp(0, 1))

    # flower geometry
    R = u(0.24, 0.42)  # petal tip radius, as a fraction of the image side
    cx, cy = u(0.6 * R, 1 - 0.6 * R), u(0.6 * R, 1 - 0.6 * R)
    k, theta0 = int(u(5, 10)), u(0, 2 * math.pi)
    a, ratio = R / 2, u(0.4, 0.65)
    dx, dy = xx - cx, yy - cy
    dist = torch.sqrt(dx**2 + dy**2)
    petals = torch.zeros(S, S, dtype=torch.bool)
    for j in range(k):
        th = theta0 + 2 * math.pi * j / k + u(-0.15, 0.15)
        length = a * u(0.85, 1.15)
        along = dx * math.cos(th) + dy * math.sin(th) - length
        across = -dx * math.sin(th) + dy * math.cos(th)
        petals |= (along / length) ** 2 + (across / (length * ratio)) ** 2 <= 1
    centre = dist <= R * u(0.16, 0.28)
    mask = petals | centre

    # flower colours
    f_h, f_s, f_v = u(0, 1), u(0.45, 1.0), u(0.6, 1.0)
    shade = (0.65 + 0.35 * (dist / R).clamp(0, 1)) * (1 + 0.08 * _smooth_noise(g, 12, S))
    petal_rgb = hsv_to_rgb(torch.full_like(dist, f_h), torch.full_like(dist, f_s), (f_v * shade).clamp(0, 1))
    centre_rgb = hsv_to_rgb(torch.full_like(dist, f_h + u(0.05, 0.2)), torch.full_like(dist, 0.8), torch.full_like(dist, 0.35 * f_v))
    flower = torch.where(centre, centre_rgb, petal_rgb)

    image = torch.where(mask, flower, background)                        # (3, S, S)
    image = F.avg_pool2d(image[None], 2)[0].clamp(0, 1)                  # (3, size, size)
    cover = F.avg_pool2d(mask[None, None].float(), 2)[0]                 # (1, size, size)
    return image, (cover >= 0.5).float()


class SyntheticFlowers(Dataset):
    """Procedural flowers with ground-truth masks (train 6,000 / val 500 /
    test 1,000), generated on the fly, deterministic per (split, index).

    Images are quantised to 8 bits, as a data set on disk would be; at 64 px
    and below, rendered items are kept in memory (at most ~100 MB)."""

    CACHE_MAX_SIZE = 64

    def __init__(self, split: str = "train", size: int = DEFAULT_SIZE):
        if size < 8:
            raise DataError(f"synthetic-flowers needs size >= 8, got {size}")
        self.n, self.offset = SYNTHETIC_SPLITS[split]
        self.size = size
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if size <= self.CACHE_MAX_SIZE else None

    def __len__(self) -> int:
        return self.n

    def _render(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = render_flower(self.offset + i, self.size)
        return image.mul(255).round().to(torch.uint8), mask.bool()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = int(i)
        if not 0 <= i < self.n:
            raise IndexError(i)
        if self._cache is None:
            image, mask = self._render(i)
        else:
            if i not in self._cache:
                self._cache[i] = self._render(i)
            image, mask = self._cache[i]
        return {"image": image.float().div(255), "mask": mask.float()}


def load_synthetic_flowers(root: Path, split: str, size: int = DEFAULT_SIZE) -> SyntheticFlowers:
    return SyntheticFlowers(split, size)


DATASETS = [
    DatasetSpec(
        name="synthetic-flowers",
        description="procedural flowers on textured backgrounds with masks, colours independent "
        "(train 6,000 / val 500 / test 1,000), any size",
        load=load_synthetic_flowers,
        embedded=True,
        layout="nothing: generated on the fly",
        kind="segmentation",
    ),
    DatasetSpec(
        name="flowers",
        description="Oxford Flowers-102 with its automatic segmentations; ReDO split 6,149 / 1,020 / 1,020",
        load=load_flowers,
        url=FLOWERS_URL,
        layout="flowers/{jpg/image_NNNNN.jpg, segmim/segmim_NNNNN.jpg, setid.mat}",
        kind="segmentation",
    ),
    DatasetSpec(
        name="cub",
        description="CUB-200-2011 birds with segmentations; ReDO split 10,000 / 788 / 1,000",
        load=load_cub,
        url=CUB_URL,
        layout="cub/CUB_200_2011/{images.txt, images/, segmentations/, train_val_test_split.txt (ReDO's)}",
        kind="segmentation",
    ),
    DatasetSpec(
        name="lfw",
        description="LFW funneled faces; part-label masks for val (1,327) and test (1,600) only",
        load=load_lfw,
        url=LFW_URL,
        layout="lfw/{lfw_funneled/<Name>/<Name>_NNNN.jpg, parts_lfw_funneled_gt_images/<Name>_NNNN.ppm, "
        "train.txt, val.txt, test.txt (ReDO's)}",
        kind="segmentation",
    ),
]
