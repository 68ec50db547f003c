"""What a bug report needs to know about this installation (`zoo env`)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("torch", "torchvision", "huggingface-hub", "safetensors", "typer", "rich", "pluggy",
            "numpy", "pillow", "scipy", "pytest", "tensorboard")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(manager=None) -> dict[str, Any]:
    import torch

    from zoo import __version__
    from zoo.data import data_root
    from zoo.metrics import metric_weights_dir
    from zoo.plugin_manager import get_plugin_manager
    from zoo.registry import registry_path

    pm = manager or get_plugin_manager()
    devices = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(f"cuda:{i} {props.name} ({props.total_memory / 2**30:.0f} GiB)")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    try:
        from huggingface_hub import constants

        hf_cache, endpoint = constants.HF_HUB_CACHE, constants.ENDPOINT
    except Exception:  # noqa: BLE001 - report whatever is there
        hf_cache, endpoint = "?", "?"
    return {
        "zoo": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "cuda": torch.version.cuda or "none (CPU build)",
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else "none",
        "devices": devices,
        "cpu_threads": torch.get_num_threads(),
        "plugins": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "builtin": p.builtin,
                "methods": p.methods,
                "errors": p.errors,
            }
            for p in pm.plugins.values()
        ],
        "huggingface": {
            "endpoint": os.environ.get("HF_ENDPOINT") or endpoint,
            "cache": str(os.environ.get("HF_HUB_CACHE") or hf_cache),
            "offline": os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false"),
            "token": "set" if os.environ.get("HF_TOKEN") else "not set",
        },
        "data_root": str(data_root()),
        "metric_weights": str(metric_weights_dir()),
        "registry": str(registry_path()),
    }
