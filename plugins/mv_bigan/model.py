"""The five networks of MV-BiGAN (Chen's thesis §3.1): E, G, H, D1 and D2.

    E(y)      -> p_E(z | y), a diagonal Gaussian            (the BiGAN encoder)
    G(z)      -> y                                          (the BiGAN generator)
    H(v)      -> p_H(z | v) for any subset v of the views   (Fig. 3.4)
    D1(y, z)  real (y, z ~ p_E) against generated (G(z), z ~ p(z))
    D2(v, z)  (v, z ~ p_E(z | y)) against (v, z ~ p_H(z | v))

Views are aggregated by summing one linear map per view into a shared space
(a missing view adds nothing), as in Fig. 3.4. Two variants share this file:
"mlp" (MNIST, §3.1.2: 1,500-unit layers) and "conv" (CelebA, Tab. 3.1:
DCGAN-like stacks on 64×64 images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# Leaves: image encoder and decoder of Tab. 3.1


class ConvEncoder(nn.Module):
    """(B, C, 64, 64) -> (B, out): Tab. 3.1, top. Four 4×4 stride-2
    convolutions (64, 128, 256, 512 maps; batch norm but on the first;
    LeakyReLU 0.2), then a 4×4 valid convolution to `out`, linear."""

    def __init__(self, channels: int, out: int, width: int = 64):
        super().__init__()
        w = width
        self.main = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2, True),                                  # (B, w, 32, 32)
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),              # (B, 2w, 16, 16)
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),          # (B, 4w, 8, 8)
            nn.Conv2d(4 * w, 8 * w, 4, 2, 1), nn.BatchNorm2d(8 * w), nn.LeakyReLU(0.2, True),          # (B, 8w, 4, 4)
            nn.Conv2d(8 * w, out, 4, 1, 0),                                                            # (B, out, 1, 1)
        )
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        return self.main(x).view(B, self.out)


class ConvDecoder(nn.Module):
    """(B, z) -> (B, C, 64, 64) in [-1, 1]: Tab. 3.1, bottom. A 4×4
    transposed convolution to 512 maps, three stride-2 ones (256, 128, 64),
    batch norm and ReLU, then a stride-2 one to C maps with tanh."""

    def __init__(self, z_dim: int, channels: int, width: int = 64):
        super().__init__()
        w = width
        self.main = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 8 * w, 4, 1, 0), nn.BatchNorm2d(8 * w), nn.ReLU(True),      # (B, 8w, 4, 4)
            nn.ConvTranspose2d(8 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.ReLU(True),      # (B, 4w, 8, 8)
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(True),      # (B, 2w, 16, 16)
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(True),              # (B, w, 32, 32)
            nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Tanh(),                                  # (B, C, 64, 64)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, Z = z.shape
        return self.main(z.view(B, Z, 1, 1))


class Flatten(nn.Module):
    """(B, ...) -> (B, prod(...)), so a linear map can take an image view."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


# ---------------------------------------------------------------------------
# View aggregation and the Gaussian head (Fig. 3.4)


