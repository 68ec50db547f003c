"""Video data sets for stochastic video prediction, in their official layouts.

Items are {"video": (T, C, H, W) float32 in [0, 1]}. Every loader takes the
clip `length` the method asks for, the frame `size` (frames are resized when
the files hold another size) and the number of `channels` (grey and colour
frames are converted).

* `smmnist-digits` (embedded): Stochastic Moving MNIST with the shipped 8x8
  digits as sprites, generated on the fly, deterministic per index.
* `smmnist`: Stochastic Moving MNIST from the MNIST IDX files on disk
  (shared with the `mnist` data set): training clips are drawn fresh at each
  access, validation and test clips are fixed per index.
* `kth`, `bair`, `human36m`: the files the SRVP preprocessing scripts write
  (layouts in each spec's `layout`, and in plugins/srvp/README.md).

Stochastic Moving MNIST (Denton & Fergus 2018, with the frame-rate
independent bounces of Franceschi et al. 2020): each digit moves with an
integer velocity in [-max_speed, max_speed] per axis; when its path reaches a
border within a time step, it stops at the border, draws a new random velocity
whose component across that border points back inside, and moves on for the
rest of the step. Overlapping digits add up and are clipped to 1.
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data import DatasetSpec, require
from zoo.errors import DataError

MAX_BOUNCES = 8  # bounces resolved within one time step before clamping


# ---------------------------------------------------------------------------
# Shared helpers


def _fit(video: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """(T, C, H, W) float in [0, 1] -> (T, channels, size, size)."""
    from zoo.video import to_channels

    video = to_channels(video, channels)
    if video.shape[-1] != size or video.shape[-2] != size:
        video = F.interpolate(video, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return video.clamp(0, 1).contiguous()


def _uint8_video(array: np.ndarray) -> torch.Tensor:
    """(T, H, W) or (T, H, W, C) uint8 -> (T, C, H, W) float in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(array))
    if x.dim() == 3:
        x = x.unsqueeze(-1)  # (T, H, W, 1)
    return x.permute(0, 3, 1, 2).float() / 255  # (T, C, H, W)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))  # (H, W, 3)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read frame {path}: {exc}") from None


