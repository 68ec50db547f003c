"""mAR-SCF (Ch. 6): a multi-scale split-coupling flow with multi-scale
autoregressive priors, and Glow, the same flow with Gaussian split priors.

Leaves to root: squeeze, ActNorm, the invertible 1×1 convolution, the affine
and MixLogCDF couplings, StepOfFlow; then the priors (the Conv-LSTM of
Eq. 2.12, the mAR prior of Eq. 6.4–6.6, Glow's Gaussian prior); then the
whole model, `SplitFlow`.

Every flow layer maps `forward(x) -> (y, logdet)` with logdet (B,) and
`reverse(y) -> x`. The model maps an image x (centred dequantized values in
[-0.5, 0.5)) to the latent z = {l_1, ..., l_{n-1}, h_n} (Fig. 6.2b) and
log p(x) = log p_phi(z) + sum_i log|det J_i| (Eq. 6.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def squeeze2d(x: torch.Tensor) -> torch.Tensor:
    """Space to depth: 2×2 neighbourhoods become 4 channels (§6.3)."""
    B, C, H, W = x.shape
    x = x.view(B, C, H // 2, 2, W // 2, 2)  # (B, C, H/2, 2, W/2, 2)
    x = x.permute(0, 1, 3, 5, 2, 4)  # (B, C, 2, 2, H/2, W/2)
    return x.reshape(B, 4 * C, H // 2, W // 2)  # (B, 4C, H/2, W/2)


def unsqueeze2d(x: torch.Tensor) -> torch.Tensor:
    """Depth to space, the inverse of `squeeze2d`."""
    B, C4, H, W = x.shape
    x = x.view(B, C4 // 4, 2, 2, H, W)  # (B, C, 2, 2, H, W)
    x = x.permute(0, 1, 4, 2, 5, 3)  # (B, C, H, 2, W, 2)
    return x.reshape(B, C4 // 4, 2 * H, 2 * W)  # (B, C, 2H, 2W)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, logs: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(logs)^2) summed over all but the batch dimension."""
    logp = -0.5 * (LOG_2PI + 2 * logs + (x - mean) ** 2 * torch.exp(-2 * logs))
    return logp.flatten(1).sum(1)