class ViewAggregator(nn.Module):
    """Sum of one map per view into the aggregation space (Fig. 3.4).

    `views` is a list of V tensors (B, ...); `masks` (T, B, V) says which
    views each of T subsets holds. Each view is encoded once; a missing view
    adds nothing (not even a bias). Returns (T, B, A)."""

    def __init__(self, encoders: list[nn.Module]):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)

    def forward(self, views: list[torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
        codes = torch.stack([enc(v) for enc, v in zip(self.encoders, views)], dim=1)  # (B, V, A)
        return torch.einsum("tbv,bva->tba", masks.to(codes.dtype), codes)  # (T, B, A)


class GaussianHead(nn.Module):
    """Aggregate (N, A) -> mean (N, Z) with tanh and variance (N, Z) > 0.

    One hidden layer with batch norm and ReLU (Fig. 3.4). The thesis names
    the variance's activation a "negative exponential linear unit", which
    can be read two ways: "sigmoid" bounds the variance in (0, 1), below the
    prior's, as a posterior's should be; "elu" is ELU(x) + 1, unbounded.
    Both have a floor of 1e-4."""

    def __init__(self, agg_dim: int, hidden: int, z_dim: int, variance: str = "sigmoid"):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(agg_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True))
        self.mean = nn.Linear(hidden, z_dim)
        self.var = nn.Linear(hidden, z_dim)
        self.variance = variance

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(a)  # (N, hidden)
        v = self.var(h)
        var = torch.sigmoid(v) if self.variance == "sigmoid" else F.elu(v) + 1
        return torch.tanh(self.mean(h)), var + 1e-4


class ViewEncoder(nn.Module):
    """H (or E with one view): views -> p(z | v) = N(mean, var) per subset."""

    def __init__(self, encoders: list[nn.Module], agg_dim: int, hidden: int, z_dim: int, variance: str = "sigmoid"):
        super().__init__()
        self.aggregate = ViewAggregator(encoders)
        self.head = GaussianHead(agg_dim, hidden, z_dim, variance)

    def forward(self, views: list[torch.Tensor], masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T, B = masks.shape[:2]
        a = self.aggregate(views, masks).reshape(T * B, -1)  # (T*B, A)
        mean, var = self.head(a)
        return mean.view(T, B, -1), var.view(T, B, -1)  # (T, B, Z) each


# ---------------------------------------------------------------------------
# Generator and discriminators


class MLPGenerator(nn.Module):
    """z (B, Z) -> y (B, C, S, S) in [0, 1]: three hidden layers of `hidden`
    ReLU units, batch norm on the second and third, sigmoid output (§3.1.2)."""

    def __init__(self, z_dim: int, hidden: int, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = shape
        out = shape[0] * shape[1] * shape[2]
        self.main = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, out), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B = z.shape[0]
        return self.main(z).view(B, *self.shape)  # (B, C, S, S)


class JointDiscriminator(nn.Module):
    """D1(y, z): a front maps y to features, z is concatenated, then the
    joint layers give one logit. MLP (§3.1.2): fc-LeakyReLU front, then
    fc-LeakyReLU and fc-BN-LeakyReLU on [h, z]. Conv (§3.1.2): the Tab. 3.1
    encoder front, then one hidden fully connected layer on [h, z]."""

    def __init__(self, front: nn.Module, front_dim: int, z_dim: int, hidden: int, layers: int):
        super().__init__()
        self.front = front
        joint: list[nn.Module] = [nn.Linear(front_dim + z_dim, hidden), nn.LeakyReLU(0.2, True)]
        for _ in range(layers - 1):
            joint += [nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True)]
        joint.append(nn.Linear(hidden, 1))
        self.joint = nn.Sequential(*joint)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.front(y)  # (B, front_dim)
        return self.joint(torch.cat([h, z], dim=1)).squeeze(1)  # (B,)


class ViewDiscriminator(nn.Module):
    """D2(v, z): views aggregated as in H, z concatenated to the aggregate,
    one hidden layer (batch norm, LeakyReLU 0.2), a logit per subset (§3.1.2)."""

    def __init__(self, encoders: list[nn.Module], agg_dim: int, z_dim: int, hidden: int):
        super().__init__()
        self.aggregate = ViewAggregator(encoders)
        self.joint = nn.Sequential(
            nn.Linear(agg_dim + z_dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, 1)
        )

    def forward(self, views: list[torch.Tensor], masks: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        T, B = masks.shape[:2]
        a = self.aggregate(views, masks).reshape(T * B, -1)  # (T*B, A)
        return self.joint(torch.cat([a, z.reshape(T * B, -1)], dim=1)).view(T, B)  # (T, B)


# ---------------------------------------------------------------------------
# The model


class MVBiGAN(nn.Module):
    """E, G, H, D1 and D2 for V views.

    `view_kinds` lists each view's kind: ("vector", dim) for a vector view
    (a flattened quadrant, an attribute vector) taken by a linear map, or
    ("image", channels) for a 64×64 image taken by the Tab. 3.1 encoder."""

    def __init__(
        self,
        *,
        variant: str,
        view_kinds: list[tuple[str, int]],
        target_shape: tuple[int, int, int],
        z_dim: int = 128,
        hidden: int = 1500,
        d_hidden: int = 1500,
        agg_dim: int = 1000,
        conv_width: int = 64,
        variance: str = "sigmoid",
    ):
        super().__init__()
        self.variant, self.z_dim, self.target_shape = variant, z_dim, target_shape
        C, S, _ = target_shape
        y_dim = C * S * S

        def view_map(kind: str, dim: int) -> nn.Module:
            if kind == "image":
                return ConvEncoder(dim, agg_dim, conv_width)
            return nn.Sequential(Flatten(), nn.Linear(dim, agg_dim))

        def target_map(out: int) -> nn.Module:
            if variant == "conv":
                return ConvEncoder(C, out, conv_width)
            return nn.Sequential(Flatten(), nn.Linear(y_dim, out))

        self.H = ViewEncoder([view_map(k, d) for k, d in view_kinds], agg_dim, hidden, z_dim, variance)
        self.E = ViewEncoder([target_map(agg_dim)], agg_dim, hidden, z_dim, variance)
        if variant == "conv":
            self.G = ConvDecoder(z_dim, C, conv_width)
            front = ConvEncoder(C, agg_dim, conv_width)
            self.D1 = JointDiscriminator(front, agg_dim, z_dim, d_hidden, layers=1)
        else:
            self.G = MLPGenerator(z_dim, hidden, target_shape)
            front = nn.Sequential(Flatten(), nn.Linear(y_dim, d_hidden), nn.LeakyReLU(0.2, True))
            self.D1 = JointDiscriminator(front, d_hidden, z_dim, d_hidden, layers=2)
        self.D2 = ViewDiscriminator([view_map(k, d) for k, d in view_kinds], agg_dim, z_dim, d_hidden)
        self.n_views = len(view_kinds)

    def encode_target(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p_E(z | y): mean and variance (B, Z)."""
        ones = torch.ones(1, y.shape[0], 1, device=y.device)
        mean, var = self.E([y], ones)
        return mean[0], var[0]

    def encode_views(self, views: list[torch.Tensor], masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p_H(z | v) for each subset: mean and variance (T, B, Z)."""
        return self.H(views, masks)
