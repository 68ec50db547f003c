"""ReDO's networks (thesis Ch. 5, Tables 5.1-5.3), leaves to root.

    F       MaskNetwork       image -> n soft masks M^1..M^n (Tab. 5.1)
    G_k     RegionGenerator   (M^k, z_k) -> pixels V^k of region k (Tab. 5.3)
    D       ResidualEncoder   image -> realism score (Tab. 5.2, self-attention)
    δ       ResidualEncoder   image -> z_1..z_n (Tab. 5.2, no self-attention)
    ReDO    all four, and the redrawing of Eq. 5.5

Images are in [-1, 1]. The resolution is a constructor argument: G_k has
log2(size / 4) up blocks and D, δ as many down blocks, so 128 px gives the
thesis's tables exactly and a smaller size drops the coarsest blocks (G_k
starts from fewer channels, D and δ end with fewer). Where the printed tables
and the authors' code disagree, the code wins (see the plugin README).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def sn_conv(c_in: int, c_out: int, kernel: int, *, bias: bool = True) -> nn.Module:
    """A stride-1, same-padding convolution with spectral normalisation."""
    return spectral_norm(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias))


def init_orthogonal(module: nn.Module, gain: float) -> None:
    """Orthogonal init of every conv and linear weight (Sec. 5.3.3, gain 0.8),
    spectrally normalised or not. The power-iteration vectors of a spectral
    norm are then re-estimated for the new weight (each access in training
    mode runs one iteration), so sigma is right from the first forward."""
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
            with torch.no_grad():
                nn.init.orthogonal_(m.parametrizations.weight.original, gain)
            training = m.training
            m.train()
            with torch.no_grad():
                for _ in range(15):
                    m.weight  # noqa: B018 - one power iteration per access
            m.train(training)
        else:
            with torch.no_grad():
                nn.init.orthogonal_(m.weight, gain)


def n_blocks(size: int) -> int:
    """Up blocks of G_k (= down blocks of D and δ) from 4x4 to `size`."""
    blocks = int(round(math.log2(size / 4)))
    if size < 32 or 4 * 2**blocks != size:
        raise ValueError(f"image size must be a power of two of at least 32, got {size}")
    return blocks


# ---------------------------------------------------------------------------
# Shared blocks


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019) as ReDO's code builds it:
    queries f and keys g in C/8 channels, values h in C/2, keys and values
    max-pooled by 2, an output conv back to C, and a residual gain γ = 0 at
    init. Every conv is spectrally normalised and bias-free."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 8, 1)
        self.f = spectral_norm(nn.Conv2d(channels, inner, 1, bias=False))
        self.g = spectral_norm(nn.Conv2d(channels, inner, 1, bias=False))
        self.h = spectral_norm(nn.Conv2d(channels, channels // 2, 1, bias=False))
        self.o = spectral_norm(nn.Conv2d(channels // 2, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q = self.f(x).flatten(2)                         # (B, C/8, HW)
        k = F.max_pool2d(self.g(x), 2).flatten(2)        # (B, C/8, HW/4)
        v = F.max_pool2d(self.h(x), 2).flatten(2)        # (B, C/2, HW/4)
        attn = torch.softmax(k.transpose(1, 2) @ q, 1)   # (B, HW/4, HW): weights over keys, per query
        out = (v @ attn).view(B, C // 2, H, W)           # (B, C/2, H, W)
        return x + self.gamma * self.o(out)


# ---------------------------------------------------------------------------
# F: the mask network (Table 5.1)


class ResidualBlock(nn.Module):
    """F's residual block: conv3x3 -> IN -> ReLU -> conv3x3, add the input,
    then IN -> ReLU (CycleGAN-like, [code])."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.out = nn.Sequential(nn.InstanceNorm2d(channels, affine=True), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + x)


