"""The training loop every method reuses.

`fit` drives a method's `train_step` for a number of optimizer steps and owns
everything around it: batches, gradient accumulation, mixed precision,
`torch.compile`, data parallelism, checkpoints every N steps, exact resume,
validation with best-checkpoint keeping, `metrics.jsonl` (and TensorBoard),
and a progress bar with the losses, the speed and the time left.

A method never calls `backward` or `optimizer.step` itself. It calls
`step.optimize(name, loss)` once per optimizer, in the order it alternates
them, so a GAN keeps its discriminator and generator updates inside one
`train_step` and still gets accumulation, AMP and several processes for free.

Data parallelism: under torchrun each process holds a full copy of the model
and its own slice of every global batch. Gradients are averaged across
processes (one flattened all-reduce per optimizer step) just before each
optimizer steps. This is what `DistributedDataParallel` computes, but it also
holds for a method that steps several optimizers on partial graphs, which the
DDP wrapper's reducer does not allow.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zoo import checkpoint as ckpt
from zoo.devices import Dist, amp_dtype, init_distributed, parse_device, seed_everything
from zoo.errors import CheckpointError, ConfigError, MissingDependencyError, ZooError

if TYPE_CHECKING:
    from zoo.method import Method


# A run directory holds run.json (what was asked: method, config, data,
# options), metrics.jsonl, checkpoints/ and, once a model is exported into
# it, model.safetensors + config.json + README.md, so it is also a weights folder.
RUN_FILE = "run.json"


@dataclass
class TrainOptions:
    """How to train, as opposed to what (the method's Config)."""

    steps: int | None = None          # optimizer steps; None: the config's `steps`
    out: Path | None = None           # run directory; None: runs/<method>/<time>
    resume: bool = False              # continue the run in `out` from its last checkpoint
    seed: int = 0
    device: str = "auto"
    nproc: int | None = None          # processes (one per device); None: one per listed device
    amp: str = "no"                   # "no", "bf16" or "fp16"
    compile: bool = False             # torch.compile the model's sub-networks
    accum: int = 1                    # micro-batches per optimizer step
    ckpt_every: int | None = None     # None: the config's `ckpt_every`, else 1000
    eval_every: int | None = None     # None: the config's `eval_every`, else only at the end
    log_every: int = 10
    num_workers: int = 0
    keep: int = 2                     # training checkpoints kept besides the exported model
    tensorboard: bool = False
    progress: bool = True
    data_name: str = ""               # recorded in config.json and the model card
    preset: str = ""
    init: Mapping[str, torch.Tensor] | None = field(default=None, repr=False)  # --init weights


@dataclass
class RunResult:
    run_dir: Path
    step: int
    metrics: dict[str, float]
    best: dict[str, float] | None


# ---------------------------------------------------------------------------
# Batches


class BatchIndices:
    """Infinite, resumable batch sampler.

    The index stream is a concatenation of permutations (one per epoch, from
    `seed + epoch`); global batch k is stream[k*B*W : (k+1)*B*W] and process r
    takes its r-th slice of B. Starting at batch k reproduces exactly what an
    uninterrupted run would have drawn from there on."""

    def __init__(self, n: int, batch_size: int, *, seed: int, rank: int = 0, world: int = 1, start: int = 0):
        self.n, self.b, self.seed, self.rank, self.world, self.start = n, batch_size, seed, rank, world, start

    def _perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start
        global_b = self.b * self.world
        epoch, perm = -1, None
        while True:
            lo = k * global_b + self.rank * self.b
            batch = []
            for pos in range(lo, lo + self.b):
                e = pos // self.n
                if e != epoch:
                    epoch, perm = e, self._perm(e)
                batch.append(int(perm[pos % self.n]))
            yield batch
            k += 1

    def __len__(self) -> int:  # DataLoader asks; the stream is infinite
        return 2**62


def move(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move(v, device) for v in batch)
    return batch


# ---------------------------------------------------------------------------
# What train_step sees


class Step:
    """The current optimizer step, handed to `Method.train_step`.

    `index` counts optimizer steps from 0; `micro` is the micro-batch within
    the step (0 ... accum-1). `optimize(name, loss)` back-propagates `loss`
    into the parameters of optimizer `name` only, and on the last micro-batch
    averages gradients across processes, clips, steps the optimizer and its
    scheduler, and zeroes the gradients."""

    def __init__(self, optimizers, schedulers, clip, accum, scaler, dist_info, device):
        self.optimizers: dict[str, torch.optim.Optimizer] = optimizers
        self.schedulers: dict[str, Any] = schedulers
        self.clip: dict[str, float] = clip
        self.accum, self.scaler, self.dist, self.device = accum, scaler, dist_info, device
        self.params = {
            name: [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
            for name, opt in optimizers.items()
        }
        self.index = 0
        self.micro = 0

    @property
    def last_micro(self) -> bool:
        return self.micro == self.accum - 1

    def optimize(self, name: str, loss: torch.Tensor, *, retain_graph: bool = False) -> None:
        if name not in self.optimizers:
            raise KeyError(f"no optimizer named {name!r}; configure_optimizers returned {sorted(self.optimizers)}")
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(f"loss for optimizer {name!r} is {loss.item()} at step {self.index}")
        params = self.params[name]
        scaled = loss / self.accum
        if self.scaler is not None:
            scaled = self.scaler.scale(scaled)
        torch.autograd.backward(scaled, inputs=params, retain_graph=retain_graph)
        if not self.last_micro:
            return
        opt = self.optimizers[name]
        if self.dist.enabled:
            all_reduce_grads(params, self.dist.world_size)
        if name in self.clip:
            if self.scaler is not None:
                self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.clip[name])
        if self.scaler is not None:
            self.scaler.step(opt)
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        if name in self.schedulers:
            self.schedulers[name].step()

    def lr(self, name: str) -> float:
        return self.optimizers[name].param_groups[0]["lr"]


def standalone_step(method: Method, model: nn.Module, device: torch.device | str = "cpu") -> Step:
    """The Step `fit` hands `train_step` in one process, with full precision
    and no accumulation: the method's optimizers, schedulers and gradient
    clipping. For benchmarks and notebooks that call `train_step` themselves."""
    optimizers, schedulers = split_optimizers(method.configure_optimizers(model))
    clip = dict(getattr(method, "clip_grad", {}) or {})
    return Step(optimizers, schedulers, clip, 1, None, Dist(), torch.device(device))


def all_reduce_grads(params: list[torch.Tensor], world_size: int) -> None:
    """Average gradients over processes with one flattened all-reduce.
    A parameter without a gradient on this process contributes zeros."""
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of numels,)
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(g).clone()
        offset += n


