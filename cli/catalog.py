"""`zoo list`, `zoo info <method>` and `zoo datasets`."""


from typing import Annotated

import typer
from rich.table import Table

from rich.markup import escape

from zoo.cli.common import console, handle_errors
from zoo.errors import ZooError
from zoo.method import config_fields, preset_description


def _registry():
    from zoo.registry import load_registry

    return load_registry()


def register(app: typer.Typer, manager) -> None:
    @app.command("list")
    @handle_errors
    def list_methods():
        """List every method: task, thesis, data sets, pretrained weights."""
        registry = _registry()
        table = Table(title="thesis-zoo methods")
        for col in ("method", "task", "thesis", "datasets", "pretrained weights"):
            table.add_column(col)
        for name, cls in sorted(manager.methods.items()):
            thesis = registry.thesis_of(name)
            who = f"{thesis.author.split()[-1]} {thesis.year}" if thesis else f"({manager.method_plugin(name).name})"
            weights = ", ".join(w.name for w in registry.weights_for(name)) or "-"
            table.add_row(name, cls.task, who, ", ".join(cls.datasets), weights)
        console.print(table)

    @app.command("info")
    @handle_errors
    def info(method: Annotated[str, typer.Argument(help="Method name.", autocompletion=lambda: sorted(manager.methods))]):
        """Everything about one method: summary, citation, config, data, weights."""
        cls = manager.method(method)
        registry = _registry()
        console.print(f"[bold]{cls.name}[/]: {cls.summary}")
        console.print(f"Task: {cls.task}")
        console.print(f"Paper: {cls.paper}")
        thesis = registry.thesis_of(cls.name)
        if thesis:
            entry = registry.methods[cls.name]
            console.print(f"Thesis: {thesis.citation} Chapter {entry.chapter}." + (f" {thesis.url}" if thesis.url else ""))
        plugin = manager.method_plugin(cls.name)
        console.print(f"Plugin: {plugin.name} ({plugin.distribution or '?'} {plugin.version or ''})")

        table = Table(title="Config (thesis defaults; --set key=value)")
        for col in ("field", "type", "default", "meaning"):
            table.add_column(col, overflow="fold")
        for f in config_fields(cls.Config):
            table.add_row(f.name, escape(f.type_name), escape(repr(f.default)), escape(f.help))
        console.print(table)

        presets = cls.presets()
        if presets:
            console.print("Presets: " + "; ".join(f"[bold]{p}[/] ({preset_description(cls, p)})" for p in presets))

        data = Table(title="Data sets (--data)")
        for col in ("name", "kind", "description"):
            data.add_column(col)
        for name in cls.datasets:
            spec = manager.datasets.get(name)
            if spec is None:
                data.add_row(name, "?", "[red]not registered[/]")
            else:
                kind = "embedded" if spec.embedded else "download"
                data.add_row(name + (" (default)" if name == cls.default_dataset else ""), kind, spec.description)
        console.print(data)

        weights = registry.weights_for(cls.name)
        if weights:
            wt = Table(title="Pretrained weights (--weights)")
            for col in ("name", "data", "where", "metrics"):
                wt.add_column(col)
            for w in weights:
                where = "bundled" if w.bundled else f"hf://{w.repo}@{w.revision[:7]}"
                metrics = ", ".join(f"{k}={v:.4g}" for k, v in w.metrics.items())
                wt.add_row(w.name + (" (default)" if w.default else ""), w.data, where, metrics)
            console.print(wt)

    @app.command("datasets")
    @handle_errors
    def datasets():
        """List every data set: embedded ones and where real ones go."""
        from zoo.data import data_root

        root = data_root()
        table = Table(title=f"Data sets (data root: {root})")
        for col in ("name", "kind", "methods", "description", "expected files"):
            table.add_column(col, overflow="fold")
        users: dict[str, list[str]] = {}
        for name, cls in manager.methods.items():
            for d in cls.datasets:
                users.setdefault(d, []).append(name)
        for name, spec in sorted(manager.datasets.items()):
            kind = "embedded" if spec.embedded else "download"
            layout = spec.layout if not spec.embedded else "-"
            table.add_row(name, kind, ", ".join(sorted(users.get(name, []))), spec.description, layout)
        console.print(table)
