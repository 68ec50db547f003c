"""`zoo train <method>`: one sub-command per registered method."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from zoo.cli.common import MethodGroup, console, handle_errors, with_signature
from zoo.method import Method, config_fields, preset_description

DataOpt = Annotated[Optional[str], typer.Option("--data", help="Data set (default: the method's embedded one).")]
DataRootOpt = Annotated[
    Optional[Path], typer.Option("--data-root", help="Folder holding the data sets (default: $ZOO_DATA, then ~/.cache/zoo/data).")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, cuda:0,1 (one process each), mps or auto.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
SetOpt = Annotated[
    Optional[list[str]], typer.Option("--set", help="Override a config field: --set key=value (repeatable).")
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML file of config fields to override.")]
PresetOpt = Annotated[
    Optional[str], typer.Option("--preset", help="Named config preset (default: quick on embedded data, else thesis).")
]


def config_epilog(method_cls: type[Method]) -> str:
    """The method's config fields, for `--help`."""
    lines = ["Config fields (override with --set key=value or --config file.toml):", ""]
    for f in config_fields(method_cls.Config):
        text = escape(f"  {f.name} ({f.type_name}, default {f.default!r})")
        lines.append(text + (f": {escape(f.help)}" if f.help else ""))
    presets = method_cls.presets()
    if presets:
        lines += ["", "Presets (--preset):"]
        lines += [f"  {name}: {preset_description(method_cls, name)}" for name in presets]
    return "\n".join(lines)


def _train_params() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    P = inspect.Parameter
    return [
        P("data", kw, default=None, annotation=DataOpt),
        P("data_root", kw, default=None, annotation=DataRootOpt),
        P("preset", kw, default=None, annotation=PresetOpt),
        P("config", kw, default=None, annotation=ConfigOpt),
        P("set_", kw, default=None, annotation=SetOpt),
        P("steps", kw, default=None, annotation=Annotated[Optional[int], typer.Option("--steps", help="Optimizer steps (default: the config's).")]),
        P("out", kw, default=None, annotation=Annotated[Optional[Path], typer.Option("--out", help="Run directory (default: runs/<method>/<time>).")]),
        P("resume", kw, default=False, annotation=Annotated[bool, typer.Option("--resume", help="Continue the run in --out (or the latest run) from its last complete checkpoint.")]),
        P("seed", kw, default=0, annotation=SeedOpt),
        P("device", kw, default="auto", annotation=DeviceOpt),
        P("nproc", kw, default=None, annotation=Annotated[Optional[int], typer.Option("--nproc", help="Processes (default: one per listed device); e.g. --device cpu --nproc 2.")]),
        P("amp", kw, default="no", annotation=Annotated[str, typer.Option("--amp", help="Mixed precision: no, bf16 or fp16.")]),
        P("compile", kw, default=False, annotation=Annotated[bool, typer.Option("--compile", help="torch.compile the networks.")]),
        P("accum", kw, default=1, annotation=Annotated[int, typer.Option("--accum", help="Micro-batches per optimizer step (gradient accumulation).")]),
        P("ckpt_every", kw, default=None, annotation=Annotated[Optional[int], typer.Option("--ckpt-every", help="Steps between checkpoints.")]),
        P("eval_every", kw, default=None, annotation=Annotated[Optional[int], typer.Option("--eval-every", help="Steps between validations (best checkpoint kept).")]),
        P("num_workers", kw, default=0, annotation=Annotated[int, typer.Option("--num-workers", help="Data-loading worker processes.")]),
        P("init", kw, default=None, annotation=Annotated[Optional[str], typer.Option("--init", help="Start from these weights (path, hf://owner/repo\\[@rev] or registry name).")]),
        P("tensorboard", kw, default=False, annotation=Annotated[bool, typer.Option("--tensorboard", help="Also log to TensorBoard in the run directory.")]),
        P("progress", kw, default=True, annotation=Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")]),
    ]


def _relaunch_argv(method: str, values: dict, out: Path) -> list[str]:
    """The same `zoo train` command, with the run directory fixed, for torchrun."""
    argv = ["train", method, "--out", str(out)]
    flags = {"resume", "compile", "tensorboard"}
    for key, value in values.items():
        # --nproc is left out: workers read their rank from torchrun, and
        # torchrun's own parser would take --nproc for --nproc-per-node.
        if key in ("out", "debug", "nproc") or value is None or value is False:
            continue
        opt = "--" + key.rstrip("_").replace("_", "-")
        if key in flags:
            argv.append(opt)
        elif key == "progress":
            continue
        elif isinstance(value, list):
            for v in value:
                argv += [opt, str(v)]
        else:
            argv += [opt, str(value)]
    argv.append("--no-progress" if not values.get("progress", True) else "--progress")
    return argv


def make_train_command(manager, method_cls: type[Method]):
    def train_command(**values):
        from zoo import api
        from zoo.devices import in_torchrun, launch, parse_device
        from zoo.engine import default_run_dir

        spec = parse_device(values["device"], values["nproc"])
        if spec.distributed and not in_torchrun():
            out = values["out"] or default_run_dir(method_cls.name)
            console.print(f"Launching {spec.nproc} processes on {spec} with torchrun")
            code = launch(spec, _relaunch_argv(method_cls.name, values, Path(out)))
            raise typer.Exit(code)
        def announce(method: Method, data: str, preset: str) -> None:
            if int(os.environ.get("RANK", "0")) != 0:
                return
            desc = preset_description(method_cls, preset)
            verb = "Resuming" if values["resume"] else "Training"
            console.print(f"{verb} {method.name} on {data}, preset [bold]{preset}[/]" + (f": {desc}" if desc else ""))

        model = api.train(
            method_cls.name,
            data=values["data"],
            preset=values["preset"],
            config_file=values["config"],
            sets=values["set_"] or (),
            data_root=values["data_root"],
            steps=values["steps"],
            out=values["out"],
            resume=values["resume"],
            seed=values["seed"],
            device=values["device"],
            nproc=values["nproc"],
            amp=values["amp"],
            compile=values["compile"],
            accum=values["accum"],
            ckpt_every=values["ckpt_every"],
            eval_every=values["eval_every"],
            num_workers=values["num_workers"],
            init=values["init"],
            tensorboard=values["tensorboard"],
            progress=values["progress"],
            manager=manager,
            on_start=announce,
        )
        if not in_torchrun() or int(os.environ.get("RANK", "0")) == 0:
            result = model.info.get("result", {})
            metrics = result.get("metrics") or {}
            shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith("val_"))
            if shown:
                console.print(f"Validation: {shown}")
            console.print(f"Run directory: [bold]{model.run_dir}[/]")
            console.print(f"Next: zoo sample {method_cls.name} --weights {model.run_dir}")

    train_command.__name__ = f"train_{method_cls.name.replace('-', '_')}"
    train_command.__doc__ = f"Train {method_cls.name}: {method_cls.summary}"
    return handle_errors(with_signature(train_command, _train_params()))


def register(app: typer.Typer, manager) -> None:
    group = typer.Typer(
        cls=MethodGroup,
        help="Train a method: zoo train METHOD OPTIONS. `zoo train METHOD --help` lists its config fields.",
        no_args_is_help=True,
    )
    for name, cls in sorted(manager.methods.items()):
        group.command(
            name=name,
            help=f"Train {name}: {cls.summary}",
            epilog=config_epilog(cls),
            context_settings={"max_content_width": 120},
        )(make_train_command(manager, cls))
    app.add_typer(group, name="train")
