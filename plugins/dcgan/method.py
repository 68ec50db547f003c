"""DCGAN as trained and ranked in Oquab (2018), §5.2-5.3 and App. C.

The thesis re-trained DCGANs with the Torch7 code of Radford et al.
(dcgan.torch) for a grid of generator / discriminator widths gf, df in
{32, 64, 96} and {1, 10, 50, 100, 200} epochs on LSUN bedrooms and LFW, then
ranked them with two-sample tests between 10,000 generated and 10,000
held-out real images on ImageNet ResNet-34 features: the linear-time MMD,
C2ST-KNN and C2ST-NN (Tables C.1/C.2; lower is better).

Training alternates, per mini-batch, one discriminator step on
L_d = l(d(x), 1) + l(d(g(z)), 0) and one generator step on l(d(g(z)), 1)
(Eq. 5.2; its other term does not depend on g), l the binary cross-entropy,
Adam lr 2e-4, beta1 0.5, batch 64, nz 100 (dcgan.torch's defaults; the
thesis gives none). `evaluate` is the thesis's ranking protocol; `zoo dcgan
rank` prints it in the shape of Tables C.1/C.2 and `zoo dcgan grid` runs the
whole gf x df x epochs study.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zoo.errors import ConfigError, DataError
from zoo.method import Method

from .model import DCGAN


class DCGANMethod(Method):
    name = "dcgan"
    summary = "DCGAN with widths gf/df (App. C), ranked by MMD, C2ST-KNN and C2ST-NN on features (Tables C.1/C.2)."
    task = "image generation"
    paper = ("M. Oquab, PhD thesis (2018), §5.2-5.3 and App. C; A. Radford, L. Metz, S. Chintala, "
             "Unsupervised Representation Learning with Deep Convolutional GANs, ICLR 2016")
    datasets = ("digits", "lsun-bedroom", "lfw-faces")
    default_dataset = "digits"
    selection = ("knn", "min")  # C2ST-KNN on the validation split picks the checkpoint (a coarse filter, §5.3.3)
    conformance = {"evaluate_options": {"epochs": 2, "n": 64}, "sample_options": {"interpolate": 3}}

    @dataclass
    class Config:
        gf: int = 64  # generator width: filters of its last hidden layer (App. C grid 32/64/96)
        df: int = 64  # discriminator width: filters of its first layer (App. C grid 32/64/96)
        nz: int = 100  # noise dimension, z ~ N(0, I) (App. C: 1x1x100 input)
        image_size: int = 64  # 64x64 images (App. C); 32 drops one stage from each network
        nc: int = 3  # image channels: 3 for photos (App. C), 1 for the digits
        thesis_literal: bool = False  # App. C as printed (ReLU, BN on c1) instead of dcgan.torch's D
        lr: float = 2e-4  # Adam learning rate of both networks (dcgan.torch)
        beta1: float = 0.5  # Adam beta1 (dcgan.torch)
        batch_size: int = 64  # images per step (dcgan.torch)
        steps: int = 4200  # 200 epochs (App. C's longest run) of the 1,297 training digits at batch 64
        load_size: int = 96  # photos: shorter side resized to this, then cropped to image_size (dcgan.torch)
        eval_every: int = 0  # steps between validations (0: only at the end)

    # -- data -------------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict:
        if dataset == "digits":
            return {"size": self.config.image_size}
        return {"size": self.config.image_size, "load_size": self.config.load_size}

    # -- model and training -------------------------------------------------

    def build(self) -> DCGAN:
        c = self.config
        try:
            return DCGAN(c.nz, c.gf, c.df, c.nc, c.image_size, c.thesis_literal)
        except ValueError as exc:
            raise ConfigError(str(exc), "the thesis uses 64; 32 is the CPU demo") from None

    def configure_optimizers(self, model):
        c = self.config
        betas = (c.beta1, 0.999)
        return {
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=c.lr, betas=betas),
            "generator": torch.optim.Adam(model.generator.parameters(), lr=c.lr, betas=betas),
        }

    def train_step(self, model, batch, step):
        real = to_model_range(batch["image"], model)  # (B, nc, S, S) in [-1, 1]
        B = real.shape[0]
        fake = model.generator(torch.randn(B, model.nz, device=real.device))  # (B, nc, S, S)
        loss_d = discriminator_loss(model, real, fake.detach())
        step.optimize("discriminator", loss_d)
        loss_g = generator_loss(model, fake)
        step.optimize("generator", loss_g)
        return {"loss_d": loss_d, "loss_g": loss_g}

    # -- use ------------------------------------------------------------------

    def sample(self, model, n, *, interpolate: int = 0):
        """Options:
        interpolate: if > 1, n rows of this many images walking linearly from one z to another (Fig. 5-14)."""
        dev = next(model.parameters()).device
        if interpolate > 1:
            z1, z2 = torch.randn(n, 1, model.nz), torch.randn(n, 1, model.nz)
            t = torch.linspace(0, 1, interpolate).view(1, interpolate, 1)
            z = (z1 * (1 - t) + z2 * t).view(n * interpolate, model.nz)  # (n * k, nz)
            images = generate(model, z.to(dev))
            return images.view(n, interpolate, *images.shape[1:])  # (n, k, C, S, S)
        return generate(model, torch.randn(n, model.nz).to(dev))

    def evaluate(self, model, data, *, checkpoints: str = "", features: str = "pixels", feature_weights: str = "",
                 n: int = 10000, tests: str = "mmd,knn,nn", epochs: int = 100):
        """Options:
        checkpoints: comma-separated weights (run dirs, .safetensors, registry names) to rank instead of --weights.
        features: pixels, a ResNet .safetensors file (the thesis: ImageNet ResNet-34) or a method with an encoder.
        feature_weights: weights of the --features method (default: its registered ones).
        n: real and generated images per test (the thesis: 10,000; capped by the split's size).
        tests: comma-separated two-sample tests: mmd, knn, nn.
        epochs: training epochs of C2ST-NN (the thesis: 100)."""
        from .ranking import rank_models

        rows = rank_models(self, model, data, checkpoints=checkpoints, features=features,
                           feature_weights=feature_weights or None, n=n, tests=tests, epochs=epochs)
        if len(rows) == 1 and not checkpoints:
            return rows[0].stats
        return {f"{row.label}.{k}": v for row in rows for k, v in row.stats.items()}


# ---------------------------------------------------------------------------
# Losses and sampling, each on its own


def discriminator_loss(model: DCGAN, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """L_d(d) = l(d(x), 1) + l(d(g(z)), 0) (Eq. 5.2), l = BCE on logits."""
    d_real, d_fake = model.discriminator(real), model.discriminator(fake)
    return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def generator_loss(model: DCGAN, fake: torch.Tensor) -> torch.Tensor:
    """L_g(g) = l(d(g(z)), 1): the part of Eq. 5.2 that depends on g."""
    d_fake = model.discriminator(fake)
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def to_model_range(images: torch.Tensor, model: DCGAN) -> torch.Tensor:
    """Images in [0, 1] with any channel count -> the model's nc, in [-1, 1]."""
    C = images.shape[1]
    if C != model.nc:
        if model.nc == 1:
            images = images.mean(1, keepdim=True)
        elif C == 1:
            images = images.expand(-1, model.nc, -1, -1)
        else:
            raise DataError(f"the model makes {model.nc}-channel images but the data have {C} channels")
    if images.shape[-1] != model.image_size:
        raise DataError(f"the model makes {model.image_size}x{model.image_size} images, "
                        f"the data are {images.shape[-2]}x{images.shape[-1]}")
    return images * 2 - 1


@torch.no_grad()
def generate(model: DCGAN, z: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Generated images in [0, 1], (N, nc, S, S), in eval mode (BN running stats)."""
    was_training = model.training
    model.eval()
    out = torch.cat([model.generator(z[i : i + batch]) for i in range(0, len(z), batch)])
    model.train(was_training)
    return ((out + 1) / 2).clamp(0, 1)
