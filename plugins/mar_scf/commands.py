"""`zoo mar-scf interpolate A B`: the latent interpolation of Eq. 6.13 as a PNG strip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register_commands(cli: typer.Typer) -> None:
    from zoo.cli.common import command_group, handle_errors

    group = command_group("mAR-SCF tools: latent interpolation (Eq. 6.13).")

    @group.command("interpolate")
    @handle_errors
    def interpolate(
        a: Annotated[str, typer.Argument(help="First image: an image file, or <data set>:<index> of its test split.")],
        b: Annotated[str, typer.Argument(help="Second image, as the first.")],
        out: Annotated[Path, typer.Option("--out", help="PNG file to write the strip to.")] = Path("interpolation.png"),
        weights: Annotated[Optional[str], typer.Option("--weights", help="Weights (default: the method's registered ones).")] = None,
        method: Annotated[str, typer.Option("--method", help="mar-scf or glow.")] = "mar-scf",
        steps: Annotated[int, typer.Option("--steps", help="Images along the path, both ends included.")] = 8,
        lambda_prior: Annotated[float, typer.Option("--lambda-prior", help="Weight of -log p(z) (lambda_1 of Eq. 6.13).")] = 0.3,
        lambda_image: Annotated[float, typer.Option("--lambda-image", help="Weight of the distance to the nearer end image (lambda_2).")] = 0.3,
        iterations: Annotated[int, typer.Option("--iterations", help="Adamax iterations of the projection.")] = 100,
        lr: Annotated[float, typer.Option("--lr", help="Adamax learning rate of the projection.")] = 5e-2,
        compare: Annotated[bool, typer.Option("--compare/--no-compare", help="Add the linear path as a first row.")] = False,
        resize: Annotated[bool, typer.Option("--resize", help="Resize image files to the model's size instead of refusing them.")] = False,
        data_root: Annotated[Optional[Path], typer.Option("--data-root", help="Folder holding the data sets.")] = None,
        device: Annotated[str, typer.Option("--device", help="cpu, cuda, ...")] = "cpu",
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    ):
        """Interpolate between two images through the latent space (Eq. 6.13) and write a PNG strip."""
        import torch

        from zoo import api
        from zoo.cli.common import console
        from zoo.devices import seed_everything
        from zoo.errors import InputError
        from zoo.images import save_grid

        if method not in ("mar-scf", "glow"):
            raise InputError(f"--method must be mar-scf or glow, got {method!r}")
        if out.suffix.lower() != ".png":
            raise InputError(f"--out {str(out)!r} must be a .png file")
        seed_everything(seed)
        model = api.load(method, weights, device=device)
        x_a = read_input(a, model, resize, data_root)
        x_b = read_input(b, model, resize, data_root)
        linear, projected = model.method.interpolate(
            model.module, x_a, x_b, steps=steps, lambda_prior=lambda_prior, lambda_image=lambda_image,
            iterations=iterations, lr=lr,
        )
        rows = torch.stack([linear, projected]) if compare else projected[None]  # (rows, steps, C, H, W)
        save_grid(rows, out)
        console.print(f"Wrote [bold]{out}[/]")

    cli.add_typer(group, name="mar-scf")


def read_input(ref: str, model, resize: bool, data_root: Path | None):
    """An image (C, H, W) in [0, 1] at the model's shape and levels, from a
    file or from `<data set>:<index>` (the test split)."""
    import torch

    from zoo.data import item_ref, load_dataset
    from zoo.errors import InputError
    from zoo.images import load_image, resize_center_crop

    C, H, W = model.config.image_shape
    path = Path(ref)
    item = item_ref(ref)
    if item is not None:
        pm = model.manager
        name, index = item
        model.method.check_dataset(name)
        data = load_dataset(pm.dataset(name), "test", data_root, **model.method.data_options(name, "test"))
        if index >= len(data):
            raise InputError(f"{ref}: the test split of {name} has {len(data)} images (0..{len(data) - 1})")
        return data[index]["image"]
    if not path.exists():
        raise InputError(f"{ref!r} is neither an image file nor <data set>:<index>", "e.g. digits:0")
    if C not in (1, 3):
        raise InputError(f"the model takes {C}-channel images, which image files cannot hold")
    x = load_image(path, channels=C)  # (C, h, w)
    if tuple(x.shape[1:]) != (H, W):
        if not resize:
            raise InputError(
                f"{ref} is {x.shape[2]}×{x.shape[1]} but the model takes {W}×{H} images",
                "pass --resize to resize it",
            )
        x = resize_center_crop(x, (H, W))
    n_bins = model.config.n_bins
    return torch.round(x.clamp(0, 1) * (n_bins - 1)) / (n_bins - 1)  # snapped to the model's levels
