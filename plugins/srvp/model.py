"""SRVP networks (thesis §3.2.1, Fig. 3.10; implementation details §3.2.2).

Leaves to root: conv blocks, the frame encoder e_φ and decoder g_θ (DCGAN for
Moving MNIST, VGG with skip connections for KTH, Human3.6M and BAIR, as in
SVG), the MLPs, the content network c_ψ, then `SRVP`, which holds them all:

    x̃_t = e_φ(x_t)                                  each frame encoded alone
    w = c_ψ(x̃_{i1..ik})                             permutation-invariant content (Eq. 3.7)
    h_1 ~ q(h_1 | x̃_{1:k})                           MLP on the first k encodings
    z_t ~ q(z_t | x̃_{1:t})  (filtering LSTM)  or  N(μ_θ(h_{t-1}), σ_θ(h_{t-1}))  (prior)
    h_t = h_{t-1} + f_θ(h_{t-1}, z_t)                residual update (Eq. 3.6)
    x̂_t = g_θ(h_t, w)                                each frame decoded alone

Frames are (B, T, C, S, S) in [0, 1]; S = 64 in the thesis. The conv stacks
have log2(S) - 2 resolution levels (4 at 64 px), so a smaller S only drops
levels: the layers at each level are the thesis's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# Conv blocks


def conv_block(conv: nn.Module, channels: int, bn: bool = True) -> nn.Sequential:
    """conv -> [BatchNorm] -> LeakyReLU(0.2), the block of every DCGAN/VGG layer."""
    layers = [conv] + ([nn.BatchNorm2d(channels)] if bn else []) + [nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers)


def levels(size: int) -> int:
    """Resolution levels from `size` down to 4x4 (4 at 64 px)."""
    n = int(math.log2(size)) - 2
    if size != 2 ** (n + 2) or n < 1:
        raise ValueError(f"frame size must be a power of two >= 8, got {size}")
    return n


# ---------------------------------------------------------------------------
# e_φ and g_θ


class DCGANEncoder(nn.Module):
    """DCGAN discriminator as e_φ: 4x4 stride-2 convs, then a 4x4 valid conv to
    the encoding, BN and tanh. Returns the encoding and each level's output."""

    def __init__(self, channels: int, size: int, nf: int, out: int):
        super().__init__()
        widths = [nf * 2**i for i in range(levels(size))]  # 64, 128, 256, 512 at 64 px
        ins = [channels] + widths[:-1]
        self.blocks = nn.ModuleList(
            conv_block(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), cout, bn=i > 0)
            for i, (cin, cout) in enumerate(zip(ins, widths))
        )
        self.last = nn.Sequential(nn.Conv2d(widths[-1], out, 4, 1, 0, bias=False), nn.BatchNorm2d(out), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        N = x.shape[0]  # x: (N, C, S, S)
        skips = []
        for block in self.blocks:
            x = block(x)
            skips.append(x)  # (N, w_i, S / 2^(i+1), ...)
        return self.last(x).view(N, -1), skips[::-1]  # (N, out), deepest level first


class DCGANDecoder(nn.Module):
    """DCGAN generator as g_θ: a 4x4 transposed conv from the input vector,
    then 4x4 stride-2 transposed convs, sigmoid. With `skip`, each level takes
    the encoder's feature map of that level concatenated to its input."""

    def __init__(self, channels: int, size: int, nf: int, inp: int, skip: bool):
        super().__init__()
        widths = [nf * 2**i for i in range(levels(size))]
        k = 2 if skip else 1
        self.first = conv_block(nn.ConvTranspose2d(inp, widths[-1], 4, 1, 0, bias=False), widths[-1])
        outs = widths[::-1][1:]  # 256, 128, 64 at 64 px
        self.blocks = nn.ModuleList(
            conv_block(nn.ConvTranspose2d(cin * k, cout, 4, 2, 1, bias=False), cout)
            for cin, cout in zip(widths[::-1][:-1], outs)
        )
        self.blocks.append(nn.ConvTranspose2d(widths[0] * k, channels, 4, 2, 1, bias=False))
        self.skip = skip

    def forward(self, v: torch.Tensor, skips: list[torch.Tensor] | None = None) -> torch.Tensor:
        N, D = v.shape
        x = self.first(v.view(N, D, 1, 1))  # (N, w_last, 4, 4)
        for i, block in enumerate(self.blocks):
            if self.skip:
                x = torch.cat([x, skips[i]], dim=1)  # (N, 2 w, s, s)
            x = block(x)
        return torch.sigmoid(x)  # (N, C, S, S)


# VGG16-style levels: (convs, width multiplier) at each resolution, SVG's "vgg_64"
VGG_LEVELS = ((2, 1), (2, 2), (3, 4), (3, 8))


class VGGEncoder(nn.Module):
    """VGG16-style e_φ: 3x3 conv blocks separated by 2x2 max-pooling, then a
    max-pool and a 4x4 valid conv to the encoding, BN and tanh."""

    def __init__(self, channels: int, size: int, nf: int, out: int):
        super().__init__()
        plan = VGG_LEVELS[: levels(size)]
        self.blocks = nn.ModuleList()
        cin = channels
        for i, (n, mult) in enumerate(plan):
            layers = [nn.MaxPool2d(2)] if i > 0 else []
            for _ in range(n):
                layers.append(conv_block(nn.Conv2d(cin, nf * mult, 3, 1, 1, bias=False), nf * mult))
                cin = nf * mult
            self.blocks.append(nn.Sequential(*layers))
        self.last = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(cin, out, 4, 1, 0, bias=False), nn.BatchNorm2d(out), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        N = x.shape[0]  # x: (N, C, S, S)
        skips = []
        for block in self.blocks:
            x = block(x)
            skips.append(x)  # (N, nf * mult_i, S / 2^i, ...)
        return self.last(x).view(N, -1), skips[::-1]  # (N, out), deepest level first


class VGGDecoder(nn.Module):
    """The mirrored VGG g_θ: a 4x4 transposed conv and nearest x2 upsampling,
    then per level 3x3 convs (the last one narrowing to the next level's width)
    and an upsampling; the top level ends with a 3x3 transposed conv and sigmoid."""

    def __init__(self, channels: int, size: int, nf: int, inp: int, skip: bool):
        super().__init__()
        plan = VGG_LEVELS[: levels(size)]
        k = 2 if skip else 1
        top = nf * plan[-1][1]
        self.first = nn.Sequential(conv_block(nn.ConvTranspose2d(inp, top, 4, 1, 0, bias=False), top),
                                   nn.Upsample(scale_factor=2, mode="nearest"))
        self.blocks = nn.ModuleList()
        for i in reversed(range(len(plan))):
            n, mult = plan[i]
            width = nf * mult
            narrow = nf * plan[i - 1][1] if i > 0 else nf
            layers, cin = [], width * k
            for _ in range(n - 1):  # convs at this level's width; the first takes the skip too
                layers.append(conv_block(nn.Conv2d(cin, width, 3, 1, 1, bias=False), width))
                cin = width
            if i > 0:
                layers += [conv_block(nn.Conv2d(cin, narrow, 3, 1, 1, bias=False), narrow),
                           nn.Upsample(scale_factor=2, mode="nearest")]
            else:
                layers.append(nn.ConvTranspose2d(cin, channels, 3, 1, 1, bias=False))
            self.blocks.append(nn.Sequential(*layers))
        self.skip = skip

    def forward(self, v: torch.Tensor, skips: list[torch.Tensor] | None = None) -> torch.Tensor:
        N, D = v.shape
        x = self.first(v.view(N, D, 1, 1))  # (N, top, 8, 8) at 64 px
        for i, block in enumerate(self.blocks):
            if self.skip:
                x = torch.cat([x, skips[i]], dim=1)  # (N, 2 w, s, s)
            x = block(x)
        return torch.sigmoid(x)  # (N, C, S, S)


ARCHITECTURES = {"dcgan": (DCGANEncoder, DCGANDecoder), "vgg": (VGGEncoder, VGGDecoder)}


# ---------------------------------------------------------------------------
# MLPs and the content network


class MLP(nn.Module):
    """`layers` linear layers with ReLU between them."""

    def __init__(self, inp: int, hidden: int, out: int, layers: int):
        super().__init__()
        dims = [inp] + [hidden] * (layers - 1) + [out]
        mods: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            mods.append(nn.Linear(a, b))
            if i < layers - 1:
                mods.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Content(nn.Module):
    """c_ψ: w = tanh(W2 Σ_i ReLU(W1 x̃_i)), invariant to the order of the k frames (Eq. 3.7)."""

    def __init__(self, enc: int, size: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(enc, size), nn.ReLU(inplace=True))
        self.out = nn.Sequential(nn.Linear(size, size), nn.Tanh())

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.out(self.proj(e).sum(dim=1))  # e: (B, k, E) -> (B, size)


def gaussian(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split (..., 2D) into a mean and a positive standard deviation (softplus)."""
    mu, raw = params.chunk(2, dim=-1)  # (..., D) each
    return mu, F.softplus(raw) + 1e-4


def rsample(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return mu + sigma * torch.randn_like(sigma)


# ---------------------------------------------------------------------------
# The model


class Rollout(NamedTuple):
    """What one pass of the latent dynamic produces (B batch, T frames)."""

    h: torch.Tensor          # (B, T, H) states h_1..h_T
    q_z: tuple | None        # (mu, sigma) of q(z_t | x̃_{1:t}), each (B, T_obs - 1, Z)
    p_z: tuple | None        # (mu, sigma) of p(z_t | h_{t-1}) at the same steps, (B, T_obs - 1, Z)
    residuals: torch.Tensor  # (B, T - 1, H) the f_θ(h_{t-1}, z_t)


class Output(NamedTuple):
    """A training pass: reconstructions and the distributions of the ELBO."""

    frames: torch.Tensor     # (B, T, C, S, S) x̂_t = g_θ(h_t, w)
    q_h1: tuple              # (mu, sigma) of q(h_1 | x̃_{1:k}), each (B, H)
    rollout: Rollout


class SRVP(nn.Module):
    """Stochastic Latent Residual Video Prediction (Franceschi et al. 2020; thesis §3.2)."""

    def __init__(self, *, arch: str, channels: int, size: int, nf: int, enc_size: int, content_size: int,
                 h_size: int, z_size: int, k: int, inf_hidden: int, inf_layers: int, lstm_hidden: int,
                 res_hidden: int, res_layers: int, skip: bool, res_gain: float):
        super().__init__()
        Encoder, Decoder = ARCHITECTURES[arch]
        self.k, self.skip, self.h_size, self.z_size = k, skip, h_size, z_size
        self.encoder = Encoder(channels, size, nf, enc_size)                        # e_φ
        self.decoder = Decoder(channels, size, nf, content_size + h_size, skip)     # g_θ
        self.content = Content(enc_size, content_size)                              # c_ψ
        self.q_h1 = MLP(k * enc_size, inf_hidden, 2 * h_size, inf_layers)           # q(h_1 | x̃_{1:k})
        self.q_z_lstm = nn.LSTM(enc_size, lstm_hidden, num_layers=1, batch_first=True)
        self.q_z = nn.Linear(lstm_hidden, 2 * z_size)                                # q(z_t | x̃_{1:t})
        self.prior = MLP(h_size, res_hidden, 2 * z_size, res_layers)                # μ_θ, σ_θ
        self.residual = MLP(h_size + z_size, res_hidden, h_size, res_layers)        # f_θ
        self.reset_parameters(res_gain)

    def reset_parameters(self, res_gain: float) -> None:
        """e_φ, g_θ ~ N(0, 0.02) (BN scales ~ N(1, 0.02)); f_θ orthogonal with
        gain `res_gain`; the other MLPs keep PyTorch's default (§3.2.2)."""
        for module in list(self.encoder.modules()) + list(self.decoder.modules()):
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)
        for module in self.residual.modules():
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=res_gain)
                nn.init.zeros_(module.bias)

    # -- pieces -----------------------------------------------------------

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode each frame alone: (B, T, C, S, S) -> x̃ (B, T, E) and per-level
        skip maps, each (B, T, c, s, s), deepest first."""
        B, T = x.shape[:2]
        e, skips = self.encoder(x.flatten(0, 1))  # (B*T, E), [(B*T, c, s, s)]
        return e.view(B, T, -1), [s.view(B, T, *s.shape[1:]) for s in skips]

    def decode(self, h: torch.Tensor, w: torch.Tensor, skips: list[torch.Tensor] | None) -> torch.Tensor:
        """Decode every state alone, in one batched call:
        h (B, T, H), w (B, W), skips [(B, c, s, s)] -> (B, T, C, S, S)."""
        B, T, _ = h.shape
        v = torch.cat([w.unsqueeze(1).expand(-1, T, -1), h], dim=-1).flatten(0, 1)  # (B*T, W + H)
        if self.skip:
            skips = [s.unsqueeze(1).expand(-1, T, *s.shape[1:]).flatten(0, 1) for s in skips]  # (B*T, c, s, s)
        frames = self.decoder(v, skips if self.skip else None)  # (B*T, C, S, S)
        return frames.view(B, T, *frames.shape[1:])

    def infer_h1(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(h_1 | x̃_{1:k}): e (B, k, E) concatenated -> (mu, sigma), each (B, H)."""
        return gaussian(self.q_h1(e.flatten(1)))  # (B, k*E) -> (B, 2H)

    def rollout(self, h1: torch.Tensor, e: torch.Tensor | None, steps: int) -> Rollout:
        """States h_1..h_steps. While encodings e (B, T_obs, E) are given,
        z_t ~ q(z_t | x̃_{1:t}) (a forward LSTM: filtering); after them,
        z_t ~ p(z_t | h_{t-1}), the learned prior."""
        t_obs = 0 if e is None else e.shape[1]
        q_params = gaussian(self.q_z(self.q_z_lstm(e)[0])) if t_obs > 1 else None  # (B, T_obs, Z) each
        h, res, p_mu, p_sigma = [h1], [], [], []
        for t in range(1, steps):  # 0-based index of the state being computed
            prior = gaussian(self.prior(h[-1]))  # (B, Z) each
            if t < t_obs:
                z = rsample(q_params[0][:, t], q_params[1][:, t])
                p_mu.append(prior[0])
                p_sigma.append(prior[1])
            else:
                z = rsample(*prior)
            r = self.residual(torch.cat([h[-1], z], dim=-1))  # (B, H)
            h.append(h[-1] + r)
            res.append(r)
        q_z = (q_params[0][:, 1:steps], q_params[1][:, 1:steps]) if q_params is not None else None
        p_z = (torch.stack(p_mu, 1), torch.stack(p_sigma, 1)) if p_mu else None  # (B, T_obs - 1, Z)
        residuals = torch.stack(res, 1) if res else h1.new_zeros(h1.shape[0], 0, h1.shape[1])
        return Rollout(torch.stack(h, 1), q_z, p_z, residuals)  # h: (B, steps, H)

    # -- training and prediction ------------------------------------------

    def forward(self, x: torch.Tensor) -> Output:
        """The training pass on clips x (B, T, C, S, S): w from k frames drawn
        at random in the clip, skips from one random frame, h_1 from the first
        k frames, every z_t from the filtering posterior."""
        B, T = x.shape[:2]
        e, skips = self.encode(x)  # (B, T, E)
        pick = torch.rand(B, T, device=x.device).argsort(dim=1)[:, : self.k]  # (B, k) distinct frames
        w = self.content(torch.gather(e, 1, pick.unsqueeze(-1).expand(-1, -1, e.shape[-1])))  # (B, W)
        frame = torch.randint(T, (B,), device=x.device)
        batch = torch.arange(B, device=x.device)
        chosen = [s[batch, frame] for s in skips]  # [(B, c, s, s)]
        q_h1 = self.infer_h1(e[:, : self.k])
        roll = self.rollout(rsample(*q_h1), e, T)
        return Output(self.decode(roll.h, w, chosen), q_h1, roll)

    def predict(self, cond: torch.Tensor, n_pred: int, *, with_cond: bool = False) -> torch.Tensor:
        """Condition on frames (B, n_cond, C, S, S) and sample one future each:
        (B, n_pred, C, S, S), or (B, n_cond + n_pred, ...) reconstructions
        included with `with_cond`. w comes from the last k conditioning frames,
        skips from the last one; the future is decoded in one batched call."""
        n_cond = cond.shape[1]
        e, skips = self.encode(cond)  # (B, n_cond, E)
        w = self.content(e[:, -self.k :])
        h1 = rsample(*self.infer_h1(e[:, : self.k]))
        roll = self.rollout(h1, e, n_cond + n_pred)
        h = roll.h if with_cond else roll.h[:, n_cond:]  # (B, n_pred, H)
        return self.decode(h, w, [s[:, -1] for s in skips])

    # -- content swap and interpolation of dynamics (§3.2.3) ---------------

    def swap(self, content: torch.Tensor, dynamics: torch.Tensor, n_pred: int = 0) -> torch.Tensor:
        """Content swap (Figs. 3.15, 3.30): w (from the last k frames) and the
        skips (from the last frame) of `content` (B, n, C, S, S), with the
        dynamics (h_1, then every z_t from the filtering posterior) inferred
        from `dynamics` (B, T, C, S, S), then `n_pred` states from the prior.
        Returns (B, T + n_pred, C, S, S)."""
        e_c, skips_c = self.encode(content)
        w = self.content(e_c[:, -self.k :])
        e_d, _ = self.encode(dynamics)
        h1 = rsample(*self.infer_h1(e_d[:, : self.k]))
        roll = self.rollout(h1, e_d, dynamics.shape[1] + n_pred)
        return self.decode(roll.h, w, [s[:, -1] for s in skips_c])

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of q(h_1 | x̃_{1:k}) for clips x (B, T >= k, C, S, S): (B, H)."""
        e, _ = self.encode(x[:, : self.k])
        return self.infer_h1(e)[0]

    def content_of(self, context: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """w and the skips (of the k-th frame) from the first k frames of
        `context` (B, >= k, C, S, S): ((B, W), [(B, c, s, s)])."""
        e, skips = self.encode(context[:, : self.k])
        return self.content(e), [s[:, -1] for s in skips]

    def generate(self, h1: torch.Tensor, w: torch.Tensor, skips: list[torch.Tensor], steps: int) -> torch.Tensor:
        """Frames from given initial states h1 (B, H), every z_t drawn from the
        prior, with content w and skips from `content_of`: (B, steps, C, S, S)."""
        return self.decode(self.rollout(h1, None, steps).h, w, skips)
