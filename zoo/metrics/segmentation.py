"""Segmentation scores: pixel accuracy and foreground IoU, with the region
permutation an unsupervised segmenter needs.

An unsupervised model cannot know which of its regions is the object, so a
score first picks the region that plays "foreground". Two protocols:

* per image (ReDO's protocol, thesis Sec. 5.3.2 and the authors' code): for
  each image, the region giving the highest score, then the mean over
  images. Accuracy and IoU are maximised independently. Lenient: with two
  regions every image's accuracy is at least 0.5.
* fixed: one region is the foreground for the whole data set (the one with
  the highest mean IoU), then the mean over images of each score.

Both are means of per-image scores, not pooled over pixels. An image whose
prediction and ground truth are both empty has IoU 1.
"""

from __future__ import annotations

import torch


def pixel_accuracy(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-image share of pixels where the binary `pred` equals `gt`:
    (N, H, W) bool each -> (N,) float."""
    return (pred == gt).flatten(1).float().mean(1)


def iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-image |pred ∩ gt| / |pred ∪ gt| of binary masks: (N, H, W) -> (N,).
    An empty union counts as a perfect match (1)."""
    inter = (pred & gt).flatten(1).sum(1).double()
    union = (pred | gt).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).float()


def region_scores(labels: torch.Tensor, gt: torch.Tensor, n_regions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and IoU of each region taken as the foreground:
    labels (N, H, W) int region index per pixel, gt (N, H, W) bool ->
    (acc, iou), each (n_regions, N)."""
    acc = torch.stack([pixel_accuracy(labels == k, gt) for k in range(n_regions)])
    ious = torch.stack([iou(labels == k, gt) for k in range(n_regions)])
    return acc, ious


def segmentation_metrics(labels: torch.Tensor, gt: torch.Tensor, n_regions: int) -> dict[str, float]:
    """Both protocols (see the module docstring):
    `acc`, `iou`: per-image best region (ReDO's protocol);
    `acc_fixed`, `iou_fixed`: one foreground region for the whole set."""
    if labels.shape != gt.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and ground truth {tuple(gt.shape)} differ in shape")
    acc, ious = region_scores(labels, gt.bool(), n_regions)
    best = int(ious.mean(1).argmax())
    return {
        "acc": float(acc.max(0).values.mean()),
        "iou": float(ious.max(0).values.mean()),
        "acc_fixed": float(acc[best].mean()),
        "iou_fixed": float(ious[best].mean()),
    }


def centered_disc(share: float, height: int, width: int) -> torch.Tensor:
    """A centred disc covering about `share` of an image: (H, W) bool. The
    trivial baseline for object segmentation of centred objects."""
    yy, xx = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    radius = (share * height * width / torch.pi) ** 0.5
    return (yy - height / 2) ** 2 + (xx - width / 2) ** 2 <= radius**2
