"""The C2ST-NN classifier of §5.3.3: the network a classifier two-sample test
trains to tell sample P (label 0) from sample Q (label 1)."""

from __future__ import annotations

import torch
from torch import nn


class C2STNN(nn.Module):
    """f: X -> [0, 1], an estimate of p(l = 1 | z): Linear(d, 20) -> ReLU ->
    Linear(20, 1) -> sigmoid ("a two-layer fully-connected network with 20
    hidden units and a ReLU"). `forward` returns the logit; `prob` is f."""

    def __init__(self, dim: int, hidden: int = 20):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, d = z.shape  # (points, features)
        return self.fc2(torch.relu(self.fc1(z))).squeeze(1)  # (B,) logits

    def prob(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(z))  # (B,) f(z) = p(l = 1 | z)
