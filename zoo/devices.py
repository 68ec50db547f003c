"""Devices: `--device` parsing, process groups, seeding and the AMP dtype.

`--device` takes ``cpu``, ``cuda`` (= ``cuda:0``), ``cuda:1``, ``cuda:0,1``,
``mps`` or ``auto`` (the first of CUDA, MPS, CPU that is there). Several CUDA
devices, or ``--nproc N`` on any kind, mean one process per device: the CLI
re-launches itself under ``torchrun`` (`launch`), and each worker picks its
device from ``LOCAL_RANK``. A process started by ``torchrun`` directly (for
several machines) is recognised by the ``WORLD_SIZE`` it is given.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from zoo.errors import DeviceError

AMP_MODES = ("no", "bf16", "fp16")


@dataclass(frozen=True)
class DeviceSpec:
    """What `--device` asked for: a kind and, for CUDA, the device indices."""

    kind: str  # "cpu", "cuda" or "mps"
    indices: tuple[int, ...] = (0,)
    nproc: int = 1

    @property
    def distributed(self) -> bool:
        return self.nproc > 1

    def device_for(self, local_rank: int) -> torch.device:
        if self.kind == "cuda":
            return torch.device("cuda", self.indices[local_rank % len(self.indices)])
        return torch.device(self.kind)

    def __str__(self) -> str:
        if self.kind == "cuda":
            return "cuda:" + ",".join(str(i) for i in self.indices)
        return self.kind if self.nproc == 1 else f"{self.kind} x{self.nproc}"


def parse_device(text: str = "auto", nproc: int | None = None) -> DeviceSpec:
    """Parse `--device`; raise DeviceError for a device that is not there."""
    text = (text or "auto").strip().lower()
    if nproc is not None and nproc < 1:
        raise DeviceError(f"--nproc must be at least 1, got {nproc}")
    if text == "auto":
        if torch.cuda.is_available():
            text = "cuda"
        elif _mps_available():
            text = "mps"
        else:
            text = "cpu"
    if text == "cpu":
        return DeviceSpec("cpu", (0,), nproc or 1)
    if text == "mps":
        if not _mps_available():
            raise DeviceError("MPS is not available on this machine", "use --device cpu")
        return DeviceSpec("mps", (0,), nproc or 1)
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {text}: CUDA is not available on this machine", "use --device cpu")
        count = torch.cuda.device_count()
        if text == "cuda":
            indices = (0,)
        else:
            try:
                indices = tuple(int(i) for i in text[5:].split(","))
            except ValueError:
                raise DeviceError(f"--device {text!r} is not of the form cuda:0 or cuda:0,1") from None
        bad = [i for i in indices if not 0 <= i < count]
        if bad:
            raise DeviceError(f"--device {text}: there is no cuda:{bad[0]}", f"this machine has {count} CUDA device(s)")
        if len(set(indices)) != len(indices):
            raise DeviceError(f"--device {text} names a device twice")
        n = nproc or len(indices)
        return DeviceSpec("cuda", indices, n)
    raise DeviceError(f"unknown device {text!r}", "use cpu, cuda, cuda:N, cuda:0,1, mps or auto")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


# ---------------------------------------------------------------------------
# Processes


@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly one-process) data-parallel run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def in_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ


def init_distributed(spec: DeviceSpec) -> Dist:
    """Join the process group when launched by torchrun; else a single process."""
    if not in_torchrun():
        device = spec.device_for(0)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return Dist(device=device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    device = spec.device_for(local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return Dist(rank, world, local_rank, device)


def close_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(spec: DeviceSpec, argv: list[str]) -> int:
    """Re-run `zoo <argv>` as `spec.nproc` processes under torchrun; return
    its exit status. Each worker reads its device from LOCAL_RANK."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={spec.nproc}",
        "--nnodes=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{_free_port()}",
        "-m",
        "zoo",
        *argv,
    ]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // spec.nproc)))
    return subprocess.call(cmd, env=env)


# ---------------------------------------------------------------------------
# Seeds and precision


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `--amp`, or None for full precision."""
    if mode not in AMP_MODES:
        raise DeviceError(f"--amp {mode!r} is not one of {', '.join(AMP_MODES)}")
    if mode == "no":
        return None
    if mode == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise DeviceError(f"{device} does not support bfloat16", "use --amp fp16")
        return torch.bfloat16
    if device.type != "cuda":
        raise DeviceError("--amp fp16 needs a CUDA device", "use --amp bf16 on CPU")
    return torch.float16
