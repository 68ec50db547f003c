"""C2ST: classifier two-sample tests (Oquab 2018, §5.3; Lopez-Paz & Oquab, ICLR 2017).

A C2ST pools two samples with labels 0 and 1, trains a classifier on one half
and reports its accuracy on the other half; under H0 (same distribution) the
accuracy is Binomial(n_te, 1/2) / n_te. As a zoo method:

* `build` is the C2ST-NN classifier and `train_step` one Adam step of its BCE
  on D_tr of an embedded two-sample problem (`gauss-vs-t`: Gaussian vs
  Student-t; `sinusoid`: dependence vs independence). The trained network is
  the classifier of one test, kept for inspection;
* `evaluate` returns that classifier's statistic on the held-out D_te with its
  p-value, and the Monte-Carlo type-I error and power of C2ST-NN, C2ST-KNN
  and the linear-time MMD over repeated draws (each repetition trains its own
  classifier: the tests themselves, not the stored network);
* `sample` draws the picture of the ICLR paper's Fig. 4: p(l = 1 | z) of the
  classifier with n points of each sample on top.

Arbitrary samples are tested with `zoo c2st test A B`, and from Python with
`zoo.metrics.two_sample.two_sample_test`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo import raster
from zoo.data.two_sample import sinusoid_problem, student_problem
from zoo.errors import DataError
from zoo.method import Method
from zoo.metrics.two_sample import c2st_p_value

from .model import C2STNN
from .study import GRIDS, parse_tests, rejection_rates


class C2ST(Method):
    name = "c2st"
    summary = "Classifier two-sample tests (C2ST-NN, C2ST-KNN) and the linear-time MMD baseline."
    task = "two-sample testing"
    paper = ("M. Oquab, PhD thesis (2018), §5.3 and App. C; D. Lopez-Paz and M. Oquab, "
             "Revisiting Classifier Two-Sample Tests, ICLR 2017")
    datasets = ("gauss-vs-t", "sinusoid")
    default_dataset = "gauss-vs-t"
    selection = None  # the problems have no validation split: the last classifier is kept
    conformance = {"evaluate_options": {"reps": 2, "grid": "smoke", "epochs": 2}}

    @dataclass
    class Config:
        dim: int = 1  # features per point: 1 for gauss-vs-t, 2 for sinusoid
        hidden: int = 20  # hidden ReLU units of C2ST-NN (§5.3.3)
        lr: float = 1e-3  # Adam learning rate (released code: Adam's default)
        batch_size: int = 64  # mini-batch of the classifier (released code)
        steps: int = 3200  # 100 epochs (§5.3.3) over D_tr = 2,000 points at batch 64
        n: int = 1000  # points per sample in each split: n = 2,000 split 50/50 (ICLR §4.1)
        nu: float = 3.0  # Student's t degrees of freedom of gauss-vs-t (ICLR §4.1)
        delta: float = 1.0  # sinusoid frequency of the sinusoid problem (ICLR §4.1)
        gamma: float = 0.25  # sinusoid noise standard deviation (ICLR §4.1)
        alpha: float = 0.05  # significance level (ICLR §4.1)

    # -- data -------------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict:
        c = self.config
        if dataset == "sinusoid":
            return {"n": c.n, "delta": c.delta, "gamma": c.gamma}
        return {"n": c.n, "nu": c.nu}

    # -- model and training -------------------------------------------------

    def build(self) -> C2STNN:
        return C2STNN(self.config.dim, self.config.hidden)

    def configure_optimizers(self, model):
        return {"classifier": torch.optim.Adam(model.parameters(), lr=self.config.lr)}

    def train_step(self, model, batch, step):
        z, label = batch["z"], batch["label"]  # (B, d), (B,)
        _check_dim(model, z)
        logits = model(z)
        loss = F.binary_cross_entropy_with_logits(logits, label)
        step.optimize("classifier", loss)
        return {"bce": loss, "acc": ((logits > 0).float() == label).float().mean()}

    # -- use ------------------------------------------------------------------

    def sample(self, model, n, *, size: int = 160):
        """Options:
        size: height and width of the picture in pixels."""
        dev = next(model.parameters()).device
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        if self.config.dim == 2:
            p, q = sinusoid_problem(max(n, 1), self.config.delta, self.config.gamma, rng)
            canvas = raster.Canvas(-3, 3, -3, 3, size, size)
            gx, gy = canvas.grid()
            grid = torch.stack([gx.flatten(), gy.flatten()], 1)  # (H*W, 2)
            f = model.prob(grid.to(dev)).detach().cpu().view(size, size)
            image = raster.diverging(f)
            image = raster.dots(image, canvas, torch.from_numpy(p[:, 0]), torch.from_numpy(p[:, 1]), raster.BLUE)
            image = raster.dots(image, canvas, torch.from_numpy(q[:, 0]), torch.from_numpy(q[:, 1]), raster.RED)
        else:
            p, q = student_problem(max(n, 1), self.config.nu, rng, d=self.config.dim)
            canvas = raster.Canvas(-4, 4, -0.1, 1.1, size, 2 * size)
            zs = torch.linspace(-4, 4, 4 * size)
            grid = zs[:, None].expand(-1, self.config.dim)  # (K, d): the diagonal when d > 1
            f = model.prob(grid.to(dev)).detach().cpu()
            image = canvas.blank()
            g = torch.Generator().manual_seed(0)
            jitter = lambda k: torch.rand(k, generator=g) * 0.15  # noqa: E731 - dot heights
            image = raster.dots(image, canvas, torch.from_numpy(p[:, 0]), 0.0 + jitter(len(p)), raster.BLUE)
            image = raster.dots(image, canvas, torch.from_numpy(q[:, 0]), 0.85 + jitter(len(q)), raster.RED)
            image = raster.polyline(image, canvas, zs, f, raster.BLACK, radius=1)
        return raster.frame(image)[None].clamp(0, 1)  # (1, 3, H, W)

    def evaluate(self, model, data, *, reps: int = 100, grid: str = "key", tests: str = "nn,knn,mmd",
                 epochs: int = 100):
        """Options:
        reps: Monte-Carlo repetitions per setting (the paper uses 100; 0 skips the study).
        grid: settings of the study: key (the paper's defaults), full (every curve of the released script) or smoke.
        tests: comma-separated tests for the study: nn, knn, mmd.
        epochs: training epochs of each C2ST-NN in the study (the thesis: 100).

        The study's draws and splits are seeded from torch's seed (`--seed`)."""
        if not hasattr(data, "z"):
            raise DataError("c2st evaluates on a two-sample problem (gauss-vs-t or sinusoid)")
        dev = next(model.parameters()).device
        _check_dim(model, data.z)
        with torch.no_grad():
            t = float(((model(data.z.to(dev)) > 0).float().cpu() == data.label).float().mean())
        p = c2st_p_value(t, len(data))
        metrics = {"accuracy": t, "p_value": p, "reject": float(p < self.config.alpha)}
        if reps > 0:
            if grid not in GRIDS:
                from zoo.errors import unknown

                raise unknown("grid", grid, GRIDS)
            seed = torch.initial_seed() % 2**31
            metrics.update(rejection_rates(GRIDS[grid], parse_tests(tests), reps, self.config.alpha, seed,
                                           epochs=epochs, device=str(dev)))
        return metrics


def _check_dim(model: C2STNN, z: torch.Tensor) -> None:
    if z.shape[-1] != model.fc1.in_features:
        raise DataError(
            f"the classifier takes {model.fc1.in_features}-d points but the data have {z.shape[-1]}",
            "train with --set dim=2 for the sinusoid problem (the thesis preset does it)",
        )
