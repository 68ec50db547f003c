"""The Method contract, and the typed config handling every method shares.

A method is a subclass of `Method` that a plugin registers. It holds one
config (a dataclass of the thesis defaults) and knows how to build its model,
take one training step, sample, evaluate and export. The shared engine
(`zoo.engine`) drives training; the CLI and the Python API (`zoo.api`) call
the rest.

Config values come from, in order: the dataclass defaults (the thesis
setting), a preset (`presets/<name>.toml` next to the method, holding only the
keys it changes, with optional `[data.<dataset>]` tables), a user TOML file
(`--config`), then `--set key=value` pairs. Every value is checked against the
field's type; an unknown key is an error with a "did you mean".
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import math
import re
import tokenize
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from zoo.errors import ConfigError, DataError, did_you_mean, unknown

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from zoo.engine import Step

try:  # tomllib arrived in Python 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


# ---------------------------------------------------------------------------
# The contract


class Method:
    """Base class of every method. Subclass it once per method; a variant is a
    config preset or a constructor argument, never another subclass.

    Class attributes a subclass sets:
      name             command-line name, e.g. "redo"
      summary          one line: what the method does
      task             e.g. "segmentation", "density", "video prediction"
      paper            the citation of the paper or thesis chapter
      datasets         names of the data sets it trains on; the first
                       embedded one is used when `--data` is not given
      default_dataset  the embedded data set `zoo train <name>` uses
      Config           dataclass of every hyper-parameter, thesis defaults;
                       it has at least `batch_size` and `steps`
      selection        (metric, "max" | "min") that picks the best checkpoint
                       from the validation metrics, or None for the last one
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    task: ClassVar[str]
    paper: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    default_dataset: ClassVar[str]
    Config: ClassVar[type]
    selection: ClassVar[tuple[str, Literal["max", "min"]] | None] = None

    def __init__(self, config: Any | None = None):
        self.config = self.Config() if config is None else config
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name} expects a {self.Config.__name__}, got {type(config).__name__}")

    # -- data -------------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict[str, Any]:
        """Keyword options passed to the data set's `load` (image size, clip
        length...). Override when the model needs a particular shape."""
        return {}

    def check_dataset(self, dataset: str) -> None:
        if dataset not in self.datasets:
            raise DataError(
                f"method {self.name!r} does not train on data set {dataset!r}",
                f"it supports: {', '.join(self.datasets)}",
            )

    # -- model and training -------------------------------------------------

    def build(self) -> nn.Module:
        """Return the model: one `nn.Module` holding every trained network."""
        raise NotImplementedError

    def configure_optimizers(self, model: nn.Module) -> dict[str, Any]:
        """Return {name: optimizer} or {name: (optimizer, lr_scheduler)}.
        `train_step` refers to each optimizer by its name."""
        raise NotImplementedError

    def train_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: Step) -> dict[str, float]:
        """One training step on `batch` (a dict of tensors on the device).

        Call `step.optimize(name, loss)` once per optimizer, in the order the
        method alternates them (a GAN steps its discriminator and generator
        here). Return the values to log, as floats or 0-d tensors."""
        raise NotImplementedError

    # -- use ------------------------------------------------------------------

    def sample(self, model: nn.Module, n: int, **options: Any) -> torch.Tensor:
        """Return `n` samples as images in [0, 1]: (N, C, H, W), or
        (rows, columns, C, H, W) for a grid, or (N, T, C, H, W) for videos.
        Keyword-only options with defaults become `zoo sample` options."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, float]:
        """Return the method's metrics on `data` (a test or validation split)."""
        raise NotImplementedError

    def save_samples(self, samples: torch.Tensor, path: Path) -> list[Path]:
        """Write what `sample` returned where a person can open it."""
        from zoo.images import save_grid

        return [save_grid(samples, path)]

    def export(self, model: nn.Module, out_dir: Path, **info: Any) -> Path:
        """Write `model.safetensors`, `config.json` and a model card into
        `out_dir` (a directory that is also a Hub repo). `info` carries
        provenance (data set, step, metrics)."""
        from zoo.checkpoint import export_weights

        return export_weights(self, model, Path(out_dir), **info)

    # -- presets and results --------------------------------------------------

    @classmethod
    def folder(cls) -> Path:
        return Path(inspect.getfile(cls)).parent

    @classmethod
    def presets(cls) -> dict[str, Path]:
        folder = cls.folder() / "presets"
        return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}

    @classmethod
    def results(cls) -> list[ThesisResult]:
        """The thesis's own numbers, from `results.toml` next to the method.
        A plugin holding several methods tags each row with `method = "..."`;
        untagged rows belong to every method of the folder."""
        path = cls.folder() / "results.toml"
        if not path.is_file():
            return []
        rows = read_toml(path).get("result", [])
        out = []
        for i, row in enumerate(rows):
            try:
                result = ThesisResult(**row)
            except TypeError as exc:
                raise ConfigError(f"{path}: [[result]] #{i + 1} is malformed ({exc})") from None
            if not result.method or result.method == cls.name:
                out.append(result)
        return out

    @classmethod
    def embedded_datasets(cls, manager) -> list[str]:
        return [d for d in cls.datasets if d in manager.datasets and manager.datasets[d].embedded]


