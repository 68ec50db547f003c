"""`zoo srvp swap` and `zoo srvp interpolate`: the content swap and the
interpolation of dynamics of §3.2.3, each written as a PNG strip (one video
per row)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Weights = Annotated[Optional[str], typer.Option("--weights", help="Weights (default: the method's registered ones).")]
Frames = Annotated[int, typer.Option("--frames", help="Frames read from each video (0: the config's n_cond + n_pred).")]
Resize = Annotated[bool, typer.Option("--resize", help="Resize and centre-crop frames of another size instead of refusing them.")]
DataRoot = Annotated[Optional[Path], typer.Option("--data-root", help="Folder holding the data sets.")]
Device = Annotated[str, typer.Option("--device", help="cpu, cuda, ...")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
ClipHelp = "A video file (GIF/WebP/APNG; MP4 needs imageio), a folder of frames, or <data set>:<index> of its test split."


def register_commands(cli: typer.Typer) -> None:
    from zoo.cli.common import command_group, handle_errors

    group = command_group("SRVP tools: content swap and interpolation of dynamics (§3.2.3).")

    @group.command("swap")
    @handle_errors
    def swap(
        content: Annotated[str, typer.Argument(help="Video whose content (w, from its first n_cond frames) is kept. " + ClipHelp)],
        dynamics: Annotated[str, typer.Argument(help="Video whose motion (h, z) is followed, as the first.")],
        out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("srvp-swap.png"),
        n_pred: Annotated[int, typer.Option("--n-pred", help="Frames to continue from the prior after the dynamics video ends.")] = 0,
        frames: Frames = 0,
        weights: Weights = None,
        resize: Resize = False,
        data_root: DataRoot = None,
        device: Device = "cpu",
        seed: Seed = 0,
    ):
        """Content swap (Figs. 3.15, 3.30): the motion of one video with the content of another.

        Rows: the dynamics video, the content video's conditioning frames, the generated video."""
        model, frames = _load(weights, device, seed, frames, out)
        c = model.method.config
        clip_d = model.method.read_clip(dynamics, frames, data_root, resize)
        clip_c = model.method.read_clip(content, c.n_cond, data_root, resize)
        rows = model.method.swap(model.module, clip_c, clip_d, n_pred=n_pred)
        _write(rows, out)

    @group.command("interpolate")
    @handle_errors
    def interpolate(
        a: Annotated[str, typer.Argument(help="First video. " + ClipHelp)],
        b: Annotated[str, typer.Argument(help="Second video, as the first.")],
        out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("srvp-interpolation.png"),
        steps: Annotated[int, typer.Option("--steps", help="Videos along the path of h_1, both ends included.")] = 5,
        frames: Frames = 0,
        weights: Weights = None,
        resize: Resize = False,
        data_root: DataRoot = None,
        device: Device = "cpu",
        seed: Seed = 0,
    ):
        """Interpolation of dynamics (Figs. 3.14, 3.36): videos from initial states between those of A and B.

        Rows: A, its reconstruction, the interpolants, B's reconstruction, B."""
        model, frames = _load(weights, device, seed, frames, out)
        clip_a = model.method.read_clip(a, frames, data_root, resize)
        clip_b = model.method.read_clip(b, frames, data_root, resize)
        rows = model.method.interpolate(model.module, clip_a, clip_b, steps=steps, seed=seed)
        _write(rows, out)

    cli.add_typer(group, name="srvp")


def _load(weights: str | None, device: str, seed: int, frames: int, out: Path):
    from zoo import api
    from zoo.devices import seed_everything
    from zoo.errors import InputError

    if out.suffix.lower() != ".png":
        raise InputError(f"--out {str(out)!r} must be a .png file")
    if frames < 0:
        raise InputError(f"--frames {frames} must be 0 (the config's n_cond + n_pred) or more")
    seed_everything(seed)
    model = api.load("srvp", weights, device=device)
    c = model.method.config
    return model, frames or c.n_cond + c.n_pred


def _write(rows, out: Path) -> None:
    from zoo.cli.common import console
    from zoo.video import save_strip

    save_strip(rows, out)
    console.print(f"Wrote [bold]{out}[/]")