class PyramidPooling(nn.Module):
    """PSPNet's Pyramid Pooling Module as in ReDO's F: four branches average-
    pool the S x S features with kernel = stride = S, S/2, S/3 and S/6 (1x1,
    2x2, ~3x3, ~6x6 cells), map them to one channel with a 1x1 conv and
    upsample bilinearly back to S x S; the four maps join the features."""

    def __init__(self, channels: int, side: int):
        super().__init__()
        self.side = side
        self.kernels = (side, side // 2, side // 3, side // 6)
        self.convs = nn.ModuleList(nn.Conv2d(channels, 1, 1) for _ in self.kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, S, _ = x.shape
        maps = [x]
        for kernel, conv in zip(self.kernels, self.convs):
            pooled = conv(F.avg_pool2d(x, kernel))                     # (B, 1, S/kernel, S/kernel)
            maps.append(F.interpolate(pooled, size=(S, S), mode="bilinear", align_corners=False))
        return torch.cat(maps, 1)                                      # (B, C + 4, S, S)


class MaskNetwork(nn.Module):
    """F(I) -> M^1..M^n (Table 5.1). With nf = 64 and 128 px:
    3x128x128 -> 16x128x128 -> 32x64x64 -> 64x32x32 -> 3 residual blocks ->
    PPM 68x32x32 -> 34x64x64 -> 17x128x128 -> n x 128 x 128.
    The last conv is 7x7 with reflection padding 3 ([code]; the table's
    "3x3" would not keep the size). For n = 2 it outputs one map m and the
    masks are (sigmoid(m), 1 - sigmoid(m)); for n > 2 a softmax over n maps.
    Instance norm is affine, upsampling nearest; no spectral norm."""

    def __init__(self, size: int, n_regions: int, nf: int = 64, n_res: int = 3):
        super().__init__()
        self.n_regions = n_regions
        self.down = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, nf // 4, 7, bias=False),
            nn.InstanceNorm2d(nf // 4, affine=True),
            nn.ReLU(),
            nn.Conv2d(nf // 4, nf // 2, 3, stride=2, padding=1, bias=False),
            nn.InstanceNorm2d(nf // 2, affine=True),
            nn.ReLU(),
            nn.Conv2d(nf // 2, nf, 3, stride=2, padding=1, bias=False),
            nn.InstanceNorm2d(nf, affine=True),
            nn.ReLU(),
        )
        self.res = nn.Sequential(*(ResidualBlock(nf) for _ in range(n_res)))
        self.ppm = PyramidPooling(nf, size // 4)
        c = nf + 4
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c, c // 2, 3, padding=1, bias=False),
            nn.InstanceNorm2d(c // 2, affine=True),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c // 2, c // 4, 3, padding=1, bias=False),
            nn.InstanceNorm2d(c // 4, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(3),
            nn.Conv2d(c // 4, 1 if n_regions == 2 else n_regions, 7),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        h = self.ppm(self.res(self.down(x)))          # (B, nf + 4, H/4, W/4)
        logits = self.up(h)                           # (B, 1 or n, H, W)
        if self.n_regions == 2:
            m = torch.sigmoid(logits)
            return torch.cat([m, 1 - m], 1)           # (B, 2, H, W)
        return torch.softmax(logits, 1)               # (B, n, H, W)


# ---------------------------------------------------------------------------
# G_k: the region generators (Table 5.3)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm without affine, then γ(z)·x + β(z) with γ, β linear in z
    ([code]: 1x1 convs of z; no "1 +" on γ). The thesis text says
    conditional *batch* norm; Table 5.3 and the code use instance norm."""

    def __init__(self, channels: int, z_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.gamma = nn.Linear(z_dim, channels)
        self.beta = nn.Linear(z_dim, channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma(z)[:, :, None, None]       # (B, C, 1, 1)
        beta = self.beta(z)[:, :, None, None]         # (B, C, 1, 1)
        return self.norm(x) * gamma + beta


class UpResBlock(nn.Module):
    """G_k's up block ([code]): CIN -> ReLU -> concat the mask pooled to the
    current resolution -> nearest x2 -> conv3x3 (SN, +1 input channel) ->
    CIN -> ReLU -> conv3x3 (SN); shortcut: nearest x2 -> conv1x1 (SN)."""

    def __init__(self, c_in: int, c_out: int, z_dim: int):
        super().__init__()
        self.norm_a = ConditionalInstanceNorm(c_in, z_dim)
        self.conv_a = sn_conv(c_in + 1, c_out, 3, bias=False)
        self.norm_b = ConditionalInstanceNorm(c_out, z_dim)
        self.conv_b = sn_conv(c_out, c_out, 3)
        self.shortcut = sn_conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, m: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        m_small = F.avg_pool2d(m, m.shape[-1] // W)                       # (B, 1, H, W)
        h = torch.cat([F.relu(self.norm_a(x, z)), m_small], 1)            # (B, C + 1, H, W)
        h = self.conv_a(F.interpolate(h, scale_factor=2, mode="nearest"))  # (B, c_out, 2H, 2W)
        h = self.conv_b(F.relu(self.norm_b(h, z)))                         # (B, c_out, 2H, 2W)
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class RegionGenerator(nn.Module):
    """G_k(M^k, z_k) -> V^k (Table 5.3). At 128 px: Linear z -> 16ch x 4 x 4,
    up blocks to 16ch x 8, 8ch x 16, 4ch x 32, 2ch x 64, self-attention,
    ch x 128, then CIN -> ReLU -> concat M^k -> conv3x3 (SN) -> tanh, and the
    output is multiplied by its mask ([code]), so V^k is zero outside M^k."""

    def __init__(self, size: int, z_dim: int = 32, ch: int = 32, self_attention: bool = True):
        super().__init__()
        L = n_blocks(size)
        widths = [ch * 2 ** (L - 1)] + [ch * 2 ** (L - 1 - k) for k in range(L)]  # 128 px: 16,16,8,4,2,1 x ch
        self.seed_channels = widths[0]
        self.dense = nn.Linear(z_dim, widths[0] * 4 * 4)
        self.blocks = nn.ModuleList(UpResBlock(widths[k], widths[k + 1], z_dim) for k in range(L))
        self.attention = SelfAttention(widths[L - 1]) if self_attention else nn.Identity()
        self.norm_out = ConditionalInstanceNorm(ch, z_dim)
        self.conv_out = sn_conv(ch + 1, 3, 3)

    def forward(self, m: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        B = z.shape[0]
        x = self.dense(z).view(B, self.seed_channels, 4, 4)      # (B, 16ch, 4, 4) at 128 px
        for k, block in enumerate(self.blocks):
            if k == len(self.blocks) - 1:
                x = self.attention(x)                            # (B, 2ch, size/2, size/2)
            x = block(x, m, z)
        h = torch.cat([F.relu(self.norm_out(x, z)), m], 1)      # (B, ch + 1, size, size)
        return torch.tanh(self.conv_out(h)) * m                  # (B, 3, size, size)


# ---------------------------------------------------------------------------
# D and δ (Table 5.2)


class DownResBlock(nn.Module):
    """[ReLU] -> conv3x3 -> ReLU -> conv3x3 -> avgpool2; shortcut: avgpool2 ->
    conv1x1; all SN with bias. The first block has no leading ReLU."""

    def __init__(self, c_in: int, c_out: int, first: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Identity() if first else nn.ReLU(),
            sn_conv(c_in, c_out, 3),
            nn.ReLU(),
            sn_conv(c_out, c_out, 3),
            nn.AvgPool2d(2),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), sn_conv(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class ResBlock(nn.Module):
    """ReLU -> conv3x3 -> ReLU -> conv3x3 (SN), identity shortcut, no pooling."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), sn_conv(channels, channels, 3), nn.ReLU(), sn_conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ResidualEncoder(nn.Module):
    """Table 5.2, the trunk of D and δ. At 128 px with nf = 64: down blocks to
    64x64x64, [self-attention], 128x32, 256x16, 512x8, 1024x4, a res block,
    spatial sum pooling and a linear layer (not spectrally normalised) to
    `out_features`: 1 for D, n x size_z for δ (whose δ_k thus share all but
    the last layer). D has self-attention; δ has none ([code])."""

    def __init__(self, size: int, nf: int = 64, out_features: int = 1, self_attention: bool = False):
        super().__init__()
        L = n_blocks(size)
        widths = [nf * 2**k for k in range(L)]                   # 128 px: 64 ... 1024
        self.first = DownResBlock(3, widths[0], first=True)
        self.attention = SelfAttention(widths[0]) if self_attention else nn.Identity()
        self.blocks = nn.Sequential(
            *(DownResBlock(widths[k - 1], widths[k]) for k in range(1, L)),
            ResBlock(widths[-1]),
        )
        self.linear = nn.Linear(widths[-1], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.attention(self.first(x))                        # (B, nf, size/2, size/2)
        h = self.blocks(h)                                       # (B, nf * 2^(L-1), 4, 4)
        return self.linear(h.sum((2, 3)))                        # (B, out_features)


# ---------------------------------------------------------------------------
# The whole model


class ReDO(nn.Module):
    """F, G_1..G_n, D and δ, and the redrawing of Eq. 5.5.

    `forward(I, z)` returns, for every region i at once ([code]; equivalent
    in expectation to drawing one i ~ U(n)):
      M  (B, n, H, W)        = F(I)
      V  (B, n, 3, H, W)     V^i = G_i(M^i, z_i), zero outside M^i
      X  (B, n, 3, H, W)     X_i = V^i + (1 - M^i) ⊙ I: I with region i redrawn

    The buffers count collapse restarts and accumulate the smaller region's
    pixel share between checks (training state that must survive resume)."""

    def __init__(
        self,
        *,
        size: int = 128,
        n_regions: int = 2,
        z_dim: int = 32,
        ch: int = 32,
        nf_f: int = 64,
        n_res: int = 3,
        nf_d: int = 64,
        self_attention_g: bool = True,
        self_attention_d: bool = True,
        init_gain: float = 0.8,
    ):
        super().__init__()
        self.n_regions, self.z_dim, self.size = n_regions, z_dim, size
        self.F = MaskNetwork(size, n_regions, nf_f, n_res)
        self.G = nn.ModuleList(RegionGenerator(size, z_dim, ch, self_attention_g) for _ in range(n_regions))
        self.D = ResidualEncoder(size, nf_d, 1, self_attention_d)
        self.delta = ResidualEncoder(size, nf_d, n_regions * z_dim, self_attention=False)
        init_orthogonal(self, init_gain)
        self.register_buffer("restarts", torch.zeros((), dtype=torch.int64))
        self.register_buffer("share_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("share_count", torch.zeros((), dtype=torch.int64))

    def draw(self, masks: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """V^k = G_k(M^k, z_k) for every k: masks (B, n, H, W), z (B, n, size_z)."""
        V = [G_k(masks[:, k : k + 1], z[:, k]) for k, G_k in enumerate(self.G)]  # n x (B, 3, H, W)
        return torch.stack(V, 1)                                                  # (B, n, 3, H, W)

    @staticmethod
    def redraw(image: torch.Tensor, masks: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """Eq. 5.5 for each i: region i from V^i, the others from the image."""
        keep = (1 - masks).unsqueeze(2)                  # (B, n, 1, H, W)
        return V + keep * image.unsqueeze(1)             # (B, n, 3, H, W)

    def delta_z(self, image: torch.Tensor) -> torch.Tensor:
        """δ(image) -> (B, n, size_z): the z_k it recovers."""
        B = image.shape[0]
        return self.delta(image).view(B, self.n_regions, self.z_dim)  # (B, n, size_z)

    def forward(self, image: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        masks = self.F(image)                            # (B, n, H, W)
        V = self.draw(masks, z)                          # (B, n, 3, H, W)
        return masks, V, self.redraw(image, masks, V)
