"""`zoo reproduce`, `zoo plot` and `zoo env`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from zoo.cli.common import console, err_console, handle_errors
from zoo.cli.train import DataOpt, DataRootOpt, DeviceOpt, SeedOpt


def _report_table(report) -> Table:
    table = Table(title=escape(report.title))
    for col in ("metric", "thesis data", "thesis", "ours", "difference", "where"):
        table.add_column(col, justify="right" if col in ("thesis", "ours", "difference") else "left")
    for r in report.rows:
        diff = r.difference if report.same_data else None
        table.add_row(
            r.metric, r.thesis_data,
            "-" if r.thesis is None else f"{r.thesis:.4g}",
            "-" if r.ours is None else f"{r.ours:.4g}",
            "-" if diff is None else f"{diff:+.4g}",
            escape(r.where),
        )
    return table


def register(app: typer.Typer, manager) -> None:
    @app.command("reproduce")
    @handle_errors
    def reproduce_command(
        method: Annotated[Optional[str], typer.Argument(help="Method to reproduce (or --all).")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every registered method, one after the other.")] = False,
        preset: Annotated[str, typer.Option("--preset", help="quick (embedded-data demo) or thesis.")] = "quick",
        data: DataOpt = None,
        data_root: DataRootOpt = None,
        device: DeviceOpt = "auto",
        steps: Annotated[Optional[int], typer.Option("--steps", help="Override the preset's steps.")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (one method) or folder of runs (--all).")] = None,
        seed: SeedOpt = 0,
        summary: Annotated[Optional[Path], typer.Option("--summary", help="With --all: write the reports as JSON here.")] = None,
        update_readme: Annotated[Optional[Path], typer.Option("--update-readme", help="With --all: rewrite this README's results section.")] = None,
    ):
        """Train with a preset, evaluate, and print our numbers beside the thesis's."""
        from zoo.errors import ZooError
        from zoo.reproduce import Report, reproduce, summary_markdown

        if all_ == (method is not None):
            raise ZooError("give one method or --all")
        if not all_:
            report = reproduce(method, preset=preset, data=data, device=device, steps=steps, out=out,
                               data_root=data_root, seed=seed, progress=True, manager=manager)
            console.print(_report_table(report))
            if not report.same_data:
                console.print(f"[dim]The thesis reports no number on {report.data}; its rows are for scale only.[/]")
            console.print(f"Wrote {report.run_dir}/reproduce.md and reproduce.json")
            return
        from rich.progress import Progress

        reports: list[Report] = []
        names = sorted(manager.methods)
        with Progress(console=console, transient=False) as bar:
            task = bar.add_task("reproduce", total=len(names))
            for name in names:
                bar.update(task, description=f"reproduce {name}")
                try:
                    run_out = (out / name) if out else None
                    reports.append(reproduce(name, preset=preset, device=device, steps=steps, out=run_out,
                                             data_root=data_root, seed=seed, manager=manager))
                except Exception as exc:  # noqa: BLE001 - one method failing must not stop the others
                    reports.append(Report(name, manager.method(name).default_dataset, preset, "test", "", {}, [],
                                          False, 0.0, error=f"{type(exc).__name__}: {exc}"))
                bar.advance(task)
        console.print(summary_markdown(reports))
        failed = [r for r in reports if r.error]
        if summary is not None:
            from zoo.checkpoint import write_json_atomic

            write_json_atomic(summary, [r.to_json() for r in reports])
            console.print(f"Wrote {summary}")
        if update_readme is not None:
            from zoo.reproduce import update_readme as rewrite

            command = f"zoo reproduce --all --preset {preset}" + (f" --device {device}" if device != "auto" else "")
            rewrite(update_readme, reports, command)
            console.print(f"Updated the results section of {update_readme}")
        if failed:
            for r in failed:
                err_console.print(f"[red]{r.method} failed:[/] {escape(r.error)}")
            raise typer.Exit(1)

    @app.command("plot")
    @handle_errors
    def plot_command(
        run_dir: Annotated[Path, typer.Argument(help="A run directory written by `zoo train`.")],
        out: Annotated[Optional[Path], typer.Option("--out", help="PNG to write (default: <run_dir>/curves.png).")] = None,
    ):
        """Draw a run's training curves (losses, validation metrics, learning rate) to a PNG."""
        from zoo.plot import plot_run

        console.print(f"Wrote [bold]{plot_run(run_dir, out)}[/]")

    @app.command("env")
    @handle_errors
    def env_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ):
        """Print what a bug report needs: versions, devices, plugins, Hub and data settings."""
        from zoo.env import environment

        info = environment(manager)
        if as_json:
            console.print_json(json.dumps(info))
            return
        table = Table(title="zoo environment", show_header=False)
        table.add_column("key", style="bold")
        table.add_column("value", overflow="fold")
        for key in ("zoo", "python", "platform", "cuda", "cudnn", "cpu_threads", "data_root", "metric_weights", "registry"):
            table.add_row(key, escape(str(info[key])))
        table.add_row("devices", escape(", ".join(info["devices"])))
        for name, version in info["packages"].items():
            table.add_row(name, version)
        for key, value in info["huggingface"].items():
            table.add_row(f"hf {key}", escape(str(value)))
        for p in info["plugins"]:
            state = "ok" if not p["errors"] else "[red]" + escape("; ".join(p["errors"])) + "[/]"
            who = f"{p['distribution'] or '-'} {p['version'] or ''}".strip()
            table.add_row(f"plugin {p['name']}", f"{escape(who)}: {', '.join(p['methods']) or '-'} ({state})")
        console.print(table)
