"""Conditional GANs for cause-effect discovery (§5.4.2), as a bank of M
independent tiny CGANs trained at once: every layer is a batch of M weight
matrices. Each CGAN has the architecture of the released script:

    generator g(c, z):     Linear(1 + dz, 128) -> ReLU -> Dropout(0.25) -> Linear(128, 1)
    discriminator d(c, t): Linear(2, 128) -> ReLU -> Dropout(0.25) -> Linear(128, 1) -> sigmoid

where c is the conditioning variable (the putative cause) and t the one
generated (the putative effect).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BatchedLinear(nn.Module):
    """M independent linear layers: (M, B, fan_in) -> (M, B, fan_out)."""

    def __init__(self, models: int, fan_in: int, fan_out: int):
        super().__init__()
        bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation range
        self.weight = nn.Parameter(torch.empty(models, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(models, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        M, B, fan_in = x.shape
        return torch.baddbmm(self.bias, x, self.weight)  # (M, B, fan_out)


class ConditionalGenerator(nn.Module):
    """g(c, z) for M CGANs: c (M, B, 1), z (M, B, dz) -> generated effect (M, B, 1)."""

    def __init__(self, models: int, dz: int = 10, hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        self.fc1 = BatchedLinear(models, 1 + dz, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = BatchedLinear(models, hidden, 1)
        self.dz = dz

    def forward(self, c: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = torch.cat([c, z], 2)  # (M, B, 1 + dz)
        return self.fc2(self.drop(torch.relu(self.fc1(h))))  # (M, B, 1)


class PairDiscriminator(nn.Module):
    """d(c, t) for M CGANs: (M, B, 1) each -> logits (M, B); d = sigmoid."""

    def __init__(self, models: int, hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        self.fc1 = BatchedLinear(models, 2, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = BatchedLinear(models, hidden, 1)

    def forward(self, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([c, t], 2)  # (M, B, 2)
        return self.fc2(self.drop(torch.relu(self.fc1(h)))).squeeze(2)  # (M, B)


class CGANBank(nn.Module):
    """M conditional GANs. In a model built for one pair, the first half are
    g_y: X -> Y (condition on x) and the second half g_x: Y -> X."""

    def __init__(self, models: int, dz: int = 10, hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        self.generator = ConditionalGenerator(models, dz, hidden, dropout)
        self.discriminator = PairDiscriminator(models, hidden, dropout)
        self.models, self.dz = models, dz

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        M, B, _ = c.shape
        z = torch.randn(M, B, self.dz, device=c.device)  # z ~ N(0, I), independent of the cause
        return self.generator(c, z)  # (M, B, 1)
