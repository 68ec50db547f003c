"""The CGAN-C2ST protocol (§5.4.2): fit conditional GANs in both directions,
score each with a classifier two-sample test, prefer the direction whose
generated sample is harder to tell from the real one.

For speed every CGAN of a benchmark (pairs x 2 directions x R repetitions)
trains at once as one `CGANBank`. Each CGAN still sees only its own pair,
in its own random mini-batches, for its own number of updates (100 epochs of
its pair): a CGAN whose budget is spent stops moving (`MaskedAdam`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo.metrics.two_sample import MIN_POINTS, resolve_test, two_sample_tests_many

from .model import CGANBank

REAL_TARGET, FAKE_TARGET = 0.8, 0.2  # smoothed labels of the released script


# ---------------------------------------------------------------------------
# Losses (Eq. 5.8 with l = BCE and the released script's smoothed targets)


def masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-model mean over the valid entries: (M, B) -> (M,)."""
    return (values * valid).sum(1) / valid.sum(1).clamp(min=1)


def discriminator_loss(bank: CGANBank, c: torch.Tensor, t: torch.Tensor, fake: torch.Tensor,
                       valid: torch.Tensor) -> torch.Tensor:
    """L_d = l(d(c, t), 0.8) + l(d(c, g(c, z)), 0.2), averaged over the 2B
    points of the real-and-fake batch: per model, (M,)."""
    d_real, d_fake = bank.discriminator(c, t), bank.discriminator(c, fake)
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, REAL_TARGET), reduction="none")
    fake_l = F.binary_cross_entropy_with_logits(d_fake, torch.full_like(d_fake, FAKE_TARGET), reduction="none")
    return 0.5 * (masked_mean(real, valid) + masked_mean(fake_l, valid))


def generator_loss(bank: CGANBank, c: torch.Tensor, fake: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """L_g = l(d(c, g(c, z)), 0.8): per model, (M,)."""
    d_fake = bank.discriminator(c, fake)
    loss = F.binary_cross_entropy_with_logits(d_fake, torch.full_like(d_fake, REAL_TARGET), reduction="none")
    return masked_mean(loss, valid)


# ---------------------------------------------------------------------------
# Training many CGANs, each on its own data and budget


class MaskedAdam:
    """Adam on parameters whose first dimension indexes M independent models;
    a step moves only the models marked active and counts steps per model."""

    def __init__(self, params, lr: float, betas: tuple[float, float], eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros(self.params[0].shape[0], device=self.params[0].device)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += active
        t = self.t.clamp(min=1)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            a, tt = active.view(shape), t.view(shape)
            m.copy_(torch.where(a > 0, b1 * m + (1 - b1) * p.grad, m))
            v.copy_(torch.where(a > 0, b2 * v + (1 - b2) * p.grad**2, v))
            update = (m / (1 - b1**tt)) / ((v / (1 - b2**tt)).sqrt() + self.eps)
            p.sub_(self.lr * a * update)
            p.grad = None


@dataclass
class FitOptions:
    dz: int = 10
    hidden: int = 128
    dropout: float = 0.25
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 16
    epochs: int = 100


def fit_bank(cond: torch.Tensor, target: torch.Tensor, counts: torch.Tensor, opts: FitOptions,
             generator: torch.Generator) -> CGANBank:
    """Train M CGANs: model m learns target[m, :counts[m]] given cond[m, :counts[m]]
    ((M, n_max, 1) each, zero-padded) for `epochs` passes over its own points,
    alternating a discriminator mini-batch and a generator mini-batch."""
    M, n_max, _ = cond.shape
    dev, B = cond.device, opts.batch_size
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))  # init, noise and dropout
    bank = CGANBank(M, opts.dz, opts.hidden, opts.dropout).to(dev).train()
    betas = (opts.beta1, opts.beta2)
    opt_d = MaskedAdam(bank.discriminator.parameters(), opts.lr, betas)
    opt_g = MaskedAdam(bank.generator.parameters(), opts.lr, betas)
    per_epoch = torch.ceil(counts.float() / B).long().to(dev)  # (M,) mini-batches per epoch
    budget = per_epoch * opts.epochs  # (M,) updates
    arange_b = torch.arange(B, device=dev)
    order = None
    with torch.enable_grad():  # evaluate() runs under no_grad
        for u in range(int(budget.max())):
            k = u % per_epoch  # (M,) mini-batch index within each model's epoch
            fresh = (k == 0)
            if order is None or bool(fresh.any()):  # new shuffles for the models starting an epoch
                keys = torch.rand(M, n_max, generator=generator).to(dev)
                keys = keys.masked_fill(torch.arange(n_max, device=dev)[None] >= counts[:, None].to(dev), 2.0)
                new = keys.argsort(1)  # (M, n_max): each row starts with a permutation of its valid points
                order = new if order is None else torch.where(fresh[:, None], new, order)
            pos = k[:, None] * B + arange_b  # (M, B)
            valid = (pos < counts[:, None].to(dev)).float()
            idx = torch.gather(order, 1, pos.clamp(max=n_max - 1))  # (M, B)
            c = torch.gather(cond, 1, idx[..., None])  # (M, B, 1)
            t = torch.gather(target, 1, idx[..., None])
            active = (u < budget).float()  # (M,)
            fake = bank(c)  # (M, B, 1)
            if u % 2 == 0:
                loss = discriminator_loss(bank, c, t, fake.detach(), valid).sum()
                torch.autograd.backward(loss, inputs=list(bank.discriminator.parameters()))
                opt_d.step(active)
            else:
                loss = generator_loss(bank, c, fake, valid).sum()
                torch.autograd.backward(loss, inputs=list(bank.generator.parameters()))
                opt_g.step(active)
    return bank.eval()


