"""Data sets: a registry of loaders, real and embedded.

Every data set is a `DatasetSpec` registered by a plugin through the
`zoo_register_datasets` hook (the core's own loaders register from
`zoo.data.builtin`). Two kinds exist:

* real data sets, read from their official on-disk layout under the data root
  (``--data-root``, else ``$ZOO_DATA``, else ``~/.cache/zoo/data``), each in
  its own folder; missing files raise `DataError` naming exactly what to put
  where;
* embedded data sets, generated procedurally or shipped inside the package,
  which need no download and run every method on CPU in about a minute.

A loaded data set is a map-style `torch.utils.data.Dataset` whose items are
dicts of tensors (e.g. ``{"image": (3, H, W) in [-1, 1], "mask": (1, H, W)}``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from zoo.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """A data set the zoo can load.

    `load(root, split, **options)` gets the data set's own folder (the data
    root joined with `folder`), a split name and the options the method asks
    for (image size, clip length, ...). `layout` describes the files it
    expects, `url` where to get them; both feed the error for missing files
    and `zoo datasets`.
    """

    name: str
    description: str
    load: Callable[..., Dataset]
    embedded: bool = False
    splits: tuple[str, ...] = SPLITS
    folder: str = ""
    url: str = ""
    layout: str = ""
    kind: str = "images"

    @property
    def folder_name(self) -> str:
        return self.folder or self.name


def data_root(root: str | Path | None = None) -> Path:
    """`--data-root`, else `$ZOO_DATA`, else `~/.cache/zoo/data`."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("ZOO_DATA"):
        return Path(os.environ["ZOO_DATA"]).expanduser()
    return Path.home() / ".cache" / "zoo" / "data"


def load_dataset(spec: DatasetSpec, split: str, root: str | Path | None = None, **options: Any) -> Dataset:
    """Load `split` of the data set `spec` with the method's `options`."""
    if split not in spec.splits:
        raise DataError(f"data set {spec.name!r} has no split {split!r}", f"it has: {', '.join(spec.splits)}")
    folder = data_root(root) / spec.folder_name
    data = spec.load(folder, split, **options)
    if len(data) == 0:
        raise DataError(f"split {split!r} of data set {spec.name!r} under {folder} is empty")
    return data


_ITEM_REF = re.compile(r"([a-z0-9][a-z0-9-]*):(\d+)")


def item_ref(ref: str) -> tuple[str, int] | None:
    """(data set, index) when `ref` is not an existing file and reads
    `<data set>:<index>`, the way commands name one item of a test split
    next to the user's own files; None otherwise."""
    m = _ITEM_REF.fullmatch(ref)
    if m is None or Path(ref).exists():
        return None
    return m.group(1), int(m.group(2))


def require(folder: Path, spec_name: str, entries: Iterable[str], *, url: str = "", what: str = "") -> None:
    """Raise DataError unless every relative path in `entries` exists in
    `folder`. A trailing slash means a directory."""
    entries = list(entries)
    missing = []
    for entry in entries:
        path = folder / entry.rstrip("/")
        ok = path.is_dir() if entry.endswith("/") else path.exists()
        if not ok:
            missing.append(entry)
    if missing:
        where = f"put {', '.join(entries)} in {folder}"
        got = f" ({what}: {url})" if url else ""
        raise DataError(
            f"data set {spec_name!r} not found: missing {', '.join(missing)} under {folder}",
            f"download it{got} and {where}, or point --data-root / $ZOO_DATA at the folder that holds {folder.name}/",
        )


def describe_missing(spec: DatasetSpec, folder: Path) -> str:
    return f"{spec.name}: expected {spec.layout} under {folder}"
