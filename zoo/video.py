"""Videos in and out: the user's frames and video files, and GIF/MP4/PNG output.

A video is a float tensor (T, C, H, W) in [0, 1]; several are (N, T, C, H, W).

Reading: a folder of frame images (sorted in natural order, so frame2 comes
before frame10), an animated GIF/WebP/PNG (Pillow), or any other video file
through imageio (v3 API) or torchvision's video I/O when one of them is
installed. Writing: GIF with Pillow (always available), MP4 through imageio
(with its ffmpeg plugin) or torchvision's video I/O when present, and PNG
strips (one row per video, one column per frame). Every write is atomic.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.errors import InputError, MissingDependencyError
from zoo.images import IMAGE_SUFFIXES, resize_center_crop

PIL_VIDEO_SUFFIXES = (".gif", ".webp", ".png", ".apng")
VIDEO_SUFFIXES = (".gif", ".webp", ".apng", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
MP4_HINT = "pip install imageio imageio-ffmpeg (or use a torchvision build with video I/O)"


# ---------------------------------------------------------------------------
# Reading


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def to_channels(frames: torch.Tensor, channels: int) -> torch.Tensor:
    """(T, C, H, W) with C in {1, 3, 4} -> (T, channels, H, W)."""
    if frames.shape[1] == 4:
        frames = frames[:, :3]  # drop alpha
    if frames.shape[1] == channels:
        return frames
    if channels == 1:  # ITU-R 601 luma, as Pillow's "L" mode
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=frames.dtype).view(1, 3, 1, 1)
        return (frames * weights).sum(1, keepdim=True)  # (T, 1, H, W)
    return frames.expand(-1, channels, -1, -1).contiguous()  # (T, 3, H, W)


def _pil_frames(path: Path) -> torch.Tensor:
    """Every frame of an image file (one for a still image) as (T, 3, H, W)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            frames = []
            for frame in ImageSequence.Iterator(img):
                rgb = frame.convert("RGB")
                x = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
                frames.append(x.view(rgb.height, rgb.width, 3).permute(2, 0, 1))  # (3, H, W)
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc}") from None
    return torch.stack(frames).float() / 255


def _decoder_frames(path: Path) -> torch.Tensor:
    """A video file through imageio or torchvision, as (T, 3, H, W)."""
    try:
        import imageio.v3 as iio
    except ImportError:
        iio = None
    if iio is not None:
        try:
            array = iio.imread(path, index=None)  # (T, H, W, C) uint8
        except Exception as exc:  # noqa: BLE001 - imageio plugins raise many kinds
            raise InputError(f"cannot read video {str(path)!r}: {exc}") from None
        x = torch.as_tensor(array)
        if x.dim() == 3:
            x = x.unsqueeze(-1)  # (T, H, W, 1)
        return x.permute(0, 3, 1, 2).float() / 255  # (T, C, H, W)
    try:
        from torchvision.io import read_video
    except ImportError:
        read_video = None
    if read_video is not None:
        try:
            frames, _, _ = read_video(str(path), pts_unit="sec", output_format="TCHW")
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot read video {str(path)!r}: {exc}") from None
        if len(frames) == 0:
            raise InputError(f"cannot read video {str(path)!r}: no frames decoded")
        return frames.float() / 255
    raise MissingDependencyError(
        f"reading {path.suffix} videos needs a video decoder, and none is installed",
        f"{MP4_HINT}; or pass a GIF or a folder of frames",
    )


