"""SRVP: Stochastic Latent Residual Video Prediction (thesis §3.2; Franceschi,
Delasalles, Chen, Lamprier & Gallinari, ICML 2020).

The Config defaults are the thesis setting for Stochastic Moving MNIST;
`presets/thesis.toml` holds the KTH, Human3.6M and BAIR values (§3.2.2) and
`presets/quick.toml` the CPU demo on the embedded `smmnist-digits`.

Objective (Eq. 3.11-3.12), per clip x_{1:T}, averaged over the batch:

    loss = Σ_t -log N(x_t; g_θ(h_t, w), ν I) + KL(q(h_1) || N(0, I))
           + β Σ_{t≥2} KL(q(z_t | x_{1:t}) || N(μ_θ(h_{t-1}), σ_θ(h_{t-1})))
           + λ Σ_{t≥2} ||f_θ(h_{t-1}, z_t)||_2

with β = 2 on Moving MNIST only, λ = 1, and ν the observation variance.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from zoo.errors import ConfigError, InputError, MissingDependencyError
from zoo.method import Method

from .model import SRVP as SRVPNet
from .model import Output


@dataclass
class Config:
    # -- data (§3.2.2 "Datasets"; Stochastic Moving MNIST values, the others in presets/thesis.toml)
    frame_size: int = 64  # frames are S x S: 64 in every thesis data set
    channels: int = 1  # 1 for SM-MNIST and KTH, 3 for Human3.6M and BAIR
    train_len: int = 15  # frames per training clip: 15 SM-MNIST, 20 KTH, 16 Human3.6M, 12 BAIR
    n_cond: int = 5  # conditioning frames at test time: 5 SM-MNIST, 10 KTH, 8 Human3.6M, 2 BAIR
    n_pred: int = 20  # predicted frames at test time: 20 SM-MNIST, 30 KTH, 45 Human3.6M, 28 BAIR
    # -- networks (§3.2.2 "Implementation details")
    arch: str = "dcgan"  # e_φ/g_θ as in SVG: "dcgan" (SM-MNIST) or "vgg" (VGG16-style: KTH, Human3.6M, BAIR)
    skip: bool = False  # skip connections from every encoder level to the decoder (KTH, Human3.6M, BAIR)
    nf: int = 64  # filters of the first encoder conv, doubled per level (SVG's nf = 64)
    enc_size: int = 128  # size of the frame encoding x̃ = e_φ(x) (§3.2.2)
    content_size: int = 128  # size of w = c_ψ(...): 128 per §3.2.2 (the official code uses 256)
    h_size: int = 20  # size of the state h: 20 SM-MNIST, 50 KTH/Human3.6M/BAIR
    z_size: int = 20  # size of the stochastic variable z: 20 SM-MNIST, 50 others
    k: int = 5  # frames for w and q(h_1): 5 SM-MNIST, 3 KTH/Human3.6M, 2 BAIR
    inf_hidden: int = 256  # hidden size of the inference MLPs (q(h_1)) (§3.2.2)
    inf_layers: int = 3  # linear layers of the inference MLPs (§3.2.2)
    lstm_hidden: int = 256  # hidden units of the one-layer filtering LSTM of q(z_t | x_{1:t})
    res_hidden: int = 512  # hidden size of the forward-model MLPs (prior μθ/σθ and residual f_θ)
    res_layers: int = 4  # linear layers of the forward-model MLPs (§3.2.2)
    res_gain: float = 1.41  # orthogonal init gain of f_θ: 1.2 KTH/Human3.6M, 1.41 others
    # -- objective (Eq. 3.11-3.12)
    nu: float = 1.0  # observation variance ν of N(g_θ(h_t, w), ν I): 1 SM-MNIST, 0.04 KTH/Human3.6M, 0.5 BAIR
    lambda_res: float = 1.0  # λ, weight of the residual penalty Σ_t ||f_θ||_2 (Eq. 3.12)
    beta_z: float = 2.0  # weight of the z KL terms: 2 on Moving MNIST (β-VAE style), 1 elsewhere
    # -- optimisation (§3.2.2 "Optimization scheme", "Number of optimization steps")
    lr: float = 3e-4  # Adam learning rate
    batch_size: int = 128  # 128 SM-MNIST, 100 KTH/Human3.6M, 192 BAIR
    steps: int = 1_100_000  # 1M + 100k SM-MNIST, 150k + 50k KTH, 325k + 25k Human3.6M, 1M + 500k BAIR
    lr_decay_steps: int = 100_000  # the last steps, where the learning rate decays linearly to 0
    eval_every: int = 0  # 0: the final model (SM-MNIST, BAIR); KTH/Human3.6M keep the best eval PSNR
    ckpt_every: int = 10_000  # steps between training checkpoints
    # -- evaluation protocol (§3.2.2 "Metrics")
    eval_samples: int = 100  # futures sampled per test sequence; the best one per metric is kept
    eval_sequences: int = 0  # sequences evaluated (0: all); validation during training uses it too


# ---------------------------------------------------------------------------
# The terms of the objective, each (B,) per clip


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, nu: float) -> torch.Tensor:
    """-log N(x; mean, ν I), summed over frames and pixels: (B, T, C, S, S) -> (B,)."""
    return 0.5 * ((x - mean) ** 2 / nu + math.log(2 * math.pi * nu)).flatten(1).sum(1)


def kl_normal(mu_q: torch.Tensor, sigma_q: torch.Tensor, mu_p: torch.Tensor, sigma_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, sigma_q²) || N(mu_p, sigma_p²)) of diagonal Gaussians (thesis Eq. 2.2),
    summed over every dimension but the first: (B, ...) -> (B,)."""
    kl = torch.log(sigma_p / sigma_q) + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2) - 0.5
    return kl.flatten(1).sum(1)


