"""CGAN-C2ST: cause-effect discovery with conditional GANs scored by
classifier two-sample tests (Oquab 2018, §5.4.2; Lopez-Paz & Oquab, ICLR 2017).

Given a sample of (x, y), fit a CGAN g_y(x, z) for Y given X and a CGAN
g_x(y, z) for X given Y (the generator has the shape of a structural
equation y <- g(x, n) with n independent of x), then compare the real sample
with {(x, g_y(x, z))} and with {(g_x(y, z), y)} by a C2ST: the direction whose
synthetic sample is harder to tell apart is the causal one. The ensemble
variant trains R = 100 CGANs per direction and keeps the best statistic of
each (`--preset ensemble`). Table 5.1: 82% on the Tübingen pairs with
Ensemble-CGAN-C2ST and C2ST-KNN.

As a zoo method, `build` is the bank of 2R CGANs of one pair and `zoo train`
fits it on pair `pair` of a data set (`sample` draws its two conditionals);
`evaluate` on a benchmark (the test split) runs the whole protocol, fitting
fresh CGANs for every pair, and returns the accuracy of the inferred
directions. `zoo cgan-c2st predict FILE` decides one pair of your own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from zoo import raster
from zoo.data.cause_effect import PairCollection, PairPoints, prepare_pair
from zoo.errors import DataError
from zoo.method import Method

from .model import CGANBank
from .protocol import FitOptions, accuracy, discriminator_loss, generator_loss, infer_directions, score_bank


class CGANC2ST(Method):
    name = "cgan-c2st"
    summary = "Cause-effect discovery: conditional GANs in both directions, compared by classifier two-sample tests."
    task = "causal discovery"
    paper = ("M. Oquab, PhD thesis (2018), §5.4.2; D. Lopez-Paz and M. Oquab, "
             "Revisiting Classifier Two-Sample Tests, ICLR 2017")
    datasets = ("cause-effect-synth", "tuebingen")
    default_dataset = "cause-effect-synth"
    selection = None
    conformance = {"evaluate_options": {"pairs": 2, "epochs": 1}}

    @dataclass
    class Config:
        reps: int = 1  # CGANs per direction: 1 = CGAN-C2ST, 100 = Ensemble-CGAN-C2ST (§5.4.2, Table 5.1)
        test: Literal["knn", "nn", "mmd"] = "knn"  # two-sample test comparing the directions (Table 5.1 rows)
        dz: int = 10  # noise dimension of the generator (released script)
        hidden: int = 128  # hidden units of generator and discriminator (released script)
        dropout: float = 0.25  # dropout after the hidden layer (released script)
        lr: float = 1e-3  # Adam learning rate (released script)
        beta1: float = 0.5  # Adam beta1 (released script)
        beta2: float = 0.999  # Adam beta2 (released script)
        batch_size: int = 16  # mini-batch (released script)
        epochs: int = 100  # passes over each pair when `evaluate` fits a benchmark (released script)
        steps: int = 3000  # `zoo train`: 100 epochs of a synthetic pair's 475 points at batch 16
        points: int = 5000  # pairs are subsampled to at most this many points (released script)
        outliers: float = 0.05  # fraction of outlying points dropped first (released script)
        pair: int = 0  # the pair of the data set that `zoo train` fits

    # -- data -------------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict:
        c = self.config
        options = {"points": c.points, "outliers": c.outliers}
        return options if split == "test" else {**options, "pair": c.pair}

    # -- model and training -------------------------------------------------

    def build(self) -> CGANBank:
        c = self.config
        return CGANBank(2 * c.reps, c.dz, c.hidden, c.dropout)

    def configure_optimizers(self, model):
        c = self.config
        betas = (c.beta1, c.beta2)
        return {
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=c.lr, betas=betas),
            "generator": torch.optim.Adam(model.generator.parameters(), lr=c.lr, betas=betas),
        }

    def train_step(self, model, batch, step):
        R = self.config.reps
        x, y = batch["x"], batch["y"]  # (B, 1) each
        cond = torch.cat([x[None].expand(R, -1, -1), y[None].expand(R, -1, -1)])  # (2R, B, 1): X -> Y, Y -> X
        target = torch.cat([y[None].expand(R, -1, -1), x[None].expand(R, -1, -1)])
        valid = torch.ones(cond.shape[:2], device=x.device)  # (2R, B)
        fake = model(cond)
        # the released script alternates: even mini-batches train d, odd ones g
        if step.index % 2 == 0:
            loss_d = discriminator_loss(model, cond, target, fake.detach(), valid).sum()
            step.optimize("discriminator", loss_d)
            with torch.no_grad():
                loss_g = generator_loss(model, cond, fake, valid).sum()
        else:
            loss_g = generator_loss(model, cond, fake, valid).sum()
            step.optimize("generator", loss_g)
            with torch.no_grad():
                loss_d = discriminator_loss(model, cond, target, fake, valid).sum()
        return {"loss_d": loss_d / (2 * R), "loss_g": loss_g / (2 * R)}

    # -- use ------------------------------------------------------------------

    def sample(self, model, n, *, size: int = 160):
        """Options:
        size: height of each panel in pixels.

        Two panels: points (x, g_y(x, z)) of the first X -> Y generator and
        (g_x(y, z), y) of the first Y -> X generator, for n values of the
        conditioning variable spread over [-2.5, 2.5]."""
        dev = next(model.parameters()).device
        R = model.models // 2
        c = torch.linspace(-2.5, 2.5, max(n, 2))[None, :, None].expand(model.models, -1, -1).to(dev)  # (M, n, 1)
        was = model.training
        model.eval()
        with torch.no_grad():
            gen = model(c).cpu()  # (M, n, 1)
        model.train(was)
        canvas = raster.Canvas(-3, 3, -3, 3, size, size)
        forward = raster.dots(canvas.blank(), canvas, c[0, :, 0].cpu(), gen[0, :, 0], raster.BLUE)
        backward = raster.dots(canvas.blank(), canvas, gen[R, :, 0], c[R, :, 0].cpu(), raster.RED)
        panels = [raster.frame(forward), raster.frame(backward)]
        return raster.hstack(panels)[None].clamp(0, 1)  # (1, 3, size, 2 size + gap)

    def evaluate(self, model, data, *, pairs: int = 0, epochs: int = 0, reps: int = 0, test: str = "",
                 nn_epochs: int = 100):
        """Options:
        pairs: evaluate on the first this many pairs of the benchmark (0: all).
        epochs: CGAN training epochs per pair (0: the config's, 100 in the thesis).
        reps: CGANs per direction (0: the config's; 100 is the ensemble).
        test: two-sample test deciding the direction: knn, nn or mmd (default: the config's).
        nn_epochs: training epochs of each C2ST-NN when the test is nn."""
        c = self.config
        test = test or c.test
        if isinstance(data, PairPoints):  # the pair the model was trained on
            xy = torch.cat([data.x, data.y], 1)
            c_xy, c_yx = score_bank(model, [xy], c.reps, test, epochs=nn_epochs)
            return {"c2st_xy": float(c_xy[0]), "c2st_yx": float(c_yx[0]),
                    "correct": float(int(c_xy[0] > c_yx[0]) == data.label)}
        if not isinstance(data, PairCollection):
            raise DataError("cgan-c2st evaluates on a benchmark of cause-effect pairs")
        chosen = data.pairs[: pairs or len(data.pairs)]
        prepared = [prepare_pair(p.xy, np.random.default_rng([7, i]), c.points, c.outliers) for i, p in enumerate(chosen)]
        reps = reps or c.reps
        opts = FitOptions(c.dz, c.hidden, c.dropout, c.lr, c.beta1, c.beta2, c.batch_size, epochs or c.epochs)
        device = next(model.parameters()).device
        c_xy, c_yx = infer_directions(prepared, reps=reps, test=test, opts=opts, seed=torch.initial_seed() % 2**31,
                                      device=device, nn_epochs=nn_epochs)
        acc, weighted = accuracy(c_xy, c_yx, [p.label for p in chosen], [p.weight for p in chosen])
        key = f"accuracy_{test}" + ("_ensemble" if reps > 1 else "")
        out = {"accuracy": acc, "weighted_accuracy": weighted, key: weighted, "pairs": float(len(chosen))}
        for kind in sorted({p.kind for p in chosen if p.kind}):  # synthetic pairs: by mechanism
            idx = [i for i, p in enumerate(chosen) if p.kind == kind]
            out[f"accuracy_{kind}"] = accuracy(c_xy[idx], c_yx[idx], [chosen[i].label for i in idx])[0]
        return out
