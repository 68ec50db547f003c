"""Images in and out: the user's image files, and PNG grids of samples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff")


def grid(samples: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """Arrange samples in a grid image (C, H, W) in [0, 1].

    (N, C, H, W) fills rows of `nrow` (default: about square);
    (R, K, C, H, W) gives R rows of K images."""
    from torchvision.utils import make_grid

    samples = samples.detach().float().cpu().clamp(0, 1)
    if samples.dim() == 5:
        rows, cols = samples.shape[:2]
        samples, nrow = samples.flatten(0, 1), cols  # (R*K, C, H, W)
    if samples.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) or (R, K, C, H, W) samples, got {tuple(samples.shape)}")
    if nrow is None:
        nrow = max(1, int(round(len(samples) ** 0.5)))
    pad_value = 1.0 if samples.shape[1] in (1, 3) else 0.0
    return make_grid(samples, nrow=nrow, padding=padding, pad_value=pad_value)


def save_grid(samples: torch.Tensor, path: Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Write samples as one PNG grid; small images are enlarged (nearest) so
    the grid is at least about 256 px wide."""
    from torchvision.utils import save_image

    image = grid(samples, nrow)
    if scale is None:
        scale = max(1, -(-256 // max(1, image.shape[-1])))  # ceil: at least 256 px wide
    if scale > 1:
        image = F.interpolate(image[None], scale_factor=scale, mode="nearest")[0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(image, str(path))
    return path


def load_image(path: Path, size: int | tuple[int, int] | None = None, channels: int = 3) -> torch.Tensor:
    """Read one image file as (C, H, W) float in [0, 1]; resize (shorter side)
    and centre-crop to `size` if given."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"input image {str(path)!r} does not exist")
    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
            x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
            x = x.view(img.height, img.width, channels).permute(2, 0, 1).float() / 255  # (C, H, W)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {str(path)!r}: {exc}") from None
    if size is not None:
        x = resize_center_crop(x, size)
    return x


def load_images(paths: Sequence[Path], size: int | tuple[int, int] | None = None, channels: int = 3) -> torch.Tensor:
    """Read image files (or every image in a folder) into (N, C, H, W)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(p)
    if not files:
        raise InputError("no input images given", "pass image files or a folder of images with --input")
    images = [load_image(f, size, channels) for f in files]
    shapes = {tuple(x.shape) for x in images}
    if len(shapes) > 1:
        raise InputError(f"input images have different sizes {sorted(shapes)}", "give a size to resize them to")
    return torch.stack(images)


def resize_center_crop(x: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize (C, H, W) so it covers `size`, then centre-crop to it."""
    th, tw = (size, size) if isinstance(size, int) else size
    _, h, w = x.shape
    scale = max(th / h, tw / w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    if (nh, nw) != (h, w):
        kwargs = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
        x = F.interpolate(x[None], size=(nh, nw), mode=mode, **kwargs)[0]
    top, left = (nh - th) // 2, (nw - tw) // 2
    return x[:, top : top + th, left : left + tw]