def _held_out(n: int, fraction: float = 0.05, seed: int = 0) -> set[int]:
    """A fixed random `fraction` of n videos (at least one): the evaluation set
    the thesis draws from the training videos (§3.2.2)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return set(order[: max(1, round(n * fraction))]) if n > 1 else set()


def _split_videos(videos: list, split: str) -> list:
    val = _held_out(len(videos))
    if split == "val":
        return [v for i, v in enumerate(videos) if i in val]
    return [v for i, v in enumerate(videos) if i not in val]


def _start(n_frames: int, span: int, split: str, index: int, what: str) -> int:
    """First frame of a clip of `span` frames: random for training (fresh at
    each access, from torch's generator), fixed per index otherwise."""
    if n_frames < span:
        raise DataError(f"{what} has {n_frames} frames, fewer than the {span} a clip needs")
    if split == "train":
        return int(torch.randint(n_frames - span + 1, ()).item())
    g = torch.Generator().manual_seed(1_000_003 + index)
    return int(torch.randint(n_frames - span + 1, (), generator=g).item())


# ---------------------------------------------------------------------------
# Stochastic Moving MNIST


def bounce_trajectory(length: int, limit: float, max_speed: int, g: torch.Generator) -> torch.Tensor:
    """Top-left positions (length, 2) of a sprite moving in [0, limit]^2,
    with a new random velocity at each bounce (frame-rate independent)."""
    def velocity() -> list[float]:
        return [float(v) for v in torch.randint(-max_speed, max_speed + 1, (2,), generator=g)]

    pos = [float(v) for v in torch.randint(0, int(limit) + 1, (2,), generator=g)]
    vel = velocity()
    out = [list(pos)]
    for _ in range(length - 1):
        remaining = 1.0
        for _ in range(MAX_BOUNCES):
            times = [((limit - p) / v if v > 0 else -p / v) if v != 0 else float("inf") for p, v in zip(pos, vel)]
            hit = min(times)
            if hit >= remaining:
                pos = [p + v * remaining for p, v in zip(pos, vel)]
                break
            pos = [p + v * hit for p, v in zip(pos, vel)]
            remaining -= hit
            walls = [a for a in (0, 1) if times[a] <= hit + 1e-9]
            vel = velocity()
            for a in walls:  # the component across the wall points back inside
                vel[a] = -abs(vel[a]) if pos[a] >= limit - 1e-9 else abs(vel[a])
        pos = [min(max(p, 0.0), limit) for p in pos]
        out.append(list(pos))
    return torch.tensor(out)  # (length, 2)


class BouncingDigits(Dataset):
    """Stochastic Moving MNIST: `num_digits` sprites bouncing in size x size frames.

    `sprites` (N, s, s) in [0, 1]. With `fresh`, each access draws a new clip
    (seeded from torch's generator, as the thesis generates training videos
    on the fly); otherwise item i is the same clip every time."""

    def __init__(self, sprites: torch.Tensor, *, items: int, length: int, size: int, channels: int,
                 num_digits: int = 2, max_speed: int | None = None, seed: int = 0, fresh: bool = False):
        if sprites.shape[-1] > size:
            raise DataError(f"digits of {sprites.shape[-1]} px do not fit in {size}x{size} frames")
        self.sprites, self.items, self.length, self.size = sprites, items, length, size
        self.channels, self.num_digits, self.seed, self.fresh = channels, num_digits, seed, fresh
        self.max_speed = max_speed if max_speed is not None else max(1, size // 16)  # 4 px at 64 px

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        seed = int(torch.randint(2**62, ()).item()) if self.fresh else self.seed * 1_000_003 + int(i)
        g = torch.Generator().manual_seed(seed)
        s = self.sprites.shape[-1]
        video = torch.zeros(self.length, 1, self.size, self.size)
        for _ in range(self.num_digits):
            sprite = self.sprites[int(torch.randint(len(self.sprites), (), generator=g))]
            path = bounce_trajectory(self.length, self.size - s, self.max_speed, g).round().long()  # (T, 2)
            for t, (y, x) in enumerate(path.tolist()):
                video[t, 0, y : y + s, x : x + s] += sprite
        return {"video": _fit(video.clamp_(0, 1), self.size, self.channels)}


def sprite_size(size: int) -> int:
    """Digit size for a frame size: 28 px in 64 px frames, as MNIST in SM-MNIST."""
    return max(4, size * 7 // 16)


@lru_cache(maxsize=8)
def _digit_sprites(split: str, px: int) -> torch.Tensor:
    from zoo.data.digits import Digits

    images = Digits(split).images  # (N, 1, 8, 8)
    return F.interpolate(images, size=(px, px), mode="bicubic", align_corners=False).clamp(0, 1)[:, 0]  # (N, px, px)


SMMNIST_DIGITS_ITEMS = {"train": 20_000, "val": 256, "test": 256}


def load_smmnist_digits(root: Path, split: str, length: int = 25, size: int = 64, channels: int = 1,
                        num_digits: int = 2, max_speed: int | None = None) -> BouncingDigits:
    sprites = _digit_sprites(split, sprite_size(size))
    return BouncingDigits(sprites, items=SMMNIST_DIGITS_ITEMS[split], length=length, size=size, channels=channels,
                          num_digits=num_digits, max_speed=max_speed, seed={"train": 1, "val": 2, "test": 3}[split])


SMMNIST_ITEMS = {"train": 1_000_000, "val": 1_000, "test": 10_000}


def load_smmnist(root: Path, split: str, length: int = 25, size: int = 64, channels: int = 1,
                 num_digits: int = 2, max_speed: int | None = None) -> BouncingDigits:
    from zoo.data.digits import MNIST_VAL, read_mnist

    images, _ = read_mnist(root, "test" if split == "test" else "train")  # (N, 28, 28) uint8
    if split == "train":
        images = images[:-MNIST_VAL]
    elif split == "val":
        images = images[-MNIST_VAL:]
    sprites = images.float() / 255
    px = sprite_size(size)
    if px != sprites.shape[-1]:
        sprites = F.interpolate(sprites[:, None], size=(px, px), mode="bilinear", align_corners=False,
                                antialias=True)[:, 0]  # (N, px, px)
    return BouncingDigits(sprites, items=SMMNIST_ITEMS[split], length=length, size=size, channels=channels,
                          num_digits=num_digits, max_speed=max_speed, seed={"train": 11, "val": 12, "test": 13}[split],
                          fresh=split == "train")


# ---------------------------------------------------------------------------
# Folders of PNG frames (KTH, BAIR)


class FrameFolders(Dataset):
    """Videos stored as folders of frames; clips of `length` frames.

    Training clips start at a random frame (drawn at each access); validation
    and test clips start at a frame fixed per index (`from_start`: frame 0)."""

    def __init__(self, videos: list[list[Path]], *, split: str, length: int, size: int, channels: int,
                 from_start: bool = False):
        self.videos, self.split, self.length = videos, split, length
        self.size, self.channels, self.from_start = size, channels, from_start
        short = [v for v in videos if len(v) < length]
        if short and (split != "train" or len(short) == len(videos)):
            raise DataError(f"{len(short)} video(s) have fewer than {length} frames (e.g. {short[0][0].parent})",
                            "ask for shorter clips")
        if split == "train":
            self.videos = [v for v in videos if len(v) >= length]

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        frames = self.videos[i]
        t0 = 0 if self.from_start else _start(len(frames), self.length, self.split, i, str(frames[0].parent))
        array = np.stack([_read_png(p) for p in frames[t0 : t0 + self.length]])  # (T, H, W, 3)
        return {"video": _fit(_uint8_video(array), self.size, self.channels)}


def _png_frames(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".png")


class ArrayClips(Dataset):
    """Fixed clips held in one uint8 array (N, T, H, W[, C]); the first `length` frames."""

    def __init__(self, array: np.ndarray, *, length: int, size: int, channels: int, source: str):
        if array.ndim not in (4, 5) or array.dtype != np.uint8:
            raise DataError(f"{source} holds a {array.dtype} array of shape {array.shape}, "
                            "expected uint8 (N, T, H, W) or (N, T, H, W, C)")
        if array.shape[1] < length:
            raise DataError(f"{source} holds clips of {array.shape[1]} frames, fewer than the {length} asked for")
        self.array, self.length, self.size, self.channels = array, length, size, channels

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"video": _fit(_uint8_video(self.array[i, : self.length]), self.size, self.channels)}


def _load_npz_array(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            if key not in data:
                raise DataError(f"{path} has no array {key!r} (it has {', '.join(data.files)})")
            return data[key]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


# -- KTH ---------------------------------------------------------------------

KTH_ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
KTH_TRAIN_PERSONS = range(1, 21)  # persons 1-20 train, 21-25 test (§3.2.2)
KTH_TEST_FILE = "svg_test_set_40.npz"
KTH_LAYOUT = ("kth/processed_64/<action>/person<NN>_<action>_d<K>/image-<NNN>.png (training videos, "
              "persons 01-20; <action> in " + ", ".join(KTH_ACTIONS) + ") and kth/" + KTH_TEST_FILE +
              " (test: uint8 'sequences' (1000, 40, 64, 64))")


def _kth_person(name: str) -> int | None:
    head = name.split("_", 1)[0]
    return int(head[6:]) if head.startswith("person") and head[6:].isdigit() else None


def load_kth(root: Path, split: str, length: int = 20, size: int = 64, channels: int = 1) -> Dataset:
    if split == "test":
        require(root, "kth", [KTH_TEST_FILE], url="https://www.csc.kth.se/cvap/actions/", what="KTH Action")
        array = _load_npz_array(root / KTH_TEST_FILE, "sequences")
        return ArrayClips(array, length=length, size=size, channels=channels, source=str(root / KTH_TEST_FILE))
    require(root, "kth", ["processed_64/"] + [f"processed_64/{a}/" for a in KTH_ACTIONS],
            url="https://www.csc.kth.se/cvap/actions/", what="KTH Action, then SRVP's preprocessing/kth/convert.py")
    videos = []
    for action in KTH_ACTIONS:
        for folder in sorted((root / "processed_64" / action).iterdir()):
            person = _kth_person(folder.name)
            if folder.is_dir() and person in KTH_TRAIN_PERSONS:
                frames = _png_frames(folder)
                if frames:
                    videos.append(frames)
    if not videos:
        raise DataError(f"no training videos (persons 01-20) under {root / 'processed_64'}", f"expected {KTH_LAYOUT}")
    return FrameFolders(_split_videos(videos, split), split=split, length=length, size=size, channels=channels)


# -- BAIR --------------------------------------------------------------------

BAIR_LAYOUT = ("bair/processed_data/{train,test}/<tfrecord name>/<NNN>/<NNN>.png "
               "(30 RGB 64x64 frames per video, as SRVP's preprocessing/bair/convert.py writes them)")


def load_bair(root: Path, split: str, length: int = 12, size: int = 64, channels: int = 3) -> Dataset:
    part = "test" if split == "test" else "train"
    require(root, "bair", [f"processed_data/{part}/"], url="http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar",
            what="BAIR robot pushing, then SRVP's preprocessing/bair/convert.py")
    videos = []
    for shard in sorted(p for p in (root / "processed_data" / part).iterdir() if p.is_dir()):
        for clip in sorted(p for p in shard.iterdir() if p.is_dir()):
            frames = _png_frames(clip)
            if frames:
                videos.append(frames)
    if not videos:
        raise DataError(f"no videos under {root / 'processed_data' / part}", f"expected {BAIR_LAYOUT}")
    if split != "test":
        videos = _split_videos(videos, split)
    return FrameFolders(videos, split=split, length=length, size=size, channels=channels, from_start=split == "test")


# -- Human3.6M ---------------------------------------------------------------

H36M_TRAIN_SUBJECTS = (1, 5, 6, 7, 8)  # subjects 9 and 11 are the test set (§3.2.2)
H36M_SUBSAMPLING = 8  # 50 Hz -> 6.25 Hz
H36M_TEST_DIR = "test_set_53_8"
H36M_LAYOUT = ("human36m/train/S<subject>-<video>.npz (subjects 1, 5, 6, 7, 8; uint8 'image' (L, 64, 64, 3) "
               "at 50 Hz) and human36m/" + H36M_TEST_DIR + "/test_<i>.npz (uint8 'image' (417, 64, 64, 3): "
               "53 frames at 6.25 Hz with the frames between them)")


class NpzVideo:
    """The 'image' array of an uncompressed or compressed .npz, read a slice at
    a time without loading the whole video."""

    def __init__(self, path: Path, key: str = "image"):
        self.path, self.member = path, f"{key}.npy"
        try:
            with zipfile.ZipFile(path) as z, z.open(self.member) as f:
                version = np.lib.format.read_magic(f)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                self.shape, fortran, self.dtype = reader(f)
                self.offset = f.tell()
        except KeyError:
            raise DataError(f"{path} has no array {key!r}") from None
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        if fortran or self.dtype != np.uint8 or len(self.shape) not in (3, 4):
            raise DataError(f"{path}: {key!r} is {self.dtype} {self.shape}, expected uint8 (L, H, W, C)")

    def __len__(self) -> int:
        return self.shape[0]

    def frames(self, start: int, stop: int, step: int = 1) -> np.ndarray:
        frame_bytes = int(np.prod(self.shape[1:]))
        with zipfile.ZipFile(self.path) as z, z.open(self.member) as f:
            f.seek(self.offset + start * frame_bytes)
            data = f.read((stop - start) * frame_bytes)
        if len(data) != (stop - start) * frame_bytes:
            raise DataError(f"{self.path} is truncated")
        return np.frombuffer(data, np.uint8).reshape(stop - start, *self.shape[1:])[::step]


class SubsampledVideos(Dataset):
    """Clips of `length` frames taken every `step` frames of long .npz videos."""

    def __init__(self, videos: list[NpzVideo], *, split: str, length: int, step: int, size: int, channels: int,
                 from_start: bool = False):
        self.span = (length - 1) * step + 1
        self.videos = [v for v in videos if len(v) >= self.span] if split == "train" else videos
        short = [v for v in videos if len(v) < self.span]
        if short and (split != "train" or not self.videos):
            raise DataError(f"{short[0].path} has {len(short[0])} frames, fewer than the {self.span} "
                            f"a clip of {length} frames every {step} needs")
        self.split, self.step, self.size, self.channels, self.from_start = split, step, size, channels, from_start

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        video = self.videos[i]
        t0 = 0 if self.from_start else _start(len(video), self.span, self.split, i, str(video.path))
        array = video.frames(t0, t0 + self.span, self.step)  # (length, H, W, C)
        return {"video": _fit(_uint8_video(array), self.size, self.channels)}


def _natural(path: Path) -> list:
    import re

    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def load_human36m(root: Path, split: str, length: int = 16, size: int = 64, channels: int = 3,
                  subsampling: int = H36M_SUBSAMPLING) -> Dataset:
    url = "http://vision.imar.ro/human3.6m/"
    if split == "test":
        require(root, "human36m", [f"{H36M_TEST_DIR}/"], url=url,
                what="Human3.6M (licence), then SRVP's preprocessing/human/convert.py and make_test_set.py")
        files = sorted((root / H36M_TEST_DIR).glob("*.npz"), key=_natural)
        from_start = True
    else:
        require(root, "human36m", ["train/"], url=url, what="Human3.6M (licence), then SRVP's preprocessing/human/convert.py")
        files = [p for p in sorted((root / "train").glob("S*.npz"))
                 if p.name[1:].split("-", 1)[0].isdigit() and int(p.name[1:].split("-", 1)[0]) in H36M_TRAIN_SUBJECTS]
        files = _split_videos(files, split)
        from_start = False
    if not files:
        raise DataError(f"no videos for split {split!r} under {root}", f"expected {H36M_LAYOUT}")
    videos = [NpzVideo(p) for p in files]
    return SubsampledVideos(videos, split=split, length=length, step=subsampling, size=size, channels=channels,
                            from_start=from_start)


# ---------------------------------------------------------------------------

DATASETS = [
    DatasetSpec(
        name="smmnist-digits",
        description="Stochastic Moving MNIST with the shipped 8x8 digits as sprites, generated on the fly "
                    "(train 20,000 / val 256 / test 256 clips, deterministic per index)",
        load=load_smmnist_digits,
        embedded=True,
        layout="nothing: generated from the digits shipped inside the package",
        kind="video",
    ),
    DatasetSpec(
        name="smmnist",
        description="Stochastic Moving MNIST (two MNIST digits bouncing in 64x64 frames with random new velocities); "
                    "training clips drawn on the fly, 1,000 val and 10,000 test clips fixed per index",
        load=load_smmnist,
        folder="mnist",
        url="https://yann.lecun.com/exdb/mnist/",
        layout="mnist/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the `mnist` data set's files)",
        kind="video",
    ),
    DatasetSpec(
        name="kth",
        description="KTH Action, 64x64 grey videos of 25 people doing 6 actions; persons 1-20 train (5% held out "
                    "for val), 21-25 test (1,000 clips of 40 frames)",
        load=load_kth,
        url="https://www.csc.kth.se/cvap/actions/",
        layout=KTH_LAYOUT,
        kind="video",
    ),
    DatasetSpec(
        name="bair",
        description="BAIR robot pushing, 64x64 RGB, 30 frames per video (SVG's train/test split; 5% of train held out for val)",
        load=load_bair,
        url="http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar",
        layout=BAIR_LAYOUT,
        kind="video",
    ),
    DatasetSpec(
        name="human36m",
        description="Human3.6M videos at 6.25 Hz, 64x64 RGB; subjects 1, 5, 6, 7, 8 train (5% held out for val), "
                    "9 and 11 test (1,000 clips of 53 frames)",
        load=load_human36m,
        url="http://vision.imar.ro/human3.6m/",
        layout=H36M_LAYOUT,
        kind="video",
    ),
]
