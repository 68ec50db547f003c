"""The only place tensors touch the disk.

Everything is safetensors: model weights, training state (optimizer,
scheduler, gradient scaler, random generators) and exported weights. Nothing
is ever unpickled. Non-tensor state travels as JSON in the file's metadata,
next to the method's config and the provenance of the run.

Writes are atomic: a file is written under a temporary name in the same
folder, flushed to disk, then renamed, so a crash leaves either the old file
or the new one, never half of one. Reading a truncated or corrupt file raises
`CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from zoo.errors import CheckpointError, ChecksumError

if TYPE_CHECKING:
    from zoo.method import Method

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FORMAT = "zoo/1"


# ---------------------------------------------------------------------------
# Atomic files


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success, move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} has sha256 {actual[:16]}..., expected {expected[:16]}...",
            "the file is corrupt or not the one registered; it was not loaded",
        )


# ---------------------------------------------------------------------------
# Tensors with metadata


def save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> str:
    """Atomically write `tensors` and JSON `metadata`; return the file's sha256."""
    prepared, seen = {}, set()
    for key, value in tensors.items():
        value = value.detach().to("cpu").contiguous()
        ptr = (value.untyped_storage().data_ptr(), value.storage_offset()) if value.numel() else None
        if ptr is not None and ptr in seen:  # safetensors refuses shared storage
            value = value.clone()
        if ptr is not None:
            seen.add(ptr)
        prepared[key] = value
    meta = {"format": FORMAT, "zoo": json.dumps(metadata, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(prepared, str(tmp), metadata=meta)
    return sha256_file(path)


def load_tensors(path: Path, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by `save_tensors` (or any safetensors file)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            raw_meta = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({_first_line(exc)})",
            "it may be truncated or corrupt; re-download or re-export it",
        ) from None
    return tensors, _parse_metadata(raw_meta, path)


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata of a safetensors file, without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path} is not a readable safetensors file ({_first_line(exc)})") from None
    return _parse_metadata(raw_meta, path)


def _parse_metadata(raw: Mapping[str, str], path: Path) -> dict[str, Any]:
    if "zoo" not in raw:
        return {}
    try:
        return json.loads(raw["zoo"])
    except json.JSONDecodeError:
        raise CheckpointError(f"{path} has corrupt zoo metadata") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------
# Arbitrary state (optimizers, schedulers, RNG) as JSON + tensors


def flatten_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Return a JSON-able copy of `obj` whose tensors are moved into `tensors`
    under keys starting with `prefix` (replaced by {"__tensor__": key})."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, np.ndarray):
        tensors[prefix] = torch.from_numpy(obj.copy())
        return {"__ndarray__": prefix, "dtype": str(obj.dtype)}
    if isinstance(obj, Mapping):
        items = [[_key(k), flatten_state(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]
        return {"__map__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"cannot store a {type(obj).__name__} in a checkpoint ({prefix})")


def _key(k: Any) -> Any:
    if isinstance(k, (str, int, float, bool)) or k is None:
        return k
    raise CheckpointError(f"cannot store a mapping key of type {type(k).__name__}")


def unflatten_state(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy().astype(obj["dtype"])
        if "__tuple__" in obj:
            return tuple(unflatten_state(v, tensors) for v in obj["__tuple__"])
        if "__map__" in obj:
            return {k: unflatten_state(v, tensors) for k, v in obj["__map__"]}
    if isinstance(obj, list):
        return [unflatten_state(v, tensors) for v in obj]
    return obj


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"].to(torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        for i, s in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.to(torch.uint8), i)


def unwrap(model: nn.Module) -> nn.Module:
    """Take DDP and `torch.compile` wrappers off, so state-dict keys never
    carry `module.` or `_orig_mod.` prefixes."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_train_state(path: Path, model: nn.Module, state: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
    """Write the model weights (under `model.`) and any training `state`
    (optimizers, schedulers, RNG, step...) into one safetensors file."""
    tensors: dict[str, torch.Tensor] = {}
    for key, value in unwrap(model).state_dict().items():
        tensors[f"model.{key}"] = value
    structure = flatten_state(dict(state), "state", tensors)
    return save_tensors(path, tensors, {**metadata, "kind": "train_state", "state": structure})


def load_train_state(path: Path, model: nn.Module, device: str | torch.device = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """Load the weights into `model`; return (state, metadata)."""
    tensors, meta = load_tensors(path, device="cpu")
    if meta.get("kind") != "train_state":
        raise CheckpointError(f"{path} is not a training checkpoint of zoo")
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    load_state_dict(unwrap(model), weights, str(path))
    state = unflatten_state(meta.pop("state"), tensors)
    return state, meta


def load_state_dict(model: nn.Module, weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Strict load with one clear error listing what does not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    wrong = [k for k in own if k in weights and tuple(own[k].shape) != tuple(weights[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of another shape (e.g. {k}: {tuple(weights[k].shape)} vs {tuple(own[k].shape)})")
        raise CheckpointError(
            f"weights in {source} do not fit this model: " + ", ".join(parts),
            "were they trained with another config or method?",
        )
    model.load_state_dict(dict(weights), strict=True)


# ---------------------------------------------------------------------------
# Exported weights: a folder that is also a Hub repo


def provenance() -> dict[str, Any]:
    from zoo import __version__

    return {
        "zoo_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def weights_info(method: Method, **info: Any) -> dict[str, Any]:
    from zoo.method import config_to_dict

    return {
        "method": method.name,
        "config": config_to_dict(method.config),
        **{k: v for k, v in info.items() if v is not None},
        "provenance": provenance(),
    }


def export_weights(method: Method, model: nn.Module, out_dir: Path, **info: Any) -> Path:
    """Write `model.safetensors`, `config.json` and `README.md` into `out_dir`."""
    out_dir = Path(out_dir)
    meta = weights_info(method, **info)
    digest = save_tensors(out_dir / WEIGHTS_NAME, unwrap(model).state_dict(), meta)
    write_json_atomic(out_dir / CONFIG_NAME, {**meta, "weights": WEIGHTS_NAME, "sha256": digest})
    from zoo.hub import model_card

    write_text_atomic(out_dir / CARD_NAME, model_card(method, meta))
    return out_dir


def weights_file(path: Path) -> Path:
    """The safetensors file of a weights folder, run directory or file."""
    path = Path(path)
    if path.is_dir():
        if (path / WEIGHTS_NAME).is_file():
            return path / WEIGHTS_NAME
        latest = latest_checkpoint(path / "checkpoints")
        if latest is not None:
            return latest
        bins = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"))
        hint = "only pickle files are there, which zoo never loads" if bins else "export or train into it first"
        raise CheckpointError(f"no {WEIGHTS_NAME} or training checkpoint in {path}", hint)
    if path.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"):
        raise CheckpointError(f"{path} is a pickle file; zoo loads safetensors only", "convert it to .safetensors first")
    if not path.exists():
        raise CheckpointError(f"weights {str(path)!r} do not exist")
    return path


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read model weights and their info from a folder, run directory or file.
    A training checkpoint yields its model part."""
    file = weights_file(path)
    tensors, meta = load_tensors(file)
    if meta.get("kind") == "train_state":
        meta.pop("state", None)
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    config_json = file.parent / CONFIG_NAME
    if file.name == WEIGHTS_NAME and config_json.is_file() and not meta:
        try:
            meta = json.loads(config_json.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise CheckpointError(f"{config_json} is not valid JSON") from None
    return tensors, meta


# ---------------------------------------------------------------------------
# Training checkpoints of a run


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step:08d}.safetensors"


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in `folder`, or None.

    `latest.json` names it with its sha256; if that file is missing or does
    not match, the newest file that reads cleanly is used."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    pointer = folder / "latest.json"
    if pointer.is_file():
        try:
            data = json.loads(pointer.read_text(encoding="utf-8"))
            candidate = folder / data["file"]
            if candidate.is_file() and sha256_file(candidate) == data["sha256"]:
                return candidate
        except (json.JSONDecodeError, KeyError, OSError):
            pass
    for candidate in sorted(folder.glob("step-*.safetensors"), reverse=True):
        try:
            read_metadata(candidate)
            with safe_open(str(candidate), framework="pt") as f:
                for key in f.keys():  # touch every tensor: catches truncation
                    f.get_slice(key)
            return candidate
        except (CheckpointError, Exception):  # noqa: BLE001
            continue
    return None


def mark_latest(path: Path, step: int, digest: str, keep: int = 2) -> None:
    folder = path.parent
    write_json_atomic(folder / "latest.json", {"file": path.name, "step": step, "sha256": digest})
    old = sorted(folder.glob("step-*.safetensors"))[:-keep] if keep > 0 else []
    for p in old:
        if p != path:
            p.unlink(missing_ok=True)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{path} is not valid JSON") from None
