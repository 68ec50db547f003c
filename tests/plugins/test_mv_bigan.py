"""MV-BiGAN: networks, the nested view sets and the uncertainty-reduction KL,
the view layouts, sampling from your own images, errors, shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset
from zoo.data.multiview import DigitsQuadrants, from_quadrants, quadrant_views
from zoo.engine import standalone_step
from zoo.errors import ConfigError, DataError, InputError
from zoo.plugins.mv_bigan.method import (
    Views,
    discriminator_loss,
    gaussian_kl,
    generator_loss,
    nested_masks,
    uncertainty_reduction,
)
from zoo.plugins.mv_bigan.model import ConvDecoder, ConvEncoder, ViewAggregator

SMALL = {"hidden": 16, "d_hidden": 16, "agg_dim": 16, "z_dim": 8}


@pytest.fixture(scope="module")
def pm():
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    return PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False, strict=True)


def make(pm, **overrides):
    from zoo import api

    return api.make("mv-bigan", preset="quick", manager=pm, **overrides)


def digits_batch(n=8, size=16):
    data = DigitsQuadrants("train", size=size)
    return torch.utils.data.default_collate([data[i] for i in range(n)])


# ---------------------------------------------------------------------------
# The nested view sets and the KL


def test_nested_masks_grow_one_view_at_a_time():
    torch.manual_seed(0)
    order = torch.rand(50, 4).argsort(1)
    masks = nested_masks(order)  # (4, 50, 4)
    assert masks.shape == (4, 50, 4)
    assert torch.equal(masks.sum(-1), torch.arange(1, 5).float().view(4, 1).expand(4, 50))
    assert (masks[1:] >= masks[:-1]).all()  # v_t ⊂ v_{t+1}
    for b in range(3):
        first = int(masks[0, b].argmax())
        assert first == int(order[b, 0])  # the first view of each random order comes first
    assert len({tuple(order[b].tolist()) for b in range(50)}) > 5  # random orders


def test_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(0)
    m1, m2 = torch.randn(5, 7), torch.randn(5, 7)
    v1, v2 = torch.rand(5, 7) + 0.1, torch.rand(5, 7) + 0.1
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(m1, v1.sqrt()),
                                            torch.distributions.Normal(m2, v2.sqrt())).sum(-1)
    assert torch.allclose(gaussian_kl(m1, v1, m2, v2), ref, atol=1e-5)
    mean, var = torch.randn(4, 3, 7), torch.rand(4, 3, 7) + 0.1
    expected = sum(gaussian_kl(mean[t + 1], var[t + 1], mean[t], var[t]) for t in range(3)).mean()
    assert torch.allclose(uncertainty_reduction(mean, var), expected)
    assert float(uncertainty_reduction(mean[:1].expand(4, 3, 7), var[:1].expand(4, 3, 7))) == pytest.approx(0, abs=1e-6)


def test_bigan_losses_flip_labels_for_the_generator_side():
    a, b, c, d = (torch.randn(6) for _ in range(4))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    one, zero = torch.ones(6), torch.zeros(6)
    assert torch.allclose(discriminator_loss(a, b, c, d), bce(a, one) + bce(b, zero) + bce(c, one) + bce(d, zero))
    assert torch.allclose(generator_loss(a, b, c, d), bce(a, zero) + bce(b, one) + bce(c, zero) + bce(d, one))


def test_a_missing_view_adds_nothing_not_even_a_bias():
    torch.manual_seed(0)
    agg = ViewAggregator([torch.nn.Linear(3, 5), torch.nn.Linear(2, 5)])
    views = [torch.randn(4, 3), torch.randn(4, 2)]
    masks = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])[:, None].expand(3, 4, 2)
    out = agg(views, masks)  # (3, 4, 5)
    first, second = agg.encoders[0](views[0]), agg.encoders[1](views[1])
    assert torch.allclose(out[0], first) and torch.allclose(out[1], second)
    assert torch.allclose(out[2], first + second)


def test_variance_heads_are_positive_and_the_sigmoid_one_below_the_prior():
    from zoo.plugins.mv_bigan.model import GaussianHead

    torch.manual_seed(0)
    a = torch.randn(64, 8) * 50
    mean, var = GaussianHead(8, 16, 4, "sigmoid")(a)
    assert (var > 0).all() and (var <= 1 + 1e-4).all() and mean.abs().max() <= 1
    _, var = GaussianHead(8, 16, 4, "elu")(a)
    assert (var > 0).all() and var.max() > 1.5  # unbounded above


class _ConstantD1(torch.nn.Module):
    """A D1 that ignores its input, so only D2 can send gradients to E."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(()))

    def forward(self, y, z):
        return self.bias.expand(y.shape[0])