@torch.no_grad()
def generate(bank: CGANBank, cond: torch.Tensor) -> torch.Tensor:
    """g(c, z) for every point, dropout off: (M, n, 1) -> (M, n, 1)."""
    was = bank.training
    bank.eval()
    out = bank(cond)
    bank.train(was)
    return out


# ---------------------------------------------------------------------------
# The decision


def statistic(results, test: str) -> torch.Tensor:
    """|t - 1/2| for the C2STs, |MMD| for the MMD (the released script)."""
    values = torch.tensor([r.statistic for r in results], dtype=torch.float64)
    return (values - 0.5).abs() if test != "mmd" else values.abs()


def arrange(pairs: list[torch.Tensor], reps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Conditioning and target variables of the 2R CGANs of every pair,
    zero-padded: cond, target (M, n_max, 1) and counts (M,), M = P * 2R in
    pair-major order, R forward (X -> Y) then R backward (Y -> X) CGANs."""
    n_max = max(len(p) for p in pairs)
    M = len(pairs) * 2 * reps
    cond, target = torch.zeros(M, n_max, 1), torch.zeros(M, n_max, 1)
    counts = torch.zeros(M, dtype=torch.long)
    for i, xy in enumerate(pairs):
        n, lo = len(xy), i * 2 * reps
        x, y = xy[:, :1].float(), xy[:, 1:].float()  # (n, 1)
        cond[lo : lo + reps, :n], target[lo : lo + reps, :n] = x, y                        # X -> Y
        cond[lo + reps : lo + 2 * reps, :n], target[lo + reps : lo + 2 * reps, :n] = y, x  # Y -> X
        counts[lo : lo + 2 * reps] = n
    return cond, target, counts


def score_bank(bank: CGANBank, pairs: list[torch.Tensor], reps: int, test: str, seed: int = 0,
               epochs: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pair, the smallest two-sample statistic over its R generators
    of each direction, between the real pair and the generated one:
    (c_xy (P,), c_yx (P,))."""
    dev = next(bank.parameters()).device
    cond, _, _ = arrange(pairs, reps)
    gen = generate(bank, cond.to(dev)).cpu()  # (M, n_max, 1)
    c_xy, c_yx = [], []
    for p, xy in enumerate(pairs):
        n, lo = len(xy), p * 2 * reps
        xy = xy.float()
        x, y = xy[None, :, :1].expand(reps, -1, -1), xy[None, :, 1:].expand(reps, -1, -1)  # (R, n, 1)
        fake = torch.cat([torch.cat([x, gen[lo : lo + reps, :n]], 2),                 # (x, g_y(x, z))
                          torch.cat([gen[lo + reps : lo + 2 * reps, :n], y], 2)])     # (g_x(y, z), y)
        real = xy[None].expand(2 * reps, -1, -1)  # (2R, n, 2)
        results = two_sample_tests_many(real, fake, test, seed=seed + p, epochs=epochs, device=dev)
        stats = statistic(results, resolve_test(test))
        c_xy.append(stats[:reps].min())
        c_yx.append(stats[reps:].min())
    return torch.stack(c_xy), torch.stack(c_yx)


def infer_directions(pairs: list[np.ndarray], *, reps: int, test: str, opts: FitOptions, seed: int = 0,
                     device: str | torch.device = "cpu", nn_epochs: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit 2R CGANs per pre-processed pair (n_p, 2) and score them:
    (c_xy (P,), c_yx (P,)). Predict X -> Y where c_xy < c_yx."""
    resolve_test(test)
    short = [i for i, p in enumerate(pairs) if len(p) < 2 * MIN_POINTS]
    if short:
        from zoo.errors import DataError

        raise DataError(f"pair #{short[0]} has {len(pairs[short[0]])} points; CGAN-C2ST needs at least {2 * MIN_POINTS}")
    g = torch.Generator().manual_seed(seed)
    dev = torch.device(device)
    tensors = [torch.from_numpy(np.asarray(p)).float() for p in pairs]
    cond, target, counts = arrange(tensors, reps)
    bank = fit_bank(cond.to(dev), target.to(dev), counts, opts, g)
    return score_bank(bank, tensors, reps, test, seed, nn_epochs)


def accuracy(c_xy: torch.Tensor, c_yx: torch.Tensor, labels, weights=None) -> tuple[float, float]:
    """(accuracy, weighted accuracy) of predicting Y -> X (label 1) where c_xy > c_yx."""
    pred = (c_xy > c_yx).long()
    correct = (pred == torch.as_tensor(labels)).double()
    w = torch.ones_like(correct) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    return float(correct.mean()), float((correct * w).sum() / w.sum())


def steps_for(n: int, batch_size: int, epochs: int) -> int:
    return math.ceil(n / batch_size) * epochs
