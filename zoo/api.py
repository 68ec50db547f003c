"""The Python API: everything the CLI does, one call each.

    import zoo

    model = zoo.train("redo", steps=200)          # embedded data, quick preset
    images = model.sample(8)                       # (8, 3, H, W) in [0, 1]
    metrics = model.evaluate(split="test")         # {"acc": ..., "iou": ...}
    model = zoo.load("redo", weights="redo.synthetic-flowers")

The CLI is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo import checkpoint as ckpt
from zoo.data import DatasetSpec, load_dataset
from zoo.devices import in_torchrun, parse_device
from zoo.engine import RUN_FILE, TrainOptions, fit
from zoo.errors import CheckpointError, ConfigError, DeviceError, ZooError
from zoo.method import Method, config_from_dict, make_config
from zoo.plugin_manager import PluginManager, get_plugin_manager


def methods(manager: PluginManager | None = None) -> list[str]:
    """Names of every registered method."""
    return sorted((manager or get_plugin_manager()).methods)


def choose_preset(method_cls: type[Method], data: DatasetSpec, preset: str | None) -> str:
    """`preset`, else `quick` on embedded data (the CPU demo), else `thesis`."""
    if preset:
        return preset
    return "quick" if data.embedded and "quick" in method_cls.presets() else "thesis"


def make(
    method: str,
    *,
    data: str | None = None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    manager: PluginManager | None = None,
    **overrides: Any,
) -> Method:
    """A method instance with its config built from defaults, preset, file,
    `key=value` strings and keyword overrides, in that order."""
    pm = manager or get_plugin_manager()
    cls = pm.method(method)
    data = data or cls.default_dataset
    cls(cls.Config()).check_dataset(data)
    spec = pm.dataset(data)
    config = make_config(
        cls,
        preset=choose_preset(cls, spec, preset),
        dataset=data,
        file=Path(config_file) if config_file else None,
        sets=sets,
        overrides=overrides,
    )
    return cls(config)


@dataclass
class Model:
    """A method with its trained network: what `load` and `train` return."""

    method: Method
    module: nn.Module
    info: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    manager: PluginManager | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def config(self) -> Any:
        return self.method.config

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device) -> Model:
        self.module.to(device)
        return self

    @torch.no_grad()
    def sample(self, n: int = 16, **options: Any) -> torch.Tensor:
        self.module.eval()
        return self.method.sample(self.module, n, **options)

    def save_samples(self, samples: torch.Tensor, path: str | Path) -> list[Path]:
        return self.method.save_samples(samples, Path(path))

    @torch.no_grad()
    def evaluate(
        self,
        data: str | None = None,
        *,
        split: str = "test",
        data_root: str | Path | None = None,
        **options: Any,
    ) -> dict[str, float]:
        pm = self.manager or get_plugin_manager()
        name = data or self.info.get("data") or self.method.default_dataset
        if name not in pm.datasets:
            name = self.method.default_dataset
        self.method.check_dataset(name)
        dataset = load_dataset(pm.dataset(name), split, data_root, **self.method.data_options(name, split))
        self.module.eval()
        return {k: float(v) for k, v in self.method.evaluate(self.module, dataset, **options).items()}

    def export(self, out_dir: str | Path) -> Path:
        keep = {k: self.info.get(k) for k in ("data", "step", "metrics", "preset")}
        return self.method.export(self.module, Path(out_dir), **keep)


def train(
    method: str | Method,
    data: str | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    data_root: str | Path | None = None,
    steps: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str = "auto",
    nproc: int | None = None,
    amp: str = "no",
    compile: bool = False,
    accum: int = 1,
    ckpt_every: int | None = None,
    eval_every: int | None = None,
    log_every: int = 10,
    num_workers: int = 0,
    init: str | Path | None = None,
    tensorboard: bool = False,
    progress: bool = False,
    manager: PluginManager | None = None,
    on_start: Callable[[Method, str, str], None] | None = None,
    **overrides: Any,
) -> Model:
    """Train a method and return the trained model (its run directory in
    `model.run_dir`). Keyword arguments not listed here are config fields.
    `on_start(method, data, preset)` is called once the data are loaded,
    just before training starts."""
    pm = manager or get_plugin_manager()
    spec = parse_device(device, nproc)
    if spec.distributed and not in_torchrun():
        raise DeviceError(
            f"training on {spec} needs one process per device",
            "use the CLI (`zoo train ... --device`) or start this script with torchrun",
        )
    if resume:
        instance, data, preset = _resumed_method(pm, method, out, sets, overrides, config_file)
    elif isinstance(method, Method):
        instance = method
        data = data or instance.default_dataset
        instance.check_dataset(data)
    else:
        instance = make(method, data=data, preset=preset, config_file=config_file, sets=sets, manager=pm, **overrides)
        data = data or instance.default_dataset
    if steps is not None and steps != instance.config.steps:
        # --steps is the config's `steps`, so schedules built from it follow
        instance = type(instance)(dataclasses.replace(instance.config, steps=steps))
    ds_spec = pm.dataset(data)
    preset = preset or choose_preset(type(instance), ds_spec, None)
    train_data = load_dataset(ds_spec, "train", data_root, **instance.data_options(data, "train"))
    val_data = None
    if "val" in ds_spec.splits:
        val_data = load_dataset(ds_spec, "val", data_root, **instance.data_options(data, "val"))
    init_weights = None
    if init is not None:
        init_weights, info = _read_weights(init)
        _check_method(info, instance.name, str(init))
    options = TrainOptions(
        steps=steps,
        out=Path(out) if out else None,
        resume=resume,
        seed=seed,
        device=device,
        nproc=nproc,
        amp=amp,
        compile=compile,
        accum=accum,
        ckpt_every=ckpt_every,
        eval_every=eval_every,
        log_every=log_every,
        num_workers=num_workers,
        tensorboard=tensorboard,
        progress=progress,
        data_name=data,
        preset=preset,
        init=init_weights,
    )
    if on_start is not None:
        on_start(instance, data, preset)
    result = fit(instance, train_data, val_data, options)
    model = load(instance.name, weights=result.run_dir, device=device if not spec.distributed else "cpu", manager=pm)
    model.run_dir = result.run_dir
    model.info.setdefault("result", {"step": result.step, "metrics": result.metrics, "best": result.best})
    return model


def _resumed_method(pm, method, out, sets, overrides, config_file):
    from zoo.engine import latest_run_dir

    name = method.name if isinstance(method, Method) else method
    cls = pm.method(name)
    run_dir = Path(out) if out else latest_run_dir(name)
    if run_dir is None or not (run_dir / RUN_FILE).is_file():
        raise ZooError(f"--resume: no run of {name} to resume", "give --out <run dir>")
    if list(sets) or overrides or config_file:
        raise ConfigError("a resumed run keeps its config", "drop --set/--config, or start a new run")
    saved = ckpt.read_json(run_dir / RUN_FILE)
    if saved.get("method") != name:
        raise CheckpointError(f"{run_dir} is a run of {saved.get('method')!r}, not {name!r}")
    config = config_from_dict(cls.Config, saved["config"], str(run_dir / RUN_FILE))
    return cls(config), saved.get("data") or cls.default_dataset, saved.get("preset") or None


def _read_weights(weights: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from zoo.hub import resolve_weights

    return ckpt.load_weights(resolve_weights(weights))


def _check_method(info: Mapping[str, Any], name: str, source: str) -> None:
    saved = info.get("method")
    if saved is None:
        raise CheckpointError(f"{source} does not say which method it belongs to", "was it exported by zoo?")
    if saved != name:
        raise CheckpointError(f"{source} holds weights of {saved!r}, not {name!r}", f"use `zoo ... {saved}`")


def load(
    method: str | None = None,
    weights: str | Path | None = None,
    *,
    device: str = "cpu",
    manager: PluginManager | None = None,
) -> Model:
    """Load trained weights: a local folder/file, `hf://owner/repo[@rev]`, or
    a registry name. Without `weights`, the method's default registered
    weights (shipped with the package where they exist)."""
    from zoo.registry import load_registry

    pm = manager or get_plugin_manager()
    if weights is None:
        if method is None:
            raise ZooError("give a method or weights to load")
        pm.method(method)
        entry = load_registry().default_weights(method)
        if entry is None:
            raise CheckpointError(
                f"{method} has no pretrained weights in the registry", f"train some with `zoo train {method}`"
            )
        weights = entry.name
    tensors, info = _read_weights(weights)
    run_file = Path(str(weights)) / RUN_FILE
    if "config" not in info and run_file.is_file():  # a run stopped before its export: config from run.json
        saved = ckpt.read_json(run_file)
        info = {**{k: saved[k] for k in ("config", "data", "preset") if k in saved}, **info}
    name = method or info.get("method")
    if name is None:
        raise CheckpointError(f"{weights} does not say which method it belongs to", "name the method")
    cls = pm.method(name)
    _check_method(info, name, str(weights))
    if "config" not in info:
        raise CheckpointError(f"{weights} has no config", "was it exported by zoo?")
    config = config_from_dict(cls.Config, info["config"], f"config of {weights}")
    instance = cls(config)
    module = instance.build()
    ckpt.load_state_dict(module, tensors, str(weights))
    dev = parse_device(device)
    module.to(dev.device_for(0)).eval()
    return Model(instance, module, dict(info), manager=pm)


def evaluate(
    model: Model | str,
    data: str | None = None,
    *,
    weights: str | Path | None = None,
    split: str = "test",
    data_root: str | Path | None = None,
    device: str = "cpu",
    **options: Any,
) -> dict[str, float]:
    """Evaluate a model (or a method's weights) on a split of a data set."""
    if isinstance(model, str):
        model = load(model, weights, device=device)
    return model.evaluate(data, split=split, data_root=data_root, **options)


def sample(model: Model | str, n: int = 16, *, weights: str | Path | None = None, device: str = "cpu", **options: Any) -> torch.Tensor:
    """Draw `n` samples from a model (or from a method's weights)."""
    if isinstance(model, str):
        model = load(model, weights, device=device)
    return model.sample(n, **options)


def pull(ref: str, *, force: bool = False, progress: bool = True) -> Any:
    """Download Hub weights into the Hugging Face cache and verify them.

    `ref` is `owner/repo[@revision]`, `hf://owner/repo[@revision]` or a
    registry weights name. Returns a `zoo.hub.Pulled` (its `path` is the
    local folder; it is also path-like). A second pull of a revision already
    in the cache downloads nothing; with the Hub unreachable or
    `HF_HUB_OFFLINE` set, the cached copy is used and `notice` says so."""
    from zoo.hub import pull_ref

    return pull_ref(ref, force=force, progress=progress)


def push(
    weights: str | Path,
    repo: str,
    *,
    private: bool = False,
    branch: str | None = None,
    message: str | None = None,
    keep_card: bool = False,
    progress: bool = True,
    manager: PluginManager | None = None,
) -> Any:
    """Upload a run directory or exported weights folder to the Hub repo
    `repo` (owner/name): `model.safetensors`, `config.json` and a model card
    generated for that repo, in one commit on `branch` (default main). The
    repo is created (private with `private=True`) if it does not exist.
    `keep_card` uploads the folder's own README.md instead. A run that has
    only training checkpoints is exported from its latest one first. Returns
    a `zoo.hub.Pushed` (`commit_url`, `commit`, `url`)."""
    import tempfile

    from zoo import hub

    hub.push_settings()  # no token, or offline: say so before any work
    pm = manager or get_plugin_manager()
    folder = Path(weights).expanduser()
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        if folder.is_dir() and not (folder / ckpt.WEIGHTS_NAME).is_file():
            folder = load(weights=folder, manager=pm).export(Path(tmp) / "export")
        card = None
        if not keep_card:
            meta = ckpt.read_json(folder / ckpt.CONFIG_NAME) if (folder / ckpt.CONFIG_NAME).is_file() else {}
            if "method" in meta:
                card = hub.model_card(pm.method(meta["method"]), meta, repo=repo)
        return hub.push(folder, repo, card=card, private=private, branch=branch, message=message, progress=progress)
