"""The 2-D data of Oquab (2018), App. D: points of
p(x, y) ∝ (1 - x^2)_+ (1 - y^2)_+ on [-1, 1]^2, two independent parabolas
(Fig. D-2, D-3). Embedded: each split is a fixed draw.

Items: {"point": (2,) float64}.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from zoo.data import DatasetSpec

SPLIT_SEEDS = {"train": 21, "val": 22, "test": 23}


def sample_parabola(n: int, generator: torch.Generator) -> torch.Tensor:
    """n points of p (n, 2). Each coordinate has density 3/4 (1 - t^2) on
    [-1, 1], the law of the median of three uniforms on [-1, 1]."""
    u = torch.rand(n, 2, 3, generator=generator, dtype=torch.float64) * 2 - 1
    return u.median(dim=2).values


class ParabolaPoints(Dataset):
    def __init__(self, split: str = "train", n: int = 1000):
        self.points = sample_parabola(n, torch.Generator().manual_seed(SPLIT_SEEDS[split]))  # (n, 2)

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"point": self.points[i]}


def load_parabola(root, split: str, n: int = 1000) -> ParabolaPoints:
    return ParabolaPoints(split, n)


DATASETS = [
    DatasetSpec(
        name="parabola-2d",
        description="points of p(x,y) ∝ (1-x²)₊(1-y²)₊ on [-1,1]², 1,000 per split (Oquab 2018, App. D)",
        load=load_parabola,
        embedded=True,
        kind="points",
        layout="nothing: generated",
    ),
]
