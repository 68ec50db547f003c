"""`zoo sample`, `zoo evaluate` and `zoo export`: one sub-command per method.

Each method's own keyword-only arguments of `sample` and `evaluate` become
options (`temperature: float = 1.0` is `--temperature`).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from zoo.cli.common import MethodGroup, console, handle_errors, method_options, with_signature, write_json
from zoo.cli.train import DataOpt, DataRootOpt, DeviceOpt, SeedOpt
from zoo.method import Method

KW = inspect.Parameter.KEYWORD_ONLY
WeightsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--weights",
        help="Weights: a run directory, weights folder or .safetensors file, hf://owner/repo\\[@rev], "
        "or a registry name (default: the method's registered weights).",
    ),
]


def _p(name, default, annotation) -> inspect.Parameter:
    return inspect.Parameter(name, KW, default=default, annotation=annotation)


def _load(method: str, weights: str | None, device: str, manager):
    from zoo import api

    return api.load(method, weights, device=device, manager=manager)


def _seed(seed: int) -> None:
    from zoo.devices import seed_everything

    seed_everything(seed)


# ---------------------------------------------------------------------------
# sample


def make_sample_command(manager, method_cls: type[Method]):
    extra = method_options(method_cls.sample, skip={"n"})

    def sample_command(**values):
        model = _load(method_cls.name, values.pop("weights"), values.pop("device"), manager)
        _seed(values.pop("seed"))
        n, out = values.pop("n"), values.pop("out")
        samples = model.sample(n, **values)
        if out is None:
            out = Path("samples") / f"{method_cls.name}-{time.strftime('%Y%m%d-%H%M%S')}.png"
        paths = model.save_samples(samples, Path(out))
        for path in paths:
            console.print(f"Wrote [bold]{path}[/]")

    params = [
        _p("weights", None, WeightsOpt),
        _p("n", 16, Annotated[int, typer.Option("--n", help="Number of samples.")]),
        _p("out", None, Annotated[Optional[Path], typer.Option("--out", help="Output file (default: samples/<method>-<time>.png).")]),
        _p("device", "cpu", DeviceOpt),
        _p("seed", 0, SeedOpt),
        *extra,
    ]
    sample_command.__doc__ = f"Sample from {method_cls.name}."
    return handle_errors(with_signature(sample_command, params))


# ---------------------------------------------------------------------------
# evaluate


def make_evaluate_command(manager, method_cls: type[Method]):
    extra = method_options(method_cls.evaluate, skip=set())

    def evaluate_command(**values):
        model = _load(method_cls.name, values.pop("weights"), values.pop("device"), manager)
        _seed(values.pop("seed"))
        json_out = values.pop("json_out")
        data, split, root = values.pop("data"), values.pop("split"), values.pop("data_root")
        metrics = model.evaluate(data, split=split, data_root=root, **values)
        used = data or model.info.get("data") or method_cls.default_dataset
        table = Table(title=f"{method_cls.name} on {used} ({split})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        # the thesis's own number for a metric, where results.toml has one for this data and split
        thesis = {r.metric: r for r in method_cls.results() if r.data == used and r.split == split and r.metric in metrics}
        if thesis:
            table.add_column("thesis", justify="right")
            table.add_column("where")
        for key, value in metrics.items():
            row = [key, f"{value:.4f}"]
            if thesis:
                row += [f"{thesis[key].value:.4g}", thesis[key].where] if key in thesis else ["", ""]
            table.add_row(*row)
        console.print(table)
        if json_out is not None:
            write_json(json_out, {"method": method_cls.name, "data": used, "split": split, "metrics": metrics})
            console.print(f"Wrote [bold]{json_out}[/]")

    params = [
        _p("weights", None, WeightsOpt),
        _p("data", None, DataOpt),
        _p("data_root", None, DataRootOpt),
        _p("split", "test", Annotated[str, typer.Option("--split", help="Split to evaluate on.")]),
        _p("device", "cpu", DeviceOpt),
        _p("seed", 0, SeedOpt),
        _p("json_out", None, Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics to this JSON file.")]),
        *extra,
    ]
    evaluate_command.__doc__ = f"Evaluate {method_cls.name}."
    return handle_errors(with_signature(evaluate_command, params))


# ---------------------------------------------------------------------------
# export


def make_export_command(manager, method_cls: type[Method]):
    def export_command(**values):
        model = _load(method_cls.name, values["weights"], "cpu", manager)
        folder = model.export(values["out"])
        console.print(f"Exported {method_cls.name} to [bold]{folder}[/]")

    params = [
        _p("weights", None, WeightsOpt),
        _p("out", ..., Annotated[Path, typer.Option("--out", help="Folder to write model.safetensors, config.json and README.md into.")]),
    ]
    export_command.__doc__ = f"Export {method_cls.name} weights as a Hub-ready folder."
    return handle_errors(with_signature(export_command, params))


def register(app: typer.Typer, manager) -> None:
    verbs = [
        ("sample", make_sample_command, "Sample from a method: images, masks, videos as PNG/GIF files."),
        ("evaluate", make_evaluate_command, "Evaluate a method's weights on a data set split."),
        ("export", make_export_command, "Export weights: model.safetensors, config.json and a model card."),
    ]
    for verb, factory, help_text in verbs:
        group = typer.Typer(cls=MethodGroup, help=help_text, no_args_is_help=True)
        for name, cls in sorted(manager.methods.items()):
            command = factory(manager, cls)
            group.command(name=name, help=f"{command.__doc__} {cls.summary}")(command)
        app.add_typer(group, name=verb)