def broadcast_module(model: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


def split_optimizers(configured: Mapping[str, Any]) -> tuple[dict, dict]:
    optimizers, schedulers = {}, {}
    for name, value in configured.items():
        if isinstance(value, tuple):
            optimizers[name], schedulers[name] = value
        else:
            optimizers[name] = value
    return optimizers, schedulers


# ---------------------------------------------------------------------------
# Run directories and logs


def default_run_dir(method_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / method_name / stamp
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{stamp}-{i}")
    return path


def latest_run_dir(method_name: str) -> Path | None:
    folder = Path("runs") / method_name
    runs = sorted((p for p in folder.glob("*") if (p / RUN_FILE).is_file()), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def tensorboard_writer():
    """TensorBoard's SummaryWriter, or a clear error when it is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingDependencyError("--tensorboard needs the tensorboard package", "pip install tensorboard") from None
    return SummaryWriter


class MetricsLog:
    """Appends one JSON object per line to metrics.jsonl (and TensorBoard)."""

    def __init__(self, run_dir: Path, tensorboard: bool):
        self.path = run_dir / "metrics.jsonl"
        self.writer = None
        if tensorboard:
            self.writer = tensorboard_writer()(str(run_dir / "tensorboard"))

    def write(self, step: int, split: str, values: Mapping[str, float]) -> None:
        record = {"step": step, "split": split, "time": round(time.time(), 3), **values}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def truncate_after(self, step: int) -> None:
        """On resume, drop records a crashed run wrote after its checkpoint."""
        if not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue
        ckpt.write_text_atomic(self.path, "".join(k + "\n" for k in kept))


class Progress:
    """A rich progress bar with the latest losses, speed and ETA (rank 0)."""

    def __init__(self, enabled: bool, total: int, start: int, title: str):
        self.bar = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            transient=False,
        )
        self.task = self.bar.add_task(title, total=total, completed=start, speed="", losses="")
        self.bar.start()

    def update(self, step: int, speed: float, losses: Mapping[str, float]) -> None:
        if self.bar is None:
            return
        text = " ".join(f"{k}={v:.4g}" for k, v in list(losses.items())[:4])
        self.bar.update(self.task, completed=step, speed=f"{speed:.2f} it/s", losses=text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ---------------------------------------------------------------------------
# The loop


def fit(
    method: Method,
    train_data: Dataset,
    val_data: Dataset | None = None,
    options: TrainOptions | None = None,
) -> RunResult:
    """Train `method` on `train_data`; evaluate on `val_data` every
    `eval_every` steps and at the end. Returns where the run was written."""
    opts = options or TrainOptions()
    spec = parse_device(opts.device, opts.nproc)
    d = init_distributed(spec)
    try:
        return _fit(method, train_data, val_data, opts, d)
    finally:
        if d.enabled:
            dist.barrier()


def _micro_batch(method: Method, opts: TrainOptions, d: Dist) -> int:
    batch = int(method.config.batch_size)
    parts = d.world_size * opts.accum
    if opts.accum < 1:
        raise ConfigError(f"--accum must be at least 1, got {opts.accum}")
    if batch % parts:
        raise ConfigError(
            f"batch_size {batch} does not split into {d.world_size} process(es) x {opts.accum} micro-batch(es)",
            "choose a batch_size divisible by their product",
        )
    return batch // parts


def _shared_run_dir(method: Method, opts: TrainOptions, d: Dist) -> Path:
    run_dir = opts.out
    if run_dir is None and opts.resume:
        run_dir = latest_run_dir(method.name)
        if run_dir is None:
            raise ZooError(f"--resume: no earlier run of {method.name} under runs/{method.name}", "give --out <run dir>")
    if run_dir is None:
        run_dir = default_run_dir(method.name) if d.is_main else None
    if d.enabled:
        box = [str(run_dir) if run_dir is not None else None]
        dist.broadcast_object_list(box, src=0)
        run_dir = box[0]
    return Path(run_dir)


def _fit(method: Method, train_data: Dataset, val_data: Dataset | None, opts: TrainOptions, d: Dist) -> RunResult:
    config = method.config
    total = int(opts.steps if opts.steps is not None else config.steps)
    ckpt_every = opts.ckpt_every or getattr(config, "ckpt_every", 0) or 1000
    eval_every = opts.eval_every if opts.eval_every is not None else getattr(config, "eval_every", 0)
    micro = _micro_batch(method, opts, d)
    if opts.tensorboard:
        tensorboard_writer()  # fail before anything is written
    run_dir = _shared_run_dir(method, opts, d)
    if opts.resume and not (run_dir / RUN_FILE).is_file():
        raise ZooError(f"--resume: {run_dir} is not a run directory (no {RUN_FILE})")

    # Identical initial weights everywhere, then per-process randomness.
    seed_everything(opts.seed)
    model = method.build().to(d.device)
    if opts.init is not None:
        ckpt.load_state_dict(model, opts.init, "--init weights")
    optimizers, schedulers = split_optimizers(method.configure_optimizers(model))
    clip = dict(getattr(method, "clip_grad", {}) or {})
    dtype = amp_dtype(opts.amp, d.device)
    scaler = torch.amp.GradScaler("cuda") if dtype is torch.float16 else None
    if d.enabled:
        broadcast_module(model)
    seed_everything(opts.seed + 1_000_003 * d.rank)

    start, best, state = 0, None, None
    if opts.resume:
        latest = ckpt.latest_checkpoint(run_dir / "checkpoints")
        if latest is None:
            raise CheckpointError(f"--resume: no complete checkpoint in {run_dir / 'checkpoints'}")
        state, meta = ckpt.load_train_state(latest, model)
        _restore(state, optimizers, schedulers, scaler, d)
        start, best = int(state["step"]), state.get("best")
    elif d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.write_json_atomic(run_dir / RUN_FILE, _run_config(method, opts, total, d))

    if opts.compile:
        for module in method_compile_targets(method, model):
            module.compile()

    step = Step(optimizers, schedulers, clip, opts.accum, scaler, d, d.device)
    sampler = BatchIndices(len(train_data), micro, seed=opts.seed, rank=d.rank, world=d.world_size,
                           start=start * opts.accum)
    loader = DataLoader(
        train_data,
        batch_sampler=sampler,
        num_workers=opts.num_workers,
        pin_memory=d.device.type == "cuda",
        generator=torch.Generator().manual_seed(opts.seed + d.rank),
    )
    batches = iter(loader)
    log = MetricsLog(run_dir, opts.tensorboard and d.is_main) if d.is_main else None
    if log is not None and opts.resume:
        log.truncate_after(start)
    progress = Progress(opts.progress and d.is_main, total, start, f"{method.name}")
    autocast = (
        torch.autocast(device_type=d.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    )
    sums: dict[str, torch.Tensor] = {}
    window_start, window_steps = time.perf_counter(), 0
    last_losses: dict[str, float] = {}
    try:
        model.train()
        for s in range(start, total):
            step.index = s
            if d.enabled:
                _broadcast_buffers(model)
            for m in range(opts.accum):
                step.micro = m
                batch = move(next(batches), d.device)
                with autocast:
                    losses = method.train_step(model, batch, step)
                for k, v in losses.items():
                    v = v.detach().float() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
                    sums[k] = sums.get(k, 0) + v / opts.accum
            if scaler is not None:
                scaler.update()
            window_steps += 1
            done = s + 1
            if done % opts.log_every == 0 or done == total:
                elapsed = time.perf_counter() - window_start
                last_losses = {k: float(v) / window_steps for k, v in sums.items()}
                speed = window_steps / max(elapsed, 1e-9)
                if log is not None:
                    lrs = {f"lr_{n}": step.lr(n) for n in optimizers}
                    log.write(done, "train", {**last_losses, **lrs, "steps_per_s": round(speed, 4)})
                progress.update(done, speed, last_losses)
                sums, window_start, window_steps = {}, time.perf_counter(), 0
            if eval_every and done % eval_every == 0 and done != total and val_data is not None:
                best = _validate(method, model, val_data, d, log, run_dir, done, best, opts)
                model.train()
            if done % ckpt_every == 0 and done != total:
                _checkpoint(method, model, run_dir, done, best, optimizers, schedulers, scaler, d, opts)
        final = {}
        if val_data is not None:
            best = _validate(method, model, val_data, d, log, run_dir, total, best, opts, final=final)
        _checkpoint(method, model, run_dir, total, best, optimizers, schedulers, scaler, d, opts)
        if d.is_main and (method.selection is None or val_data is None or not (run_dir / ckpt.WEIGHTS_NAME).exists()):
            method.export(model, run_dir, data=opts.data_name, step=total, metrics=final or None, preset=opts.preset)
    finally:
        progress.close()
        if log is not None:
            log.close()
    return RunResult(run_dir, total, {**last_losses, **final}, best)


def method_compile_targets(method: Method, model: nn.Module) -> list[nn.Module]:
    targets = getattr(method, "compile_targets", None)
    if targets is not None:
        return list(targets(model))
    children = list(model.children())
    return children or [model]


def _broadcast_buffers(model: nn.Module) -> None:
    for b in model.buffers():
        dist.broadcast(b.data, src=0)


def _run_config(method: Method, opts: TrainOptions, total: int, d: Dist) -> dict[str, Any]:
    from zoo.method import config_to_dict

    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items() if k != "init"}
    return {
        "method": method.name,
        "config": config_to_dict(method.config),
        "data": opts.data_name,
        "preset": opts.preset,
        "steps": total,
        "world_size": d.world_size,
        "options": options,
        "provenance": ckpt.provenance(),
    }


def _validate(method, model, val_data, d, log, run_dir, step, best, opts, final=None):
    """Evaluate on rank 0; keep the best model per `method.selection`."""
    if d.is_main:
        model.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in method.evaluate(ckpt.unwrap(model), val_data).items()}
        model.train()
        if log is not None:
            log.write(step, "val", metrics)
        if final is not None:
            final.update({f"val_{k}": v for k, v in metrics.items()})
        if method.selection is not None:
            key, mode = method.selection
            if key not in metrics:
                raise KeyError(f"{method.name}.selection names {key!r}, which evaluate() did not return")
            value = metrics[key]
            better = best is None or (value > best["value"] if mode == "max" else value < best["value"])
            if better and math.isfinite(value):
                best = {"step": step, "metric": key, "value": value}
                method.export(model, run_dir, data=opts.data_name, step=step,
                              metrics={f"val_{k}": v for k, v in metrics.items()}, preset=opts.preset)
    if d.enabled:
        box = [best]
        dist.broadcast_object_list(box, src=0)
        best = box[0]
    return best


def _checkpoint(method, model, run_dir, step, best, optimizers, schedulers, scaler, d, opts) -> None:
    rng = ckpt.rng_state()
    if d.enabled:  # every process's generators, so a resumed run draws the same noise
        gathered = [None] * d.world_size
        dist.all_gather_object(gathered, rng)
        rngs = gathered
    else:
        rngs = [rng]
    if not d.is_main:
        return
    state = {
        "step": step,
        "best": best,
        "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
        "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rngs,
    }
    path = ckpt.checkpoint_path(run_dir, step)
    digest = ckpt.save_train_state(path, model, state, {"method": method.name, "step": step})
    ckpt.mark_latest(path, step, digest, keep=opts.keep)


def _restore(state, optimizers, schedulers, scaler, d: Dist) -> None:
    for name, opt in optimizers.items():
        if name not in state["optimizers"]:
            raise CheckpointError(f"the checkpoint has no state for optimizer {name!r}")
        sd = state["optimizers"][name]
        for group in sd["param_groups"]:  # JSON turned tuples into lists
            for k, v in group.items():
                if isinstance(v, list) and k != "params":
                    group[k] = tuple(v)
        opt.load_state_dict(sd)
    for name, sched in schedulers.items():
        sched.load_state_dict(state["schedulers"][name])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rngs = state["rng"]
    if len(rngs) != d.world_size:
        raise CheckpointError(
            f"the checkpoint was written by {len(rngs)} process(es); resume it with the same number (now {d.world_size})"
        )
    ckpt.set_rng_state(rngs[d.rank])
