"""mAR-SCF and its Glow baseline as zoo methods (thesis Ch. 6, App. D).

Both are `SplitFlow` (model.py); `Config.prior` picks the prior: "mar" is
the multi-scale autoregressive Conv-LSTM prior of mAR-SCF, "gaussian" Glow's
Gaussian split prior. `Glow` only changes the name and the defaults the
thesis reports for Glow (Tab. 6.1).

Training maximises the likelihood of uniformly dequantized images,
reported in bits/dim (zoo.metrics.density): an image with integer levels k in
0..n_bins-1 is seen as x~ = (k + u) / n_bins - 1/2 with u ~ U[0, 1)^D.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from zoo.errors import ConfigError, DataError, InputError
from zoo.method import Method
from zoo.metrics.density import bits_per_dim, dequantize, quantize, to_levels

from .model import SplitFlow


class MarSCF(Method):
    name = "mar-scf"
    summary = "Split-coupling normalizing flow with a channel-autoregressive Conv-LSTM prior, sampled by MARPS."
    task = "density"
    paper = ("Bhattacharyya*, Mahajan*, Fritz, Schiele, Roth. Normalizing Flows with Multi-Scale "
             "Autoregressive Priors. CVPR 2020 (thesis Ch. 6)")
    datasets = ("digits", "color-blobs", "mnist", "cifar10", "imagenet32", "imagenet64")
    default_dataset = "digits"
    selection = ("bpd", "min")
    conformance = {
        "overrides": {"steps_per_level": 2, "hidden_channels": 16, "lstm_filters": 8, "batch_size": 16},
        "evaluate_options": {"time_samples": 2},
    }

    @dataclass
    class Config:
        image_shape: tuple[int, int, int] = (3, 32, 32)  # C, H, W of the images: CIFAR-10 (§6.5.1); presets set it per data set
        n_bins: int = 256  # intensity levels of the data, 2^bits (8-bit, §6.5.1); digits have 17
        levels: int = 3  # multi-scale levels n: squeeze, steps of flow, split (Tab. 6.1)
        coupling: Literal["affine", "mixlogcdf"] = "affine"  # SCF coupling: affine (Glow) or MixLogCDF (Flow++), Tab. 6.1
        steps_per_level: int = 32  # |SCF|, steps of flow per level: 32 affine (Tab. 6.1); 4 MixLogCDF (preset mixlogcdf)
        hidden_channels: int = 256  # channels of the coupling networks (Tab. 6.1/6.2: 256 gives 3.33 bpd, 6 ms/image)
        prior: Literal["mar", "gaussian"] = "mar"  # mAR prior (Eq. 6.4-6.6) or Glow's Gaussian split prior
        lstm_layers: int = 3  # Conv-LSTM layers of the mAR prior (§6.5.1)
        lstm_filters: int = 32  # filters of each Conv-LSTM layer, input-to-state and state-to-state (§6.5.1)
        prior_kernels: tuple[int, ...] = (5, 5, 3)  # Conv-LSTM kernel at level 1, 2, 3...; the last repeats [code]
        prior_dilations: tuple[int, ...] = (2, 1, 1)  # Conv-LSTM dilation at level 1, 2, 3...; the last repeats [code]
        cond_channels: int = 4  # conv features of r_i fed to every Conv-LSTM step (App. D.1, [code])
        mix_components: int = 32  # logistic components of a MixLogCDF coupling (Flow++, [code])
        mix_blocks: int = 10  # gated conv + attention blocks of a MixLogCDF coupling network (Flow++, [code])
        dropout: float = 0.2  # dropout in the MixLogCDF coupling networks (Flow++, [code])
        lr: float = 8e-4  # Adamax learning rate (§6.5.1)
        warmup: int = 10000  # images seen during the linear learning-rate warm-up [code]
        batch_size: int = 128  # 128 with affine, 64 with MixLogCDF couplings (§6.5.1)
        steps: int = 1_172_000  # optimizer steps: ~3000 CIFAR-10 epochs at batch 128 (§6.5.1)
        eval_every: int = 5000  # steps between validations; the best val bits/dim is kept ([code] keeps the best)
        ckpt_every: int = 5000  # steps between training checkpoints

    # -- model ------------------------------------------------------------

    def build(self) -> nn.Module:
        c = self.config
        self._check_config()
        return SplitFlow(
            c.image_shape,
            levels=c.levels,
            steps=c.steps_per_level,
            coupling=c.coupling,
            hidden=c.hidden_channels,
            prior=c.prior,
            lstm_layers=c.lstm_layers,
            lstm_filters=c.lstm_filters,
            prior_kernels=c.prior_kernels,
            prior_dilations=c.prior_dilations,
            cond_channels=c.cond_channels,
            mix_components=c.mix_components,
            mix_blocks=c.mix_blocks,
            dropout=c.dropout,
        )

    def _check_config(self) -> None:
        c = self.config
        C, H, W = c.image_shape
        if min(C, H, W) < 1:
            raise ConfigError(f"image_shape {list(c.image_shape)} must be positive")
        if c.levels < 1 or H % 2**c.levels or W % 2**c.levels:
            fits = 0
            while H % 2 ** (fits + 1) == 0 and W % 2 ** (fits + 1) == 0:
                fits += 1
            raise ConfigError(
                f"levels = {c.levels}: a {H}×{W} image cannot be squeezed (halved) {c.levels} times",
                f"use levels between 1 and {fits}" if fits else "use an image size divisible by 2",
            )
        for name in ("steps_per_level", "hidden_channels", "lstm_layers", "lstm_filters", "cond_channels",
                     "mix_components", "batch_size"):
            if getattr(c, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(c, name)}")
        if c.n_bins < 2:
            raise ConfigError(f"n_bins must be at least 2, got {c.n_bins}")
        if not c.prior_kernels or any(k < 1 or k % 2 == 0 for k in c.prior_kernels):
            raise ConfigError(f"prior_kernels {list(c.prior_kernels)} must be odd sizes")
        if not c.prior_dilations or any(d < 1 for d in c.prior_dilations):
            raise ConfigError(f"prior_dilations {list(c.prior_dilations)} must be at least 1")

    def configure_optimizers(self, model: nn.Module):
        c = self.config
        opt = torch.optim.Adamax(model.parameters(), lr=c.lr)
        per_step = c.batch_size / max(1, c.warmup)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) * per_step))
        return {"flow": (opt, sched)}

    # -- data ---------------------------------------------------------------

    @property
    def dims(self) -> int:
        """D = C * H * W, the dimensions bits/dim divides by."""
        return math.prod(self.config.image_shape)

    def levels_of(self, images: torch.Tensor, what: str = "images") -> torch.Tensor:
        """Integer levels (B, C, H, W) of a batch, after checking its shape and bit depth."""
        c = self.config
        shape = tuple(c.image_shape)
        if images.dim() != 4 or tuple(images.shape[1:]) != shape:
            got = "×".join(map(str, images.shape[1:])) if images.dim() == 4 else str(tuple(images.shape))
            raise InputError(
                f"{what} are {got} but this {self.name} model takes {'×'.join(map(str, shape))} images",
                "train with the data set's preset (it sets image_shape) or --set image_shape=[C,H,W]",
            )
        return to_levels(images, c.n_bins, what)

    def log_density(self, model: nn.Module, levels: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x~) in nats, (B,), of the dequantized, centred images."""
        x = dequantize(levels, self.config.n_bins, noise=noise) - 0.5
        return model(x)

    def train_step(self, model: nn.Module, batch, step) -> dict[str, torch.Tensor]:
        levels = self.levels_of(batch["image"], "training images")
        bpd = bits_per_dim(self.log_density(model, levels), self.dims, self.config.n_bins).mean()
        step.optimize("flow", bpd)
        return {"bpd": bpd}

    # -- use ------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, model: nn.Module, n: int, *, temperature: float = 1.0, batch_size: int = 64) -> torch.Tensor:
        """MARPS sampling (Algorithm 1), returned as a grid of images.

        Options:
            temperature: scale of the prior's noise (1.0 samples the model; lower is smoother)
            batch_size: images drawn per pass
        """
        if n < 1:
            raise InputError(f"--n must be at least 1, got {n}")
        if batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {batch_size}")
        if not temperature >= 0:
            raise InputError(f"--temperature must be non-negative, got {temperature}")
        images = self._draw(model, n, temperature, batch_size)  # (N, C, H, W)
        rows = _grid_rows(n)
        return images.view(rows, n // rows, *images.shape[1:])  # (rows, cols, C, H, W)

    def _draw(self, model: nn.Module, n: int, temperature: float, batch_size: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        out = []
        for lo in range(0, n, batch_size):
            x = model.sample(min(batch_size, n - lo), temperature, generator)  # (B, C, H, W) in model space
            out.append(quantize(x + 0.5, self.config.n_bins).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Dataset, *, batch_size: int = 64, time_samples: int = 32,
                 temperature: float = 1.0, fid: bool = False, inception: Path | None = None,
                 fid_samples: int = 0) -> dict[str, float]:
        """Test bits/dim, sampling time per image and (with Inception weights) FID and IS.

        Options:
            batch_size: images per pass
            time_samples: images sampled to time MARPS (0 skips the timing)
            temperature: prior temperature of the samples for timing, FID and IS
            fid: also compute FID and IS against the split (needs Inception-v3 weights)
            inception: Inception-v3 weights (.safetensors of torchvision's inception_v3) for FID and IS; implies --fid
            fid_samples: samples for FID and IS (0: as many as the split has images)
        """
        self._check_data(data)
        device = next(model.parameters()).device
        g = torch.Generator(device).manual_seed(0)  # evaluation leaves the global generators alone
        out = {"bpd": self._bits_per_dim(model, data, batch_size, device)}
        if time_samples > 0:
            out["sample_ms"] = self._sample_ms(model, time_samples, temperature, batch_size, device, g)
        if fid or inception is not None:
            out.update(self._fid_is(model, data, inception, fid_samples, temperature, batch_size, device, g))
        return out

    def _check_data(self, data: Dataset) -> None:
        levels = getattr(data, "levels", None)
        if levels is not None and levels != self.config.n_bins:
            raise DataError(
                f"the data has {levels} intensity levels but this {self.name} model was trained for n_bins = "
                f"{self.config.n_bins}",
                "evaluate it on the data set it was trained on",
            )
        self.levels_of(data[0]["image"][None], "the data set's images")

    def _bits_per_dim(self, model, data, batch_size, device) -> float:
        g = torch.Generator().manual_seed(0)  # the same dequantization noise every time
        total, count = 0.0, 0
        for lo in range(0, len(data), batch_size):
            images = torch.stack([data[i]["image"] for i in range(lo, min(lo + batch_size, len(data)))])
            levels = self.levels_of(images, "evaluation images").to(device)
            noise = torch.rand(levels.shape, generator=g).to(device)
            bpd = bits_per_dim(self.log_density(model, levels, noise), self.dims, self.config.n_bins)
            total += bpd.double().sum().item()
            count += len(bpd)
        return total / count

    def _sample_ms(self, model, n, temperature, batch_size, device, generator) -> float:
        self._draw(model, min(n, batch_size), temperature, batch_size, generator)  # warm-up
        _sync(device)
        start = time.perf_counter()
        self._draw(model, n, temperature, batch_size, generator)
        _sync(device)
        return (time.perf_counter() - start) * 1000 / n

    def _fid_is(self, model, data, inception, fid_samples, temperature, batch_size, device, generator):
        from zoo.metrics import require_metric_weights
        from zoo.metrics.fid import INCEPTION, fid_from_features, inception_outputs, inception_score, load_inception

        path = require_metric_weights(INCEPTION, inception, "FID and IS", "--inception")
        net = load_inception(path, device)
        n = fid_samples or len(data)
        real = (torch.stack([data[i]["image"] for i in range(lo, min(lo + batch_size, len(data)))])
                for lo in range(0, len(data), batch_size))
        fake = (self._draw(model, min(batch_size, n - lo), temperature, batch_size, generator)
                for lo in range(0, n, batch_size))
        real_feats, _ = inception_outputs(net, real)
        fake_feats, fake_probs = inception_outputs(net, fake)
        score, _ = inception_score(fake_probs)
        return {"fid": fid_from_features(real_feats, fake_feats), "is": score}

    # -- interpolation (Eq. 6.13) ---------------------------------------------

    def interpolate(self, model: nn.Module, image_a: torch.Tensor, image_b: torch.Tensor, *, steps: int = 8,
                    lambda_prior: float = 0.3, lambda_image: float = 0.3, iterations: int = 100,
                    lr: float = 5e-2) -> tuple[torch.Tensor, torch.Tensor]:
        """Interpolate between two images (C, H, W) in [0, 1] through the latent
        space (Eq. 6.13): start from the linear points z^i = (1 - a_i) z_A + a_i z_B
        and move each inner point to

            argmin |z - z^i| - lambda_prior log p(z) + lambda_image min(|f^-1(z) - x_A|, |f^-1(z) - x_B|)

        with Adamax (lr 5e-2, about 100 iterations, App. D.4). Returns the
        linear and the projected paths, each (steps, C, H, W) in [0, 1];
        lambda_prior = lambda_image = 0 gives the linear path."""
        if steps < 2:
            raise InputError(f"--steps must be at least 2 (the two end points), got {steps}")
        device = next(model.parameters()).device
        n_bins = self.config.n_bins
        pair = torch.stack([image_a, image_b])  # (2, C, H, W)
        x = dequantize(self.levels_of(pair, "the images to interpolate").to(device), n_bins,
                       noise=torch.full_like(pair, 0.5, device=device)) - 0.5  # bin centres
        model.eval()
        with torch.no_grad():
            zs, _, _ = model.encode(x)
        alphas = torch.linspace(0, 1, steps, device=device)
        start = [(1 - alphas.view(-1, 1, 1, 1)) * z[:1] + alphas.view(-1, 1, 1, 1) * z[1:] for z in zs]  # (S, c, h, w)
        with torch.no_grad():
            linear = model.decode(start)[0]
        path = self.project(model, start, x, lambda_prior, lambda_image, iterations, lr)
        with torch.no_grad():
            projected = model.decode(path)[0]
        return quantize(linear + 0.5, n_bins).cpu(), quantize(projected + 0.5, n_bins).cpu()

    def project(self, model, start, x, lambda_prior, lambda_image, iterations, lr) -> list[torch.Tensor]:
        """Eq. 6.13 for the inner points of the latent path `start` (a list of
        (S, c, h, w) per level); the end points stay z_A and z_B. `x` holds
        the two end images (2, C, H, W) in model space."""
        inner = [z[1:-1].detach().clone().requires_grad_(True) for z in start]
        if not inner[0].numel() or iterations < 1 or (lambda_prior == 0 and lambda_image == 0):
            return [z.detach() for z in start]
        target = [z[1:-1].detach() for z in start]
        x = x.detach()
        opt = torch.optim.Adamax(inner, lr=lr)
        frozen = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                for _ in range(iterations):
                    image, rs = model.decode(inner)  # (S-2, C, H, W)
                    delta = torch.cat([(a - b).flatten(1) for a, b in zip(inner, target)], 1)  # (S-2, D)
                    dist_z = torch.linalg.vector_norm(delta, dim=1)  # its gradient at 0 is 0, not NaN
                    log_p = model.prior_log_prob(inner, rs)
                    dist_x = torch.minimum(torch.linalg.vector_norm((image - x[:1]).flatten(1), dim=1),
                                           torch.linalg.vector_norm((image - x[1:]).flatten(1), dim=1))
                    loss = (dist_z - lambda_prior * log_p + lambda_image * dist_x).sum()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        finally:
            for p, f in zip(model.parameters(), frozen):
                p.requires_grad_(f)
        return [torch.cat([z[:1].detach(), p.detach(), z[-1:].detach()]) for z, p in zip(start, inner)]


class Glow(MarSCF):
    """Glow, the thesis's ablation of mAR-SCF (§6.5.1): the same flow with
    Gaussian split priors. A separate class only because methods register by
    class; the variant itself is `Config.prior`, and the defaults are Glow's
    row of Tab. 6.1."""

    name = "glow"
    summary = "Multi-scale split-coupling normalizing flow with Gaussian split priors (mAR-SCF's baseline)."
    paper = ("Kingma, Dhariwal. Glow: Generative Flow with Invertible 1x1 Convolutions. NeurIPS 2018 "
             "(the baseline of thesis Ch. 6, Tab. 6.1)")

    @dataclass
    class Config(MarSCF.Config):
        hidden_channels: int = 512  # channels of the coupling networks: Glow's row of Tab. 6.1 (3.35 bpd)
        prior: Literal["mar", "gaussian"] = "gaussian"  # Glow's prior: learned Gaussian at each split (Split2d) and at the top


# ---------------------------------------------------------------------------
# helpers


def _grid_rows(n: int) -> int:
    """Rows of the most square grid of exactly n images (rows <= columns)."""
    rows = int(math.isqrt(n))
    while n % rows:
        rows -= 1
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