@dataclass(frozen=True)
class ThesisResult:
    """One number the thesis reports: `metric` (a key `evaluate` returns) on
    `split` of `data`, with `where` it is printed (e.g. "Tab. 5.4")."""

    data: str
    metric: str
    value: float
    where: str
    split: str = "test"
    higher_is_better: bool = True
    note: str = ""
    method: str = ""  # the method it belongs to, when a plugin folder holds several


def validate_method_class(cls: type[Method]) -> None:
    """Check what the plugin manager needs of a method class, at registration."""
    for attr in ("name", "summary", "task", "paper", "datasets", "default_dataset", "Config"):
        if not hasattr(cls, attr):
            raise TypeError(f"method class {cls.__name__} has no {attr!r}")
    if not _NAME.match(cls.name):
        raise TypeError(f"method name {cls.name!r} must be lowercase letters, digits and dashes")
    if not dataclasses.is_dataclass(cls.Config):
        raise TypeError(f"{cls.__name__}.Config must be a dataclass")
    names = {f.name for f in dataclasses.fields(cls.Config)}
    for required in ("batch_size", "steps"):
        if required not in names:
            raise TypeError(f"{cls.__name__}.Config has no {required!r} field")
    if cls.default_dataset not in cls.datasets:
        raise TypeError(f"{cls.__name__}.default_dataset {cls.default_dataset!r} is not in its datasets")


# ---------------------------------------------------------------------------
# Config fields: types, defaults and the comment that documents each


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: Any
    default: Any
    help: str

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def config_fields(config_cls: type) -> list[FieldInfo]:
    """Every field of a Config dataclass with its resolved type, default and
    the trailing comment that documents it in the source. A Config that
    subclasses another (a variant changing a few defaults) keeps the comments
    of the fields it inherits."""
    hints = typing.get_type_hints(config_cls)
    comments: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if dataclasses.is_dataclass(klass):
            comments.update({k: v for k, v in _field_comments(klass).items() if v})
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        help_ = f.metadata.get("help") or comments.get(f.name, "")
        out.append(FieldInfo(f.name, hints[f.name], default, help_))
    return out


def _field_comments(config_cls: type) -> dict[str, str]:
    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []  # comment lines right above a field
    field_line = re.compile(r"^\s+([A-Za-z_]\w*)\s*:")
    lines = source.splitlines()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    trailing: dict[int, str] = {}
    try:
        for tok in tokens:
            if tok.type == tokenize.COMMENT:
                trailing[tok.start[0]] = tok.string.lstrip("#").strip()
    except tokenize.TokenError:
        return {}
    for i, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(trailing.get(i, ""))
            continue
        m = field_line.match(line)
        if m and not stripped.startswith(("def ", "class ")):
            text = trailing.get(i) if not stripped.startswith("#") and i in trailing else None
            comments[m.group(1)] = text if text else " ".join(pending)
        pending = []
    return comments


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = typing.get_args(tp)
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


# ---------------------------------------------------------------------------
# Checking and converting values


def check_value(field: FieldInfo, value: Any, source: str) -> Any:
    """Return `value` converted to the field's type, or raise ConfigError."""
    ok, converted = _convert(field.type, value)
    if not ok:
        raise ConfigError(
            f"{source}: {field.name} = {value!r} is not a valid {field.type_name}",
            f"default is {field.default!r}",
        )
    return converted