def residual_penalty(residuals: torch.Tensor) -> torch.Tensor:
    """Σ_t ||f_θ(h_{t-1}, z_t)||_2, the plain (not squared) norm: (B, T-1, H) -> (B,)."""
    return residuals.norm(dim=-1).sum(1)


def srvp_loss(x: torch.Tensor, out: Output, config: Config) -> dict[str, torch.Tensor]:
    """The negative ELBO with the β-weighted z KL, plus λ times the residual penalty (Eq. 3.12)."""
    nll = gaussian_nll(x, out.frames, config.nu)
    kl_h1 = kl_normal(*out.q_h1, torch.zeros_like(out.q_h1[0]), torch.ones_like(out.q_h1[1]))
    roll = out.rollout
    kl_z = kl_normal(*roll.q_z, *roll.p_z) if roll.q_z is not None else torch.zeros_like(nll)
    res = residual_penalty(roll.residuals)
    loss = nll + kl_h1 + config.beta_z * kl_z + config.lambda_res * res
    return {"loss": loss.mean(), "nll": nll.mean(), "kl_h1": kl_h1.mean(), "kl_z": kl_z.mean(), "residual": res.mean()}


# ---------------------------------------------------------------------------
# The method


class SRVP(Method):
    name = "srvp"
    summary = ("Stochastic video prediction with a latent residual dynamic, a learned prior, "
               "a permutation-invariant content variable and filtering inference.")
    task = "video prediction"
    paper = ("J.-Y. Franceschi, E. Delasalles, M. Chen, S. Lamprier, P. Gallinari. Stochastic Latent Residual "
             "Video Prediction. ICML 2020 (thesis of M. Chen, §3.2)")
    datasets = ("smmnist-digits", "smmnist", "kth", "human36m", "bair")
    default_dataset = "smmnist-digits"
    Config = Config
    selection = ("psnr", "max")
    conformance = {
        "overrides": {"nf": 4, "enc_size": 16, "content_size": 16, "h_size": 4, "z_size": 4, "inf_hidden": 16,
                      "lstm_hidden": 16, "res_hidden": 16, "batch_size": 4, "train_len": 6, "n_cond": 3,
                      "n_pred": 3, "k": 2, "eval_samples": 2, "eval_sequences": 4},
        "sample_options": {"n_pred": 3},
        "evaluate_options": {"samples": 2, "sequences": 4},
    }

    def __init__(self, config: Config | None = None):
        super().__init__(config)
        c = self.config
        if c.arch not in ("dcgan", "vgg"):
            raise ConfigError(f"arch = {c.arch!r} is not an architecture", "choose 'dcgan' or 'vgg'")
        if c.frame_size < 8 or c.frame_size & (c.frame_size - 1):
            raise ConfigError(f"frame_size = {c.frame_size} must be a power of two, at least 8", "the thesis uses 64")
        if c.channels not in (1, 3):
            raise ConfigError(f"channels = {c.channels} must be 1 or 3")
        if c.k < 1 or c.train_len < max(c.k, 2) or c.n_cond < c.k:
            raise ConfigError(
                f"k = {c.k} frames infer h_1 and w, so train_len ({c.train_len}) and n_cond ({c.n_cond}) need at least k",
                "lower k or raise train_len / n_cond",
            )

    # -- data ---------------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict[str, Any]:
        c = self.config
        length = c.train_len if split == "train" else c.n_cond + c.n_pred
        return {"length": length, "size": c.frame_size, "channels": c.channels}

    # -- model and training ---------------------------------------------------

    def build(self) -> nn.Module:
        c = self.config
        return SRVPNet(arch=c.arch, channels=c.channels, size=c.frame_size, nf=c.nf, enc_size=c.enc_size,
                       content_size=c.content_size, h_size=c.h_size, z_size=c.z_size, k=c.k,
                       inf_hidden=c.inf_hidden, inf_layers=c.inf_layers, lstm_hidden=c.lstm_hidden,
                       res_hidden=c.res_hidden, res_layers=c.res_layers, skip=c.skip, res_gain=c.res_gain)

    def configure_optimizers(self, model: nn.Module) -> dict[str, Any]:
        """Adam at a constant rate, then a linear decay to 0 over the last
        `lr_decay_steps` steps (§3.2.2)."""
        c = self.config
        opt = torch.optim.Adam(model.parameters(), lr=c.lr)
        start = max(0, c.steps - c.lr_decay_steps)

        def factor(step: int) -> float:
            return 1.0 if step < start else max(0.0, (c.steps - step) / max(1, c.steps - start))

        return {"model": (opt, torch.optim.lr_scheduler.LambdaLR(opt, factor))}

    def train_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step) -> dict[str, Any]:
        x = batch["video"]  # (B, T, C, S, S)
        losses = srvp_loss(x, model(x), self.config)
        step.optimize("model", losses["loss"])
        return {k: v.detach() for k, v in losses.items()}

    # -- use ------------------------------------------------------------------

    def _conditioning(self, input: str | None, data: str, data_root: str | None, sequence: int,
                      n_cond: int, resize: bool, label: str = "") -> torch.Tensor:
        """(n_cond, C, S, S): the last n_cond frames of the user's video, or
        the first n_cond frames of a test sequence."""
        c = self.config
        if input:
            from zoo.video import load_video

            video = load_video(Path(input), size=c.frame_size, channels=c.channels, min_frames=n_cond, resize=resize)
            return video[-n_cond:]
        from zoo.data import load_dataset
        from zoo.plugin_manager import get_plugin_manager

        name = data or self.default_dataset
        self.check_dataset(name)
        options = {**self.data_options(name, "test"), "length": n_cond}
        test = load_dataset(get_plugin_manager().dataset(name), "test", data_root, **options)
        if not 0 <= sequence < len(test):
            raise InputError(f"{label or f'--sequence {sequence}'} is out of range",
                             f"the {name} test split has {len(test)} sequences, 0 to {len(test) - 1}")
        return test[sequence]["video"][:n_cond]

    @torch.no_grad()
    def sample(self, model: nn.Module, n: int, *, input: str | None = None, data: str = "",
               data_root: str | None = None, sequence: int = 0, n_cond: int = 0, n_pred: int = 0,
               resize: bool = False) -> torch.Tensor:
        """Condition on frames and roll out `n` futures. Returns (n, n_cond + n_pred, C, S, S):
        the conditioning frames, then each sampled future.

        Options:
            input: conditioning frames: a folder of frames or a video file (GIF/WebP/APNG; MP4 and others need imageio); its last --n-cond frames are used (default: a test sequence of --data)
            data: data set whose test split gives the conditioning frames when no --input is given (default: the embedded smmnist-digits)
            data_root: folder holding the data sets (default: $ZOO_DATA, then ~/.cache/zoo/data)
            sequence: index of that test sequence
            n_cond: conditioning frames (0: the config's n_cond)
            n_pred: frames to predict (0: the config's n_pred)
            resize: resize and centre-crop input frames of another size instead of refusing them
        """
        c = self.config
        n_cond, n_pred = n_cond or c.n_cond, n_pred or c.n_pred
        if n_cond < c.k:
            raise InputError(f"--n-cond {n_cond} is too few: the model infers h_1 and w from k = {c.k} frames")
        cond = self._conditioning(input, data, data_root, sequence, n_cond, resize)
        device = next(model.parameters()).device
        cond = cond.to(device).unsqueeze(0).expand(n, -1, -1, -1, -1)  # (n, n_cond, C, S, S)
        future = model.predict(cond, n_pred)  # (n, n_pred, C, S, S)
        return torch.cat([cond, future], dim=1).clamp(0, 1).cpu()

    def read_clip(self, ref: str, frames: int, data_root: str | None = None, resize: bool = False) -> torch.Tensor:
        """The first `frames` frames (frames, C, S, S) of a video file or folder
        of frames, or of `<data set>:<index>` (a sequence of its test split)."""
        from zoo.data import item_ref

        c = self.config
        path = Path(ref)
        item = item_ref(ref)
        if item is not None:
            return self._conditioning(None, item[0], data_root, item[1], frames, resize, label=ref)
        if not path.exists():
            raise InputError(f"{ref!r} is neither a video file or folder nor <data set>:<index>", "e.g. smmnist-digits:0")
        from zoo.video import load_video

        return load_video(path, size=c.frame_size, channels=c.channels, min_frames=frames, resize=resize)[:frames]

    @torch.no_grad()
    def swap(self, model: nn.Module, content: torch.Tensor, dynamics: torch.Tensor, n_pred: int = 0) -> torch.Tensor:
        """Content swap (Figs. 3.15, 3.30) as three rows of T + n_pred frames
        (3, T + n_pred, C, S, S): the dynamics video, the content video's
        conditioning frames (n_cond), and the video generated with the content
        of the second and the motion of the first. Padding is white."""
        c = self.config
        if dynamics.shape[0] < c.k or content.shape[0] < c.k:
            raise InputError(f"both videos need at least k = {c.k} frames")
        device = next(model.parameters()).device
        out = model.swap(content[None].to(device), dynamics[None].to(device), n_pred)[0].clamp(0, 1).cpu()
        return torch.stack([_pad(dynamics, len(out)), _pad(content, len(out)), out])

    @torch.no_grad()
    def interpolate(self, model: nn.Module, a: torch.Tensor, b: torch.Tensor, steps: int = 5,
                    seed: int = 0) -> torch.Tensor:
        """Interpolation of dynamics (Figs. 3.14, 3.36): frames from initial
        states h_1 on the line between the posterior means of clips a and b
        (T, C, S, S), content from a, every z_t from the prior with the same
        noise on each row. Rows (steps + 4, T, C, S, S): a, a's reconstruction
        (z_t from the posterior), the `steps` interpolants (both ends included),
        b's reconstruction, b."""
        if a.shape != b.shape:
            raise InputError(f"the two clips differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
        if steps < 2:
            raise InputError(f"--steps {steps}: the path needs at least its two ends")
        c = self.config
        if a.shape[0] < c.k:
            raise InputError(f"the clips need at least k = {c.k} frames")
        device = next(model.parameters()).device
        clips = torch.stack([a, b]).to(device)  # (2, T, C, S, S)
        T = a.shape[0]
        h = model.initial_state(clips)  # (2, H)
        w, skips = model.content_of(clips[:1])  # A's content, once for every row
        rows = []
        for alpha in torch.linspace(0, 1, steps).tolist():
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed)
                rows.append(model.generate(torch.lerp(h[:1], h[1:], alpha), w, skips, T)[0])
        recon = model.predict(clips, 0, with_cond=True)  # (2, T, C, S, S)
        middle = torch.stack(rows).clamp(0, 1).cpu()
        recon = recon.clamp(0, 1).cpu()
        return torch.cat([a[None], recon[:1], middle, recon[1:], b[None]])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Dataset, *, samples: int = 0, sequences: int = 0,
                 lpips: bool = False, lpips_weights: str | None = None, fvd: bool = False,
                 i3d_weights: str | None = None) -> dict[str, float]:
        """The thesis protocol: for each test sequence, condition on n_cond frames,
        sample futures, keep the best sample per metric (max PSNR, max SSIM, min
        LPIPS), and average over sequences with 95% confidence intervals.

        Options:
            samples: futures per sequence (0: the config's eval_samples, 100 in the thesis)
            sequences: evaluate the first N sequences only (0: the config's eval_sequences; 0 there means all)
            lpips: also compute LPIPS (AlexNet; weights from --lpips-weights or $ZOO_METRIC_WEIGHTS/lpips-alex.safetensors)
            lpips_weights: LPIPS weights file (.safetensors); implies --lpips
            fvd: also compute FVD on one random sample per sequence (I3D; weights from --i3d-weights or $ZOO_METRIC_WEIGHTS/i3d-kinetics-400.safetensors)
            i3d_weights: I3D weights file (.safetensors); implies --fvd
        """
        from zoo.metrics import require_metric_weights
        from zoo.metrics.video import evaluate_video_prediction

        c = self.config
        device = next(model.parameters()).device
        lpips_net = i3d_net = None  # networks are loaded first: a missing one fails before any work
        if lpips or lpips_weights:
            from zoo.metrics.lpips import LPIPS_NET, load_lpips

            path = require_metric_weights(LPIPS_NET, lpips_weights, "LPIPS", "--lpips-weights")
            lpips_net = load_lpips(path, device)
        if fvd or i3d_weights:
            from zoo.metrics.fvd import I3D_NET, load_i3d

            i3d_net = load_i3d(require_metric_weights(I3D_NET, i3d_weights, "FVD", "--i3d-weights"), device)
        count = sequences or c.eval_sequences
        if count:
            data = Subset(data, range(min(count, len(data))))
        return evaluate_video_prediction(
            lambda cond, n: model.predict(cond.to(device), n), data, n_cond=c.n_cond, n_pred=c.n_pred,
            samples=samples or c.eval_samples, lpips_net=lpips_net, i3d_net=i3d_net,
        )

    def save_samples(self, samples: torch.Tensor, path: Path) -> list[Path]:
        """A PNG strip (one row per future, conditioning frames on grey) and a GIF
        (futures side by side); also an MP4 when a video encoder is installed.
        `--out x.mp4` asks for the MP4 and fails clearly without an encoder."""
        from zoo import video

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".gif", ".mp4"):
            raise InputError(f"--out {str(path)!r}: write .png (strip + GIF), .gif or .mp4")
        if suffix == ".mp4" and video.mp4_encoder() is None:
            raise MissingDependencyError("writing MP4 needs a video encoder, and none is installed", video.MP4_HINT)
        c = self.config
        mark = c.n_cond if samples.shape[1] == c.n_cond + c.n_pred else None
        paths = [video.save_strip(samples, path.with_suffix(".png"), mark=mark)]
        if suffix == ".mp4":
            paths.append(video.write_mp4(samples, path))
            return paths
        paths.append(video.write_gif(samples, path.with_suffix(".gif")))
        if video.mp4_encoder() is not None:
            paths.append(video.write_mp4(samples, path.with_suffix(".mp4")))
        elif suffix == ".png":
            print(f"Note: no MP4 written, no video encoder is installed ({video.MP4_HINT}).", file=sys.stderr)
        return paths


def _pad(video: torch.Tensor, length: int) -> torch.Tensor:
    """(T, C, S, S) -> (length, C, S, S), cut or padded with white frames."""
    if len(video) >= length:
        return video[:length]
    return torch.cat([video, video.new_ones(length - len(video), *video.shape[1:])])
