"""GMV and CGMV (Chen's thesis §4.2) and the baselines they are compared
with, GANx-k and CGAN-views: configs, training steps, sampling and the
identity-preservation protocol.

GMV learns a generator G(c, v) from pairs of images of the same object, with
no view label: its discriminator sees pairs, real ones (two views of one
object) against generated ones (one content code c, two view codes v1, v2),
Eq. 4.3. CGMV adds an encoder E so that c = E(x) comes from a given image,
and the discriminator gets a second kind of negative pair, a real image next
to a new view of it, Eq. 4.4. GANx-k generates k-tuples from one noise
vector; CGAN-views is CGMV with only the real/generated negatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.errors import ConfigError, DataError, InputError
from zoo.method import Method

from .model import MultiViewGAN

PAPER = ("M. Chen, L. Denoyer, T. Artières. Multi-View Data Generation Without View Supervision. ICLR 2018; "
         "M. Chen, PhD thesis, Sorbonne Université, 2020, §4.2")
DATASETS = ("multiview-objects", "celeba", "chairs", "mvc-cloth")
ATTRIBUTE_SAMPLES = 3800  # §4.2.4: sets of 3,800 images, the size of the CelebA test set


# ---------------------------------------------------------------------------
# Losses (non-saturating, with the code's label smoothing)


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy of logits against a constant (smoothed) label."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def discriminator_loss(real: torch.Tensor, fakes: Sequence[tuple[torch.Tensor, float]],
                       real_label: float, fake_label: float) -> torch.Tensor:
    """-E log D(real pair) - sum_i w_i E log(1 - D(negative pair i)), Eqs. 4.3, 4.4."""
    return bce(real, real_label) + sum(w * bce(f, fake_label) for f, w in fakes)


def generator_loss(fakes: Sequence[tuple[torch.Tensor, float]], real_label: float) -> torch.Tensor:
    """-sum_i w_i E log D(negative pair i): the non-saturating G (and E) loss."""
    return sum(w * bce(f, real_label) for f, w in fakes)


# ---------------------------------------------------------------------------
# Shared helpers


def to_signed(x: torch.Tensor) -> torch.Tensor:
    return x * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


def check_image_size(name: str, size: int) -> None:
    if size < 8 or size & (size - 1):
        raise ConfigError(f"{name}: image_size must be a power of two of at least 8 (DCGAN blocks), got {size}",
                          "the thesis uses 64")


def tuples(batch: dict[str, torch.Tensor], k: int, name: str, size: int, channels: int = 3) -> torch.Tensor:
    """The batch's k views of each object, (B, k, C, S, S) in [-1, 1]."""
    if "views" not in batch:
        raise DataError(
            f"{name} learns from several views of the same object, but the data set gives single images",
            f"use a multi-view data set: {', '.join(DATASETS)}",
        )
    views = batch["views"]
    if views.dim() != 5 or views.shape[1] < k:
        raise DataError(f"{name} needs {k} views of each object; the batch has {tuple(views.shape[1:2])} "
                        f"(views of shape {tuple(views.shape)})", f"load the data with views={k}")
    if tuple(views.shape[2:]) != (channels, size, size):
        raise InputError(f"{name} was built for {channels}×{size}×{size} images, the data gives "
                         f"{'×'.join(map(str, views.shape[2:]))}", "set image_size to match, or resize the data")
    return to_signed(views[:, :k])


def input_images(input: Any, size: int, name: str) -> torch.Tensor:
    """The user's images (file paths, or a tensor) as (N, 3, S, S) in [0, 1]."""
    if isinstance(input, torch.Tensor):
        x = input[None] if input.dim() == 3 else input
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise InputError(f"{name} takes (N, 3, {size}, {size}) images, got {tuple(input.shape)}",
                             f"resize them to {size}×{size}")
        return x.float().clamp(0, 1)
    from zoo.images import load_images

    paths = [input] if isinstance(input, str) else list(input)
    return load_images(paths, size=size, channels=3)


def demo_inputs(n: int, size: int) -> torch.Tensor:
    """The first view of the first n held-out objects of the embedded data."""
    from zoo.data.multiview import MultiViewObjects

    data = MultiViewObjects("test", size=size, views=1)
    return torch.stack([data[i]["views"][0] for i in range(n)])  # (n, 3, S, S)


