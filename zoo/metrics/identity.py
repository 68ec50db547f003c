"""Identity preservation and attribute diversity of generated images.

The protocol of Chen's thesis (§4.2.4): an identity network embeds two images
of a pair; a positive pair shows one object (person), a negative pair two.
The identity AUC is the probability that a positive pair is closer than a
negative pair (ROC-AUC with the distance as score, ties counting one half).

Identity networks:
* `VGGFace` (Parkhi et al. 2015), the thesis's choice for faces; its weights
  are supplied by the user as safetensors (keys `conv1_1.weight` ...
  `fc7.bias`, as in the common PyTorch conversion `vgg_face_dag`);
* `IdentityProbe`, a small network trained on ground truth: on the embedded
  multi-view objects it regresses the renderer's content parameters (an
  oracle identity feature) and predicts the 13 binary attributes; on CelebA it
  can be trained as the 40-attribute classifier (`zoo identity-probe`).

Attribute diversity (Tab. 4.5): attribute frequencies p_l on real images and
q_l on generated ones, both predicted by the same classifier; the label
distance is the mean over attributes of |q_l - p_l| (the thesis writes a sum
but its numbers are the mean); unique combinations is the share of distinct
attribute vectors among the samples; blurry is the share flagged "Blurry".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import CheckpointError, InputError

# ---------------------------------------------------------------------------
# ROC-AUC


def roc_auc(positive: Any, negative: Any) -> float:
    """P(score of a positive > score of a negative), ties counting 1/2
    (the Mann-Whitney U statistic; equals scikit-learn's roc_auc_score)."""
    pos = np.asarray(torch.as_tensor(positive, dtype=torch.float64).flatten().cpu())
    neg = np.asarray(torch.as_tensor(negative, dtype=torch.float64).flatten().cpu())
    if len(pos) == 0 or len(neg) == 0:
        raise InputError(f"ROC-AUC needs positive and negative scores, got {len(pos)} and {len(neg)}")
    scores = np.concatenate([pos, neg])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # rank of the last member of each tie group (1-based)
    average_rank = upper - (counts - 1) / 2.0  # mean rank of each tie group
    ranks = average_rank[inverse]
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def roc_auc_score(labels: Any, scores: Any) -> float:
    """ROC-AUC from binary labels (1 = positive) and scores, as scikit-learn."""
    labels = torch.as_tensor(labels).flatten().bool()
    scores = torch.as_tensor(scores, dtype=torch.float64).flatten()
    return roc_auc(scores[labels], scores[~labels])


def identity_auc(positive_distances: Any, negative_distances: Any) -> float:
    """Probability that a positive pair is closer than a negative pair."""
    return roc_auc(-torch.as_tensor(positive_distances), -torch.as_tensor(negative_distances))


def pair_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between matching rows of two (N, D) feature sets."""
    if a.shape != b.shape:
        raise InputError(f"pair features differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a.float() - b.float()).norm(dim=1)


# ---------------------------------------------------------------------------
# Attribute diversity


def attribute_metrics(real: torch.Tensor, fake: torch.Tensor, names: Sequence[str] = ()) -> dict[str, float]:
    """Label distance, unique combinations (fake and real) and, when an
    attribute is called "Blurry", the blurry share. `real` (N, A) and `fake`
    (M, A) are binary attribute predictions."""
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise InputError(f"attribute predictions must be (N, A) and (M, A), got {tuple(real.shape)} and {tuple(fake.shape)}")
    real, fake = real.float().cpu(), fake.float().cpu()
    p, q = real.mean(0), fake.mean(0)
    out = {
        "label_distance": float((q - p).abs().mean()),
        "unique_combinations": _unique_share(fake),
        "unique_combinations_real": _unique_share(real),
    }
    if "Blurry" in names:
        out["blurry"] = float(q[list(names).index("Blurry")])
    return out


def _unique_share(bits: torch.Tensor) -> float:
    return float(torch.unique(bits.round().to(torch.uint8), dim=0).shape[0] / max(1, bits.shape[0]))


# ---------------------------------------------------------------------------
# VGG-Face


class VGGFace(nn.Module):
    """VGG-16 as trained for face identity by Parkhi et al. (2015). The
    descriptor is relu(fc7), L2-normalised. Parameter names follow the
    `vgg_face_dag` conversion, so its weights load as they are."""

    mean = (129.186279296875, 104.76238250732422, 93.59396362304688)  # RGB, 0..255
    blocks = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))

    def __init__(self, classes: int = 2622):
        super().__init__()
        c_in = 3
        for b, (width, n) in enumerate(self.blocks, start=1):
            for i in range(1, n + 1):
                setattr(self, f"conv{b}_{i}", nn.Conv2d(c_in, width, 3, 1, 1))
                c_in = width
        self.fc6 = nn.Linear(512 * 7 * 7, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, classes)

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 1] -> (B, 4096) unit descriptors."""
        B = x.shape[0]
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False) * 255
        x = x - torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        for b, (_, n) in enumerate(self.blocks, start=1):
            for i in range(1, n + 1):
                x = F.relu(getattr(self, f"conv{b}_{i}")(x))
            x = F.max_pool2d(x, 2, 2)  # (B, C, 224 / 2^b, 224 / 2^b)
        x = x.reshape(B, -1)  # (B, 25088)
        x = F.relu(self.fc7(F.relu(self.fc6(x))))  # (B, 4096)
        return F.normalize(x, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)