def test_d2_trains_e_only_when_asked(pm):
    torch.manual_seed(0)
    grads = {}
    for flag in (True, False):
        method = make(pm, d2_trains_e=flag, kl_weight=0.0, **SMALL)
        model = method.build()
        model.D1 = _ConstantD1()

        step = standalone_step(method, model)
        plain = step.optimize

        def probe(name, loss, plain=plain, model=model, flag=flag, **options):
            if name == "G":
                grads[flag] = torch.autograd.grad(loss, list(model.E.parameters()), allow_unused=True,
                                                  retain_graph=True)
            plain(name, loss, **options)

        step.optimize = probe
        method.train_step(model, digits_batch(8), step)
    assert any(g is not None and g.abs().sum() > 0 for g in grads[True])
    assert all(g is None or g.abs().sum() == 0 for g in grads[False])


# ---------------------------------------------------------------------------
# Networks


def test_mlp_variant_shapes(pm):
    method = make(pm, **SMALL)
    model = method.build()
    y, views = Views(method.config).from_batch(digits_batch(6))
    assert y.shape == (6, 1, 16, 16) and len(views) == 4 and views[0].shape == (6, 1, 8, 8)
    mean, var = model.encode_target(y)
    assert mean.shape == var.shape == (6, 8) and (var > 0).all() and mean.abs().max() <= 1
    masks = nested_masks(torch.rand(6, 4).argsort(1))
    mh, vh = model.encode_views(views, masks)
    assert mh.shape == vh.shape == (4, 6, 8)
    assert model.G(torch.randn(6, 8)).shape == (6, 1, 16, 16)
    assert model.D1(y, mean).shape == (6,)
    assert model.D2(views, masks, mh).shape == (4, 6)


def test_conv_variant_follows_table_3_1(pm):
    enc = ConvEncoder(3, 1000)
    x, shapes = torch.randn(2, 3, 64, 64), []
    for layer in enc.main:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1000, 1, 1)]
    dec, z, shapes = ConvDecoder(128, 3), torch.randn(2, 128, 1, 1), []
    for layer in dec.main:
        z = layer(z)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            shapes.append(tuple(z.shape[1:]))
    assert shapes == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    method = make(pm, variant="conv", views="attributes-face", image_size=64, channels=3, conv_width=4, **SMALL)
    model = method.build()
    batch = {"views": torch.rand(3, 1, 3, 64, 64), "attributes": torch.randint(0, 2, (3, 1, 40)).float()}
    y, views = Views(method.config).from_batch(batch)
    assert y.min() >= -1 and views[0].shape == (3, 40) and views[1].shape == (3, 3, 64, 64)
    assert (views[1][..., 32:, :] == 0).all()  # the lower half is missing (mid-grey)
    masks = nested_masks(torch.rand(3, 2).argsort(1))
    assert model.encode_views(views, masks)[0].shape == (2, 3, 8)
    assert model.G(torch.randn(3, 8)).shape == (3, 3, 64, 64)
    assert model.D2(views, masks, torch.randn(2, 3, 8)).shape == (2, 3)


