"""zoo.metrics.segmentation against a direct numpy computation."""

import numpy as np
import pytest
import torch

from zoo.metrics.segmentation import centered_disc, iou, pixel_accuracy, segmentation_metrics


def reference(labels: np.ndarray, gt: np.ndarray, n: int) -> dict:
    """Loops over images and regions, in plain numpy."""
    acc = np.zeros((n, len(gt)))
    ious = np.zeros((n, len(gt)))
    for k in range(n):
        for i in range(len(gt)):
            pred = labels[i] == k
            acc[k, i] = np.mean(pred == gt[i])
            union = np.logical_or(pred, gt[i]).sum()
            ious[k, i] = np.logical_and(pred, gt[i]).sum() / union if union else 1.0
    best = int(np.argmax(ious.mean(1)))
    return {
        "acc": acc.max(0).mean(),
        "iou": ious.max(0).mean(),
        "acc_fixed": acc[best].mean(),
        "iou_fixed": ious[best].mean(),
    }


@pytest.mark.parametrize("n", [2, 3])
def test_metrics_match_numpy(n):
    rng = np.random.default_rng(n)
    gt = rng.random((12, 9, 7)) < 0.3
    labels = rng.integers(0, n, (12, 9, 7))
    labels[0] = np.where(gt[0], 1, 0)   # a perfect image, foreground in region 1
    gt[1] = False
    labels[1] = 0                        # empty ground truth
    ours = segmentation_metrics(torch.from_numpy(labels), torch.from_numpy(gt), n)
    ref = reference(labels, gt, n)
    assert ours.keys() == ref.keys()
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-6), key


def test_per_image_protocol_takes_the_complement_when_better():
    gt = torch.zeros(2, 4, 4, dtype=torch.bool)
    gt[:, :2] = True
    labels = torch.zeros(2, 4, 4, dtype=torch.long)
    labels[0, 2:] = 1   # region 0 is the object in image 0
    labels[1, :2] = 1   # region 1 is the object in image 1
    m = segmentation_metrics(labels, gt, 2)
    assert m["iou"] == 1 and m["acc"] == 1          # per image: perfect
    assert m["iou_fixed"] == pytest.approx(0.5)     # one region for both: one image wrong
    assert m["acc_fixed"] == pytest.approx(0.5)


def test_elementary_scores():
    pred = torch.tensor([[[1, 1], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    gt = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    assert pixel_accuracy(pred, gt).tolist() == [0.75, 1.0]
    assert iou(pred, gt).tolist() == [0.5, 1.0]


def test_centered_disc_covers_the_share():
    disc = centered_disc(0.3, 64, 64)
    assert disc.float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert disc[32, 32] and not disc[0, 0]


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        segmentation_metrics(torch.zeros(2, 3, 3, dtype=torch.long), torch.zeros(2, 3, 4, dtype=torch.bool), 2)
