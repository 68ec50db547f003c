"""`zoo cgan-c2st predict FILE`: the causal direction of one pair of your own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zoo.errors import InputError


def read_pair(path: Path) -> "np.ndarray":  # noqa: F821
    """Two columns of numbers: a whitespace-separated text file (the Tübingen
    pairXXXX.txt format) or a .npy array of shape (n, 2)."""
    import numpy as np

    from zoo.data.cause_effect import read_pair_file
    from zoo.errors import DataError

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"pair file {str(path)!r} does not exist")
    if path.suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot read {path}: {exc}") from None
        if data.ndim != 2 or data.shape[1] != 2:
            raise InputError(f"{path} must hold an (n, 2) array, got shape {data.shape}")
        data = data.astype(np.float64)
    else:
        try:
            data = read_pair_file(path)
        except DataError as exc:
            raise InputError(exc.message) from None
    if not np.isfinite(data).all():
        raise InputError(f"{path} contains NaN or infinite values")
    return data


def register(cli: typer.Typer) -> None:
    from zoo.cli.common import command_group, handle_errors

    group = command_group("Cause-effect discovery with conditional GANs and two-sample tests.")

    @group.command("predict")
    @handle_errors
    def predict(
        pair: Annotated[Path, typer.Argument(help="Two columns x, y: a text file (Tübingen format) or an (n, 2) .npy.")],
        reps: Annotated[int, typer.Option("--reps", help="CGANs per direction (1: CGAN-C2ST; 100: the ensemble).")] = 1,
        test: Annotated[str, typer.Option("--test", help="Two-sample test: knn, nn or mmd.")] = "knn",
        epochs: Annotated[int, typer.Option("--epochs", help="CGAN training epochs (the thesis's code: 100).")] = 100,
        points: Annotated[int, typer.Option("--points", help="Subsample to at most this many points.")] = 5000,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        device: Annotated[str, typer.Option("--device", help="cpu, cuda, ...")] = "cpu",
    ):
        """Decide whether X causes Y or Y causes X for one pair (x, y)."""
        import numpy as np

        from zoo.cli.common import console
        from zoo.data.cause_effect import prepare_pair

        from .protocol import FitOptions, infer_directions

        if reps < 1 or epochs < 1:
            raise InputError("--reps and --epochs must be at least 1")
        xy = prepare_pair(read_pair(pair), np.random.default_rng(seed), points)
        c_xy, c_yx = infer_directions([xy], reps=reps, test=test, opts=FitOptions(epochs=epochs), seed=seed,
                                      device=device)
        console.print(f"C2ST statistic |t - 1/2| of X -> Y: {float(c_xy[0]):.4f}; of Y -> X: {float(c_yx[0]):.4f}")
        arrow = "X -> Y (the first column causes the second)" if c_xy[0] < c_yx[0] else \
            "Y -> X (the second column causes the first)"
        console.print(f"[bold]{arrow}[/]")

    cli.add_typer(group, name="cgan-c2st")