def test_build_errors(pm):
    with pytest.raises(ConfigError, match="64×64"):
        make(pm, variant="conv", image_size=32).build()
    with pytest.raises(ConfigError, match="even image_size"):
        make(pm, image_size=15).build()


# ---------------------------------------------------------------------------
# Training behaviour


def test_train_step_updates_all_five_networks(pm):
    torch.manual_seed(0)
    method = make(pm, **SMALL)
    model = method.build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = method.train_step(model, digits_batch(8), standalone_step(method, model))
    assert {"loss_d", "loss_g", "kl"} <= set(out)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"E", "G", "H", "D1", "D2"}


def test_uncertainty_reduction_goes_down_when_weighted(pm):
    torch.manual_seed(0)
    method = make(pm, kl_weight=10.0, lr=1e-3, **SMALL)
    model = method.build()
    step = standalone_step(method, model)
    batch = digits_batch(32)
    kls = [method.train_step(model, batch, step)["kl"].item() for _ in range(30)]
    assert np.mean(kls[-5:]) < 0.5 * np.mean(kls[:5])


# ---------------------------------------------------------------------------
# Views, sampling and evaluation


def test_quadrant_views_round_trip():
    x = torch.randn(2, 3, 1, 6, 8)
    q = quadrant_views(x)
    assert q.shape == (2, 3, 4, 1, 3, 4)
    assert torch.equal(q[..., 1, :, :, :], x[..., :3, 4:])  # top-right
    assert torch.equal(from_quadrants(q), x)
    item = DigitsQuadrants("test")[5]
    assert torch.equal(from_quadrants(item["views"]), item["image"])


def test_sample_completes_user_images(pm, tmp_path):
    torch.manual_seed(0)
    method = make(pm, **SMALL)
    model = method.build().eval()
    assert method.sample(model, 3).shape == (3, 1, 16, 16)  # unconditional
    path = tmp_path / "digit.png"
    Image.fromarray((np.eye(16) * 255).astype(np.uint8)).save(path)
    out = method.sample(model, 5, input=[str(path)], views="3,0")
    assert out.shape == (2, 6, 1, 16, 16)  # one row per prefix: {3}, {3, 0}; shown views + 5 samples
    shown = out[0, 0, 0]
    assert torch.allclose(shown[:8, :8], torch.full((8, 8), 0.5))  # quadrant 0 still hidden in row 1
    assert torch.allclose(out[1, 0, 0, :8, :8], torch.eye(8), atol=1 / 255)  # revealed in row 2
    assert method.sample(model, 2, input=[str(path)], nested=False).shape == (1, 3, 1, 16, 16)
    with pytest.raises(InputError, match="distinct views among 0..3"):
        method.sample(model, 2, input=[str(path)], views="0,4")
    with pytest.raises(InputError, match=r"\(1, 16, 16\)"):
        method.sample(model, 2, input=torch.rand(1, 3, 16, 16))


def test_incoming_views_are_whole_images_with_one_revealed_block(pm):
    method = make(pm, views="incoming", incoming_views=3, incoming_block=5, **SMALL)
    v = Views(method.config)
    revealed = v.reveal(6, generator=torch.Generator().manual_seed(0))
    assert revealed.shape == (6, 3, 1, 16, 16) and torch.equal(revealed.sum((-1, -2, -3)), torch.full((6, 3), 25.0))
    rows, cols = revealed[0, 0, 0].any(1), revealed[0, 0, 0].any(0)
    assert rows.sum() == 5 and cols.sum() == 5  # one 5x5 square
    y = torch.rand(6, 1, 16, 16)
    views = v.split(y, None, revealed)
    assert len(views) == 3 and views[1].shape == (6, 1, 16, 16)
    assert torch.equal(views[1][revealed[:, 1].bool()], y[revealed[:, 1].bool()])
    assert (views[1][~revealed[:, 1].bool()] == 0.5).all()  # missing pixels are mid-grey (Fig. 3.7)
    mask = torch.tensor([[1.0, 0.0, 1.0]]).expand(6, 3)
    shown = v.show(y, mask, revealed)
    union = (revealed[:, 0] + revealed[:, 2]).clamp(max=1).bool()
    assert torch.equal(shown[union], y[union]) and (shown[~union] == 0.5).all()
    assert v.reveal(4) is not None and Views(make(pm).config).reveal(4) is None
    with pytest.raises(ConfigError, match="incoming_block"):
        make(pm, views="incoming", incoming_block=17).build()


