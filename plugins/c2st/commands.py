"""`zoo c2st test A B`: a two-sample test between two samples on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.errors import InputError


def register(cli: typer.Typer) -> None:
    from zoo.cli.common import command_group, handle_errors

    group = command_group("Classifier two-sample tests (C2ST-NN, C2ST-KNN) and the linear-time MMD.")

    @group.command("test")
    @handle_errors
    def test(
        a: Annotated[Path, typer.Argument(help="Sample A: .npy, .npz, .safetensors, .csv/.tsv/.txt (a point per row) or a folder of images.")],
        b: Annotated[Path, typer.Argument(help="Sample B, in the same space as A.")],
        classifier: Annotated[str, typer.Option("--classifier", help="C2ST classifier: nn or knn.")] = "nn",
        method: Annotated[str, typer.Option("--method", help="c2st, or mmd for the linear-time MMD baseline.")] = "c2st",
        features: Annotated[str, typer.Option("--features", help="pixels, a ResNet .safetensors file, or a method whose model has an encoder (e.g. dcgan).")] = "pixels",
        feature_weights: Annotated[Optional[str], typer.Option("--feature-weights", help="Weights of the --features method (default: its registered ones).")] = None,
        image_size: Annotated[int, typer.Option("--image-size", help="Images are resized and centre-cropped to this size (the thesis: 64).")] = 64,
        key: Annotated[Optional[str], typer.Option("--key", help="Array to read from a .npz or .safetensors file holding several.")] = None,
        split: Annotated[float, typer.Option("--split", help="Fraction of the pooled data that trains the classifier.")] = 0.5,
        alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the split and of the classifier.")] = 0,
        epochs: Annotated[int, typer.Option("--epochs", help="Training epochs of C2ST-NN (the thesis: 100).")] = 100,
        exact: Annotated[bool, typer.Option("--exact", help="Exact binomial p-value instead of the normal approximation.")] = False,
        device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 ...")] = "cpu",
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the result to this JSON file.")] = None,
    ):
        """Test whether samples A and B come from the same distribution."""
        from zoo.cli.common import console, write_json
        from zoo.metrics.features import featurizer, features as apply
        from zoo.metrics.two_sample import two_sample_test

        from .samples import read_sample

        if method not in ("c2st", "mmd"):
            raise InputError(f"--method must be c2st or mmd, got {method!r}")
        if classifier not in ("nn", "knn"):
            raise InputError(f"--classifier must be nn or knn, got {classifier!r}")
        test_name = "mmd" if method == "mmd" else f"c2st-{classifier}"
        sa = read_sample(a, key=key, image_size=image_size)
        sb = read_sample(b, key=key, image_size=image_size)
        xa, xb = sa.data, sb.data
        if features != "pixels":
            for s in (sa, sb):
                if not s.images:
                    raise InputError(f"--features {features} needs images, but {s.path} holds points of shape "
                                     f"{tuple(s.data.shape)}", "pass image folders or (n, C, H, W) arrays")
            fn = featurizer(features, weights=feature_weights, size=image_size, device=device)
            xa, xb = apply(xa, fn), apply(xb, fn)
        result = two_sample_test(xa, xb, test_name, alpha=alpha, split=split, seed=seed, epochs=epochs,
                                 exact=exact, device=device)
        unit = "accuracy on" if method == "c2st" else "MMD^2 over"
        what = "pairs" if method == "mmd" else "held-out points"
        console.print(f"{result.test}: statistic {result.statistic:.4f} ({unit} {result.n_test:,} {what}), "
                      f"p-value {result.p_value:.4g}")
        if result.reject:
            console.print(f"[bold]reject H0[/] at alpha = {alpha}: the samples come from different distributions")
        else:
            console.print(f"[bold]accept H0[/] at alpha = {alpha}: no evidence that the distributions differ")
        if json_out is not None:
            write_json(json_out, {"a": str(a), "b": str(b), "features": features, **result.as_dict()})
            console.print(f"Wrote [bold]{json_out}[/]")

    cli.add_typer(group, name="c2st")