def adam_pair(model: MultiViewGAN, lr_g: float, lr_d: float, betas: tuple[float, float]) -> dict[str, Any]:
    """{"D": Adam over D, "G": Adam over G (and E, trained together, §4.2.3)}."""
    gen = list(model.G.parameters()) + (list(model.E.parameters()) if model.E is not None else [])
    return {
        "D": torch.optim.Adam(model.D.parameters(), lr=lr_d, betas=betas),
        "G": torch.optim.Adam(gen, lr=lr_g, betas=betas),
    }


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def generate_grid(model: MultiViewGAN, c: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Codes (R, K, dc) and (R, K, dv) -> images (R, K, C, S, S) in [0, 1]."""
    R, K, _ = c.shape
    out = [model.generate(cc, vv) for cc, vv in zip(c.flatten(0, 1).split(256), v.flatten(0, 1).split(256))]
    x = torch.cat(out)  # (R*K, C, S, S)
    return to_unit(x).view(R, K, *x.shape[1:]).cpu()


def mixed_pair(x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A real image next to a generated one, in a random order per sample, so
    that D cannot tell them apart by position (the code shows both orders)."""
    swap = (torch.rand(x.shape[0], device=x.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(swap, g, x), torch.where(swap, x, g)


# ---------------------------------------------------------------------------
# The identity-preservation protocol (§4.2.4, Tabs. 4.3 and 4.4)


def identity_protocol(
    data: Dataset,
    make_fakes: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    *,
    pairs: int,
    identity_weights: str | None,
    attribute_weights: str | None,
    device: torch.device,
    conditional: bool,
    chunk: int = 128,
) -> dict[str, float]:
    """AUCs of positive against negative pairs, real and generated.

    `make_fakes(real)` turns real first views (b, 3, S, S) in [0, 1] into a
    generated positive pair (two images in [0, 1] meant to show one object;
    for a conditional model, the object of `real`). Positive real pairs are
    the first two views of `pairs` items; negatives pair items of different
    objects. With an attribute classifier, the label distance and unique
    combinations of 3,800 samples are added (Tab. 4.5)."""
    from zoo.data.multiview import MultiViewObjects, oracle_probe_path
    from zoo.metrics.identity import attribute_metrics, identity_auc, identity_network, pair_distances

    probe = oracle_probe_path() if isinstance(data, MultiViewObjects) else None
    net = identity_network(identity_weights, attribute_weights=attribute_weights, default_probe=probe).to(device)
    g = torch.Generator().manual_seed(0)
    n = int(pairs)
    if n < 2:
        raise InputError(f"the identity AUC needs at least 2 pairs, got {n}")
    index = torch.randperm(len(data), generator=g)[:n] if n <= len(data) else torch.randint(len(data), (n,), generator=g)
    real_a, real_b, gen_a, gen_b, objects, attrs_real, attrs_fake = [], [], [], [], [], [], []
    for part in index.split(chunk):
        items = [data[int(i)] for i in part]
        views = torch.stack([it["views"] for it in items])  # (b, K, 3, S, S)
        if views.shape[1] < 2:
            raise DataError("the identity AUC needs pairs of views of the same object", "load the data with views=2")
        a, b = views[:, 0].to(device), views[:, 1].to(device)
        fa, fb = make_fakes(a)
        for store, images in ((real_a, a), (real_b, b), (gen_a, fa), (gen_b, fb)):
            store.append(net.features(images))
        objects.append(torch.stack([it["object"] for it in items]))
        if net.attribute_net is not None and sum(len(t) for t in attrs_real) < ATTRIBUTE_SAMPLES:
            attrs_real.append(net.attributes(a))
            attrs_fake.append(net.attributes(fa))
    ra, rb, ga, gb = (torch.cat(t) for t in (real_a, real_b, gen_a, gen_b))
    objects = torch.cat(objects)
    other = torch.randperm(len(objects), generator=g)
    keep = objects != objects[other]  # negative pairs show two different objects
    if not keep.any():
        raise DataError("the identity AUC needs objects of at least two identities in the split")
    real_pos, real_neg = pair_distances(ra, rb), pair_distances(ra[keep], ra[other][keep])
    gen_pos, gen_neg = pair_distances(ga, gb), pair_distances(ga[keep], gb[other][keep])
    out = {
        "auc_real_real": identity_auc(real_pos, real_neg),
        "auc_gen_gen": identity_auc(gen_pos, gen_neg),
        "auc_gen_real": identity_auc(gen_pos, real_neg),
        "auc_real_gen": identity_auc(real_pos, gen_neg),
    }
    if conditional:
        mixed_pos = pair_distances(ra, ga)  # a real image and a new view generated from it
        out["auc_mixed_real"] = identity_auc(mixed_pos, real_neg)
        out["auc_mixed_gen"] = identity_auc(mixed_pos, gen_neg)
    if attrs_real:
        real_attrs = torch.cat(attrs_real)[:ATTRIBUTE_SAMPLES]
        fake_attrs = torch.cat(attrs_fake)[:ATTRIBUTE_SAMPLES]
        out.update(attribute_metrics(real_attrs, fake_attrs, net.attribute_names))
    return out


EVALUATE_OPTIONS = """
        Options:
            pairs: number of positive (and of negative) pairs; default: the config's eval_pairs (15,000 in the thesis).
            identity_weights: identity network, a VGG-Face or identity-probe .safetensors file (default: the oracle probe on multiview-objects, else vgg-face.safetensors in the metric weights folder).
            attribute_weights: attribute classifier, an identity-probe .safetensors file (e.g. made by `zoo identity-probe --data celeba`); adds the label distance and unique combinations (Tab. 4.5).
"""


def evaluate_options(fn: Callable) -> Callable:
    """Append the shared `Options:` section to an evaluate docstring."""
    fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + EVALUATE_OPTIONS
    return fn


# ---------------------------------------------------------------------------
# GMV


class GMV(Method):
    """Generative Multi-View model: G(c, v) learned from pairs of views of the
    same object, with no view labels (Eq. 4.3)."""

    name = "gmv"
    summary = "Generative multi-view model: content and view latents learned from same-object pairs, no view labels."
    task = "multi-view generation"
    paper = PAPER
    datasets = DATASETS
    default_dataset = "multiview-objects"
    selection = ("auc_gen_gen", "max")
    conformance = {"overrides": {"image_size": 16, "ngf": 8, "ndf": 8, "batch_size": 4, "eval_pairs": 8},
                   "sample_options": {"views": 3}}

    @dataclass
    class Config:
        image_size: int = 64  # §4.2.4: every image rescaled to 3×64×64
        content_dim: int = 64  # size of the content code c [code: sizeZ]
        view_dim: int = 64  # size of the view code v [code: sizeZ]
        ngf: int = 64  # G's base width, DCGAN (Radford et al. 2016) [code: nf]
        ndf: int = 64  # D's base width [code: nf]
        lr_g: float = 1e-3  # §4.2.4: learning rate of G (the code uses 2e-4)
        lr_d: float = 2e-4  # §4.2.4: learning rate of D (the code uses 5e-5)
        beta1: float = 0.5  # Adam β1 [code]
        beta2: float = 0.999  # Adam β2 [code]
        real_label: float = 0.9  # smoothed target of real pairs, also G's target [code]
        fake_label: float = 0.1  # smoothed target of generated pairs [code]
        batch_size: int = 128  # §4.2.4
        steps: int = 50001  # optimizer steps [code: nIteration]
        eval_pairs: int = 15000  # §4.2.4: 15,000 positive and 15,000 negative pairs
        eval_every: int = 0  # steps between validations (0: at the end only)
        ckpt_every: int = 5000  # steps between training checkpoints

    def data_options(self, dataset: str, split: str) -> dict[str, Any]:
        return {"size": self.config.image_size, "views": 2}

    def build(self) -> MultiViewGAN:
        c = self.config
        check_image_size(self.name, c.image_size)
        return MultiViewGAN(size=c.image_size, content_dim=c.content_dim, view_dim=c.view_dim, ngf=c.ngf, ndf=c.ndf)

    def configure_optimizers(self, model: MultiViewGAN) -> dict[str, Any]:
        c = self.config
        return adam_pair(model, c.lr_g, c.lr_d, (c.beta1, c.beta2))

    def train_step(self, model: MultiViewGAN, batch: dict[str, torch.Tensor], step) -> dict[str, Any]:
        c = self.config
        x = tuples(batch, 2, self.name, c.image_size)  # (B, 2, 3, S, S)
        B = x.shape[0]
        content = torch.randn(B, c.content_dim, device=x.device).repeat(2, 1)  # one c per pair, (2B, dc)
        views = torch.randn(2 * B, c.view_dim, device=x.device)  # v1 and v2
        g1, g2 = model.generate(content, views).chunk(2)  # (B, 3, S, S) each
        d_real = model.discriminate(x[:, 0], x[:, 1])
        d_fake = model.discriminate(g1.detach(), g2.detach())
        loss_d = discriminator_loss(d_real, [(d_fake, 1.0)], c.real_label, c.fake_label)
        step.optimize("D", loss_d)
        loss_g = generator_loss([(model.discriminate(g1, g2), 1.0)], c.real_label)
        step.optimize("G", loss_g)
        return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real.sigmoid().mean(), "d_fake": d_fake.sigmoid().mean()}

    @torch.no_grad()
    def sample(self, model: MultiViewGAN, n: int, *, views: int = 8,
               interpolate: Literal["none", "content", "view"] = "none") -> torch.Tensor:
        """A grid: one content per row, one view per column (Fig. 4.3).

        Options:
            views: number of columns (views per content).
            interpolate: "content" moves linearly between two contents along each row (view fixed), "view" between two views (content fixed), "none" samples both (Fig. 4.8)."""
        c, dev = self.config, device_of(model)
        if views < 1 or n < 1:
            raise InputError(f"gmv sample needs n >= 1 and views >= 1, got n={n}, views={views}")
        t = torch.linspace(0, 1, views, device=dev).view(1, views, 1)  # (1, K, 1)

        def pair(dim: int) -> torch.Tensor:  # (n, K, dim) interpolated between two codes per row
            a, b = torch.randn(n, 1, dim, device=dev), torch.randn(n, 1, dim, device=dev)
            return (1 - t) * a + t * b

        if interpolate == "none":
            content = torch.randn(n, 1, c.content_dim, device=dev).expand(n, views, -1)
            view = torch.randn(1, views, c.view_dim, device=dev).expand(n, views, -1)
        elif interpolate == "content":
            content, view = pair(c.content_dim), torch.randn(n, 1, c.view_dim, device=dev).expand(n, views, -1)
        elif interpolate == "view":
            content, view = torch.randn(n, 1, c.content_dim, device=dev).expand(n, views, -1), pair(c.view_dim)
        else:
            raise InputError(f"--interpolate must be none, content or view, got {interpolate!r}")
        return generate_grid(model, content, view)

    @torch.no_grad()
    @evaluate_options
    def evaluate(self, model: MultiViewGAN, data: Dataset, *, pairs: int | None = None,
                 identity_weights: str | None = None, attribute_weights: str | None = None) -> dict[str, float]:
        """Identity-preservation AUC of Tab. 4.3 (and attribute diversity, Tab. 4.5)."""
        c = self.config

        def make_fakes(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            b = real.shape[0]
            content = torch.randn(b, c.content_dim, device=real.device).repeat(2, 1)
            g = model.generate(content, torch.randn(2 * b, c.view_dim, device=real.device))
            return tuple(to_unit(g).chunk(2))  # same c, two views

        return identity_protocol(data, make_fakes, pairs=pairs or c.eval_pairs, identity_weights=identity_weights,
                                 attribute_weights=attribute_weights, device=device_of(model), conditional=False)


# ---------------------------------------------------------------------------
# CGMV and CGAN-views: new views of a given image


def conditional_step(method: Method, model: MultiViewGAN, batch: dict[str, torch.Tensor], step,
                     negatives: str) -> dict[str, Any]:
    """One D step then one G+E step of CGMV (Eq. 4.4) or CGAN-views.

    negatives: "balanced" weighs generated pairs (G(E(x), v1), G(E(x), v2))
    and mixed pairs (x, G(E(x), v)) by 1/2 each (the thesis); "rotate" uses
    one kind per step, step mod 3 (the code: mixed, generated, mixed in the
    other order); "mixed" uses mixed pairs only (CGAN-views)."""
    c = method.config
    x = tuples(batch, 2, method.name, c.image_size)  # (B, 2, 3, S, S)
    x1, x2 = x[:, 0], x[:, 1]
    B = x1.shape[0]
    content = model.encode(x1).repeat(2, 1)  # c = E(x1), shared by both views, (2B, dc)
    g1, g2 = model.generate(content, torch.randn(2 * B, c.view_dim, device=x1.device)).chunk(2)
    if negatives == "balanced":
        pairs = [((g1, g2), 0.5), (mixed_pair(x1, g1), 0.5)]
    elif negatives == "rotate":
        pairs = [([(x1, g2), (g1, g2), (g1, x1)][step.index % 3], 1.0)]
    elif negatives == "mixed":
        pairs = [(mixed_pair(x1, g1), 1.0)]
    else:
        raise ConfigError(f"{method.name}: negatives must be balanced, rotate or mixed, got {negatives!r}")
    d_real = model.discriminate(x1, x2)
    d_fakes = [(model.discriminate(a.detach(), b.detach()), w) for (a, b), w in pairs]
    loss_d = discriminator_loss(d_real, d_fakes, c.real_label, c.fake_label)
    step.optimize("D", loss_d)
    loss_g = generator_loss([(model.discriminate(a, b), w) for (a, b), w in pairs], c.real_label)
    step.optimize("G", loss_g)
    d_fake = sum(w * d.sigmoid().mean() for d, w in d_fakes)
    return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real.sigmoid().mean(), "d_fake": d_fake}


def conditional_sample(method: Method, model: MultiViewGAN, n: int, input: Any, views: int) -> torch.Tensor:
    """Rows: an input image, then `views` new views of it; one view code per column."""
    c, dev = method.config, device_of(model)
    if views < 1:
        raise InputError(f"--views must be at least 1, got {views}")
    x = input_images(input, c.image_size, method.name) if input is not None else demo_inputs(n, c.image_size)
    x = x.to(dev)
    m = x.shape[0]
    content = model.encode(to_signed(x))[:, None].expand(m, views, -1)  # (m, K, dc)
    view = torch.randn(1, views, c.view_dim, device=dev).expand(m, views, -1)  # (m, K, dv)
    generated = generate_grid(model, content, view)  # (m, K, 3, S, S)
    return torch.cat([x.cpu()[:, None], generated], dim=1)  # (m, 1+K, 3, S, S)


def conditional_evaluate(method: Method, model: MultiViewGAN, data: Dataset, pairs: int | None,
                         identity_weights: str | None, attribute_weights: str | None) -> dict[str, float]:
    c = method.config

    def make_fakes(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = real.shape[0]
        content = model.encode(to_signed(real)).repeat(2, 1)  # c = E(x)
        g = model.generate(content, torch.randn(2 * b, c.view_dim, device=real.device))
        return tuple(to_unit(g).chunk(2))

    return identity_protocol(data, make_fakes, pairs=pairs or c.eval_pairs, identity_weights=identity_weights,
                             attribute_weights=attribute_weights, device=device_of(model), conditional=True)


class CGMV(Method):
    """Conditional GMV: an encoder E infers the content of a given image, and
    G(E(x), v) draws new views of it (Eq. 4.4)."""

    name = "cgmv"
    summary = "Conditional generative multi-view model: new views of a given object, learned without view labels."
    task = "multi-view generation"
    paper = PAPER
    datasets = DATASETS
    default_dataset = "multiview-objects"
    selection = ("auc_mixed_real", "max")
    conformance = {"overrides": {"image_size": 16, "ngf": 8, "ndf": 8, "batch_size": 4, "eval_pairs": 8},
                   "sample_options": {"views": 3}}

    @dataclass
    class Config:
        image_size: int = 64  # §4.2.4: every image rescaled to 3×64×64
        content_dim: int = 64  # size of the content code c = E(x) [code: sizeZ]
        view_dim: int = 64  # size of the view code v [code: sizeZ]
        ngf: int = 64  # G's base width, DCGAN [code: nf]
        ndf: int = 64  # D's and E's base width [code: nf]
        encoder_activation: Literal["leaky_relu", "relu"] = "leaky_relu"  # §4.2.4: E is like D (the code uses ReLU)
        negatives: Literal["balanced", "rotate"] = "balanced"  # Eq. 4.4 weighs the two negatives 1/2 each; "rotate": one kind per step, as the code
        lr_g: float = 5e-5  # §4.2.4: learning rate of G and E
        lr_d: float = 5e-5  # §4.2.4: learning rate of D
        beta1: float = 0.5  # Adam β1 [code]
        beta2: float = 0.999  # Adam β2 [code]
        real_label: float = 0.9  # smoothed target of real pairs, also G's target [code]
        fake_label: float = 0.1  # smoothed target of negative pairs [code]
        batch_size: int = 128  # §4.2.4
        steps: int = 50001  # optimizer steps [code: nIteration]
        eval_pairs: int = 15000  # §4.2.4: 15,000 positive and 15,000 negative pairs
        eval_every: int = 0  # steps between validations (0: at the end only)
        ckpt_every: int = 5000  # steps between training checkpoints

    def data_options(self, dataset: str, split: str) -> dict[str, Any]:
        return {"size": self.config.image_size, "views": 2}

    def build(self) -> MultiViewGAN:
        c = self.config
        check_image_size(self.name, c.image_size)
        return MultiViewGAN(size=c.image_size, content_dim=c.content_dim, view_dim=c.view_dim, ngf=c.ngf, ndf=c.ndf,
                            encoder=True, encoder_activation=c.encoder_activation)

    def configure_optimizers(self, model: MultiViewGAN) -> dict[str, Any]:
        c = self.config
        return adam_pair(model, c.lr_g, c.lr_d, (c.beta1, c.beta2))

    def train_step(self, model: MultiViewGAN, batch: dict[str, torch.Tensor], step) -> dict[str, Any]:
        return conditional_step(self, model, batch, step, self.config.negatives)

    @torch.no_grad()
    def sample(self, model: MultiViewGAN, n: int, *, input: list[str] | None = None, views: int = 8) -> torch.Tensor:
        """New views of given objects: each row is an input, then its new views (Fig. 4.9).

        Options:
            input: image files (or folders of images) to take the content from; default: n held-out objects of multiview-objects.
            views: number of new views per input (one view code per column)."""
        return conditional_sample(self, model, n, input, views)

    @torch.no_grad()
    @evaluate_options
    def evaluate(self, model: MultiViewGAN, data: Dataset, *, pairs: int | None = None,
                 identity_weights: str | None = None, attribute_weights: str | None = None) -> dict[str, float]:
        """Identity-preservation AUC of conditional models, mixed pairs included (Tab. 4.4)."""
        return conditional_evaluate(self, model, data, pairs, identity_weights, attribute_weights)


class CGANViews(CGMV):
    """The CGAN baseline of §4.2.4: CGMV without the generated-pair negatives;
    D only sees a real image next to a new view of it. It collapses and
    ignores v (Figs. 4.9, 4.10). Networks, sampling and evaluation are
    CGMV's; only the negatives of the training step differ."""

    name = "cgan-views"
    summary = "Conditional GAN baseline for new views: CGMV with mixed negative pairs only (collapses, ignores v)."

    @dataclass
    class Config:
        image_size: int = 64  # §4.2.4: every image rescaled to 3×64×64
        content_dim: int = 64  # size of the content code c = E(x), as CGMV
        view_dim: int = 64  # size of the view code v, as CGMV
        ngf: int = 64  # G's base width, DCGAN
        ndf: int = 64  # D's and E's base width
        encoder_activation: Literal["leaky_relu", "relu"] = "leaky_relu"  # E as in CGMV
        lr_g: float = 5e-5  # learning rate of G and E, as CGMV (§4.2.4)
        lr_d: float = 5e-5  # learning rate of D, as CGMV
        beta1: float = 0.5  # Adam β1
        beta2: float = 0.999  # Adam β2
        real_label: float = 0.9  # smoothed target of real pairs, also G's target
        fake_label: float = 0.1  # smoothed target of mixed pairs
        batch_size: int = 128  # as CGMV
        steps: int = 50001  # optimizer steps, as CGMV
        eval_pairs: int = 15000  # §4.2.4: 15,000 positive and 15,000 negative pairs
        eval_every: int = 0  # steps between validations (0: at the end only)
        ckpt_every: int = 5000  # steps between training checkpoints

    def train_step(self, model: MultiViewGAN, batch: dict[str, torch.Tensor], step) -> dict[str, Any]:
        return conditional_step(self, model, batch, step, "mixed")


# ---------------------------------------------------------------------------
# GANx-k: k views from one noise vector


class GANxK(Method):
    """GANx2/x4/x8 (§4.2.4): G maps one noise vector to k images meant to
    show one object; D tells real k-tuples of an object from generated ones.
    With no content/view split it can never draw more than k views."""

    name = "gan-xk"
    summary = "GANx2/x4/x8 baseline: one noise vector to k views of an object, D on k-tuples (set k)."
    task = "multi-view generation"
    paper = PAPER
    datasets = DATASETS
    default_dataset = "multiview-objects"
    selection = ("auc_gen_gen", "max")
    conformance = {"overrides": {"image_size": 16, "ngf": 8, "ndf": 8, "batch_size": 4, "eval_pairs": 8}}

    @dataclass
    class Config:
        k: int = 2  # §4.2.4: images per noise vector and per tuple (GANx2, x4 or x8)
        image_size: int = 64  # §4.2.4: every image rescaled to 3×64×64
        z_dim: int = 128  # noise size, as GMV's c and v together [code gan2.py: sizeZ]
        ngf: int = 64  # G's base width, DCGAN; G has 3k output maps [code gan2.py]
        ndf: int = 64  # D's base width; D has 3k input maps
        lr_g: float = 1e-3  # learning rate of G, as GMV (§4.2.4); the code uses 2e-4
        lr_d: float = 2e-4  # learning rate of D, as GMV (§4.2.4); the code uses 5e-5
        beta1: float = 0.5  # Adam β1 [code]
        beta2: float = 0.999  # Adam β2 [code]
        real_label: float = 0.9  # smoothed target of real tuples, also G's target [code]
        fake_label: float = 0.1  # smoothed target of generated tuples [code]
        batch_size: int = 128  # §4.2.4
        steps: int = 50001  # optimizer steps, as GMV (the code runs 75,001)
        eval_pairs: int = 15000  # §4.2.4: 15,000 positive and 15,000 negative pairs
        eval_every: int = 0  # steps between validations (0: at the end only)
        ckpt_every: int = 5000  # steps between training checkpoints

    def data_options(self, dataset: str, split: str) -> dict[str, Any]:
        return {"size": self.config.image_size, "views": max(2, self.config.k)}

    def build(self) -> MultiViewGAN:
        c = self.config
        check_image_size(self.name, c.image_size)
        if c.k < 2:
            raise ConfigError(f"gan-xk: k must be at least 2 (GANx2, x4, x8), got {c.k}")
        return MultiViewGAN(size=c.image_size, content_dim=c.z_dim, view_dim=0, ngf=c.ngf, ndf=c.ndf,
                            images_per_code=c.k, tuple_size=c.k)

    def configure_optimizers(self, model: MultiViewGAN) -> dict[str, Any]:
        c = self.config
        return adam_pair(model, c.lr_g, c.lr_d, (c.beta1, c.beta2))

    def train_step(self, model: MultiViewGAN, batch: dict[str, torch.Tensor], step) -> dict[str, Any]:
        c = self.config
        x = tuples(batch, c.k, self.name, c.image_size)  # (B, k, 3, S, S)
        fake = model.generate(torch.randn(x.shape[0], c.z_dim, device=x.device))  # (B, k, 3, S, S)
        d_real = model.discriminate(*x.unbind(1))
        d_fake = model.discriminate(*fake.detach().unbind(1))
        loss_d = discriminator_loss(d_real, [(d_fake, 1.0)], c.real_label, c.fake_label)
        step.optimize("D", loss_d)
        loss_g = generator_loss([(model.discriminate(*fake.unbind(1)), 1.0)], c.real_label)
        step.optimize("G", loss_g)
        return {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real.sigmoid().mean(), "d_fake": d_fake.sigmoid().mean()}

    @torch.no_grad()
    def sample(self, model: MultiViewGAN, n: int) -> torch.Tensor:
        """A grid: the k images of one noise vector per row (Fig. 4.6)."""
        z = torch.randn(n, self.config.z_dim, device=device_of(model))
        return to_unit(torch.cat([model.generate(part) for part in z.split(256)])).cpu()  # (n, k, 3, S, S)

    @torch.no_grad()
    @evaluate_options
    def evaluate(self, model: MultiViewGAN, data: Dataset, *, pairs: int | None = None,
                 identity_weights: str | None = None, attribute_weights: str | None = None) -> dict[str, float]:
        """Identity-preservation AUC of Tab. 4.3: a positive pair is two images of one noise vector."""
        c = self.config

        def make_fakes(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            g = to_unit(model.generate(torch.randn(real.shape[0], c.z_dim, device=real.device)))
            return g[:, 0], g[:, 1]

        return identity_protocol(data, make_fakes, pairs=pairs or c.eval_pairs, identity_weights=identity_weights,
                                 attribute_weights=attribute_weights, device=device_of(model), conditional=False)