def test_incoming_views_train_sample_and_evaluate(pm, tmp_path):
    torch.manual_seed(0)
    method = make(pm, views="incoming", **SMALL)
    model = method.build()
    out = method.train_step(model, digits_batch(8), standalone_step(method, model))
    assert torch.isfinite(out["loss_g"]) and model.n_views == 4
    model.eval()
    path = tmp_path / "digit.png"
    Image.fromarray((np.eye(16) * 255).astype(np.uint8)).save(path)
    rows = method.sample(model, 3, input=[str(path)], views="2,0")
    assert rows.shape == (2, 4, 1, 16, 16)
    hidden_1, hidden_2 = (rows[0, 0, 0] == 0.5).sum(), (rows[1, 0, 0] == 0.5).sum()
    assert hidden_2 < hidden_1 < 256  # each row reveals one more block
    data = load_dataset(pm.dataset("digits-quadrants"), "test", size=16)
    first = method.evaluate(model, data, items=10, samples=3)
    assert set(first) >= {"best_mse_1v", "best_mse_4v", "variance_4v"}
    assert method.evaluate(model, data, items=10, samples=3) == first  # the revealed blocks are seeded too


def test_attributes_face_needs_attributes(pm):
    method = make(pm, variant="mlp", views="attributes-face", image_size=16, channels=3, **SMALL)
    with pytest.raises(DataError, match="attribute labels"):
        Views(method.config).from_batch({"views": torch.rand(2, 1, 3, 16, 16)})
    model = method.build().eval()
    with pytest.raises(InputError, match="40 comma-separated"):
        method.sample(model, 2, input=torch.rand(1, 3, 16, 16), attributes="1,0")
    out = method.sample(model, 2, input=torch.rand(1, 3, 16, 16), attributes=",".join(["1"] * 40), views="0,1")
    assert out.shape == (2, 3, 3, 16, 16)
    assert torch.allclose(out[0, 0], torch.full((3, 16, 16), 0.5))  # only the attributes: nothing to show


def test_evaluate_reports_error_and_spread_per_number_of_views(pm):
    torch.manual_seed(0)
    method = make(pm, **SMALL)
    model = method.build().eval()
    data = load_dataset(pm.dataset("digits-quadrants"), "test", size=16)
    out = method.evaluate(model, data, items=10, samples=4)
    for t in range(1, 5):
        assert out[f"best_mse_{t}v"] >= 0 and out[f"variance_{t}v"] >= 0
    assert out["best_mse"] == out["best_mse_4v"] and out["kl_nested"] >= 0 and "variance_prior" in out
    with pytest.raises(InputError, match="samples >= 2"):
        method.evaluate(model, data, samples=1)


def test_trained_weights_narrow_their_predictions_as_views_are_added(pm):
    from zoo import api

    model = api.load("mv-bigan", manager=pm)
    data = load_dataset(pm.dataset("digits-quadrants"), "test", size=model.config.image_size)
    torch.manual_seed(0)
    out = model.method.evaluate(model.module, data, items=150, samples=8)
    assert out["variance_4v"] < out["variance_1v"]
    assert out["best_mse_4v"] < 0.9 * out["best_mse_1v"]


def test_shipped_weights_reproduce_their_golden_samples():
    from zoo.testing import check_golden

    check_golden("mv-bigan.digits-quadrants")
