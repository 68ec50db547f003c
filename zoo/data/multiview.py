"""Multi-view data sets: several images of one object, and which object it is.

Every item holds K views of one object (K is the `views` option, 2 for
pairs) plus the object's identity, so a method can learn from "these images
show the same thing" without any view label:

    {"views": (K, 3, S, S) float in [0, 1], "object": int64,
     "attributes": (K, A) float {0, 1}, ...}

* `multiview-objects` (embedded): procedurally rendered objects. An object is
  its content (shape, aspect ratio, body colour, surface pattern and pattern
  colour); a view is how it is seen (in-plane pose, scale, position, lighting
  and background). Objects of the train, val and test splits are disjoint.
  Items also carry the ground truth: `content` (16,) and `view_params`
  (K, 11). Everything is a deterministic function of the split and the index.
* `celeba`: aligned CelebA faces with `identity_CelebA.txt` (content =
  identity), cropped as in the thesis's code (centre 128, resized to 64).
* `chairs`: the 3D-Chairs renders (content = chair model), centre crop 300.
* `mvc-cloth`: MVC clothing photographs (content = item), padded to a square.

For the real sets, item i is image i of the split plus K-1 other images of
the same object, drawn with a generator seeded by i (the image itself only
when its object has no other image).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data import DatasetSpec, require
from zoo.errors import DataError

# ---------------------------------------------------------------------------
# The renderer of the embedded data set

SHAPES = ("triangle", "square", "pentagon", "hexagon", "star", "disc")
PATTERNS = ("plain", "striped", "spotted")
COLOURS = ("reddish", "greenish", "bluish")
ATTRIBUTES = (*SHAPES, *PATTERNS, "elongated", *COLOURS)  # 13 binary attributes
CONTENT_DIM = len(SHAPES) + 1 + 3 + len(PATTERNS) + 3  # 16
VIEW_DIM = 11
ORACLE_PROBE = Path(__file__).parent / "assets" / "multiview-objects-probe.safetensors"
OBJECTS = {"train": 2000, "val": 200, "test": 200}  # disjoint object identities
ITEMS_PER_OBJECT = 16  # a split has OBJECTS x ITEMS_PER_OBJECT items
_SPLIT_SEED = {"train": 0, "val": 1_000_003, "test": 2_000_003}


def oracle_probe_path() -> Path:
    """The identity probe trained on this renderer's ground truth (content
    vector and attributes), shipped with zoo: `zoo identity-probe` remakes it."""
    if not ORACLE_PROBE.is_file():
        raise DataError(f"the oracle identity probe of multiview-objects is missing ({ORACLE_PROBE})",
                        "rebuild it with `zoo identity-probe --out " + str(ORACLE_PROBE) + "`")
    return ORACLE_PROBE


def hsv_to_rgb(h: float, s: float, v: float) -> torch.Tensor:
    """One HSV colour (each in [0, 1]) as an RGB tensor (3,)."""
    k = torch.tensor([5.0, 3.0, 1.0])
    t = (k + h * 6) % 6
    return v - v * s * torch.clamp(torch.minimum(t, 4 - t), 0, 1)


def object_content(split: str, obj: int) -> dict:
    """The content of object `obj` of `split`: what stays the same across views."""
    g = torch.Generator().manual_seed(_SPLIT_SEED[split] + obj)
    u = torch.rand(8, generator=g).tolist()
    shape = int(torch.randint(len(SHAPES), (1,), generator=g))
    pattern = int(torch.randint(len(PATTERNS), (1,), generator=g))
    body = hsv_to_rgb(u[0], 0.55 + 0.45 * u[1], 0.6 + 0.4 * u[2])
    second = hsv_to_rgb((u[0] + 0.25 + 0.5 * u[3]) % 1.0, 0.3 + 0.7 * u[4], 0.25 + 0.75 * u[5])
    return {"shape": shape, "aspect": 0.55 + 0.45 * u[6], "body": body, "pattern": pattern, "second": second}


def content_vector(content: dict) -> torch.Tensor:
    """Ground-truth content as a vector (16,): shape one-hot, aspect, body
    RGB, pattern one-hot, pattern RGB (the body colour when plain)."""
    shape = F.one_hot(torch.tensor(content["shape"]), len(SHAPES)).float()
    pattern = F.one_hot(torch.tensor(content["pattern"]), len(PATTERNS)).float()
    second = content["body"] if content["pattern"] == 0 else content["second"]
    aspect = torch.tensor([(content["aspect"] - 0.775) / 0.225])
    return torch.cat([shape, aspect, content["body"], pattern, second])


def content_attributes(content: dict) -> torch.Tensor:
    """The 13 binary attributes of `ATTRIBUTES` (13,)."""
    shape = F.one_hot(torch.tensor(content["shape"]), len(SHAPES)).float()
    pattern = F.one_hot(torch.tensor(content["pattern"]), len(PATTERNS)).float()
    elongated = torch.tensor([float(content["aspect"] < 0.78)])
    colour = F.one_hot(content["body"].argmax(), 3).float()
    return torch.cat([shape, pattern, elongated, colour])


def random_view(g: torch.Generator) -> dict:
    """A view: pose, scale, position, lighting and background."""
    u = torch.rand(10, generator=g).tolist()
    bg_level, bg_tint = 0.1 + 0.8 * u[7], hsv_to_rgb(u[8], 0.25 * u[9], 1.0)
    return {
        "angle": 2 * math.pi * u[0],
        "scale": 0.45 + 0.4 * u[1],
        "shift": (0.4 * u[2] - 0.2, 0.4 * u[3] - 0.2),
        "light": 0.65 + 0.5 * u[4],
        "gradient": (0.35 * u[5] * math.cos(2 * math.pi * u[6]), 0.35 * u[5] * math.sin(2 * math.pi * u[6])),
        "background": bg_level * bg_tint,
    }


def view_vector(view: dict) -> torch.Tensor:
    """Ground-truth view as a vector (11,)."""
    head = [math.cos(view["angle"]), math.sin(view["angle"]), view["scale"], *view["shift"], view["light"],
            *view["gradient"]]
    return torch.cat([torch.tensor(head), view["background"]])


def _polygon_inside(qx: torch.Tensor, qy: torch.Tensor, n: int, inner: float) -> torch.Tensor:
    """Inside a star-shaped polygon of n outer vertices at radius 1 whose edges
    pass through radius `inner` half-way between vertices (regular: cos(pi/n))."""
    r = torch.sqrt(qx**2 + qy**2)
    sector = 2 * math.pi / n
    phi = torch.remainder(torch.atan2(qy, qx), sector)
    phi = torch.where(phi > sector / 2, sector - phi, phi)  # fold onto [0, pi/n]
    px, py = r * torch.cos(phi), r * torch.sin(phi)
    ex, ey = inner * math.cos(sector / 2) - 1.0, inner * math.sin(sector / 2)  # edge (1, 0) -> P1
    return ex * py - ey * (px - 1.0) >= 0


@lru_cache(maxsize=8)
def _grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    lin = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1
    y, x = torch.meshgrid(lin, lin, indexing="ij")  # (n, n) each; y grows downwards
    return x, y


def render(content: dict, views: Sequence[dict], size: int, supersample: int = 2) -> torch.Tensor:
    """Draw one object under each of `views`: (K, 3, size, size) in [0, 1]."""
    n = size * supersample
    x, y = _grid(n)

    def per_view(key, i=None):  # (K, 1, 1)
        values = [v[key] if i is None else v[key][i] for v in views]
        return torch.tensor(values, dtype=torch.float32)[:, None, None]

    dx, dy = x - per_view("shift", 0), y - per_view("shift", 1)  # (K, n, n)
    angle, scale = per_view("angle"), per_view("scale")
    c, s = torch.cos(angle), torch.sin(angle)
    qx = (c * dx + s * dy) / scale / content["aspect"]  # object frame
    qy = (-s * dx + c * dy) / scale
    shape = SHAPES[content["shape"]]
    if shape == "disc":
        inside = qx**2 + qy**2 <= 1
    elif shape == "star":
        inside = _polygon_inside(qx, qy, 5, 0.45)
    else:
        sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}[shape]
        inside = _polygon_inside(qx, qy, sides, math.cos(math.pi / sides))
    pattern = PATTERNS[content["pattern"]]
    if pattern == "striped":
        marked = torch.sin(qy * 3 * math.pi) > 0
    elif pattern == "spotted":
        marked = qx**2 + qy**2 < 0.45**2
    else:
        marked = torch.zeros_like(inside)
    body, second = content["body"][None, :, None, None], content["second"][None, :, None, None]  # (1, 3, 1, 1)
    colour = torch.where(marked[:, None], second, body)  # (K, 3, n, n)
    shade = per_view("light") + per_view("gradient", 0) * dx + per_view("gradient", 1) * dy  # (K, n, n)
    colour = (colour * shade[:, None]).clamp(0, 1)
    background = torch.stack([v["background"] for v in views])[:, :, None, None]  # (K, 3, 1, 1)
    image = torch.where(inside[:, None], colour, background)  # (K, 3, n, n)
    if supersample > 1:
        image = F.avg_pool2d(image, supersample)  # (K, 3, size, size)
    return image


@lru_cache(maxsize=None)
def _object(split: str, obj: int) -> tuple[dict, torch.Tensor, torch.Tensor]:
    content = object_content(split, obj)
    return content, content_vector(content), content_attributes(content)


class MultiViewObjects(Dataset):
    """The embedded multi-view set. Item i shows object i mod OBJECTS[split]
    under `views` views drawn from a generator seeded by (split, i)."""

    def __init__(self, split: str = "train", size: int = 32, views: int = 2, objects: int | None = None):
        if views < 1:
            raise DataError(f"multiview-objects: views must be at least 1, got {views}")
        self.split, self.size, self.k = split, int(size), int(views)
        self.objects = objects or OBJECTS[split]

    def __len__(self) -> int:
        return self.objects * ITEMS_PER_OBJECT

    def object_of(self, i: int) -> int:
        return i % self.objects

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        obj = self.object_of(i)
        content, vector, attributes = _object(self.split, obj)
        g = torch.Generator().manual_seed(_SPLIT_SEED[self.split] * 7 + 104_729 * i + 1)
        views = [random_view(g) for _ in range(self.k)]
        images = render(content, views, self.size)  # (K, 3, S, S)
        return {
            "views": images,
            "object": torch.tensor(obj),
            "attributes": attributes.expand(self.k, -1).clone(),  # (K, 13)
            "content": vector.clone(),
            "view_params": torch.stack([view_vector(v) for v in views]),  # (K, 11)
        }


def load_multiview_objects(root: Path, split: str, size: int = 32, views: int = 2) -> MultiViewObjects:
    return MultiViewObjects(split, size=size, views=views)


# ---------------------------------------------------------------------------
# Digits seen through their four quadrants (the MV-BiGAN stand-in)


def quadrant_views(image: torch.Tensor) -> torch.Tensor:
    """Split (..., C, H, W) into its quadrants (..., 4, C, H/2, W/2), in the
    order top-left, top-right, bottom-left, bottom-right."""
    *lead, c, h, w = image.shape
    if h % 2 or w % 2:
        raise DataError(f"quadrant views need an even image size, got {h}x{w}")
    x = image.reshape(*lead, c, 2, h // 2, 2, w // 2)  # (..., C, 2, H/2, 2, W/2)
    x = x.movedim(-4, -5).movedim(-2, -4)  # (..., 2, 2, C, H/2, W/2)
    return x.reshape(*lead, 4, c, h // 2, w // 2)


def from_quadrants(views: torch.Tensor) -> torch.Tensor:
    """Inverse of `quadrant_views`: (..., 4, C, h, w) -> (..., C, 2h, 2w)."""
    *lead, _, c, h, w = views.shape
    x = views.reshape(*lead, 2, 2, c, h, w)  # (..., 2, 2, C, h, w)
    x = x.movedim(-3, -5).movedim(-3, -2)  # (..., C, 2, h, 2, w)
    return x.reshape(*lead, c, 2 * h, 2 * w)


class DigitsQuadrants(Dataset):
    """The shipped digits (upsampled to `size`) with their four quadrants as
    views: {"image": (1, S, S), "views": (4, 1, S/2, S/2), "label"}."""

    def __init__(self, split: str = "train", size: int = 16):
        from zoo.data.digits import Digits

        self.digits = Digits(split, size=size)

    def __len__(self) -> int:
        return len(self.digits)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.digits[i]
        return {"image": item["image"], "views": quadrant_views(item["image"]), "label": item["label"]}


def load_digits_quadrants(root: Path, split: str, size: int = 16) -> DigitsQuadrants:
    return DigitsQuadrants(split, size=size)


# ---------------------------------------------------------------------------
# Real data sets: files, identities, and pairs drawn per index


def _open_rgb(path: Path) -> torch.Tensor:
    """(3, H, W) float in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
            return x.view(img.height, img.width, 3).permute(2, 0, 1).float() / 255  # (3, H, W)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    """Centre crop (C, H, W) to crop x crop (padding with edge pixels when smaller)."""
    _, h, w = x.shape
    if h < crop or w < crop:
        ph, pw = max(0, crop - h), max(0, crop - w)
        x = F.pad(x[None], (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")[0]
        _, h, w = x.shape
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[:, top : top + crop, left : left + crop]


def pad_square(x: torch.Tensor, value: float = 1.0) -> torch.Tensor:
    """Pad (C, H, W) to a square with `value` (white), keeping it centred."""
    _, h, w = x.shape
    side = max(h, w)
    ph, pw = side - h, side - w
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


class PairedFiles(Dataset):
    """Images with object identities; item i is image i and `views - 1`
    other images of its object, drawn with a generator seeded by i."""

    def __init__(
        self,
        files: Sequence[Path],
        objects: Sequence[int],
        prepare: Callable[[torch.Tensor], torch.Tensor],
        views: int = 2,
        attributes: torch.Tensor | None = None,
    ):
        if views < 1:
            raise DataError(f"views must be at least 1, got {views}")
        self.files, self.prepare, self.k = list(files), prepare, int(views)
        self.objects = torch.as_tensor(list(objects), dtype=torch.long)
        self.attributes = attributes
        self.members: dict[int, list[int]] = {}
        for idx, obj in enumerate(self.objects.tolist()):
            self.members.setdefault(obj, []).append(idx)

    def __len__(self) -> int:
        return len(self.files)

    def object_of(self, i: int) -> int:
        return int(self.objects[i])

    def partners(self, i: int) -> list[int]:
        group = self.members[self.object_of(i)]
        others = [j for j in group if j != i] or [i]
        g = torch.Generator().manual_seed(7_919 * i + 17)
        picks = torch.randint(len(others), (self.k - 1,), generator=g).tolist()
        return [i] + [others[p] for p in picks]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        chosen = self.partners(i)
        images = torch.stack([self.prepare(_open_rgb(self.files[j])) for j in chosen])  # (K, 3, S, S)
        item = {"views": images, "object": self.objects[i]}
        if self.attributes is not None:
            item["attributes"] = self.attributes[chosen]  # (K, A)
        return item


# -- CelebA ------------------------------------------------------------------

CELEBA_TRAIN_IDENTITIES = 9999  # identities 1..9,999 train, 10,000..10,177 test (Tab. 4.2 counts)


def read_identities(path: Path) -> list[tuple[str, int]]:
    """identity_CelebA.txt: one `<file> <identity>` per line."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise DataError(f"{path}:{n}: expected '<image file> <identity>', got {line!r}")
        rows.append((parts[0], int(parts[1])))
    return rows


def read_celeba_attributes(path: Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    """list_attr_celeba.txt: a count, the 40 names, then `<file> ±1 ...`."""
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    if len(lines) < 2:
        raise DataError(f"{path} is not a CelebA attribute file (too short)")
    names = lines[1].split()
    table = {}
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if len(parts) != len(names) + 1:
            raise DataError(f"{path}:{n}: expected a file name and {len(names)} values of ±1")
        table[parts[0]] = (torch.tensor([int(v) for v in parts[1:]]) > 0).float()
    return names, table


def load_celeba(root: Path, split: str, size: int = 64, views: int = 2) -> PairedFiles:
    require(root, "celeba", ["img_align_celeba/", "identity_CelebA.txt"],
            url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html", what="Align&Cropped images and Anno/")
    rows = read_identities(root / "identity_CelebA.txt")
    keep = (lambda ident: ident <= CELEBA_TRAIN_IDENTITIES) if split == "train" else (lambda ident: ident > CELEBA_TRAIN_IDENTITIES)
    rows = [(f, ident) for f, ident in rows if keep(ident)]
    folder = root / "img_align_celeba"
    missing = [f for f, _ in rows[:1] + rows[-1:] if not (folder / f).is_file()]
    if missing:
        raise DataError(f"data set 'celeba': {missing[0]} is listed in identity_CelebA.txt but not in {folder}")
    attributes = None
    if (root / "list_attr_celeba.txt").is_file():
        _, table = read_celeba_attributes(root / "list_attr_celeba.txt")
        try:
            attributes = torch.stack([table[f] for f, _ in rows])  # (N, 40)
        except KeyError as exc:
            raise DataError(f"data set 'celeba': list_attr_celeba.txt has no line for {exc.args[0]}") from None

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return resize(center_crop(x, 128), size)

    return PairedFiles([folder / f for f, _ in rows], [i for _, i in rows], prepare, views, attributes)


# -- 3D-Chairs ---------------------------------------------------------------

CHAIRS_TRAIN = 1300  # chair models, sorted by folder name; the other 93 are test (Tab. 4.2)


def load_chairs(root: Path, split: str, size: int = 64, views: int = 2) -> PairedFiles:
    require(root, "chairs", ["rendered_chairs/"], url="https://www.di.ens.fr/willow/research/seeing3Dchairs/",
            what="rendered_chairs.tar")
    base = root / "rendered_chairs"
    models = sorted(p for p in base.iterdir() if p.is_dir() and (p / "renders").is_dir())
    if not models:
        raise DataError(f"data set 'chairs': no <model>/renders/ folders under {base}",
                        "unpack rendered_chairs.tar there (rendered_chairs/<model>/renders/image_*.png)")
    chosen = models[:CHAIRS_TRAIN] if split == "train" else models[CHAIRS_TRAIN:]
    if not chosen:
        raise DataError(f"data set 'chairs' has only {len(models)} chair models; the test split starts at model {CHAIRS_TRAIN + 1}")
    files, objects = [], []
    for obj, model in enumerate(chosen):
        renders = sorted((model / "renders").glob("image_*.png"))
        files += renders
        objects += [obj] * len(renders)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return resize(center_crop(x, 300), size)

    return PairedFiles(files, objects, prepare, views)


# -- MVC-Cloth -----------------------------------------------------------------

MVC_TEST_ITEMS = 495  # the last 495 items (by itemN) are test (Tab. 4.2)


def load_mvc(root: Path, split: str, size: int = 64, views: int = 2) -> PairedFiles:
    require(root, "mvc-cloth", ["attribute_labels.json", "image_data/"], url="https://github.com/MVC-Datasets/MVC",
            what="the json files, and image_data/<filename>.jpg fetched from image_links.json")
    try:
        records = json.loads((root / "attribute_labels.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{root / 'attribute_labels.json'} is not valid JSON ({exc})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) and "filename" in r and "itemN" in r for r in records):
        raise DataError(f"{root / 'attribute_labels.json'}: expected a list of objects with 'filename' and 'itemN'")
    folder = root / "image_data"
    records = [r for r in records if (folder / f"{r['filename']}.jpg").is_file()]
    items = sorted({int(r["itemN"]) for r in records})
    if len(items) <= MVC_TEST_ITEMS and split == "train":
        raise DataError(f"data set 'mvc-cloth' has only {len(items)} items with images; need more than {MVC_TEST_ITEMS}")
    test = set(items[-MVC_TEST_ITEMS:])
    chosen = [r for r in records if (int(r["itemN"]) in test) == (split == "test")]
    order = {item: n for n, item in enumerate(items)}

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return resize(pad_square(x), size)

    return PairedFiles([folder / f"{r['filename']}.jpg" for r in chosen], [order[int(r["itemN"])] for r in chosen],
                       prepare, views)


DATASETS = [
    DatasetSpec(
        name="multiview-objects",
        description="rendered objects (shape, colours, pattern) under random views (pose, scale, position, "
        "light, background); 2,000/200/200 disjoint objects, ground-truth content and view",
        load=load_multiview_objects,
        embedded=True,
        layout="nothing: rendered on the fly",
        kind="multi-view images",
    ),
    DatasetSpec(
        name="digits-quadrants",
        description="the shipped 1,797 digits at 16×16, seen through their four 8×8 quadrants (4 views)",
        load=load_digits_quadrants,
        embedded=True,
        layout="nothing: shipped inside the package",
        kind="multi-view images",
    ),
    DatasetSpec(
        name="celeba",
        description="CelebA aligned faces grouped by identity (train: identities 1-9,999, test: 10,000-10,177)",
        load=load_celeba,
        splits=("train", "test"),
        url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
        layout="celeba/{img_align_celeba/*.jpg, identity_CelebA.txt, list_attr_celeba.txt (optional)}",
        kind="multi-view images",
    ),
    DatasetSpec(
        name="chairs",
        description="3D-Chairs renders, 62 views per chair (train: first 1,300 models, test: last 93)",
        load=load_chairs,
        splits=("train", "test"),
        url="https://www.di.ens.fr/willow/research/seeing3Dchairs/",
        layout="chairs/rendered_chairs/<model>/renders/image_*.png",
        kind="multi-view images",
    ),
    DatasetSpec(
        name="mvc-cloth",
        description="MVC clothing photographed from several views (test: the last 495 items)",
        load=load_mvc,
        splits=("train", "test"),
        url="https://github.com/MVC-Datasets/MVC",
        layout="mvc-cloth/{attribute_labels.json, image_data/<filename>.jpg}",
        kind="multi-view images",
    ),
]
