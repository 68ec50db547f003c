"""DCGAN (Radford et al. 2016) as App. C of the thesis lists it, with the
generator width gf and discriminator width df of Tables C.1/C.2.

At 64x64 the generator has five deconvolutions dc1..dc5 and the
discriminator five convolutions c1..c5 (App. C). A 32x32 model drops one
stage from each (the usual DCGAN for 32 px), so that the CPU demo on
upsampled digits uses the same code.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn


def _stages(image_size: int) -> int:
    """Layers per network: 5 at 64 px, 4 at 32 px (4x4 after the first layer)."""
    k = int(math.log2(image_size))
    if 2**k != image_size or k < 4:
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return k - 1


def dcgan_init(module: nn.Module) -> None:
    """dcgan.torch's initialisation: conv weights ~ N(0, 0.02), BN gamma ~
    N(1, 0.02) and beta = 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """G(z): z (N, nz) viewed as 1x1xnz -> image (N, nc, S, S) in [-1, 1].
    dc1: 4x4 stride 1 to 4x4x(8 gf); dc2..dc4: 4x4 stride 2, halving the
    channels; dc5: to nc channels and tanh (App. C)."""

    def __init__(self, nz: int = 100, gf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        L = _stages(image_size)
        widths = [gf * 2 ** (L - 2 - i) for i in range(L - 1)] + [nc]  # 64 px: 8gf, 4gf, 2gf, gf, nc
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = nz
        for i, out_ch in enumerate(widths, start=1):
            stride, pad = (1, 0) if i == 1 else (2, 1)
            layers[f"dc{i}"] = nn.ConvTranspose2d(in_ch, out_ch, 4, stride, pad, bias=False)
            if i < L:
                layers[f"bn{i}"] = nn.BatchNorm2d(out_ch)
                layers[f"relu{i}"] = nn.ReLU(True)
            in_ch = out_ch
        layers["tanh"] = nn.Tanh()
        self.main = nn.Sequential(layers)
        self.nz = nz
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        N, nz = z.shape
        return self.main(z.view(N, nz, 1, 1))  # (N, nz, 1, 1) -> (N, nc, S, S)


class Discriminator(nn.Module):
    """D(x): image (N, nc, S, S) in [-1, 1] -> logit (N,); d(x) = sigmoid.
    c1: 4x4 stride 2 to df channels; c2..c4 double the channels, each with
    BN; c5: 4x4 valid to one score. With `thesis_literal` the layers follow
    App. C's text (ReLU, BN on c1); otherwise dcgan.torch (LeakyReLU 0.2,
    no BN on c1), the code the thesis says it reused."""

    def __init__(self, df: int = 64, nc: int = 3, image_size: int = 64, thesis_literal: bool = False):
        super().__init__()
        L = _stages(image_size)
        widths = [df * 2**i for i in range(L - 1)]  # 64 px: df, 2df, 4df, 8df
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = nc
        for i, out_ch in enumerate(widths, start=1):
            layers[f"c{i}"] = nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False)
            if i > 1 or thesis_literal:
                layers[f"bn{i}"] = nn.BatchNorm2d(out_ch)
            layers[f"act{i}"] = nn.ReLU(True) if thesis_literal else nn.LeakyReLU(0.2, True)
            in_ch = out_ch
        self.features = nn.Sequential(layers)
        self.score = nn.Conv2d(in_ch, 1, 4, 1, 0, bias=False)  # printed "dc5" in App. C
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        return self.score(self.features(x)).view(N)  # (N, 1, 1, 1) -> (N,) logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        N = x.shape[0]
        return self.features(x).view(N, -1)  # (N, 8df, 4, 4) -> (N, 8df * 16)


class DCGAN(nn.Module):
    """The generator and discriminator trained together (Eq. 5.2)."""

    def __init__(self, nz: int = 100, gf: int = 64, df: int = 64, nc: int = 3, image_size: int = 64,
                 thesis_literal: bool = False):
        super().__init__()
        self.generator = Generator(nz, gf, nc, image_size)
        self.discriminator = Discriminator(df, nc, image_size, thesis_literal)
        self.nz, self.nc, self.image_size = nz, nc, image_size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Discriminator features of images (N, C, H, W) in [0, 1]: what
        `zoo c2st test --features dcgan` tests on."""
        N, C, H, W = images.shape
        if C != self.nc:  # grey <-> RGB
            images = images.mean(1, keepdim=True) if self.nc == 1 else images.expand(-1, self.nc, -1, -1)
        if (H, W) != (self.image_size, self.image_size):
            images = nn.functional.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                               align_corners=False, antialias=True)
        return self.discriminator.encode(images * 2 - 1)  # (N, 8df * 4 * 4)
