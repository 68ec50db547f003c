"""The networks of the multi-view GANs of Chen's thesis §4.2.

DCGAN blocks (Radford et al. 2016) as in the authors' code, leaves first:
a generator (transposed convolutions) and an encoder (strided convolutions),
then `MultiViewGAN`, which holds G, the tuple discriminator D and, for the
conditional models, the content encoder E. The variants are constructor
arguments:

    GMV         G(c, v) -> 1 image,  D on pairs,    no E
    CGMV        G(c, v) -> 1 image,  D on pairs,    E(x) -> c
    GANx-k      G(z)    -> k images, D on k-tuples, no E
    CGAN-views  as CGMV (it differs only in its loss)
"""

from __future__ import annotations

import math

import torch
from torch import nn


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: convolutions N(0, 0.02), batch norm N(1, 0.02)
    with zero bias (the authors' `weights_init`)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _levels(size: int) -> int:
    """Number of stride-2 layers between 4×4 and size×size (4 for 64×64)."""
    levels = int(round(math.log2(size))) - 2
    if size < 8 or 2 ** (levels + 2) != size:
        raise ValueError(f"DCGAN blocks need a power-of-two image size of at least 8, got {size}")
    return levels


class DCGANGenerator(nn.Module):
    """(B, nz) codes -> (B, nc, size, size) images in [-1, 1].

    A 4×4 transposed convolution to ngf·2^(L-1) maps, then L stride-2
    transposed convolutions halving the maps (L = log2(size) - 2); batch norm
    and ReLU on every layer but the last, which has tanh. For 64×64 and
    ngf = 64: 512×4×4, 256×8×8, 128×16×16, 64×32×32, nc×64×64."""

    def __init__(self, nz: int, nc: int, ngf: int, size: int):
        super().__init__()
        levels = _levels(size)
        ch = ngf * 2 ** (levels - 1)
        layers = [nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(levels - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.nz, self.nc, self.size = nz, nc, size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, nz = z.shape
        return self.main(z.view(B, nz, 1, 1))  # (B, nc, size, size)


class DCGANEncoder(nn.Module):
    """(B, nc, size, size) images -> (B, n_out) linear outputs.

    L stride-2 convolutions doubling the maps from ndf (batch norm on all
    but the first unless `first_bn`), then a 4×4 valid convolution to n_out.
    The discriminator uses LeakyReLU(0.2) and no batch norm on its first
    layer; the content encoder of CGMV has batch norm there too."""

    def __init__(self, nc: int, n_out: int, ndf: int, size: int, *, first_bn: bool = False,
                 activation: str = "leaky_relu"):
        super().__init__()
        levels = _levels(size)

        def act() -> nn.Module:
            return nn.LeakyReLU(0.2, inplace=True) if activation == "leaky_relu" else nn.ReLU(True)

        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(ndf), act()] if first_bn else [act()]
        ch = ndf
        for _ in range(levels - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), act()]
            ch *= 2
        layers += [nn.Conv2d(ch, n_out, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        self.n_out = n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        return self.main(x).view(B, self.n_out)  # (B, n_out)


class MultiViewGAN(nn.Module):
    """G, the tuple discriminator D and (optionally) the content encoder E.

    G maps a content code c (content_dim) and a view code v (view_dim),
    concatenated, to `images_per_code` images (their channels stacked).
    D scores `tuple_size` images concatenated along channels (a logit per
    tuple). E maps one image to a content code."""

    def __init__(
        self,
        *,
        size: int,
        channels: int = 3,
        content_dim: int = 64,
        view_dim: int = 64,
        ngf: int = 64,
        ndf: int = 64,
        images_per_code: int = 1,
        tuple_size: int = 2,
        encoder: bool = False,
        encoder_activation: str = "leaky_relu",
    ):
        super().__init__()
        self.size, self.channels = size, channels
        self.content_dim, self.view_dim = content_dim, view_dim
        self.images_per_code, self.tuple_size = images_per_code, tuple_size
        self.G = DCGANGenerator(content_dim + view_dim, channels * images_per_code, ngf, size)
        self.D = DCGANEncoder(channels * tuple_size, 1, ndf, size)
        self.E = (
            DCGANEncoder(channels, content_dim, ndf, size, first_bn=True, activation=encoder_activation)
            if encoder else None
        )
        dcgan_init(self)

    def generate(self, c: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """(B, content_dim) and (B, view_dim) codes -> (B, C, S, S) images in
        [-1, 1], or (B, k, C, S, S) when G makes k images per code."""
        code = c if v is None else torch.cat([c, v], dim=1)  # (B, content_dim + view_dim)
        x = self.G(code)  # (B, k*C, S, S)
        if self.images_per_code == 1:
            return x
        B = x.shape[0]
        return x.view(B, self.images_per_code, self.channels, self.size, self.size)  # (B, k, C, S, S)

    def discriminate(self, *images: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of a tuple of (B, C, S, S) images."""
        x = torch.cat(images, dim=1)  # (B, tuple_size*C, S, S)
        return self.D(x).squeeze(1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) images in [-1, 1] -> (B, content_dim) content codes."""
        if self.E is None:
            raise RuntimeError("this model has no content encoder E")
        return self.E(x)
