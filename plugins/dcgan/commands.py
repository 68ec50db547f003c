"""`zoo dcgan rank` (Tables C.1/C.2 for any set of weights) and `zoo dcgan
grid` (the thesis's whole study: train every gf x df, snapshot at each epoch
count, rank them all)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.errors import ConfigError, InputError

DataOpt = Annotated[str, typer.Option("--data", help="Real images to test against: digits, lsun-bedroom or lfw-faces.")]
RootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="Folder holding the data sets.")]
FeaturesOpt = Annotated[str, typer.Option("--features", help="pixels, a ResNet .safetensors file (the thesis: ImageNet ResNet-34) or a method with an encoder.")]
FeatureWeightsOpt = Annotated[Optional[str], typer.Option("--feature-weights", help="Weights of the --features method.")]
NOpt = Annotated[int, typer.Option("--n", help="Real and generated images per test (the thesis: 10,000; capped by the split).")]
TestsOpt = Annotated[str, typer.Option("--tests", help="Two-sample tests: mmd, knn, nn.")]
EpochsOpt = Annotated[int, typer.Option("--nn-epochs", help="Training epochs of C2ST-NN (the thesis: 100).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 ...")]
JsonOpt = Annotated[Optional[Path], typer.Option("--json", help="Also write the table to this JSON file.")]


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ConfigError(f"{what} must be positive integers, got {text!r}")
    return values


def rank_and_print(refs: list[str], data: str, split: str, data_root, features: str, feature_weights,
                   n: int, tests: str, nn_epochs: int, device: str, json_out: Path | None) -> list:
    from rich.table import Table

    from zoo import api
    from zoo.cli.common import console, write_json
    from zoo.data import load_dataset
    from zoo.plugin_manager import get_plugin_manager

    from .ranking import fmt, rank_models
    from .tables import thesis_row

    if not refs:
        raise InputError("no weights to rank", "give run directories, weights folders or .safetensors files")
    pm = get_plugin_manager()
    first = api.load("dcgan", refs[0], device=device)
    first.method.check_dataset(data)
    dataset = load_dataset(pm.dataset(data), split, data_root, **first.method.data_options(data, split))
    rows = rank_models(first.method, first.module, dataset, checkpoints=",".join(refs), features=features,
                       feature_weights=feature_weights, n=n, tests=tests, epochs=nn_epochs)
    shown = [c for c in ("mmd", "knn", "nn") if any(c in r.stats for r in rows)]
    table = Table(title=f"dcgan ranking on {data} ({split}, {min(n, len(dataset)):,} real vs generated, "
                        f"features: {features}); lower is better")
    for col in ("gf", "df", "ep"):
        table.add_column(col, justify="right")
    for col in shown:
        table.add_column(col.upper(), justify="right")
    thesis = [thesis_row(data, r.gf, r.df, r.epoch) for r in rows]
    if any(thesis):
        for col in shown:
            table.add_column(f"thesis {col.upper()}", justify="right", style="dim")
    for row, th in zip(rows, thesis):
        ep = f"{row.epoch:g}" if row.epoch is not None else (f"step {row.step}" if row.step else "-")
        cells = [str(row.gf), str(row.df), ep] + [fmt(row.stats.get(c)) for c in shown]
        if any(thesis):
            cells += [fmt(th[1][c]) if th else "-" for c in shown]
        table.add_row(*cells)
    console.print(table)
    for col in shown:
        best = min(rows, key=lambda r: r.stats[col])
        console.print(f"best by {col.upper()}: {best.label} ({best.stats[col]:.3f})")
    if json_out is not None:
        write_json(json_out, {"data": data, "split": split, "features": features, "n": n,
                              "rows": [{"label": r.label, "gf": r.gf, "df": r.df, "epoch": r.epoch, "step": r.step,
                                        **r.stats} for r in rows]})
        console.print(f"Wrote [bold]{json_out}[/]")
    return rows


def register(cli: typer.Typer) -> None:
    from zoo.cli.common import command_group, handle_errors

    group = command_group("DCGAN studies of the thesis: rank generators (Tables C.1/C.2), run the gf x df grid.")

    @group.command("rank")
    @handle_errors
    def rank(
        weights: Annotated[list[str], typer.Argument(help="DCGAN weights: run dirs, exported folders, .safetensors, registry names.")],
        data: DataOpt = "digits",
        data_root: RootOpt = None,
        split: Annotated[str, typer.Option("--split", help="Held-out real images: test or val.")] = "test",
        features: FeaturesOpt = "pixels",
        feature_weights: FeatureWeightsOpt = None,
        n: NOpt = 10000,
        tests: TestsOpt = "mmd,knn,nn",
        nn_epochs: EpochsOpt = 100,
        device: DeviceOpt = "cpu",
        json_out: JsonOpt = None,
    ):
        """Rank DCGANs by MMD, C2ST-KNN and C2ST-NN against held-out real images."""
        rank_and_print(weights, data, split, data_root, features, feature_weights, n, tests, nn_epochs, device,
                       json_out)

    @group.command("grid")
    @handle_errors
    def grid(
        out: Annotated[Path, typer.Option("--out", help="Folder for the runs and the per-epoch snapshots.")],
        data: DataOpt = "digits",
        data_root: RootOpt = None,
        gf: Annotated[str, typer.Option("--gf", help="Generator widths (App. C: 32,64,96).")] = "32,64,96",
        df: Annotated[str, typer.Option("--df", help="Discriminator widths (App. C: 32,64,96).")] = "32,64,96",
        epochs: Annotated[str, typer.Option("--epochs", help="Snapshot epochs (App. C: 1,10,50,100,200).")] = "1,10,50,100,200",
        preset: Annotated[Optional[str], typer.Option("--preset", help="Config preset (default: quick on digits, else thesis).")] = None,
        set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value (repeatable).")] = None,
        features: FeaturesOpt = "pixels",
        feature_weights: FeatureWeightsOpt = None,
        n: NOpt = 10000,
        tests: TestsOpt = "mmd,knn,nn",
        nn_epochs: EpochsOpt = 100,
        seed: Annotated[int, typer.Option("--seed", help="Training seed.")] = 0,
        device: DeviceOpt = "auto",
        json_out: JsonOpt = None,
    ):
        """Train DCGANs for every gf x df, keep a snapshot at each epoch count, rank them all (App. C)."""
        from zoo.cli.common import console

        snapshots = train_grid(out, data, data_root, _int_list(gf, "--gf"), _int_list(df, "--df"),
                               _int_list(epochs, "--epochs"), preset, set_ or [], seed, device)
        console.print(f"Trained {len(snapshots)} snapshots under [bold]{out}[/]")
        rank_and_print([str(s) for s in snapshots], data, "test", data_root, features, feature_weights, n, tests,
                       nn_epochs, "cpu" if device == "auto" else device, json_out)

    cli.add_typer(group, name="dcgan")


def train_grid(out: Path, data: str, data_root, gfs: list[int], dfs: list[int], epochs: list[int], preset,
               sets: list[str], seed: int, device: str) -> list[Path]:
    """Train each (gf, df) once, in segments that stop at each epoch count, and
    export the generator of each segment end to `<out>/gf<gf>-df<df>/ep<e>/`."""
    from zoo import api
    from zoo import checkpoint as ckpt
    from zoo.cli.common import console
    from zoo.data import load_dataset
    from zoo.plugin_manager import get_plugin_manager

    pm = get_plugin_manager()
    snapshots = []
    for g in gfs:
        for d in dfs:
            method = api.make("dcgan", data=data, preset=preset, sets=sets, gf=g, df=d)
            n_train = len(load_dataset(pm.dataset(data), "train", data_root, **method.data_options(data, "train")))
            per_epoch = math.ceil(n_train / method.config.batch_size)
            run = Path(out) / f"gf{g}-df{d}"
            done = 0
            for e in sorted(set(epochs)):
                console.print(f"gf={g} df={d}: training to epoch {e} ({e * per_epoch} steps)")
                if done == 0:
                    api.train(method, data, data_root=data_root, steps=e * per_epoch, out=run, seed=seed,
                              device=device, ckpt_every=per_epoch * max(1, e), manager=pm)
                else:
                    api.train("dcgan", data_root=data_root, steps=e * per_epoch, out=run, resume=True,
                              device=device, manager=pm)
                done = e
                tensors, _ = ckpt.load_weights(ckpt.latest_checkpoint(run / "checkpoints"))
                module = method.build()
                ckpt.load_state_dict(module, tensors, str(run))
                snapshots.append(method.export(module, run / f"ep{e}", data=data, step=e * per_epoch))
    return snapshots