def read_frames_folder(folder: Path, channels: int = 3) -> torch.Tensor:
    """Every image in `folder`, in natural order, as (T, channels, H, W)."""
    files = sorted((f for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise InputError(f"folder {str(folder)!r} holds no frame images", f"expected {', '.join(IMAGE_SUFFIXES)} files")
    frames = []
    for f in files:
        x = _pil_frames(f)[:1]  # (1, 3, H, W): the first frame of each image
        if frames and x.shape != frames[0].shape:
            raise InputError(
                f"frames in {str(folder)!r} differ in size: {f.name} is {x.shape[-1]}x{x.shape[-2]}, "
                f"{files[0].name} is {frames[0].shape[-1]}x{frames[0].shape[-2]}"
            )
        frames.append(x)
    return to_channels(torch.cat(frames), channels)


def read_video(path: Path, channels: int = 3) -> torch.Tensor:
    """A video file (GIF, WebP, APNG, or MP4/AVI/... with a decoder installed)
    or a folder of frames, as (T, channels, H, W) in [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input video {str(path)!r} does not exist")
    if path.is_dir():
        return read_frames_folder(path, channels)
    if path.suffix.lower() in PIL_VIDEO_SUFFIXES:
        frames = _pil_frames(path)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        frames = _decoder_frames(path)
    else:
        raise InputError(
            f"{str(path)!r} is not a video file or a folder of frames",
            f"give a folder of images or a file ending in {', '.join(VIDEO_SUFFIXES)}",
        )
    return to_channels(frames, channels)


def fit_frames(video: torch.Tensor, size: int, *, resize: bool, source: str) -> torch.Tensor:
    """Check (T, C, H, W) frames are size x size, or resize and centre-crop them."""
    h, w = video.shape[-2:]
    if (h, w) == (size, size):
        return video
    if not resize:
        raise InputError(
            f"frames of {source} are {w}x{h}, the model takes {size}x{size}",
            "resize them first, or pass --resize to resize and centre-crop",
        )
    return torch.stack([resize_center_crop(frame, size) for frame in video]).clamp(0, 1)  # (T, C, size, size)


def load_video(path: Path, *, size: int, channels: int, min_frames: int = 1, resize: bool = False) -> torch.Tensor:
    """Read the user's video (file or folder), check its length, fit its frames."""
    video = read_video(path, channels)
    if len(video) < min_frames:
        raise InputError(
            f"{str(path)!r} has {len(video)} frame(s); at least {min_frames} are needed",
            "give a longer video, or fewer conditioning frames (--n-cond)",
        )
    return fit_frames(video, size, resize=resize, source=repr(str(path)))


# ---------------------------------------------------------------------------
# Writing


def _as_batch(videos: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) or (N, T, C, H, W) -> (N, T, C, H, W) float in [0, 1] on the CPU."""
    if videos.dim() == 4:
        videos = videos.unsqueeze(0)
    if videos.dim() != 5 or videos.shape[2] not in (1, 3):
        raise ValueError(f"expected (T, C, H, W) or (N, T, C, H, W) videos, got {tuple(videos.shape)}")
    return videos.detach().float().cpu().clamp(0, 1)


def tile(videos: torch.Tensor, padding: int = 2, scale: int = 1) -> torch.Tensor:
    """N videos side by side: (N, T, C, H, W) -> (T, 3, H', W') uint8 frames."""
    videos = _as_batch(videos)
    n, t, c, h, w = videos.shape
    if scale > 1:
        videos = F.interpolate(videos.flatten(0, 1), scale_factor=scale, mode="nearest").view(n, t, c, h * scale, w * scale)
        h, w = h * scale, w * scale
    canvas = torch.ones(t, 3, h, n * w + (n - 1) * padding)  # white gutters
    for i in range(n):
        canvas[:, :, :, i * (w + padding) : i * (w + padding) + w] = videos[i].expand(-1, 3, -1, -1)
    return (canvas * 255).round().to(torch.uint8)  # (T, 3, H', W')


def _default_scale(width: int) -> int:
    return max(1, 128 // max(1, width))


def write_gif(videos: torch.Tensor, path: Path, fps: float = 4.0, scale: int | None = None) -> Path:
    """Write (T, C, H, W) or (N, T, C, H, W) as one looping GIF (videos side by side)."""
    from PIL import Image

    from zoo.checkpoint import atomic_path

    batch = _as_batch(videos)
    frames = tile(batch, scale=scale or _default_scale(batch.shape[-1]))
    images = [Image.fromarray(f.permute(1, 2, 0).numpy()) for f in frames]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0)
    return path


def mp4_encoder() -> str | None:
    """The name of an available MP4 encoder ("imageio" or "torchvision"), or None."""
    try:
        import imageio.v3  # noqa: F401
        import imageio_ffmpeg  # noqa: F401

        return "imageio"
    except ImportError:
        pass
    try:
        from torchvision.io import write_video  # noqa: F401
        import av  # noqa: F401  (torchvision's video I/O runs on PyAV)

        return "torchvision"
    except ImportError:
        return None


def write_mp4(videos: torch.Tensor, path: Path, fps: float = 4.0, scale: int | None = None) -> Path:
    """Write (T, C, H, W) or (N, T, C, H, W) as one MP4 (H.264), videos side by side."""
    from zoo.checkpoint import atomic_path

    encoder = mp4_encoder()
    if encoder is None:
        raise MissingDependencyError("writing MP4 needs a video encoder, and none is installed", MP4_HINT)
    batch = _as_batch(videos)
    frames = tile(batch, scale=scale or _default_scale(batch.shape[-1]))  # (T, 3, H, W)
    # H.264 wants even sides
    h, w = frames.shape[-2:]
    frames = F.pad(frames, (0, w % 2, 0, h % 2), value=255)
    hwc = frames.permute(0, 2, 3, 1).contiguous()  # (T, H, W, 3)
    path = Path(path)
    with atomic_path(path) as tmp:
        if encoder == "imageio":
            import imageio.v3 as iio

            iio.imwrite(tmp, hwc.numpy(), extension=".mp4", fps=fps, codec="libx264")
        else:
            from torchvision.io import write_video

            write_video(str(tmp), hwc, fps=fps, video_codec="libx264")
    return path


def strip(videos: torch.Tensor, padding: int = 2, mark: int | None = None) -> torch.Tensor:
    """One row per video, one column per frame: (N, T, C, H, W) -> (3, H', W') in [0, 1].

    With `mark` = k, the first k columns (conditioning frames) get a grey
    background so the predicted frames stand out."""
    batch = _as_batch(videos)
    n, t, c, h, w = batch.shape
    canvas = torch.ones(3, n * h + (n + 1) * padding, t * w + (t + 1) * padding)
    if mark:
        canvas[:, :, : mark * (w + padding) + padding] = 0.6
    for i in range(n):
        for j in range(t):
            top, left = padding + i * (h + padding), padding + j * (w + padding)
            canvas[:, top : top + h, left : left + w] = batch[i, j].expand(3, -1, -1)
    return canvas


def save_strip(videos: torch.Tensor, path: Path, mark: int | None = None, scale: int | None = None) -> Path:
    """Write `strip(videos)` as a PNG, enlarged (nearest) when frames are small."""
    from PIL import Image

    from zoo.checkpoint import atomic_path

    image = strip(videos, mark=mark)
    scale = scale or _default_scale(_as_batch(videos).shape[-1])
    if scale > 1:
        image = F.interpolate(image[None], scale_factor=scale, mode="nearest")[0]
    array = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return path
