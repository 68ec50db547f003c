"""MV-BiGAN (Chen's thesis §3.1): stochastic predictions from any subset of
views, whose spread shrinks as views are added.

A BiGAN (E, G, D1) maps targets y to a latent space and back; H maps any
subset v of the views to a Gaussian p_H(z | v), matched to p_E(z | y) by a
second discriminator D2 (Eq. 3.4). The uncertainty-reduction term
λ Σ KL(p_H(z | v') || p_H(z | v)), v ⊂ v', is applied along a random nested
sequence of view sets per example (Eq. 3.5). Targets are digits (four
quadrant views) or faces (attribute vector + incomplete face).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.errors import ConfigError, DataError, InputError
from zoo.method import Method

from .model import MVBiGAN

# ---------------------------------------------------------------------------
# Losses


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gaussian_kl(mean1: torch.Tensor, var1: torch.Tensor, mean2: torch.Tensor, var2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, var1) || N(mean2, var2)) of diagonal Gaussians, summed
    over the last dimension (Eq. 2.2)."""
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1).sum(-1)


def uncertainty_reduction(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Σ_t KL(p_H(z | v_{t+1}) || p_H(z | v_t)) over a nested sequence of T
    view sets, (T, B, Z) -> mean over the batch (Eq. 3.5, last term)."""
    kl = gaussian_kl(mean[1:], var[1:], mean[:-1], var[:-1])  # (T-1, B)
    return kl.sum(0).mean()


def discriminator_loss(d1_real, d1_fake, d2_real, d2_fake) -> torch.Tensor:
    """Both discriminators, Eq. 3.4: real = (y, z ~ p_E) and (v, z ~ p_E(z|y));
    generated = (G(z), z ~ p(z)) and (v, z ~ p_H(z|v))."""
    return bce(d1_real, 1.0) + bce(d1_fake, 0.0) + bce(d2_real, 1.0) + bce(d2_fake, 0.0)


def generator_loss(d1_real, d1_fake, d2_real, d2_fake) -> torch.Tensor:
    """G, E and H with the non-saturating objective: each side is pushed
    towards the other's label (§3.1.2)."""
    return bce(d1_real, 0.0) + bce(d1_fake, 1.0) + bce(d2_real, 0.0) + bce(d2_fake, 1.0)


def discriminate(model: MVBiGAN, real: tuple, fake: tuple, views: list[torch.Tensor], masks: torch.Tensor,
                 z_real: torch.Tensor, z_fake: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """D1 on (y, z) pairs and D2 on (v, z) pairs, real and generated halves
    in one batch each. The discriminators' batch norm then normalises both
    halves with the same statistics; normalising a real-only and a fake-only
    batch apart would remove the very offset that tells them apart (their
    last hidden layer has batch norm, §3.1.2)."""
    B = real[0].shape[0]
    d1 = model.D1(torch.cat([real[0], fake[0]]), torch.cat([real[1], fake[1]]))  # (2B,)
    both = [torch.cat([v, v]) for v in views]  # every view twice: with z_real, then with z_fake
    d2 = model.D2(both, torch.cat([masks, masks], dim=1), torch.cat([z_real, z_fake], dim=1))  # (T, 2B)
    return d1[:B], d1[B:], d2[:, :B], d2[:, B:]


def reparameterize(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return mean + var.sqrt() * torch.randn_like(mean)


def nested_masks(order: torch.Tensor) -> torch.Tensor:
    """Random orders (B, V) of the views -> masks (V, B, V) of the nested sets
    v_1 ⊂ v_2 ⊂ ... ⊂ v_V, v_t holding the first t views of each order."""
    B, V = order.shape
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(V, device=order.device).expand(B, V))  # position of each view
    t = torch.arange(1, V + 1, device=order.device).view(V, 1, 1)
    return (rank[None] < t).float()  # (V, B, V)


# ---------------------------------------------------------------------------
# Views: a deterministic function of the target (and attributes)

LAYOUTS = ("quadrants", "attributes-face", "incoming")


def view_kinds(layout: str, variant: str, channels: int, size: int, attributes: int,
               incoming: int = 4) -> list[tuple[str, int]]:
    if layout == "quadrants":
        return [("vector", channels * (size // 2) ** 2)] * 4
    image = ("image", channels) if variant == "conv" else ("vector", channels * size * size)
    if layout == "incoming":
        return [image] * incoming
    return [("vector", attributes), image]


def hide_lower_half(y: torch.Tensor, missing: float) -> torch.Tensor:
    """The incomplete face of the CelebA experiment: the lower half is
    missing (the thesis does not say which part; a [proposal])."""
    out = y.clone()
    out[..., y.shape[-2] // 2 :, :] = missing
    return out


class Views:
    """The target y and its views, in the model's value range: [0, 1] for the
    MLP variant (sigmoid G), [-1, 1] for the conv variant (tanh G); a missing
    pixel is mid-grey (0.5 in [0, 1], as §3.1.3)."""

    def __init__(self, config):
        self.c = config
        self.signed = config.variant == "conv"

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1 if self.signed else x

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1) if self.signed else x.clamp(0, 1)

    @property
    def missing(self) -> float:
        return 0.0 if self.signed else 0.5

    def target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        y = batch["image"] if "image" in batch else batch["views"][:, 0] if "views" in batch else None
        c = self.c
        if y is None:
            raise DataError("mv-bigan needs images (an 'image' or 'views' entry per item)")
        if tuple(y.shape[1:]) != (c.channels, c.image_size, c.image_size):
            raise InputError(f"mv-bigan was built for {c.channels}×{c.image_size}×{c.image_size} targets, "
                             f"got {'×'.join(map(str, y.shape[1:]))}", "set image_size and channels to match the data")
        return self.to_model(y)

    def reveal(self, n: int, device: torch.device | str = "cpu",
               generator: torch.Generator | None = None) -> torch.Tensor | None:
        """For the incoming layout, the pixels each view shows, (n, V, 1, S, S)
        of 0/1: one square of side `incoming_block` per view, at a random
        place, drawn anew for every target [proposal: the thesis does not say
        which pixels its incoming views miss]. None for the other layouts."""
        c = self.c
        if c.views != "incoming":
            return None
        S, V = c.image_size, c.incoming_views
        b = c.incoming_block or S // 2
        top, left = torch.randint(0, S - b + 1, (2, n, V, 1), generator=generator)
        index = torch.arange(S)
        rows = (index >= top) & (index < top + b)  # (n, V, S)
        cols = (index >= left) & (index < left + b)
        return (rows[..., :, None] & cols[..., None, :]).float()[:, :, None].to(device)  # (n, V, 1, S, S)

    def split(self, y: torch.Tensor, attributes: torch.Tensor | None = None,
              revealed: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The V views of targets y (model range); `revealed` (from `reveal`)
        says which pixels the incoming views show."""
        from zoo.data.multiview import quadrant_views

        if self.c.views == "quadrants":
            return list(quadrant_views(y).unbind(1))  # 4 x (B, C, S/2, S/2)
        if self.c.views == "incoming":
            if revealed is None:
                raise ValueError("the incoming views need the revealed pixels: Views.reveal(...)")
            missing = torch.full_like(y, self.missing)
            return [torch.where(revealed[:, i].bool(), y, missing) for i in range(revealed.shape[1])]  # V x (B, C, S, S)
        if attributes is None:
            raise DataError("the attributes-face views need attribute labels",
                            "use celeba with list_attr_celeba.txt in its folder")
        return [attributes.float(), hide_lower_half(y, self.missing)]

    def from_batch(self, batch: dict[str, torch.Tensor],
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        y = self.target(batch)
        attributes = batch.get("attributes")
        if attributes is not None and attributes.dim() == 3:
            attributes = attributes[:, 0]  # (B, K, A) -> the target's own
        return y, self.split(y, attributes, self.reveal(y.shape[0], y.device, generator))

    def show(self, y: torch.Tensor, mask: torch.Tensor, revealed: torch.Tensor | None = None) -> torch.Tensor:
        """What a subset of views (mask (B, V)) shows, as images (B, C, S, S)
        in [0, 1]: the target with the hidden views mid-grey (the face view
        only for the attributes-face layout; the union of the revealed
        pixels for the incoming layout)."""
        from zoo.data.multiview import from_quadrants, quadrant_views

        if self.c.views == "incoming":
            if revealed is None:
                raise ValueError("the incoming views need the revealed pixels: Views.reveal(...)")
            keep = (revealed * mask.view(*mask.shape, 1, 1, 1)).amax(1).bool()  # (B, 1, S, S)
            shown = torch.where(keep, y, torch.full_like(y, self.missing))
        elif self.c.views == "quadrants":
            q = quadrant_views(y)  # (B, 4, C, h, w)
            keep = mask.view(*mask.shape, 1, 1, 1).bool()
            shown = from_quadrants(torch.where(keep, q, torch.full_like(q, self.missing)))
        else:
            face = hide_lower_half(y, self.missing)
            shown = torch.where(mask[:, 1].view(-1, 1, 1, 1).bool(), face, torch.full_like(y, self.missing))
        return self.to_unit(shown)


# ---------------------------------------------------------------------------
# The method


class MVBiGANMethod(Method):
    """Multi-view BiGAN with the uncertainty-reduction KL (Eq. 3.5)."""

    name = "mv-bigan"
    summary = "Multi-view BiGAN: a latent distribution from any subset of views, narrowing as views are added."
    task = "multi-view completion"
    paper = ("M. Chen, L. Denoyer. Multi-view Generative Adversarial Networks. ECML PKDD 2017; "
             "M. Chen, PhD thesis, Sorbonne Université, 2020, §3.1")
    datasets = ("digits-quadrants", "mnist", "celeba")
    default_dataset = "digits-quadrants"
    selection = ("best_mse", "min")
    conformance = {"overrides": {"hidden": 16, "d_hidden": 16, "agg_dim": 16, "z_dim": 8, "batch_size": 4,
                                 "eval_items": 8, "eval_samples": 3}}

    @dataclass
    class Config:
        variant: Literal["mlp", "conv"] = "mlp"  # §3.1.2: MLPs on MNIST; "conv": the DCGAN-like stacks of Tab. 3.1 (CelebA)
        views: Literal["quadrants", "attributes-face", "incoming"] = "quadrants"  # §3.1.3: four 14×14 quadrants; CelebA: attribute vector + incomplete face; "incoming": whole images with missing pixels (Fig. 3.7)
        incoming_views: int = 4  # views per target in the incoming layout [proposal: not given]
        incoming_block: int = 0  # side of the square of pixels each incoming view shows (0: half the image side) [proposal]
        image_size: int = 28  # §3.1.3: MNIST 28×28 (CelebA 64×64)
        channels: int = 1  # image channels (CelebA: 3)
        attributes: int = 40  # size of the attribute view (CelebA's 40)
        z_dim: int = 128  # §3.1.2: latent size
        hidden: int = 1500  # §3.1.2: hidden units of G, E and H
        d_hidden: int = 1500  # hidden units of D1 and D2 (not given; as G)
        agg_dim: int = 1000  # §3.1.2: aggregation space (given for CelebA, used for both)
        conv_width: int = 64  # Tab. 3.1: maps of the first convolution (conv variant)
        variance: Literal["sigmoid", "elu"] = "sigmoid"  # Fig. 3.4's "negative exponential linear unit" for σ²: sigmoid keeps it in (0, 1), elu is ELU + 1
        kl_weight: float = 1e-3  # §3.1.2: λ, the uncertainty-reduction weight (given for CelebA)
        d2_trains_e: bool = True  # Eq. 3.3 minimises D2's game over E and H; False: E learns from D1 only, H follows E
        lr: float = 2e-5  # §3.1.2: Adam learning rate
        beta1: float = 0.5  # §3.1.2: Adam β1
        beta2: float = 0.999  # §3.1.2 prints 10^-3, a typo for the standard 0.999
        batch_size: int = 128  # §3.1.2: MNIST mini-batches (CelebA: 16)
        steps: int = 140625  # §3.1.2: 300 epochs of MNIST's 60,000 digits at 128 a batch
        eval_items: int = 1000  # targets evaluated [proposal: the thesis reports figures only]
        eval_samples: int = 16  # samples per target for best-of-N error and spread [proposal]
        eval_every: int = 0  # steps between validations (0: at the end only)
        ckpt_every: int = 5000  # steps between training checkpoints

    # -- data and model -----------------------------------------------------------

    def data_options(self, dataset: str, split: str) -> dict[str, Any]:
        if dataset == "celeba":
            return {"size": self.config.image_size, "views": 1}
        return {"size": self.config.image_size}

    def build(self) -> MVBiGAN:
        c = self.config
        if c.views not in LAYOUTS:
            raise ConfigError(f"mv-bigan: views must be one of {', '.join(LAYOUTS)}, got {c.views!r}")
        if c.variant == "conv" and c.image_size != 64:
            raise ConfigError(f"mv-bigan: the conv variant (Tab. 3.1) takes 64×64 images, got image_size={c.image_size}")
        if c.views == "quadrants" and c.image_size % 2:
            raise ConfigError(f"mv-bigan: quadrant views need an even image_size, got {c.image_size}")
        if c.views == "incoming" and (c.incoming_views < 1 or not 0 <= c.incoming_block <= c.image_size):
            raise ConfigError(f"mv-bigan: incoming views need incoming_views >= 1 and 0 <= incoming_block <= "
                              f"image_size, got {c.incoming_views} and {c.incoming_block}")
        kinds = view_kinds(c.views, c.variant, c.channels, c.image_size, c.attributes, c.incoming_views)
        return MVBiGAN(variant=c.variant, view_kinds=kinds,
                       target_shape=(c.channels, c.image_size, c.image_size), z_dim=c.z_dim, hidden=c.hidden,
                       d_hidden=c.d_hidden, agg_dim=c.agg_dim, conv_width=c.conv_width, variance=c.variance)

    def configure_optimizers(self, model: MVBiGAN) -> dict[str, Any]:
        c = self.config
        betas = (c.beta1, c.beta2)
        d = list(model.D1.parameters()) + list(model.D2.parameters())
        g = list(model.G.parameters()) + list(model.E.parameters()) + list(model.H.parameters())
        return {"D": torch.optim.Adam(d, lr=c.lr, betas=betas), "G": torch.optim.Adam(g, lr=c.lr, betas=betas)}

    def train_step(self, model: MVBiGAN, batch: dict[str, torch.Tensor], step) -> dict[str, Any]:
        c = self.config
        y, views = Views(c).from_batch(batch)  # (B, C, S, S), V views
        B, V = y.shape[0], len(views)
        masks = nested_masks(torch.rand(B, V, device=y.device).argsort(1))  # (V, B, V): v_1 ⊂ ... ⊂ v_V
        mean_e, var_e = model.encode_target(y)
        z_e = reparameterize(mean_e, var_e)  # z ~ p_E(z | y), (B, Z)
        z_p = torch.randn(B, c.z_dim, device=y.device)  # z ~ p(z) = N(0, I)
        y_g = model.G(z_p)
        mean_h, var_h = model.encode_views(views, masks)  # (V, B, Z)
        z_h = reparameterize(mean_h, var_h)
        z_e_sets = z_e[None].expand(V, B, -1)  # the target's code, paired with every subset

        real_fake = discriminate(model, (y, z_e.detach()), (y_g.detach(), z_p), views, masks,
                                 z_e_sets.detach(), z_h.detach())
        loss_d = discriminator_loss(*real_fake)
        step.optimize("D", loss_d)
        z_e_d2 = z_e_sets if c.d2_trains_e else z_e_sets.detach()
        adversarial = generator_loss(*discriminate(model, (y, z_e), (y_g, z_p), views, masks, z_e_d2, z_h))
        kl = uncertainty_reduction(mean_h, var_h)
        loss_g = adversarial + c.kl_weight * kl
        step.optimize("G", loss_g)
        return {"loss_d": loss_d, "loss_g": adversarial, "kl": kl, "var_h": var_h.mean()}

    # -- use ---------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, model: MVBiGAN, n: int, *, input: list[str] | None = None, views: str = "",
               attributes: str = "", nested: bool = True) -> torch.Tensor:
        """Completions of your own images from some of their views, or, with no
        input, unconditional samples G(z), z ~ N(0, I).

        Options:
            input: target images (files or folders); their views are extracted and some given to H.
            views: the views to reveal, in order, e.g. "0,2" (quadrants 0-3: top-left, top-right, bottom-left, bottom-right; attributes-face: 0 = attributes, 1 = face; incoming: 0 to incoming_views - 1, each a random block of the image, drawn with --seed). Default: all, in order.
            attributes: the attribute view as comma-separated 0/1 values (attributes-face layout).
            nested: one row per growing prefix of --views (Fig. 3.5), else one row with all of them."""
        c, dev = self.config, next(model.parameters()).device
        if input is None:
            return Views(c).to_unit(model.G(torch.randn(n, c.z_dim, device=dev))).cpu()  # (n, C, S, S)
        if n < 1:
            raise InputError(f"--n must be at least 1, got {n}")
        y, attrs = self._inputs(input, attributes)
        y = y.to(dev)
        v = Views(c)
        order = self._order(views, model.n_views)
        prefixes = [order[: t + 1] for t in range(len(order))] if nested else [order]
        rows = []
        for x, a in zip(y, attrs if attrs is not None else [None] * len(y)):
            revealed = v.reveal(1, dev)
            parts = v.split(v.to_model(x[None]), None if a is None else a[None].to(dev), revealed)
            for prefix in prefixes:
                mask = torch.zeros(1, 1, model.n_views, device=dev)
                mask[..., prefix] = 1
                mean, var = model.encode_views(parts, mask)  # (1, 1, Z)
                z = mean[0].expand(n, -1) + var[0].sqrt() * torch.randn(n, c.z_dim, device=dev)
                rows.append(torch.cat([v.show(v.to_model(x[None]), mask[0], revealed), v.to_unit(model.G(z))]).cpu())
        return torch.stack(rows)  # (rows, 1 + n, C, S, S)

    def _inputs(self, input: Any, attributes: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        c = self.config
        if isinstance(input, torch.Tensor):
            y = input[None] if input.dim() == 3 else input
            if tuple(y.shape[1:]) != (c.channels, c.image_size, c.image_size):
                raise InputError(f"mv-bigan takes ({c.channels}, {c.image_size}, {c.image_size}) images, got {tuple(input.shape)}")
        else:
            from zoo.images import load_images

            y = load_images([input] if isinstance(input, str) else list(input), size=c.image_size, channels=c.channels)
        attrs = None
        if c.views == "attributes-face":
            values = [s for s in attributes.replace(" ", "").split(",") if s]
            if len(values) != c.attributes or any(s not in ("0", "1") for s in values):
                raise InputError(f"--attributes must be {c.attributes} comma-separated 0/1 values, got {len(values)}")
            attrs = torch.tensor([float(s) for s in values]).expand(len(y), -1)
        return y, attrs

    @staticmethod
    def _order(text: str, n_views: int) -> list[int]:
        if not text.strip():
            return list(range(n_views))
        try:
            order = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise InputError(f"--views must be comma-separated view numbers, got {text!r}") from None
        if not order or any(not 0 <= k < n_views for k in order) or len(set(order)) != len(order):
            raise InputError(f"--views must list distinct views among 0..{n_views - 1}, got {text!r}")
        return order

    @torch.no_grad()
    def evaluate(self, model: MVBiGAN, data: Dataset, *, items: int | None = None,
                 samples: int | None = None) -> dict[str, float]:
        """Best-of-N error and spread of the predictions as views are added
        (the thesis shows these as figures only; Figs. 3.5, 3.6).

        Options:
            items: targets to evaluate (default: the config's eval_items).
            samples: predictions per target and view set (default: the config's eval_samples)."""
        c, dev = self.config, next(model.parameters()).device
        n_items, N = int(items or c.eval_items), int(samples or c.eval_samples)
        if n_items < 1 or N < 2:
            raise InputError(f"mv-bigan evaluate needs items >= 1 and samples >= 2, got {n_items} and {N}")
        g = torch.Generator().manual_seed(0)
        index = torch.randperm(len(data), generator=g)[:n_items]
        V, sums, count, v = model.n_views, {}, 0, Views(c)
        for part in index.split(128):
            batch = torch.utils.data.default_collate([data[int(i)] for i in part])
            batch = {k: t.to(dev) if isinstance(t, torch.Tensor) else t for k, t in batch.items()}
            y, views = v.from_batch(batch, generator=g)
            B = y.shape[0]
            masks = nested_masks(torch.rand(B, V, generator=g).argsort(1).to(dev))  # (V, B, V)
            mean, var = model.encode_views(views, masks)  # (V, B, Z)
            z = mean[None] + var.sqrt()[None] * torch.randn(N, V, B, c.z_dim, generator=g).to(dev)  # (N, V, B, Z)
            pred = v.to_unit(model.G(z.reshape(N * V * B, -1))).view(N, V, B, -1)  # (N, V, B, C*S*S)
            target = v.to_unit(y).reshape(1, 1, B, -1)
            stats = {
                "best_mse": ((pred - target) ** 2).mean(-1).min(0).values.sum(1),  # (V,)
                "variance": pred.var(0).mean(-1).sum(1),  # (V,)
                "kl_nested": gaussian_kl(mean[1:], var[1:], mean[:-1], var[:-1]).sum(0).sum(0, keepdim=True),
            }
            for k, s in stats.items():
                sums[k] = sums.get(k, 0) + s.cpu()
            count += B
        prior = v.to_unit(model.G(torch.randn(max(N, 64), c.z_dim, generator=g).to(dev)))
        out = {"variance_prior": float(prior.var(0).mean()), "kl_nested": float(sums["kl_nested"][0] / count)}
        for t in range(V):
            out[f"best_mse_{t + 1}v"] = float(sums["best_mse"][t] / count)
            out[f"variance_{t + 1}v"] = float(sums["variance"][t] / count)
        out["best_mse"] = out[f"best_mse_{V}v"]
        return out
