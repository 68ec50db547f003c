"""The model family of App. D: a uniform distribution on an a x b rectangle
rotated by theta and centred at the origin (Fig. 5-18, D-5), discretised on a
grid, and the container of the parameters each objective fits."""

from __future__ import annotations

import torch
from torch import nn

OBJECTIVES = ("ml", "emd-points", "kl", "js", "emd")


class RotatedRectangle(nn.Module):
    """q_{theta,a,b}: for candidates (C, 3) of (a, b, theta in radians) and
    points (N, 2), the indicator of each rectangle at each point (C, N);
    normalised it is the uniform density on the rectangle."""

    def forward(self, params: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        C, _ = params.shape
        a, b, theta = params[:, 0:1], params[:, 1:2], params[:, 2:3]  # (C, 1) each
        x, y = points[:, 0][None], points[:, 1][None]  # (1, N)
        u = x * torch.cos(theta) + y * torch.sin(theta)  # (C, N): coordinates in the rectangle's frame
        v = -x * torch.sin(theta) + y * torch.cos(theta)
        return ((u.abs() <= a / 2) & (v.abs() <= b / 2)).to(points.dtype)  # (C, N)


class RectangleFits(nn.Module):
    """The best (a, b, theta) found so far for each objective, and its value.
    `fits` (K, 3) and `values` (K,) are buffers: they are the trained model."""

    def __init__(self, objectives: tuple[str, ...] = OBJECTIVES):
        super().__init__()
        self.objectives = tuple(objectives)
        self.rectangle = RotatedRectangle()
        self.register_buffer("fits", torch.zeros(len(self.objectives), 3, dtype=torch.float64))
        self.register_buffer("values", torch.full((len(self.objectives),), float("inf"), dtype=torch.float64))
        self.register_buffer("stage_one", torch.zeros(len(self.objectives), 3, dtype=torch.float64))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Each objective's fitted rectangle evaluated at points: (K, N)."""
        return self.rectangle(self.fits, points.to(self.fits.dtype))

    def fit(self, name: str) -> tuple[float, float, float]:
        a, b, theta = self.fits[self.objectives.index(name)].tolist()
        return a, b, theta