def _convert(tp: Any, value: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin is Literal:
        return (value in typing.get_args(tp)), value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, converted = _convert(arg, value)
            if ok:
                return True, converted
        return False, value
    if tp is type(None):
        return value is None, value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_convert(args[0], v) for v in value]
        elif origin is list:
            items = [_convert(args[0] if args else Any, v) for v in value]
        else:
            if len(args) != len(value):
                return False, value
            items = [_convert(a, v) for a, v in zip(args, value)]
        if not all(ok for ok, _ in items):
            return False, value
        return True, origin(v for _, v in items)
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


def parse_text(field: FieldInfo, text: str) -> Any:
    """Parse the text of a `--set key=value` for `field`."""
    origin = typing.get_origin(field.type)
    args = () if origin in (tuple, list) else typing.get_args(field.type)  # tuple[str, ...] is not a str
    base = {origin} | set(args) | {field.type}
    if base & {str} and not (text.startswith(("'", '"'))):
        if text.lower() in ("none", "null") and type(None) in base:
            return None
        return text
    lowered = {"true": "True", "false": "False", "none": "None", "null": "None"}.get(text.lower(), text)
    if lowered in ("inf", "+inf", "-inf", "nan"):
        return float(lowered)
    try:
        return ast.literal_eval(lowered)
    except (ValueError, SyntaxError):
        return text  # check_value reports it as the wrong type


# ---------------------------------------------------------------------------
# Building a config


def apply_overrides(config: Any, values: Mapping[str, Any], source: str) -> Any:
    """Return a copy of `config` with `values` applied, each one checked."""
    fields = {f.name: f for f in config_fields(type(config))}
    changes = {}
    for key, value in values.items():
        if key not in fields:
            hint = did_you_mean(key, fields) or f"see the fields with `zoo info <method>`"
            raise ConfigError(f"{source}: unknown config key {key!r}", hint)
        changes[key] = check_value(fields[key], value, source)
    return dataclasses.replace(config, **changes)


def parse_sets(config_cls: type, sets: Iterable[str]) -> dict[str, Any]:
    """Turn `key=value` strings into typed values (checked later)."""
    fields = {f.name: f for f in config_fields(config_cls)}
    out = {}
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not of the form key=value")
        key, text = (s.strip() for s in item.split("=", 1))
        if key not in fields:
            hint = did_you_mean(key, fields) or "see the fields with `zoo info <method>`"
            raise ConfigError(f"--set: unknown config key {key!r}", hint)
        out[key] = parse_text(fields[key], text)
    return out


def read_toml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def preset_values(method_cls: type[Method], preset: str, dataset: str | None) -> dict[str, Any]:
    """The keys a preset changes, with its `[data.<dataset>]` table applied."""
    presets = method_cls.presets()
    if preset not in presets:
        if preset == "thesis":
            return {}  # the Config defaults are the thesis setting
        raise unknown("preset", preset, presets)
    values = read_toml(presets[preset])
    per_data = values.pop("data", {})
    if dataset is not None and dataset in per_data:
        values.update(per_data[dataset])
    values.pop("description", None)
    return values


def preset_description(method_cls: type[Method], preset: str) -> str:
    presets = method_cls.presets()
    if preset not in presets:
        return "the thesis defaults" if preset == "thesis" else ""
    return str(read_toml(presets[preset]).get("description", ""))


def make_config(
    method_cls: type[Method],
    *,
    preset: str | None = None,
    dataset: str | None = None,
    file: Path | None = None,
    sets: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """Defaults, then preset, then `file`, then `sets`, then `overrides`."""
    config = method_cls.Config()
    if preset is not None:
        config = apply_overrides(config, preset_values(method_cls, preset, dataset), f"preset {preset!r}")
    if file is not None:
        values = read_toml(file)
        per_data = values.pop("data", {})
        if dataset is not None and dataset in per_data:
            values.update(per_data[dataset])
        config = apply_overrides(config, values, str(file))
    if sets:
        config = apply_overrides(config, parse_sets(method_cls.Config, sets), "--set")
    if overrides:
        config = apply_overrides(config, dict(overrides), "override")
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def config_from_dict(config_cls: type, values: Mapping[str, Any], source: str) -> Any:
    """Rebuild a config saved with a checkpoint. Keys this version no longer
    knows are an error: loading would silently change the model."""
    return apply_overrides(config_cls(), values, source)


def dump_toml(values: Mapping[str, Any]) -> str:
    """Write a flat mapping (plus one level of tables) as TOML."""
    lines, tables = [], []
    for key, value in values.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif value is not None:  # TOML has no null; a None field keeps its default
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None)
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return "nan"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")
