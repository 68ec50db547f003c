"""`zoo identity-probe`: train the small identity/attribute network that the
identity AUC uses on data without a face network.

On `multiview-objects` it regresses the renderer's ground-truth content
vector (the oracle identity feature) and predicts its 13 attributes; the
result ships as `zoo/data/assets/multiview-objects-probe.safetensors`. On
`celeba` it learns the 40 attributes of `list_attr_celeba.txt`, the
attribute classifier of Tab. 4.5 (pass it as `--attribute-weights`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from zoo.errors import DataError


def train_probe(data: str = "multiview-objects", *, out: Path, steps: int = 3000, batch_size: int = 64,
                lr: float = 1e-3, seed: int = 0, data_root: Path | None = None,
                log=None) -> dict[str, float]:
    """Train and save a probe; return its held-out quality."""
    from zoo.data import data_root as resolve_root
    from zoo.data import load_dataset
    from zoo.data.multiview import ATTRIBUTES, CONTENT_DIM, read_celeba_attributes
    from zoo.metrics.identity import fit_probe, save_probe
    from zoo.plugin_manager import get_plugin_manager

    spec = get_plugin_manager().dataset(data)
    size = 32 if data == "multiview-objects" else 64
    train = load_dataset(spec, "train", data_root, size=size, views=1)
    if data == "multiview-objects":
        names, embed_dim = list(ATTRIBUTES), CONTENT_DIM
    else:
        attr_file = resolve_root(data_root) / spec.folder_name / "list_attr_celeba.txt"
        if data != "celeba" or not attr_file.is_file():
            raise DataError(f"identity-probe learns attributes; {data!r} has none here",
                            "use multiview-objects, or celeba with list_attr_celeba.txt")
        names, embed_dim = read_celeba_attributes(attr_file)[0], 0
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    def batches(step: int) -> dict[str, torch.Tensor]:
        idx = torch.randint(len(train), (batch_size,), generator=g).tolist()
        items = [train[i] for i in idx]
        batch = {"images": torch.stack([it["views"][0] for it in items]),
                 "attributes": torch.stack([it["attributes"][0] for it in items])}
        if embed_dim:
            batch["content"] = torch.stack([it["content"] for it in items])
        return batch

    probe = fit_probe(batches, embed_dim=embed_dim, attributes=len(names), steps=steps, lr=lr, log=log)
    quality = probe_quality(probe, data, data_root, size)
    save_probe(Path(out), probe, names, data=data, steps=steps, seed=seed, quality=quality)
    return quality


@torch.no_grad()
def probe_quality(probe, data: str, data_root, size: int, n: int = 1000) -> dict[str, float]:
    """Attribute accuracy and real-pair identity AUC on the test split."""
    from zoo.data import load_dataset
    from zoo.metrics.identity import identity_auc, pair_distances
    from zoo.plugin_manager import get_plugin_manager

    test = load_dataset(get_plugin_manager().dataset(data), "test", data_root, size=size, views=2)
    items = [test[i] for i in torch.randperm(len(test), generator=torch.Generator().manual_seed(1))[:n].tolist()]
    views = torch.stack([it["views"] for it in items])  # (n, 2, 3, S, S)
    attrs = torch.stack([it["attributes"][0] for it in items])
    emb_a, logits = probe(views[:, 0])
    emb_b, _ = probe(views[:, 1])
    out = {"attribute_accuracy": float(((logits > 0).float() == attrs).float().mean())}
    if probe.embed_dim:
        objects = torch.stack([it["object"] for it in items])
        other = torch.roll(torch.arange(len(items)), 1)
        keep = objects != objects[other]
        out["auc_real_real"] = identity_auc(pair_distances(emb_a, emb_b), pair_distances(emb_a[keep], emb_a[other][keep]))
    return out


def register(cli: typer.Typer) -> None:
    from zoo.cli.common import console, handle_errors

    @cli.command("identity-probe")
    @handle_errors
    def identity_probe(
        out: Annotated[Path, typer.Option("--out", help="Where to write the probe (.safetensors).")],
        data: Annotated[str, typer.Option("--data", help="multiview-objects (oracle identity + attributes) or celeba (40 attributes).")] = "multiview-objects",
        data_root: Annotated[Optional[Path], typer.Option("--data-root", help="Folder holding the data sets.")] = None,
        steps: Annotated[int, typer.Option("--steps", help="Training steps.")] = 3000,
        batch_size: Annotated[int, typer.Option("--batch-size", help="Images per step.")] = 64,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    ):
        """Train the identity/attribute probe used by the identity AUC of gmv, cgmv, gan-xk and cgan-views."""
        quality = train_probe(data, out=out, steps=steps, batch_size=batch_size, seed=seed, data_root=data_root)
        console.print(f"Wrote [bold]{out}[/] " + " ".join(f"{k}={v:.4f}" for k, v in quality.items()))
