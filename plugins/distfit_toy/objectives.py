"""The data, the density estimate and the five objectives of App. D.

Everything lives on the nodes of a regular grid over [-extent, extent]^2
(128 x 128 intervals over [-2, 2]^2 in D.2). Integrals use the 2-D Simpson
rule (KL, JS); the EMD is the entropic optimal-transport cost of Sinkhorn's
algorithm (Cuturi 2013) with the Euclidean ground metric, in torch.
"""

from __future__ import annotations

import math

import torch

from .model import RotatedRectangle


# ---------------------------------------------------------------------------
# Data


def parabola_density(nodes: torch.Tensor) -> torch.Tensor:
    """The true density at nodes (N, 2): (9/16) (1 - x^2)_+ (1 - y^2)_+ (Fig. D-2)."""
    return 0.5625 * (1 - nodes[:, 0] ** 2).clamp(min=0) * (1 - nodes[:, 1] ** 2).clamp(min=0)


# ---------------------------------------------------------------------------
# Grid, Simpson weights, density estimate


def grid_nodes(intervals: int, extent: float = 2.0) -> torch.Tensor:
    """The (intervals + 1)^2 nodes of the grid, row-major with y decreasing: (N, 2)."""
    t = torch.linspace(-extent, extent, intervals + 1, dtype=torch.float64)
    gy, gx = torch.meshgrid(t.flip(0), t, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], 1)


def simpson_weights(intervals: int, extent: float = 2.0) -> torch.Tensor:
    """2-D Simpson weights of the grid nodes: sum(w * f) ≈ ∫∫ f. Needs an even
    number of intervals."""
    if intervals % 2:
        raise ValueError("Simpson's rule needs an even number of grid intervals")
    h = 2 * extent / intervals
    w = torch.ones(intervals + 1, dtype=torch.float64)
    w[1:-1:2], w[2:-1:2] = 4, 2
    w = w * h / 3
    return (w[:, None] * w[None, :]).flatten()  # (N,)


def epanechnikov_kde(points: torch.Tensor, nodes: torch.Tensor, radius: float, weights: torch.Tensor,
                     chunk: int = 4096) -> torch.Tensor:
    """Parzen-window estimate with the 2-D Epanechnikov kernel of radius r,
    K(u) = 2 / (pi r^2) (1 - |u|^2 / r^2)_+, normalised to integrate to 1 on
    the grid: (N,)."""
    dens = torch.zeros(len(nodes), dtype=torch.float64)
    for lo in range(0, len(nodes), chunk):
        d2 = torch.cdist(nodes[lo : lo + chunk], points.double()) ** 2  # (c, n)
        dens[lo : lo + chunk] = (1 - d2 / radius**2).clamp(min=0).sum(1)
    dens *= 2 / (math.pi * radius**2 * len(points))
    return dens / (weights * dens).sum()


def rectangle_densities(params: torch.Tensor, nodes: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Uniform densities of candidate rectangles (C, 3) on the grid, each
    normalised to integrate to 1 (edges jagged, as Fig. D-5): (C, N). A
    rectangle covering no node is all zeros."""
    ind = RotatedRectangle()(params, nodes)  # (C, N)
    mass = (ind * weights).sum(1, keepdim=True)
    return torch.where(mass > 0, ind / mass.clamp(min=1e-300), torch.zeros_like(ind))


# ---------------------------------------------------------------------------
# Divergences


def kl_divergence(p: torch.Tensor, q: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) = ∫ p log(p / q) (Eq. 5.9) for p (N,) and q (C, N): (C,).
    Infinite when the model misses data mass (p > 0 where q = 0)."""
    support = p > 0
    missed = ((q == 0) & support).any(1)
    ratio = torch.where(support, p / q.clamp(min=1e-300), torch.ones_like(q))
    value = (weights * torch.where(support, p * ratio.log(), torch.zeros_like(q))).sum(1)
    return torch.where(missed | (q.sum(1) == 0), torch.full_like(value, math.inf), value)


def js_divergence(p: torch.Tensor, q: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """JS(P || Q) = (KL(P || M) + KL(Q || M)) / 2, M = (P + Q) / 2 (Eq. 5.10): (C,).
    At most log 2 (disjoint supports)."""
    m = (p[None] + q) / 2

    def part(a: torch.Tensor) -> torch.Tensor:
        return torch.where(a > 0, a * (a / m.clamp(min=1e-300)).clamp(min=1e-300).log(), torch.zeros_like(m))

    value = 0.5 * (weights * (part(p[None].expand_as(q)) + part(q))).sum(1)
    return torch.where(q.sum(1) == 0, torch.full_like(value, math.inf), value)


def sinkhorn_cost(source: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor, eps: float,
                  iterations: int) -> torch.Tensor:
    """Entropic optimal transport between one distribution `source` (Ns,) and
    C distributions `targets` (C, Nt) for the ground cost (Ns, Nt): the
    transport cost <gamma, cost> of Sinkhorn's plan, (C,). As eps -> 0 it
    tends to the EMD (W1 for a Euclidean cost)."""
    kernel = torch.exp(-cost / eps)  # (Ns, Nt)
    weighted = kernel * cost
    v = torch.ones_like(targets)  # (C, Nt)
    for _ in range(iterations):
        u = source[None] / (v @ kernel.T).clamp(min=1e-300)  # (C, Ns)
        v = targets / (u @ kernel).clamp(min=1e-300)  # (C, Nt)
    return (u * (v @ weighted.T)).sum(1)


def ground_cost(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between point sets (Ns, 2) and (Nt, 2)."""
    return torch.cdist(a.double(), b.double())


# ---------------------------------------------------------------------------
# Maximum likelihood: the smallest covering rectangle, exactly


def ml_fit(points: torch.Tensor, thetas: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The likelihood of the points under a rectangle is -inf if one lies
    outside, else -n log(ab): for each angle the best rectangle is the
    symmetric bounding box in the rotated frame. Returns ((a, b, theta),
    log area) of the best angle among `thetas`."""
    x, y = points[:, 0].double()[None], points[:, 1].double()[None]  # (1, n)
    c, s = torch.cos(thetas)[:, None], torch.sin(thetas)[:, None]  # (T, 1)
    a = 2 * (x * c + y * s).abs().amax(1)  # (T,)
    b = 2 * (-x * s + y * c).abs().amax(1)
    area = a * b
    i = int(area.argmin())
    return torch.stack([a[i], b[i], thetas[i]]), float(area[i].log())
