"""`registry.toml`: the zoo as data.

It lists the theses, every built-in method with its thesis, task and data
sets, and every set of pretrained weights: where they live (inside the
package, or a Hub repo at a pinned revision), their sha256, the data they were
trained on and the metrics they reach. It is read into frozen dataclasses and
validated; a malformed file is a `RegistryError` naming the entry and the key.

Weights are named ``<method>.<tag>`` (e.g. ``redo.synthetic-flowers``), so the
architecture and the trained weights stay apart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from zoo.errors import RegistryError, unknown

try:  # tomllib arrived in Python 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REVISION = re.compile(r"^[0-9a-f]{40}$")
_WEIGHTS_NAME = re.compile(r"^([a-z][a-z0-9-]*)\.([a-z0-9][a-z0-9._-]*)$")


@dataclass(frozen=True)
class Thesis:
    key: str
    author: str
    title: str
    year: int
    institution: str
    url: str = ""
    note: str = ""

    @property
    def citation(self) -> str:
        return f"{self.author}. {self.title}. PhD thesis, {self.institution}, {self.year}."


@dataclass(frozen=True)
class MethodEntry:
    name: str
    thesis: str
    chapter: str
    task: str
    datasets: tuple[str, ...]
    paper: str = ""


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    method: str
    data: str
    sha256: str
    path: str = ""          # "package.module:relative/folder" for weights shipped in a package
    repo: str = ""          # Hub repo id, for weights on the Hub
    revision: str = ""      # pinned 40-hex commit of `repo`
    file: str = "model.safetensors"
    default: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def bundled(self) -> bool:
        return bool(self.path)

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    def local_folder(self) -> Path:
        """The folder of bundled weights inside an installed package."""
        package, _, rel = self.path.partition(":")
        try:
            root = resources.files(package)
        except ModuleNotFoundError:
            raise RegistryError(f"weights {self.name!r}: package {package!r} is not installed") from None
        return Path(str(root.joinpath(rel)))


@dataclass(frozen=True)
class Registry:
    source: str
    theses: dict[str, Thesis]
    methods: dict[str, MethodEntry]
    weights: dict[str, WeightsEntry]

    def method(self, name: str) -> MethodEntry:
        if name not in self.methods:
            raise unknown("method", name, self.methods)
        return self.methods[name]

    def get_weights(self, name: str) -> WeightsEntry:
        if name not in self.weights:
            raise unknown("weights", name, self.weights)
        return self.weights[name]

    def weights_for(self, method: str) -> list[WeightsEntry]:
        return [w for w in self.weights.values() if w.method == method]

    def default_weights(self, method: str) -> WeightsEntry | None:
        entries = self.weights_for(method)
        for w in entries:
            if w.default:
                return w
        return entries[0] if entries else None

    def thesis_of(self, method: str) -> Thesis | None:
        entry = self.methods.get(method)
        return self.theses.get(entry.thesis) if entry else None


# ---------------------------------------------------------------------------
# Reading and validating


def registry_path() -> Path:
    """`$ZOO_REGISTRY`, else the checkout's `registry.toml`, else the copy
    installed inside the package."""
    if os.environ.get("ZOO_REGISTRY"):
        return Path(os.environ["ZOO_REGISTRY"])
    checkout = Path(__file__).resolve().parent.parent / "registry.toml"
    if checkout.is_file():
        return checkout
    return Path(str(resources.files("zoo").joinpath("registry.toml")))


def load_registry(path: Path | None = None) -> Registry:
    path = Path(path) if path is not None else registry_path()
    return _load(str(path), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int) -> Registry:
    if not Path(path).is_file():
        raise RegistryError(f"registry file {path!r} does not exist")
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path} is not valid TOML: {exc}") from None
    return parse_registry(data, path)


def parse_registry(data: dict[str, Any], source: str = "registry.toml") -> Registry:
    _only(data, {"theses", "methods", "weights"}, source)
    theses = {k: _thesis(k, v, source) for k, v in _table(data, "theses", source).items()}
    methods = {k: _method(k, v, source, theses) for k, v in _table(data, "methods", source).items()}
    weights = {k: _weights(k, v, source, methods) for k, v in _table(data, "weights", source).items()}
    defaults: dict[str, str] = {}
    for w in weights.values():
        if w.default:
            if w.method in defaults:
                raise RegistryError(
                    f"{source}: weights {defaults[w.method]!r} and {w.name!r} are both the default of {w.method!r}"
                )
            defaults[w.method] = w.name
    return Registry(source, theses, methods, weights)


def _table(data: dict, key: str, source: str) -> dict[str, dict]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise RegistryError(f"{source}: [{key}] must be a table of tables")
    return table


def _only(entry: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        raise RegistryError(f"{where}: unknown key {extra[0]!r}", f"allowed: {', '.join(sorted(allowed))}")


def _get(entry: dict, key: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
    if key not in entry:
        if default is ...:
            raise RegistryError(f"{where}: missing key {key!r}")
        return default
    value = entry[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RegistryError(f"{where}: {key!r} must be a {names}, got {value!r}")
    return value


def _thesis(key: str, e: dict, source: str) -> Thesis:
    where = f"{source} [theses.{key}]"
    _only(e, {"author", "title", "year", "institution", "url", "note"}, where)
    return Thesis(
        key,
        _get(e, "author", str, where),
        _get(e, "title", str, where),
        _get(e, "year", int, where),
        _get(e, "institution", str, where),
        _get(e, "url", str, where, ""),
        _get(e, "note", str, where, ""),
    )


def _method(name: str, e: dict, source: str, theses: dict[str, Thesis]) -> MethodEntry:
    where = f"{source} [methods.{name}]"
    _only(e, {"thesis", "chapter", "task", "datasets", "paper"}, where)
    thesis = _get(e, "thesis", str, where)
    if thesis not in theses:
        raise RegistryError(f"{where}: thesis {thesis!r} is not in [theses]")
    datasets = _get(e, "datasets", list, where)
    if not datasets or not all(isinstance(d, str) for d in datasets):
        raise RegistryError(f"{where}: 'datasets' must be a non-empty list of names")
    return MethodEntry(
        name,
        thesis,
        str(_get(e, "chapter", (str, int), where)),
        _get(e, "task", str, where),
        tuple(datasets),
        _get(e, "paper", str, where, ""),
    )


def _weights(name: str, e: dict, source: str, methods: dict[str, MethodEntry]) -> WeightsEntry:
    where = f"{source} [weights.{name!r}]"
    _only(
        e,
        {"method", "data", "sha256", "path", "repo", "revision", "file", "default", "metrics", "description"},
        where,
    )
    m = _WEIGHTS_NAME.match(name)
    if not m:
        raise RegistryError(f"{where}: weights names are '<method>.<tag>'")
    method = _get(e, "method", str, where)
    if method != m.group(1):
        raise RegistryError(f"{where}: name starts with {m.group(1)!r} but method is {method!r}")
    if method not in methods:
        raise RegistryError(f"{where}: method {method!r} is not in [methods]")
    sha = _get(e, "sha256", str, where)
    if not _SHA256.match(sha):
        raise RegistryError(f"{where}: sha256 must be 64 lowercase hex digits")
    path, repo = _get(e, "path", str, where, ""), _get(e, "repo", str, where, "")
    if bool(path) == bool(repo):
        raise RegistryError(f"{where}: give exactly one of 'path' (bundled) or 'repo' (Hub)")
    if path and ":" not in path:
        raise RegistryError(f"{where}: 'path' is 'package.module:relative/folder'")
    revision = _get(e, "revision", str, where, "")
    if repo and not _REVISION.match(revision):
        raise RegistryError(f"{where}: Hub weights need a pinned 'revision' (a 40-hex commit)")
    metrics = _get(e, "metrics", dict, where, {})
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values()):
        raise RegistryError(f"{where}: 'metrics' values must be numbers")
    return WeightsEntry(
        name=name,
        method=method,
        data=_get(e, "data", str, where),
        sha256=sha,
        path=path,
        repo=repo,
        revision=revision,
        file=_get(e, "file", str, where, "model.safetensors"),
        default=_get(e, "default", bool, where, False),
        metrics={k: float(v) for k, v in metrics.items()},
        description=_get(e, "description", str, where, ""),
    )
