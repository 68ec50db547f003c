"""ReDO: unsupervised object segmentation by redrawing (thesis Ch. 5).

F splits an image into n soft regions; one region at a time is redrawn by
its generator G_k from a random z_k while the others keep their pixels
(Eq. 5.5); a discriminator D must not tell the redrawn images from real ones
(hinge loss, Eq. 5.6), and an encoder δ must recover z from the redrawn image
(information conservation L_z), which rules out empty regions. A good mask is
the only way to make region-wise redrawing look real.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from zoo.errors import ConfigError, DataError, InputError
from zoo.method import Method

from .model import ReDO as ReDOModel
from .model import n_blocks

PAPER = (
    "M. Chen, T. Artières, L. Denoyer. Unsupervised Object Segmentation by Redrawing. NeurIPS 2019; "
    "M. Chen, PhD thesis, Sorbonne Université 2020, Ch. 5"
)


# ---------------------------------------------------------------------------
# Losses (Eq. 5.6), each testable alone


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """The G_F part of -L_G: -E[D(G_F(I, z_i, i))] (hinge GAN generator)."""
    return -d_fake.mean()


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """-L_D = E[max(0, 1 - D(I))] + E[max(0, 1 + D(G_F(I, z_i, i)))]."""
    return torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()


def information_loss(z_hat: torch.Tensor, z: torch.Tensor, lambda_z: float) -> torch.Tensor:
    """λ_z · L_z with L_z = Σ_k ||δ_k(·) - z_k||², averaged over the batch:
    z_hat, z (B, n, size_z). The squared norm is the authors' code (their
    `w_z · MSE` equals λ_z times this sum for λ_z = w_z / (n · size_z))."""
    return lambda_z * (z_hat - z).pow(2).sum((1, 2)).mean()


def smaller_region_share(masks: torch.Tensor) -> torch.Tensor:
    """Share of pixels in the least used region (argmax of masks (B, n, H, W)),
    pooled over the batch: near 0 when F has collapsed to empty masks."""
    n = masks.shape[1]
    counts = torch.bincount(masks.argmax(1).flatten(), minlength=n)  # (n,)
    return counts.min().double() / counts.sum()


# ---------------------------------------------------------------------------
# The method


class ReDO(Method):
    name = "redo"
    summary = "Unsupervised object segmentation by redrawing: F segments, G_k redraws one region, D judges."
    task = "segmentation"
    paper = PAPER
    datasets = ("synthetic-flowers", "flowers", "cub", "lfw")
    default_dataset = "synthetic-flowers"
    selection = ("iou", "max")  # [code]: the checkpoint with the best validation IoU is kept
    conformance = {"evaluate_options": {"limit": 100}}

    @dataclass
    class Config:
        size: int = 128  # image side; images resized then centre-cropped (Sec. 5.3.1); a power of two >= 32
        n_regions: int = 2  # regions n: n-1 objects + background (Sec. 5.2.2; 2 for Flowers, CUB, LFW)
        z_dim: int = 32  # size_z of each z_k ~ N(0, I) (Sec. 5.3.3; 16 for MNIST)
        ch: int = 32  # width ch of G_k (Tab. 5.3: 32; 64 for LFW and MNIST)
        nf_f: int = 64  # width of F: nf/4, nf/2, nf channels = 16/32/64 (Tab. 5.1; [code] nf = 64)
        n_res: int = 3  # residual blocks in F (Tab. 5.1)
        nf_d: int = 64  # width of the first block of D and δ, doubling to 1024 at 128 px (Tab. 5.2)
        self_attention_g: bool = True  # self-attention in G_k (Tab. 5.3; [code] --useSelfAttG)
        self_attention_d: bool = True  # self-attention in D, never in δ (Tab. 5.2; [code] --useSelfAttD)
        lambda_z_scale: float = 5.0  # λ_z = scale / (n · size_z) (Sec. 5.3.3: 5; 15 for LFW)
        lr_f: float = 1e-5  # Adam learning rate of F (Sec. 5.3.3)
        lr_g: float = 1e-4  # Adam learning rate of the G_k (Sec. 5.3.3)
        lr_delta: float = 1e-4  # Adam learning rate of δ (Sec. 5.3.3)
        lr_d: float = 1e-4  # Adam learning rate of D (Sec. 5.3.3)
        betas: tuple[float, float] = (0.0, 0.9)  # Adam β of every network (Sec. 5.3.3)
        weight_decay_f: float = 1e-4  # weight decay on F, which has no spectral norm (Sec. 5.3.3)
        init_gain: float = 0.8  # gain of the orthogonal initialisation (Sec. 5.3.3)
        batch_size: int = 40  # images per step: 20 for the F/G_k/δ step and 20 other real ones for D (Sec. 5.3.3: mini-batches of 20; [code] two loaders)
        steps: int = 50_000  # training iterations ([code] --nIteration; not in the thesis)
        eval_every: int = 500  # steps between validations, best val IoU kept ([code] --checkpointFreq)
        ckpt_every: int = 500  # steps between training checkpoints ([code])
        restart_share: float = 0.05  # restart when the smaller region's pixel share falls below this (Sec. 5.3.3; 0: never)
        restart_until: int = 7000  # collapse restarts only up to this step ([code])

    def __init__(self, config=None):
        super().__init__(config)
        c = self.config
        try:
            n_blocks(c.size)
        except ValueError as exc:
            raise ConfigError(f"redo: {exc}", "use 32, 64, 128 (the thesis) or 256") from None
        if c.n_regions < 2:
            raise ConfigError(f"redo: n_regions must be at least 2, got {c.n_regions}")
        if c.batch_size < 2 or c.batch_size % 2:
            raise ConfigError(
                f"redo: batch_size {c.batch_size} must be even",
                "each step uses one half for F, G_k and δ and the other half as D's real images",
            )
        if min(c.ch, c.nf_f, c.nf_d) < 4 or c.nf_f % 4:
            raise ConfigError("redo: ch and nf_d must be at least 4, nf_f a multiple of 4")

    @property
    def lambda_z(self) -> float:
        """λ_z = scale / (n · size_z) (Sec. 5.3.3)."""
        return self.config.lambda_z_scale / (self.config.n_regions * self.config.z_dim)

    def data_options(self, dataset: str, split: str) -> dict:
        return {"size": self.config.size}

    # -- model and training ---------------------------------------------------

    def build(self) -> nn.Module:
        c = self.config
        return ReDOModel(
            size=c.size,
            n_regions=c.n_regions,
            z_dim=c.z_dim,
            ch=c.ch,
            nf_f=c.nf_f,
            n_res=c.n_res,
            nf_d=c.nf_d,
            self_attention_g=c.self_attention_g,
            self_attention_d=c.self_attention_d,
            init_gain=c.init_gain,
        )

    def compile_targets(self, model: nn.Module) -> list[nn.Module]:
        return [model.F, *model.G, model.D, model.delta]

    def configure_optimizers(self, model: nn.Module) -> dict:
        """"G" steps F, the G_k and δ together (the max over G_F and δ of
        Eq. 5.6), one Adam with a parameter group each; "D" steps D."""
        c = self.config
        g = torch.optim.Adam(
            [
                {"params": model.F.parameters(), "lr": c.lr_f, "weight_decay": c.weight_decay_f},
                {"params": model.G.parameters(), "lr": c.lr_g},
                {"params": model.delta.parameters(), "lr": c.lr_delta},
            ],
            betas=c.betas,
        )
        d = torch.optim.Adam(model.D.parameters(), lr=c.lr_d, betas=c.betas)
        return {"G": g, "D": d}

    def train_step(self, model: nn.Module, batch: dict, step) -> dict:
        """One iteration of the authors' code: the engine's batch is split in
        two halves; the first is redrawn (every region at once, one fake per
        region), the second is D's real batch."""
        c = self.config
        x = batch["image"] * 2 - 1                                 # (B, 3, H, W) in [-1, 1]
        if x.shape[0] < 2 or x.shape[0] % 2:
            raise ConfigError(
                f"redo needs an even number of images per process and micro-batch, got {x.shape[0]}",
                "choose batch_size divisible by 2 x processes x --accum",
            )
        x_g, x_d = x.chunk(2)                                      # (B/2, 3, H, W) each
        z = torch.randn(x_g.shape[0], c.n_regions, c.z_dim, device=x.device)  # (B/2, n, size_z)

        # max over G_F and δ
        masks, V, fakes = model(x_g, z)                            # fakes (B/2, n, 3, H, W)
        loss_adv = generator_loss(model.D(fakes.flatten(0, 1)))   # D on (B/2 * n, 3, H, W)
        loss_z = information_loss(model.delta_z(V.sum(1)), z, self.lambda_z)  # δ sees every region redrawn
        step.optimize("G", loss_adv + loss_z)

        # max over D: the other half as real images, fakes from the updated F and G_k
        with torch.no_grad():
            _, _, fakes = model(x_g, z)
        d_real, d_fake = model.D(x_d), model.D(fakes.flatten(0, 1))
        loss_d = discriminator_loss(d_real, d_fake)
        step.optimize("D", loss_d)

        share = smaller_region_share(masks.detach())
        self.watch_collapse(model, share, step)
        return {
            "loss_g": loss_adv.detach(),
            "loss_z": loss_z.detach(),
            "loss_d": loss_d.detach(),
            "d_real": d_real.detach().mean(),
            "d_fake": d_fake.detach().mean(),
            "share": share,
            "restarts": model.restarts.double(),
        }

    def watch_collapse(self, model: nn.Module, share: torch.Tensor, step) -> bool:
        """Early collapse to an empty region restarts training (Sec. 5.3.3).

        As in the authors' code, the check runs every `eval_every` steps up to
        `restart_until`; the smaller region's share is averaged over the
        training batches since the last check (the code also requires it on
        one validation batch, which `train_step` does not see). A restart
        re-initialises every network and clears the optimizers' state; the
        step count goes on."""
        c = self.config
        model.share_sum += share.to(model.share_sum)
        model.share_count += 1
        done = step.index + 1
        if not (c.restart_share > 0 and c.eval_every > 0 and step.last_micro and done % c.eval_every == 0):
            return False
        mean = float(model.share_sum / model.share_count.clamp(min=1))
        model.share_sum.zero_()
        model.share_count.zero_()
        collapsed = torch.tensor(float(done <= c.restart_until and mean < c.restart_share), device=share.device)
        distributed = dist.is_available() and dist.is_initialized()
        if distributed:
            dist.broadcast(collapsed, src=0)  # rank 0 decides for everyone
        if not collapsed:
            return False
        self.restart(model, step)
        if distributed:
            from zoo.engine import broadcast_module

            broadcast_module(model)
        return True

    def restart(self, model: nn.Module, step) -> None:
        """Fresh weights from the global generator, Adam state cleared."""
        device = next(model.parameters()).device
        restarts = model.restarts.clone()
        fresh = self.build().to(device)
        with torch.no_grad():
            model.load_state_dict(fresh.state_dict())
        model.restarts.copy_(restarts + 1)
        for opt in step.optimizers.values():
            opt.state.clear()

    # -- use ------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, model: nn.Module, n: int, *, input: list[Path] | None = None, variants: int = 4) -> torch.Tensor:
        """Segment images and redraw each region: a grid with one row per
        image and columns input | masks M^1..M^(n-1) | `variants` redrawings
        of region 1 | ... of region n. A column's z is shared by every row.

        Options:
            input: image files or folders of images to segment and redraw (default: the first n test images of synthetic-flowers)
            variants: redrawn versions of each region per image
        """
        c = self.config
        if variants < 1:
            raise InputError(f"--variants must be at least 1, got {variants}")
        device = next(model.parameters()).device
        x = self._sample_images(n, input).to(device) * 2 - 1       # (B, 3, S, S) in [-1, 1]
        B = x.shape[0]
        masks = model.F(x)                                         # (B, n, S, S)
        z_cols = torch.randn(variants, c.z_dim).to(device)         # one z per column
        columns = [x] + [masks[:, k : k + 1].expand(-1, 3, -1, -1) * 2 - 1 for k in range(c.n_regions - 1)]
        for k, G_k in enumerate(model.G):
            m_k = masks[:, k : k + 1]                              # (B, 1, S, S)
            for j in range(variants):
                V_k = G_k(m_k, z_cols[j].expand(B, -1))            # (B, 3, S, S)
                columns.append(V_k + (1 - m_k) * x)
        grid = torch.stack(columns, 1)                             # (B, columns, 3, S, S)
        return grid.add(1).div(2).clamp(0, 1).cpu()

    def _sample_images(self, n: int, paths: list[Path] | None) -> torch.Tensor:
        if paths:
            from zoo.images import load_images

            return load_images([Path(p) for p in paths], size=self.config.size)[:n]  # (B, 3, S, S)
        from zoo.data.segmentation import SyntheticFlowers

        test = SyntheticFlowers("test", self.config.size)
        return torch.stack([test[i]["image"] for i in range(min(n, len(test)))])

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, data, *, batch_size: int = 50, baseline: str = "none", limit: int = 0
    ) -> dict[str, float]:
        """Pixel accuracy and foreground IoU of F's masks (region = argmax;
        for n = 2, M^1 >= 0.5) against the ground truth, under two protocols:
        `acc`, `iou`: the best region per image, ReDO's protocol (Tab. 5.4);
        `acc_fixed`, `iou_fixed`: one region is the foreground for the whole
        split (stricter). `smallest_region`: the least used region's pixel share.

        Options:
            batch_size: images per forward pass
            baseline: none scores F's masks; disc scores a centred disc as large as the mean ground-truth object instead (a trivial reference)
            limit: score only the first N images of the split (0: all)
        """
        from torch.utils.data import DataLoader, Subset

        from zoo.metrics.segmentation import centered_disc, segmentation_metrics

        if baseline not in ("none", "disc"):
            raise InputError(f"--baseline must be 'none' or 'disc', got {baseline!r}")
        device = next(model.parameters()).device
        if limit > 0:
            data = Subset(data, range(min(limit, len(data))))
        labels, gts = [], []
        for batch in DataLoader(data, batch_size=max(1, batch_size)):
            if "mask" not in batch:
                raise DataError(
                    "this split has no ground-truth masks to evaluate against",
                    "LFW's training images are unlabelled: use --split val or test",
                )
            gts.append(batch["mask"][:, 0] > 0.5)                 # (B, S, S) bool
            if baseline == "none":
                masks = model.F(batch["image"].to(device) * 2 - 1)  # (B, n, S, S)
                labels.append(masks.argmax(1).to(torch.uint8).cpu())
        gt = torch.cat(gts)                                        # (N, S, S)
        if baseline == "disc":
            disc = centered_disc(gt.float().mean().item(), *gt.shape[1:])
            label = (~disc).to(torch.uint8).expand_as(gt)          # region 0 inside the disc
        else:
            label = torch.cat(labels)
        metrics = segmentation_metrics(label.long(), gt, self.config.n_regions)
        counts = torch.bincount(label.flatten().long(), minlength=self.config.n_regions)
        metrics["smallest_region"] = float(counts.min() / counts.sum())
        return metrics
