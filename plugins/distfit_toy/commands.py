"""`zoo distfit-toy fit`: run the App. D experiment, print the fitted
parameters under each objective and write the figure (PNG, drawn with torch
and Pillow: no matplotlib needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(cli: typer.Typer) -> None:
    from zoo.cli.common import command_group, handle_errors

    group = command_group("The rotated-rectangle experiment of App. D: ML vs KL vs JS vs EMD.")

    @group.command("fit")
    @handle_errors
    def fit(
        preset: Annotated[str, typer.Option("--preset", help="quick (CPU, a minute) or thesis (128 x 128 grid, GPU).")] = "quick",
        set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value (repeatable), e.g. objectives=['kl','emd'].")] = None,
        out: Annotated[Path, typer.Option("--out", help="PNG of the fitted rectangles.")] = Path("distfit-toy.png"),
        run: Annotated[Optional[Path], typer.Option("--run", help="Run directory (default: runs/distfit-toy/<time>).")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        device: Annotated[str, typer.Option("--device", help="Device for the run.")] = "cpu",
    ):
        """Fit the rotated rectangle under every objective; print the fits, write the figure."""
        from rich.table import Table
        from torchvision.utils import save_image

        from zoo import api
        from zoo.cli.common import console

        model = api.train("distfit-toy", preset=preset, sets=set_ or [], out=run, seed=seed, device=device,
                          progress=True)
        metrics = model.evaluate(split="test")
        table = Table(title="Fits of the uniform rectangle (target: angle 0 mod 90°)")
        for col in ("objective", "a", "b", "theta (deg)", "angle error", "area", "uncovered test points", "value"):
            table.add_column(col, justify="right")
        for name in model.module.objectives:
            k = name.replace("-", "_")
            table.add_row(name, *(f"{metrics[f'{k}_{f}']:.3f}" for f in ("a", "b", "theta", "angle_error", "area")),
                          f"{metrics[f'{k}_uncovered']:.1%}",
                          f"{metrics[f'{k}_value']:.4g}" if f"{k}_value" in metrics else "inf")
        console.print(table)
        from .method import figure

        image = figure(model.module, 400, 160, model.config.extent)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(image, str(out))
        console.print(f"Wrote [bold]{out}[/] (panels: {', '.join(model.module.objectives)}); run: {model.run_dir}")

    cli.add_typer(group, name="distfit-toy")
