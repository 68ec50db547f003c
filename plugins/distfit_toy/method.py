"""What do GAN objectives minimise? KL vs JS vs EMD on a rotated rectangle
(Oquab 2018, §5.5.2 and App. D).

Points are drawn from p(x, y) ∝ (1 - x^2)_+ (1 - y^2)_+ and smoothed by a
Parzen window (Epanechnikov kernel, radius 0.3). A uniform distribution on an
a x b rectangle rotated by theta is fitted by grid search over (a, b, theta)
under five objectives: maximum likelihood of the points (`ml`), the discrete
EMD between the points and the model (`emd-points`), and KL(P || Q),
JS(P || Q) and the EMD between the density estimate P and the model Q, all on
a 128 x 128 grid over [-2, 2]^2, the integrals by Simpson's rule and the EMD
by Sinkhorn iterations. The answer is theta* = 0 (mod 90°). The thesis
reports only figures: KL and ML stretch the rectangle to cover all the data,
JS shrinks it and drops low-density points, EMD recovers the angle best.

As a zoo method the "training" is the grid search: each step scores one
chunk of candidates for every objective (the first half of the steps a
coarse grid, the second half a finer grid around each objective's best so
far) and keeps the best; the fitted (a, b, theta) are the model's buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zoo import raster
from zoo.errors import ConfigError, DataError
from zoo.method import Method

from . import objectives as obj
from .model import OBJECTIVES, RectangleFits

COLOURS = {"ml": (0.0, 0.0, 0.0), "emd-points": (0.9, 0.5, 0.0), "kl": (0.85, 0.15, 0.12),
           "js": (0.12, 0.35, 0.85), "emd": (0.1, 0.65, 0.2)}


class DistFitToy(Method):
    name = "distfit-toy"
    summary = "Fit a rotated uniform rectangle to 2-D data by ML, KL, JS or EMD (Sinkhorn): what GAN objectives minimise."
    task = "divergence study"
    paper = "M. Oquab, PhD thesis (2018), §5.5 and App. D"
    datasets = ("parabola-2d",)
    default_dataset = "parabola-2d"
    selection = None

    @dataclass
    class Config:
        points: int = 1000  # points drawn from p (not stated in the thesis)
        radius: float = 0.3  # radius of the Epanechnikov Parzen window (App. D.1)
        grid: int = 128  # grid intervals per side over [-extent, extent]^2 (App. D.2: 128 x 128)
        extent: float = 2.0  # the grid covers [-2, 2]^2 (App. D.2)
        side_min: float = 0.2  # smallest rectangle side searched (the search ranges are not stated)
        side_max: float = 4.0  # largest rectangle side searched
        side_step: float = 0.2  # step of the coarse grid over a and b
        angle_step: float = 5.0  # step of the coarse grid over theta in [0, 90) degrees
        eps: float = 0.05  # Sinkhorn entropic regularisation (small but stable; not stated)
        iterations: int = 200  # Sinkhorn iterations per evaluation
        objectives: tuple[str, ...] = OBJECTIVES  # ml, emd-points, kl, js, emd (Fig. 5-20, 5-21)
        batch_size: int = 1000  # every step sees the whole sample (must equal points)
        steps: int = 40  # grid-search chunks: half the coarse grid, half its refinement

    # -- data -------------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict:
        return {"n": self.config.points}

    # -- model and training -------------------------------------------------

    def build(self) -> RectangleFits:
        c = self.config
        unknown = [o for o in c.objectives if o not in OBJECTIVES]
        if unknown or not c.objectives:
            raise ConfigError(f"unknown objective(s) {unknown or '(none)'}", f"choose from {', '.join(OBJECTIVES)}")
        if c.grid % 2 or c.grid < 4:
            raise ConfigError(f"grid must be an even number of intervals >= 4 (Simpson's rule), got {c.grid}")
        if c.eps < 0.01:
            raise ConfigError(f"eps = {c.eps} underflows the Sinkhorn kernel", "use eps >= 0.01")
        return RectangleFits(tuple(c.objectives))

    def configure_optimizers(self, model):
        return {}  # a grid search: nothing to optimise by gradient

    def train_step(self, model, batch, step):
        c = self.config
        points = batch["point"].double().cpu()  # (n, 2)
        if len(points) != c.points:
            raise ConfigError(f"distfit-toy needs the whole sample each step: batch_size {c.batch_size}, points {c.points}",
                              "set batch_size equal to points")
        problem = Problem(points, c)
        total = max(2, c.steps)
        coarse_steps = total // 2
        if step.index == 0 and "ml" in model.objectives:  # exact, no grid needed
            thetas = torch.deg2rad(torch.arange(0, 90, 0.25, dtype=torch.float64))
            fit, value = obj.ml_fit(points, thetas)
            _keep(model, "ml", fit[None], torch.tensor([value], dtype=torch.float64))
        if step.index < coarse_steps:
            candidates = coarse_grid(c)
            chunk = _chunk(candidates, step.index, coarse_steps)
            for name in _searched(model):
                _keep(model, name, chunk, problem.score(name, chunk))
        elif step.index < total:
            if step.index == coarse_steps:
                model.stage_one.copy_(model.fits)
            for k, name in enumerate(model.objectives):
                if name == "ml":
                    continue
                candidates = fine_grid(c, model.stage_one[k])
                chunk = _chunk(candidates, step.index - coarse_steps, total - coarse_steps)
                _keep(model, name, chunk, problem.score(name, chunk))
        logs = {name.replace("-", "_"): model.values[k] for k, name in enumerate(model.objectives)}
        return {k: v for k, v in logs.items() if torch.isfinite(v)}

    # -- use ------------------------------------------------------------------

    def sample(self, model, n, *, size: int = 128):
        """Options:
        size: side of each panel in pixels.

        One panel per objective: its fitted rectangle over the data density,
        with n points drawn uniformly from the rectangle."""
        return figure(model, n, size, self.config.extent)[None]

    def evaluate(self, model, data):
        if not hasattr(data, "points"):
            raise DataError("distfit-toy evaluates on points of the parabola density (parabola-2d)")
        inside = model(data.points)  # (K, N)
        out = {}
        for k, name in enumerate(model.objectives):
            a, b, theta = model.fits[k].tolist()
            deg = math.degrees(theta) % 90
            key = name.replace("-", "_")
            out.update({f"{key}_a": a, f"{key}_b": b, f"{key}_theta": deg, f"{key}_angle_error": min(deg, 90 - deg),
                        f"{key}_area": a * b, f"{key}_uncovered": 1 - float(inside[k].mean())})
            if math.isfinite(float(model.values[k])):
                out[f"{key}_value"] = float(model.values[k])
        return out


# ---------------------------------------------------------------------------
# The search


def coarse_grid(c) -> torch.Tensor:
    """(a, b, theta) candidates: sides side_min..side_max, angles 0..90 degrees."""
    sides = torch.arange(c.side_min, c.side_max + 1e-9, c.side_step, dtype=torch.float64)
    angles = torch.deg2rad(torch.arange(0, 90, c.angle_step, dtype=torch.float64))
    a, b, t = torch.meshgrid(sides, sides, angles, indexing="ij")
    return torch.stack([a.flatten(), b.flatten(), t.flatten()], 1)  # (C, 3)


def fine_grid(c, centre: torch.Tensor) -> torch.Tensor:
    """Steps of a quarter of the coarse ones around a coarse optimum: 9 x 9 x 9."""
    offsets = torch.arange(-4, 5, dtype=torch.float64) / 4
    a = (centre[0] + offsets * c.side_step).clamp(min=c.side_step / 4)
    b = (centre[1] + offsets * c.side_step).clamp(min=c.side_step / 4)
    t = centre[2] + torch.deg2rad(offsets * c.angle_step)
    ga, gb, gt = torch.meshgrid(a, b, t, indexing="ij")
    return torch.stack([ga.flatten(), gb.flatten(), gt.flatten()], 1)


def _chunk(candidates: torch.Tensor, i: int, parts: int) -> torch.Tensor:
    size = math.ceil(len(candidates) / parts)
    return candidates[i * size : (i + 1) * size]


def _searched(model: RectangleFits) -> list[str]:
    return [name for name in model.objectives if name != "ml"]


def _keep(model: RectangleFits, name: str, candidates: torch.Tensor, values: torch.Tensor) -> None:
    """Keep the best candidate of `name` if it beats the best so far."""
    if len(candidates) == 0:
        return
    k = model.objectives.index(name)
    i = int(values.argmin())
    if values[i] < model.values[k]:
        model.values[k] = values[i]
        model.fits[k] = candidates[i].to(model.fits)


class Problem:
    """The data of one fit on the grid: nodes, Simpson weights, the density
    estimate P and its support."""

    def __init__(self, points: torch.Tensor, c):
        self.points, self.c = points, c
        self.nodes = obj.grid_nodes(c.grid, c.extent)  # (N, 2)
        self.weights = obj.simpson_weights(c.grid, c.extent)  # (N,)
        self.p = obj.epanechnikov_kde(points, self.nodes, c.radius, self.weights)  # (N,)
        self.support = self.p > 0

    def score(self, name: str, candidates: torch.Tensor) -> torch.Tensor:
        """Objective values of candidates (C, 3): (C,), lower is better."""
        q = obj.rectangle_densities(candidates, self.nodes, self.weights)  # (C, N)
        if name == "kl":
            return obj.kl_divergence(self.p, q, self.weights)
        if name == "js":
            return obj.js_divergence(self.p, q, self.weights)
        cols = (q > 0).any(0)  # the nodes some candidate covers
        if not bool(cols.any()):
            return torch.full((len(candidates),), math.inf, dtype=torch.float64)
        target = q[:, cols] * self.weights[cols]  # (C, Nt) masses
        empty = target.sum(1) == 0
        target = target / target.sum(1, keepdim=True).clamp(min=1e-300)
        if name == "emd":
            source_points = self.nodes[self.support]
            source = (self.p * self.weights)[self.support]
        else:  # emd-points: the sample itself, 1/n each
            source_points = self.points
            source = torch.full((len(self.points),), 1 / len(self.points), dtype=torch.float64)
        source = source / source.sum()
        cost = obj.ground_cost(source_points, self.nodes[cols])
        values = obj.sinkhorn_cost(source, target, cost, self.c.eps, self.c.iterations)
        return torch.where(empty, torch.full_like(values, math.inf), values)


# ---------------------------------------------------------------------------
# Pictures


def figure(model: RectangleFits, n: int, size: int, extent: float) -> torch.Tensor:
    """One panel per objective: the data density (colour), the fitted
    rectangle (outline) and n points drawn from it: (3, size, K * (size + 4) - 4)."""
    canvas = raster.Canvas(-extent, extent, -extent, extent, size, size)
    gx, gy = canvas.grid()
    density = obj.parabola_density(torch.stack([gx.flatten(), gy.flatten()], 1).double()).view(size, size)
    background = raster.colormap(density / density.max()) * 0.6 + 0.4  # a lighter colour map
    panels = []
    for k, name in enumerate(model.objectives):
        a, b, theta = model.fits[k].tolist()
        image = background.clone()
        if a > 0 and b > 0:
            u = (torch.rand(n, dtype=torch.float64) - 0.5) * a
            v = (torch.rand(n, dtype=torch.float64) - 0.5) * b
            c, s = math.cos(theta), math.sin(theta)
            image = raster.dots(image, canvas, u * c - v * s, u * s + v * c, (0.2, 0.2, 0.2), radius=0)
            corners = torch.tensor([[-a, -b], [a, -b], [a, b], [-a, b]], dtype=torch.float64) / 2
            xs = corners[:, 0] * c - corners[:, 1] * s
            ys = corners[:, 0] * s + corners[:, 1] * c
            image = raster.polyline(image, canvas, xs, ys, COLOURS[name], closed=True, radius=1)
        panels.append(raster.frame(image))
    return raster.hstack(panels).clamp(0, 1).float()