def gaussian_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like `like`, drawn from `generator` (on
    its own device) or from the global generator."""
    if generator is None:
        return torch.randn_like(like)
    return torch.randn(like.shape, generator=generator, device=generator.device).to(like)


# ---------------------------------------------------------------------------
# Flow layers


class ActNorm(nn.Module):
    """Per-channel affine y = (x + loc) * exp(logs), initialised from the
    first training batch so that y has zero mean and unit variance per
    channel (Glow). `initialized` is a buffer, so loaded weights are never
    re-initialised; under torch.distributed the statistics are averaged over
    processes so every copy starts the same."""

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
        sq = (x**2).mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
        if dist.is_available() and dist.is_initialized():
            stats = torch.cat([mean, sq])  # (2, C, 1, 1)
            dist.all_reduce(stats)
            stats /= dist.get_world_size()
            mean, sq = stats[:1], stats[1:]
        std = (sq - mean**2).clamp_min(0).sqrt()
        self.loc.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, H, W = x.shape
        if self.training and not self.initialized:
            self._initialize(x)
        y = (x + self.loc) * torch.exp(self.logs)
        logdet = (H * W * self.logs.sum()).expand(B)
        return y, logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.logs) - self.loc


class InvConv1x1(nn.Module):
    """Invertible 1×1 convolution, LU-parameterised (Glow): W = P L (U + diag(s)),
    P fixed, L unit lower triangular, s = sign * exp(log_s). Initialised
    from a random rotation (QR of a Gaussian matrix).
    log|det| = H * W * sum(log_s)."""

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def weight(self) -> torch.Tensor:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ lower @ upper  # (C, C)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, H, W = x.shape
        y = F.conv2d(x, self.weight().view(C, C, 1, 1))
        logdet = (H * W * self.log_s.sum()).expand(B)
        return y, logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        C = y.shape[1]
        inverse = torch.linalg.inv(self.weight().double()).to(y.dtype)  # (C, C)
        return F.conv2d(y, inverse.view(C, C, 1, 1))


class ZeroConv2d(nn.Module):
    """A convolution initialised to output zeros, with a learned per-channel
    output scale exp(3 * logs) (Glow's Conv2dZeros)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.logs = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * torch.exp(3 * self.logs)


class AffineNN(nn.Module):
    """The affine coupling's network (Glow): Conv3×3 + ActNorm + ReLU,
    Conv1×1 + ActNorm + ReLU, zero-initialised Conv3×3."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False)
        self.norm1 = ActNorm(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.norm2 = ActNorm(hidden)
        self.out = ZeroConv2d(hidden, out_channels)
        nn.init.normal_(self.conv1.weight, std=0.05)
        nn.init.normal_(self.conv2.weight, std=0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x))[0])
        h = F.relu(self.norm2(self.conv2(h))[0])
        return self.out(h)


class AffineCoupling(nn.Module):
    """Affine coupling (Eq. 2.10–2.11, Glow form): the first half x_a passes,
    the second is y_b = (x_b + shift(x_a)) * sigmoid(raw(x_a) + 2).
    Shift and scale come from interleaved output channels."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.ca = channels // 2
        self.nn = AffineNN(self.ca, 2 * (channels - self.ca), hidden)

    def _shift_scale(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.nn(xa)  # (B, 2 Cb, H, W)
        return h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0)  # (B, Cb, H, W) each

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x[:, : self.ca], x[:, self.ca :]  # (B, Ca, H, W), (B, Cb, H, W)
        shift, scale = self._shift_scale(xa)
        yb = (xb + shift) * scale
        return torch.cat([xa, yb], 1), torch.log(scale).flatten(1).sum(1)

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        ya, yb = y[:, : self.ca], y[:, self.ca :]
        shift, scale = self._shift_scale(ya)
        return torch.cat([ya, yb / scale - shift], 1)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of each position."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C, H, W)


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    return F.elu(torch.cat([x, -x], 1))  # (B, 2C, H, W)


class GatedConv(nn.Module):
    """Flow++'s gated residual convolution: x + GLU(conv(drop(concat_elu(conv(concat_elu(x))))))."""

    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, channels, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.gate = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gate(self.drop(concat_elu(self.conv(concat_elu(x)))))  # (B, 2C, H, W)
        a, b = h.chunk(2, 1)
        return x + a * torch.sigmoid(b)


class GatedAttention(nn.Module):
    """Flow++'s gated multi-head self-attention over all positions."""

    def __init__(self, channels: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.drop = nn.Dropout(dropout)
        self.gate = nn.Conv2d(channels, 2 * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        qkv = self.qkv(x).view(B, 3, self.heads, C // self.heads, H * W)  # (B, 3, nh, hs, HW)
        q, k, v = qkv.transpose(3, 4).unbind(1)  # (B, nh, HW, hs) each
        h = F.scaled_dot_product_attention(q, k, v)  # (B, nh, HW, hs)
        h = h.transpose(2, 3).reshape(B, C, H, W)  # (B, C, H, W)
        a, b = self.gate(self.drop(h)).chunk(2, 1)
        return x + a * torch.sigmoid(b)


class MixLogCDFNN(nn.Module):
    """The MixLogCDF coupling's network (Flow++): a 3×3 convolution, `blocks`
    blocks of gated convolution and gated self-attention, each followed by a
    layer norm, and a zero-initialised 3×3 convolution."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int, blocks: int, dropout: float, heads: int = 4):
        super().__init__()
        heads = heads if hidden % heads == 0 else 1
        self.inp = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            self.blocks.append(nn.ModuleList([
                GatedConv(hidden, dropout), ChannelLayerNorm(hidden),
                GatedAttention(hidden, heads, dropout), ChannelLayerNorm(hidden),
            ]))
        self.out = nn.Conv2d(hidden, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)  # (B, hidden, H, W)
        for conv, norm1, attn, norm2 in self.blocks:
            h = norm2(attn(norm1(conv(h))))
        return self.out(h)


class MixLogCDFCoupling(nn.Module):
    """MixLogCDF coupling (Flow++, Ho et al. 2019): the second half becomes

        y_b = logit(sum_k pi_k sigmoid((x_b - mu_k) / s_k)) * exp(a) + b,

    with (pi, mu, log s, a, b) per element from a network on the first half.
    Everything is evaluated in log space (log F and log(1 - F) as
    log-sum-exps of log-sigmoids), so no CDF value is clamped. The inverse
    solves logit F(x) = (y - b) exp(-a) by bisection inside the exact bracket
    [min_k mu_k + s_k t, max_k mu_k + s_k t], since the mixture's logit lies
    between its components' logits."""

    def __init__(self, channels: int, hidden: int, components: int, blocks: int, dropout: float,
                 iterations: int = 100):
        super().__init__()
        self.ca, self.cb, self.k = channels // 2, channels - channels // 2, components
        self.nn = MixLogCDFNN(self.ca, self.cb * (2 + 3 * components), hidden, blocks, dropout)
        self.rescale = nn.Parameter(torch.ones(1, self.cb, 1, 1))
        self.iterations = iterations

    def _params(self, xa: torch.Tensor):
        B, _, H, W = xa.shape
        p = self.nn(xa).view(B, self.cb, 2 + 3 * self.k, H, W)  # (B, Cb, 2+3K, H, W)
        a = self.rescale * torch.tanh(p[:, :, 0])  # (B, Cb, H, W)
        b = p[:, :, 1]
        log_pi = F.log_softmax(p[:, :, 2 : 2 + self.k], dim=2)  # (B, Cb, K, H, W)
        mu = p[:, :, 2 + self.k : 2 + 2 * self.k]
        log_s = p[:, :, 2 + 2 * self.k :].clamp(min=-7.0)
        return a, b, log_pi, mu, log_s

    @staticmethod
    def _logit_cdf(x, log_pi, mu, log_s):
        """logit F(x), log F(x), log(1 - F(x)) and log f(x) of the mixture."""
        z = (x.unsqueeze(2) - mu) * torch.exp(-log_s)  # (B, Cb, K, H, W)
        log_f = torch.logsumexp(log_pi + F.logsigmoid(z), 2)
        log_1mf = torch.logsumexp(log_pi + F.logsigmoid(-z), 2)
        log_pdf = torch.logsumexp(log_pi - z - log_s - 2 * F.softplus(-z), 2)
        return log_f - log_1mf, log_f, log_1mf, log_pdf

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x[:, : self.ca], x[:, self.ca :]
        a, b, log_pi, mu, log_s = self._params(xa)
        u, log_f, log_1mf, log_pdf = self._logit_cdf(xb, log_pi, mu, log_s)
        yb = u * torch.exp(a) + b
        logdet = (log_pdf - log_f - log_1mf + a).flatten(1).sum(1)
        return torch.cat([xa, yb], 1), logdet

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        ya, yb = y[:, : self.ca], y[:, self.ca :]
        a, b, log_pi, mu, log_s = self._params(ya)
        t = (yb - b) * torch.exp(-a)  # target logit, (B, Cb, H, W)
        ends = mu + torch.exp(log_s) * t.unsqueeze(2)  # (B, Cb, K, H, W)
        lo, hi = ends.min(2).values, ends.max(2).values
        tol = 8 * torch.finfo(t.dtype).eps
        for _ in range(self.iterations):
            mid = (lo + hi) / 2
            below = self._logit_cdf(mid, log_pi, mu, log_s)[0] < t
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
            if ((hi - lo) <= tol * (1 + mid.abs())).all():
                break
        return torch.cat([ya, (lo + hi) / 2], 1)


class StepOfFlow(nn.Module):
    """ActNorm, invertible 1×1 convolution, coupling (App. D.1)."""

    def __init__(self, channels: int, coupling: nn.Module):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvConv1x1(channels)
        self.coupling = coupling

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, ld1 = self.actnorm(x)
        x, ld2 = self.invconv(x)
        x, ld3 = self.coupling(x)
        return x, ld1 + ld2 + ld3

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return self.actnorm.reverse(self.invconv.reverse(self.coupling.reverse(y)))


# ---------------------------------------------------------------------------
# Priors


class ConvLSTMCell(nn.Module):
    """One Conv-LSTM layer with peepholes (Eq. 2.12). One convolution of
    [X_t, H_{t-1}] gives W_x*X + W_h*H + b for the four gates. The peephole
    weights W_c are per channel (broadcast over positions) rather than per
    position, so the prior runs on any image size."""

    def __init__(self, in_channels: int, hidden: int, kernel: int, dilation: int = 1):
        super().__init__()
        self.hidden = hidden
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=pad, dilation=dilation)
        self.w_ci = nn.Parameter(torch.zeros(1, hidden, 1, 1))
        self.w_cf = nn.Parameter(torch.zeros(1, hidden, 1, 1))
        self.w_co = nn.Parameter(torch.zeros(1, hidden, 1, 1))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state  # (B, hidden, H, W) each
        gi, gf, gc, go = self.conv(torch.cat([x, h], 1)).chunk(4, 1)  # (B, hidden, H, W) each
        i = torch.sigmoid(gi + self.w_ci * c)
        f = torch.sigmoid(gf + self.w_cf * c)
        c = f * c + i * torch.tanh(gc)
        o = torch.sigmoid(go + self.w_co * c)
        h = o * torch.tanh(c)
        return h, (h, c)


class ConvLSTM(nn.Module):
    """Stacked Conv-LSTM layers; `step` advances all of them by one time step."""

    def __init__(self, in_channels: int, hidden: int, layers: int, kernel: int, dilation: int):
        super().__init__()
        self.cells = nn.ModuleList(
            ConvLSTMCell(in_channels if i == 0 else hidden, hidden, kernel, dilation) for i in range(layers)
        )

    def initial_state(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        B, _, H, W = x.shape
        zeros = x.new_zeros(B, self.cells[0].hidden, H, W)
        return [(zeros, zeros) for _ in self.cells]

    def step(self, x: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        new = []
        for cell, state in zip(self.cells, states):
            x, state = cell(x, state)
            new.append(state)
        return x, new


class MARPrior(nn.Module):
    """The multi-scale autoregressive prior of one level (Eq. 6.4–6.6,
    Fig. D.1): p(l | r) = prod_j N(l^j; mu^j, sigma^j), autoregressive over
    the channels j of l, every position of a channel in parallel.

    Step j of the Conv-LSTM sees the previous channel l^{j-1} (zeros for
    j = 1) concatenated with `cond_channels` convolutional features of the
    kept half r (Conv5×5 -> ReLU -> Conv5×5), embedded by a convolution; a
    zero-initialised Conv3×3 of its output gives (mu^j, log sigma^j). With
    `cond_in = 0` the prior is unconditional (the top level, p(h_n))."""

    def __init__(self, channels: int, cond_in: int, *, filters: int, layers: int, kernel: int, dilation: int,
                 cond_channels: int = 4, cond_hidden: int = 32):
        super().__init__()
        self.channels = channels
        pad = dilation * (kernel - 1) // 2
        self.condition = None
        if cond_in:
            self.condition = nn.Sequential(
                nn.Conv2d(cond_in, cond_hidden, 5, padding=2),
                nn.ReLU(),
                nn.Conv2d(cond_hidden, cond_channels, 5, padding=2),
            )
        self.cond_channels = cond_channels if cond_in else 0
        self.embed = nn.Conv2d(1 + self.cond_channels, filters, kernel, padding=pad, dilation=dilation)
        self.lstm = ConvLSTM(filters, filters, layers, kernel, dilation)
        self.out = nn.Conv2d(filters, 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _features(self, r: torch.Tensor | None) -> torch.Tensor | None:
        return self.condition(r) if self.condition is not None else None  # (B, 4, H, W)

    def params(self, l: torch.Tensor, r: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced (mean, log-std), each (B, C, H, W), of every channel."""
        B, C, H, W = l.shape
        prev = torch.cat([l.new_zeros(B, 1, H, W), l[:, :-1]], 1)  # (B, C, H, W): input j is l^{j-1}
        steps = prev.transpose(0, 1).unsqueeze(2)  # (C, B, 1, H, W), time-major
        cond = self._features(r)
        if cond is not None:
            steps = torch.cat([steps, cond.unsqueeze(0).expand(C, -1, -1, -1, -1)], 2)  # (C, B, 1+4, H, W)
        x = self.embed(steps.flatten(0, 1)).view(C, B, -1, H, W)  # (C, B, filters, H, W)
        states = self.lstm.initial_state(x[0])
        outs = []
        for j in range(C):
            h, states = self.lstm.step(x[j], states)
            outs.append(h)
        out = self.out(torch.stack(outs).flatten(0, 1)).view(C, B, 2, H, W)  # (C, B, 2, H, W)
        return out[:, :, 0].transpose(0, 1), out[:, :, 1].transpose(0, 1)  # (B, C, H, W) each

    def log_prob(self, l: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        mean, logs = self.params(l, r)
        return gaussian_log_prob(l, mean, logs)

    def sample(self, r: torch.Tensor | None, shape: Sequence[int], temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample l channel by channel (Eq. 6.6); shape is (B, C, H, W)."""
        B, C, H, W = shape
        weight = self.out.weight
        cond = self._features(r)
        prev = weight.new_zeros(B, 1, H, W)
        states = None
        channels = []
        for _ in range(C):
            inp = prev if cond is None else torch.cat([prev, cond], 1)  # (B, 1+4, H, W)
            x = self.embed(inp)
            if states is None:
                states = self.lstm.initial_state(x)
            h, states = self.lstm.step(x, states)
            mean, logs = self.out(h).chunk(2, 1)  # (B, 1, H, W) each
            eps = gaussian_noise(mean, generator)
            prev = mean + torch.exp(logs) * temperature * eps
            channels.append(prev)
        return torch.cat(channels, 1)  # (B, C, H, W)


class GaussianPrior(nn.Module):
    """Glow's prior: at a split, N(l; mu(r), sigma(r)) from a zero-initialised
    convolution of the kept half r (Split2d); at the top, a learned mean and
    log-std per channel (zero at the start: a standard Gaussian)."""

    def __init__(self, channels: int, cond_in: int):
        super().__init__()
        self.channels = channels
        if cond_in:
            self.conv = ZeroConv2d(cond_in, 2 * channels)
        else:
            self.conv = None
            self.top = nn.Parameter(torch.zeros(1, 2 * channels, 1, 1))

    def params(self, r: torch.Tensor | None, shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(r) if self.conv is not None else self.top.expand(shape[0], -1, shape[2], shape[3])
        return h[:, 0::2], h[:, 1::2]  # (B, C, H, W) each

    def log_prob(self, l: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        mean, logs = self.params(r, l.shape)
        return gaussian_log_prob(l, mean, logs)

    def sample(self, r: torch.Tensor | None, shape: Sequence[int], temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        mean, logs = self.params(r, shape)
        eps = gaussian_noise(mean, generator)
        return mean + torch.exp(logs) * temperature * eps


# ---------------------------------------------------------------------------
# The model


class FlowLevel(nn.Module):
    """Level i (Fig. 6.2b): Squeeze, |SCF| steps of flow, then (except at the
    top) Split into l_i (to the prior) and r_i (on to the next level)."""

    def __init__(self, in_channels: int, steps: int, make_coupling, split: bool):
        super().__init__()
        channels = 4 * in_channels
        self.steps = nn.ModuleList(StepOfFlow(channels, make_coupling(channels)) for _ in range(steps))
        self.split = split
        self.channels = channels
        self.l_channels = channels // 2 if split else channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = squeeze2d(x)  # (B, 4C, H/2, W/2)
        logdet = h.new_zeros(h.shape[0])
        for step in self.steps:
            h, ld = step(h)
            logdet = logdet + ld
        return h, logdet

    def reverse(self, h: torch.Tensor) -> torch.Tensor:
        for step in reversed(self.steps):
            h = step.reverse(h)
        return unsqueeze2d(h)  # (B, C, H, W)


class SplitFlow(nn.Module):
    """mAR-SCF (prior="mar") or Glow (prior="gaussian"): `levels` levels of
    squeeze, `steps` steps of flow and split, on images of `image_shape`.

    encode: x -> z = [l_1, ..., l_{n-1}, h_n] with the kept halves
    [r_1, ..., r_{n-1}] that condition the priors, and sum log|det J|.
    log_prob: Eq. 6.3. sample: MARPS (Algorithm 1)."""

    def __init__(self, image_shape: Sequence[int], *, levels: int, steps: int, coupling: str, hidden: int,
                 prior: str, lstm_layers: int, lstm_filters: int, prior_kernels: Sequence[int],
                 prior_dilations: Sequence[int], cond_channels: int, mix_components: int, mix_blocks: int,
                 dropout: float):
        super().__init__()
        C, H, W = image_shape
        self.image_shape = (C, H, W)

        def make_coupling(channels: int) -> nn.Module:
            if coupling == "affine":
                return AffineCoupling(channels, hidden)
            return MixLogCDFCoupling(channels, hidden, mix_components, mix_blocks, dropout)

        self.levels = nn.ModuleList()
        self.priors = nn.ModuleList()
        self.latent_shapes: list[tuple[int, int, int]] = []
        c, h, w = C, H, W
        for i in range(levels):
            top = i == levels - 1
            level = FlowLevel(c, steps, make_coupling, split=not top)
            c, h, w = level.channels, h // 2, w // 2
            lc = level.l_channels
            cond = 0 if top else c - lc
            if prior == "mar":
                k = prior_kernels[min(i, len(prior_kernels) - 1)]
                d = prior_dilations[min(i, len(prior_dilations) - 1)]
                self.priors.append(MARPrior(lc, cond, filters=lstm_filters, layers=lstm_layers, kernel=k,
                                            dilation=d, cond_channels=cond_channels))
            else:
                self.priors.append(GaussianPrior(lc, cond))
            self.levels.append(level)
            self.latent_shapes.append((lc, h, w))
            c = c - lc  # r_i continues

    @property
    def dims(self) -> int:
        C, H, W = self.image_shape
        return C * H * W

    def encode(self, x: torch.Tensor):
        """x (B, C, H, W) -> (zs, rs, logdet)."""
        zs, rs = [], []
        logdet = x.new_zeros(x.shape[0])
        h = x
        for level in self.levels:
            h, ld = level(h)
            logdet = logdet + ld
            if level.split:
                l, r = h[:, : level.l_channels], h[:, level.l_channels :]  # (B, C_i/2, N_i, N_i) each
                zs.append(l)
                rs.append(r)
                h = r
            else:
                zs.append(h)
                rs.append(None)
        return zs, rs, logdet

    def prior_log_prob(self, zs: Sequence[torch.Tensor], rs: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """log p_phi(z) = sum_i log p(l_i | r_i) + log p(h_n) (Eq. 6.4)."""
        return sum(prior.log_prob(z, r) for prior, z, r in zip(self.priors, zs, rs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats, (B,) (Eq. 6.3)."""
        zs, rs, logdet = self.encode(x)
        return self.prior_log_prob(zs, rs) + logdet

    def decode(self, zs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """z -> x, with the kept halves r_i met on the way (for log p_phi(z))."""
        h = zs[-1]
        rs: list[torch.Tensor | None] = [None] * len(self.levels)
        for i in reversed(range(len(self.levels))):
            level = self.levels[i]
            if level.split:
                rs[i] = h
                h = torch.cat([zs[i], h], 1)  # (B, C_i, N_i, N_i)
            h = level.reverse(h)
        return h, rs

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """MARPS (Algorithm 1): sample h_n, then for i = n-1 .. 1 invert the
        steps of level i+1, sample l_i ~ p(l_i | r_i) and concatenate."""
        h = None
        for i in reversed(range(len(self.levels))):
            level, prior = self.levels[i], self.priors[i]
            c, hh, ww = self.latent_shapes[i]
            if level.split:
                r = h  # r_i <- h_{i+1}
                l = prior.sample(r, (n, c, hh, ww), temperature, generator)
                h = torch.cat([l, r], 1)  # (B, C_i, N_i, N_i)
            else:
                h = prior.sample(None, (n, c, hh, ww), temperature, generator)
            h = level.reverse(h)
        return h
