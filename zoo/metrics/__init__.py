"""Metrics shared by the methods, one module per family.

Metrics that need a pretrained network (Inception for FID/IS, AlexNet+linear
for LPIPS, I3D for FVD, VGG-Face for identity) never download it: the user
supplies the weights as a safetensors file, found by `metric_weights`.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import MissingDependencyError


def metric_weights_dir() -> Path:
    """`$ZOO_METRIC_WEIGHTS`, else `~/.cache/zoo/metrics`."""
    if os.environ.get("ZOO_METRIC_WEIGHTS"):
        return Path(os.environ["ZOO_METRIC_WEIGHTS"]).expanduser()
    return Path.home() / ".cache" / "zoo" / "metrics"


def metric_weights(name: str, path: str | Path | None = None) -> Path | None:
    """The weights file of metric network `name` (e.g. "inception-v3"): the
    explicit `path`, else `<metric weights dir>/<name>.safetensors`, else None."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingDependencyError(f"{name} weights {str(path)!r} do not exist")
        if path.suffix != ".safetensors":
            raise MissingDependencyError(
                f"{name} weights must be a .safetensors file, got {path.name}",
                "zoo never unpickles; convert with: python -c \"import torch, safetensors.torch as s; "
                "s.save_file(torch.load('in.pth', weights_only=True), 'out.safetensors')\"",
            )
        return path
    candidate = metric_weights_dir() / f"{name}.safetensors"
    return candidate if candidate.is_file() else None


def require_metric_weights(name: str, path: str | Path | None, metric: str, option: str) -> Path:
    """Like `metric_weights`, but a clear error when they are missing."""
    found = metric_weights(name, path)
    if found is None:
        raise MissingDependencyError(
            f"{metric} needs {name} weights, which zoo does not download",
            f"pass {option} PATH.safetensors or put {name}.safetensors in {metric_weights_dir()}",
        )
    return found