def load_vgg_face(path: Path) -> VGGFace:
    from zoo.checkpoint import load_state_dict, load_tensors

    tensors, _ = load_tensors(path)
    model = VGGFace()
    if "fc8.weight" not in tensors:  # a descriptor-only file is fine
        tensors = {**tensors, **{k: v for k, v in model.state_dict().items() if k.startswith("fc8.")}}
    load_state_dict(model, tensors, f"VGG-Face weights {path}")
    return model.eval()


# ---------------------------------------------------------------------------
# The identity probe: a small network trained on ground truth


class IdentityProbe(nn.Module):
    """Embedding (identity) and attribute logits of 32×32 images.

    (B, 3, H, W) in [0, 1] is resized to 32×32; three strided convolutions
    (32, 64, 64 maps) and a 128-unit layer feed two heads."""

    def __init__(self, embed_dim: int, attributes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2),                       # (B, 32, 16, 16)
            nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),  # (B, 64, 8, 8)
            nn.Conv2d(64, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),  # (B, 64, 4, 4)
        )
        self.hidden = nn.Linear(64 * 4 * 4, 128)
        self.embed = nn.Linear(128, max(1, embed_dim))
        self.attribute = nn.Linear(128, max(1, attributes))
        self.embed_dim, self.n_attributes = embed_dim, attributes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = x.shape[0]
        if x.shape[-2:] != (32, 32):
            x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
        h = self.features(x * 2 - 1).reshape(B, -1)  # (B, 1024)
        h = F.leaky_relu(self.hidden(h), 0.2)  # (B, 128)
        return self.embed(h), self.attribute(h)  # (B, E), (B, A)


def save_probe(path: Path, probe: IdentityProbe, names: Sequence[str], **info: Any) -> str:
    from zoo.checkpoint import save_tensors

    meta = {"kind": "identity-probe", "embed_dim": probe.embed_dim, "attributes": list(names), **info}
    return save_tensors(path, probe.state_dict(), meta)


def load_probe(path: Path) -> tuple[IdentityProbe, list[str]]:
    from zoo.checkpoint import load_state_dict, load_tensors

    tensors, meta = load_tensors(path)
    if meta.get("kind") != "identity-probe":
        raise CheckpointError(f"{path} is not an identity probe", "make one with `zoo identity-probe`")
    names = list(meta.get("attributes", []))
    probe = IdentityProbe(int(meta["embed_dim"]), len(names))
    load_state_dict(probe, tensors, str(path))
    return probe.eval(), names


def fit_probe(
    batches: Callable[[int], dict[str, torch.Tensor]],
    *,
    embed_dim: int,
    attributes: int,
    steps: int = 3000,
    lr: float = 1e-3,
    log: Callable[[int, float], None] | None = None,
) -> IdentityProbe:
    """Train a probe on `batches(step)` -> {"images": (B, 3, H, W),
    "content": (B, E) optional, "attributes": (B, A) optional}: mean squared
    error on the content, binary cross-entropy on the attributes."""
    probe = IdentityProbe(embed_dim, attributes)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    probe.train()
    for s in range(steps):
        batch = batches(s)
        emb, logits = probe(batch["images"])
        loss = torch.zeros(())
        if embed_dim and "content" in batch:
            loss = loss + F.mse_loss(emb, batch["content"])
        if attributes and "attributes" in batch:
            loss = loss + F.binary_cross_entropy_with_logits(logits, batch["attributes"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log is not None:
            log(s, float(loss))
    return probe.eval()


# ---------------------------------------------------------------------------
# What evaluate() calls: one object that embeds and labels images


class IdentityNetwork:
    """Identity features and (optionally) attribute predictions of images in
    [0, 1], batched. `features(x)` -> (N, D); `attributes(x)` -> (N, A) {0, 1}."""

    def __init__(self, embed: nn.Module, kind: str, attribute_net: IdentityProbe | None = None,
                 attribute_names: Sequence[str] = (), batch: int = 256):
        self.embed, self.kind, self.batch = embed, kind, batch
        self.attribute_net, self.attribute_names = attribute_net, list(attribute_names)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for chunk in x.split(self.batch):
            y = self.embed(chunk)
            out.append((y[0] if isinstance(y, tuple) else y).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def attributes(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.attribute_net is None:
            return None
        out = [(self.attribute_net(chunk)[1] > 0).float().cpu() for chunk in x.split(self.batch)]
        return torch.cat(out)

    def to(self, device: torch.device) -> IdentityNetwork:
        self.embed.to(device)
        if self.attribute_net is not None:
            self.attribute_net.to(device)
        return self


def identity_network(
    weights: str | Path | None,
    *,
    attribute_weights: str | Path | None = None,
    default_probe: Path | None = None,
) -> IdentityNetwork:
    """The identity network of the AUC protocol.

    `weights`: a VGG-Face or identity-probe safetensors file; without it, the
    data set's own probe (`default_probe`, the oracle of the embedded data),
    else VGG-Face from the metric weights folder (an error naming where to
    put it when absent). `attribute_weights`: an identity-probe file whose
    attribute head labels images; without it, the probe in use (if any)."""
    from zoo.checkpoint import read_metadata
    from zoo.metrics import require_metric_weights

    if weights is None and default_probe is not None:
        path = Path(default_probe)
    else:
        path = require_metric_weights("vgg-face", weights, "the identity AUC", "--identity-weights")
    if read_metadata(path).get("kind") == "identity-probe":
        probe, names = load_probe(path)
        embed, kind = probe, "probe"
        attr_net, attr_names = (probe, names) if names else (None, [])
    else:
        embed, kind = load_vgg_face(path), "vgg-face"
        attr_net, attr_names = None, []
    if attribute_weights is not None:
        attr_net, attr_names = load_probe(Path(attribute_weights))
    return IdentityNetwork(embed, kind, attr_net, attr_names)
