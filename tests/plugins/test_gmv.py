"""GMV, CGMV, GANx-k and CGAN-views: networks, losses, the identity protocol,
the multi-view data sets and their loaders, errors, shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset
from zoo.data import multiview as mv
from zoo.errors import ConfigError, DataError, InputError, MissingDependencyError
from zoo.metrics.identity import (
    VGGFace,
    attribute_metrics,
    identity_auc,
    identity_network,
    load_probe,
    roc_auc,
    roc_auc_score,
)
from zoo.plugins.gmv.method import (
    discriminator_loss,
    generator_loss,
    identity_protocol,
    mixed_pair,
    tuples,
)
from zoo.plugins.gmv.model import DCGANEncoder, DCGANGenerator, MultiViewGAN


@pytest.fixture(scope="module")
def pm():
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    return PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False, strict=True)


def make(pm, name, **overrides):
    from zoo import api

    return api.make(name, preset="quick", manager=pm, **overrides)


# ---------------------------------------------------------------------------
# Networks


def test_dcgan_blocks_follow_the_thesis_table_at_64():
    G = DCGANGenerator(128, 3, 64, 64)
    shapes, x = [], torch.randn(2, 128).view(2, 128, 1, 1)
    for layer in G.main:
        x = layer(x)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    assert x.min() >= -1 and x.max() <= 1
    D = DCGANEncoder(6, 1, 64, 64)
    shapes, x = [], torch.randn(2, 6, 64, 64)
    for layer in D.main:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)]
    assert not isinstance(D.main[1], torch.nn.BatchNorm2d)  # no batch norm on D's first layer
    E = DCGANEncoder(3, 64, 64, 64, first_bn=True, activation="relu")
    assert isinstance(E.main[1], torch.nn.BatchNorm2d) and E(torch.randn(2, 3, 64, 64)).shape == (2, 64)


@pytest.mark.parametrize("size", [16, 32])
def test_multiview_gan_shapes(size):
    gmv = MultiViewGAN(size=size, ngf=8, ndf=8, encoder=True)
    c, v = torch.randn(3, 64), torch.randn(3, 64)
    x = gmv.generate(c, v)
    assert x.shape == (3, 3, size, size)
    assert gmv.discriminate(x, x).shape == (3,)
    assert gmv.encode(x).shape == (3, 64)
    k4 = MultiViewGAN(size=size, content_dim=128, view_dim=0, ngf=8, ndf=8, images_per_code=4, tuple_size=4)
    y = k4.generate(torch.randn(3, 128))
    assert y.shape == (3, 4, 3, size, size)
    assert k4.discriminate(*y.unbind(1)).shape == (3,)
    assert k4.D.main[0].in_channels == 12 and k4.G.main[-2].out_channels == 12


def test_image_size_must_be_a_power_of_two(pm):
    with pytest.raises(ConfigError, match="power of two"):
        make(pm, "gmv", image_size=48).build()
    with pytest.raises(ConfigError, match="k must be at least 2"):
        make(pm, "gan-xk", k=1).build()


# ---------------------------------------------------------------------------
# Losses and steps


def test_losses_are_the_smoothed_non_saturating_objectives():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.0])
    s = torch.sigmoid
    expected = -(0.9 * torch.log(s(real)) + 0.1 * torch.log(1 - s(real))).mean()
    expected = expected - 0.5 * (0.1 * torch.log(s(fake)) + 0.9 * torch.log(1 - s(fake))).mean()
    assert torch.allclose(discriminator_loss(real, [(fake, 0.5)], 0.9, 0.1), expected)
    g = -(0.9 * torch.log(s(fake)) + 0.1 * torch.log(1 - s(fake))).mean()
    assert torch.allclose(generator_loss([(fake, 1.0)], 0.9), g)


def test_mixed_pairs_hold_one_real_and_one_generated_image_in_both_orders():
    torch.manual_seed(0)
    x, g = torch.zeros(64, 1, 1, 1), torch.ones(64, 1, 1, 1)
    a, b = mixed_pair(x, g)
    assert torch.equal(a + b, torch.ones_like(a))
    assert 10 < int(a.sum()) < 54


class _Step:
    def __init__(self, optimizers):
        self.optimizers, self.index = optimizers, 0

    def optimize(self, name, loss):
        params = [p for group in self.optimizers[name].param_groups for p in group["params"]]
        torch.autograd.backward(loss, inputs=params)
        self.optimizers[name].step()
        self.optimizers[name].zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", ["gmv", "cgmv", "gan-xk", "cgan-views"])
def test_train_step_updates_both_players(pm, name):
    method = make(pm, name, image_size=16, ngf=8, ndf=8)
    model = method.build()
    data = mv.MultiViewObjects("train", size=16, views=2)
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = method.train_step(model, batch, _Step(method.configure_optimizers(model)))
    assert {"loss_d", "loss_g"} <= set(out) and all(torch.isfinite(torch.as_tensor(v)) for v in out.values())
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {"G", "D"} <= changed
    if name in ("cgmv", "cgan-views"):
        assert "E" in changed


def test_discriminator_loss_goes_down_on_fixed_pairs(pm):
    torch.manual_seed(0)
    method = make(pm, "gmv", image_size=16, ngf=8, ndf=8)
    model = method.build()
    opt = torch.optim.Adam(model.D.parameters(), lr=5e-3, betas=(0.5, 0.999))
    data = mv.MultiViewObjects("train", size=16, views=2)
    x = tuples(torch.utils.data.default_collate([data[i] for i in range(8)]), 2, "gmv", 16)
    with torch.no_grad():
        g1, g2 = model.generate(torch.randn(8, 64).repeat(2, 1), torch.randn(16, 64)).chunk(2)
    losses = []
    for _ in range(12):
        loss = discriminator_loss(model.discriminate(x[:, 0], x[:, 1]), [(model.discriminate(g1, g2), 1.0)], 0.9, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


# ---------------------------------------------------------------------------
# Sampling


def test_gmv_sample_is_a_content_by_view_grid(pm):
    torch.manual_seed(0)
    method = make(pm, "gmv", image_size=16, ngf=8, ndf=8)
    model = method.build().eval()
    grid = method.sample(model, 3, views=5)
    assert grid.shape == (3, 5, 3, 16, 16) and grid.min() >= 0 and grid.max() <= 1
    for mode in ("content", "view"):
        assert method.sample(model, 2, views=4, interpolate=mode).shape == (2, 4, 3, 16, 16)
    with pytest.raises(InputError, match="interpolate"):
        method.sample(model, 2, interpolate="sideways")


def test_gmv_rows_share_content_and_columns_share_view(pm, monkeypatch):
    from zoo.plugins.gmv import method as gm

    method = make(pm, "gmv", image_size=16, ngf=8, ndf=8)
    model = method.build().eval()
    seen = {}

    def record(model, c, v):
        seen["c"], seen["v"] = c, v
        return torch.zeros(*c.shape[:2], 3, 16, 16)

    monkeypatch.setattr(gm, "generate_grid", record)
    method.sample(model, 3, views=4)
    c, v = seen["c"], seen["v"]
    assert torch.equal(c[:, 0], c[:, 3]) and not torch.equal(c[0, 0], c[1, 0])
    assert torch.equal(v[0], v[2]) and not torch.equal(v[0, 0], v[0, 1])
    method.sample(model, 2, views=5, interpolate="content")
    c, v = seen["c"], seen["v"]
    assert torch.equal(v[:, 0], v[:, 4]) and torch.allclose(c[:, 2], (c[:, 0] + c[:, 4]) / 2, atol=1e-6)


def test_cgmv_sample_takes_user_images(pm, tmp_path):
    method = make(pm, "cgmv", image_size=16, ngf=8, ndf=8)
    model = method.build().eval()
    files = []
    for i in range(2):
        path = tmp_path / f"in{i}.png"
        Image.fromarray(np.full((40, 30, 3), 60 * i, np.uint8)).save(path)
        files.append(str(path))
    out = method.sample(model, 5, input=files, views=3)
    assert out.shape == (2, 4, 3, 16, 16)  # input + 3 new views per row
    assert torch.allclose(out[1, 0], torch.full((3, 16, 16), 60 / 255), atol=1 / 255)
    assert method.sample(model, 2, views=3).shape == (2, 4, 3, 16, 16)  # held-out objects by default
    with pytest.raises(InputError, match=r"\(N, 3, 16, 16\)"):
        method.sample(model, 1, input=torch.rand(1, 3, 32, 32))
    with pytest.raises(InputError, match="does not exist"):
        method.sample(model, 1, input=[str(tmp_path / "missing.png")])


# ---------------------------------------------------------------------------
# Errors on the wrong data


def test_single_images_where_pairs_are_needed_is_a_clear_error():
    with pytest.raises(DataError, match="several views of the same object"):
        tuples({"image": torch.rand(2, 3, 16, 16)}, 2, "gmv", 16)
    with pytest.raises(DataError, match="needs 4 views"):
        tuples({"views": torch.rand(2, 2, 3, 16, 16)}, 4, "gan-xk", 16)
    with pytest.raises(InputError, match="built for 3×32×32 images"):
        tuples({"views": torch.rand(2, 2, 3, 16, 16)}, 2, "gmv", 32)


def test_training_on_single_image_data_fails_in_one_line(pm):
    from zoo.engine import TrainOptions, fit

    method = make(pm, "gmv", image_size=16, ngf=8, ndf=8, batch_size=4)
    digits = load_dataset(pm.dataset("digits"), "train", size=16)
    with pytest.raises(DataError, match="single images"):
        fit(method, digits, None, TrainOptions(steps=1, device="cpu", progress=False))


# ---------------------------------------------------------------------------
# ROC-AUC and the identity protocol


def test_roc_auc_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score as reference

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 300))
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]
        scores = rng.integers(0, 8, n) + labels * rng.random(n)  # many ties
        assert roc_auc_score(labels, scores) == pytest.approx(reference(labels, scores), abs=1e-12)
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0 and roc_auc([1.0], [1.0]) == 0.5
    assert identity_auc([0.1, 0.2], [0.5, 0.9]) == 1.0  # positives are closer


def test_attribute_metrics_by_hand():
    real = torch.tensor([[1, 0], [1, 1], [0, 0], [1, 0]])
    fake = torch.tensor([[1, 1], [1, 1], [1, 1], [0, 1]])
    out = attribute_metrics(real, fake, ["Smiling", "Blurry"])
    assert out["label_distance"] == pytest.approx((abs(0.75 - 0.75) + abs(1.0 - 0.25)) / 2)
    assert out["unique_combinations"] == pytest.approx(2 / 4)
    assert out["unique_combinations_real"] == pytest.approx(3 / 4)
    assert out["blurry"] == pytest.approx(1.0)
    assert "blurry" not in attribute_metrics(real, fake, ["a", "b"])


def test_protocol_on_real_pairs_and_perfect_copies():
    data = mv.MultiViewObjects("test", size=32, views=2)
    dev = torch.device("cpu")

    def copies(real):  # a "generator" that returns the real image twice
        return real, real

    out = identity_protocol(data, copies, pairs=120, identity_weights=None, attribute_weights=None,
                            device=dev, conditional=True)
    assert out["auc_real_real"] > 0.9  # the oracle tells held-out objects apart
    assert out["auc_gen_gen"] == 1.0 and out["auc_mixed_real"] == 1.0  # identical images: distance 0
    assert out["label_distance"] == 0.0  # the same images, the same attributes
    assert set(out) >= {"auc_gen_real", "auc_real_gen", "auc_mixed_gen", "unique_combinations"}

    def noise(real):  # unrelated images
        return torch.rand_like(real), torch.rand_like(real)

    torch.manual_seed(0)
    out = identity_protocol(data, noise, pairs=100, identity_weights=None, attribute_weights=None,
                            device=dev, conditional=False)
    assert abs(out["auc_gen_gen"] - 0.5) < 0.2 and "auc_mixed_real" not in out


def test_protocol_with_an_identity_network_that_has_no_attributes(tmp_path):
    from zoo.metrics.identity import IdentityProbe, save_probe

    torch.manual_seed(0)
    path = tmp_path / "identity.safetensors"
    save_probe(path, IdentityProbe(4, 0).eval(), [])
    data = mv.MultiViewObjects("test", size=16, views=2)
    out = identity_protocol(data, lambda real: (real, real), pairs=20, identity_weights=str(path),
                            attribute_weights=None, device=torch.device("cpu"), conditional=False, chunk=8)
    assert out["auc_gen_gen"] == 1.0 and "label_distance" not in out


def test_oracle_probe_ships_with_its_quality():
    probe, names = load_probe(mv.oracle_probe_path())
    assert names == list(mv.ATTRIBUTES) and probe.embed_dim == mv.CONTENT_DIM
    data = mv.MultiViewObjects("test", size=32, views=1)
    items = [data[i] for i in range(100)]
    x = torch.stack([it["views"][0] for it in items])
    with torch.no_grad():
        emb, logits = probe(x)
    truth = torch.stack([it["content"] for it in items])
    assert ((emb - truth) ** 2).mean() < 0.5 * truth.var(0).mean()  # explains most of the content
    assert ((logits > 0).float() == torch.stack([it["attributes"][0] for it in items])).float().mean() > 0.8


def test_identity_network_needs_weights_off_the_embedded_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_METRIC_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="--identity-weights"):
        identity_network(None)
    bad = tmp_path / "vgg-face.safetensors"
    from safetensors.torch import save_file

    save_file({"conv1_1.weight": torch.zeros(1)}, str(bad))
    from zoo.errors import CheckpointError

    with pytest.raises(CheckpointError, match="do not fit"):
        identity_network(None)


def test_vgg_face_descriptor_shape():
    with torch.device("meta"):
        net = VGGFace()
        out = net(torch.empty(2, 3, 64, 64))
    assert out.shape == (2, 4096)
    assert [n for n, _ in net.named_parameters()][:2] == ["conv1_1.weight", "conv1_1.bias"]
    assert sum(p.numel() for p in net.parameters()) == 145_002_878  # VGG-16 with 2,622 identities


# ---------------------------------------------------------------------------
# The embedded multi-view data


def test_multiview_objects_are_deterministic_and_consistent():
    a, b = mv.MultiViewObjects("train", size=32, views=3), mv.MultiViewObjects("train", size=32, views=3)
    x, y = a[17], b[17]
    assert all(torch.equal(x[k], y[k]) for k in x)
    assert x["views"].shape == (3, 3, 32, 32) and x["views"].min() >= 0 and x["views"].max() <= 1
    assert x["view_params"].shape == (3, mv.VIEW_DIM) and x["content"].shape == (mv.CONTENT_DIM,)
    assert x["attributes"].shape == (3, len(mv.ATTRIBUTES))
    assert not torch.equal(x["views"][0], x["views"][1])  # several views of one object
    same = a[17 + mv.OBJECTS["train"]]  # the same object, other views
    assert same["object"] == x["object"] and torch.equal(same["content"], x["content"])
    assert not torch.equal(same["views"], x["views"])
    assert len(a) == mv.OBJECTS["train"] * mv.ITEMS_PER_OBJECT


def test_splits_hold_different_objects():
    train = {tuple(mv.content_vector(mv.object_content("train", i)).tolist()) for i in range(mv.OBJECTS["train"])}
    test = {tuple(mv.content_vector(mv.object_content("test", i)).tolist()) for i in range(mv.OBJECTS["test"])}
    assert len(train) == mv.OBJECTS["train"] and not train & test


def test_render_draws_the_shape_where_the_view_puts_it():
    content = {"shape": mv.SHAPES.index("square"), "aspect": 1.0, "body": torch.tensor([1.0, 0.0, 0.0]),
               "pattern": 0, "second": torch.tensor([0.0, 1.0, 0.0])}
    view = {"angle": 0.0, "scale": 0.5, "shift": (0.0, 0.0), "light": 1.0, "gradient": (0.0, 0.0),
            "background": torch.tensor([0.0, 0.0, 1.0])}
    img = mv.render(content, [view], 32)[0]
    assert torch.allclose(img[:, 16, 16], torch.tensor([1.0, 0.0, 0.0]))  # red square in the middle
    assert torch.allclose(img[:, 1, 1], torch.tensor([0.0, 0.0, 1.0]))  # blue background in the corner
    # a square of circumradius 0.5 (a diamond, vertex at angle 0) has area 2·0.5² of the 2×2 frame
    assert abs(float(img[0].mean()) - 2 * 0.5**2 / 4) < 0.02


# ---------------------------------------------------------------------------
# Real loaders on tiny fixtures in the official layouts


def _jpeg(path, h, w, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path, quality=95)


def test_celeba_loader(tmp_path):
    root = tmp_path / "data" / "celeba"
    rows = [("000001.jpg", 1), ("000002.jpg", 1), ("000003.jpg", 2), ("000004.jpg", 10000), ("000005.jpg", 10001),
            ("000006.jpg", 10001)]
    for n, (name, _) in enumerate(rows):
        _jpeg(root / "img_align_celeba" / name, 218, 178, 40 * n)
    (root / "identity_CelebA.txt").write_text("".join(f"{f} {i}\n" for f, i in rows))
    names = ["Smiling", "Blurry"]
    (root / "list_attr_celeba.txt").write_text(
        "6\n" + " ".join(names) + "\n" + "".join(f"{f}  {1 if n % 2 else -1} -1\n" for n, (f, _) in enumerate(rows)))
    from zoo.plugin_manager import get_plugin_manager

    spec = get_plugin_manager().dataset("celeba")
    train = load_dataset(spec, "train", tmp_path / "data", size=32, views=2)
    test = load_dataset(spec, "test", tmp_path / "data", size=32, views=2)
    assert len(train) == 3 and len(test) == 3
    item = train[0]
    assert item["views"].shape == (2, 3, 32, 32) and int(item["object"]) == 1
    assert torch.allclose(item["views"][1], torch.full((3, 32, 32), 40 / 255), atol=3 / 255)  # its partner: 000002
    assert torch.equal(item["attributes"], torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(train[2]["views"][0], train[2]["views"][1])  # a lone image is its own partner
    assert int(test[1]["object"]) == 10001 and torch.allclose(test[1]["views"][1], torch.full((3, 32, 32), 200 / 255), atol=3 / 255)
    (root / "identity_CelebA.txt").unlink()
    with pytest.raises(DataError, match="missing identity_CelebA.txt"):
        load_dataset(spec, "train", tmp_path / "data")


def test_celeba_crop_is_the_centre_128(tmp_path):
    x = torch.zeros(3, 218, 178)
    x[:, 45:173, 25:153] = 1  # exactly the centre 128×128
    out = mv.resize(mv.center_crop(x, 128), 64)
    assert torch.allclose(out, torch.ones(3, 64, 64))


def test_chairs_loader(tmp_path, monkeypatch):
    monkeypatch.setattr(mv, "CHAIRS_TRAIN", 2)
    base = tmp_path / "data" / "chairs" / "rendered_chairs"
    for m, model in enumerate(["1a6f", "2b7e", "3c8d"]):
        for view in ("image_000_p020_t000_r096.png", "image_001_p020_t011_r096.png"):
            path = base / model / "renders" / view
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((600, 600, 3), 50 + 60 * m, np.uint8)).save(path)
    (base / "all_chair_names.mat").write_bytes(b"")
    from zoo.plugin_manager import get_plugin_manager

    spec = get_plugin_manager().dataset("chairs")
    train = load_dataset(spec, "train", tmp_path / "data", size=16, views=3)
    test = load_dataset(spec, "test", tmp_path / "data", size=16, views=2)
    assert len(train) == 4 and len(test) == 2
    item = train[3]
    assert item["views"].shape == (3, 3, 16, 16) and int(item["object"]) == 1
    assert torch.allclose(item["views"], torch.full_like(item["views"], 110 / 255), atol=1 / 255)
    with pytest.raises(DataError, match="rendered_chairs"):
        load_dataset(spec, "train", tmp_path / "nowhere")


def test_mvc_loader(tmp_path, monkeypatch):
    monkeypatch.setattr(mv, "MVC_TEST_ITEMS", 1)
    root = tmp_path / "data" / "mvc-cloth"
    records = []
    for item in (7, 9):
        for view in range(3):
            name = f"{item}_{view}"
            _jpeg(root / "image_data" / f"{name}.jpg", 60, 40, 20 * item)
            records.append({"filename": name, "itemN": str(item), "colourId": 1})
    (root / "attribute_labels.json").write_text(json.dumps(records))
    from zoo.plugin_manager import get_plugin_manager

    spec = get_plugin_manager().dataset("mvc-cloth")
    train = load_dataset(spec, "train", tmp_path / "data", size=16, views=2)
    test = load_dataset(spec, "test", tmp_path / "data", size=16, views=2)
    assert len(train) == 3 and len(test) == 3
    x = train[0]["views"][0]
    assert torch.allclose(x[:, 8, 8], torch.full((3,), 140 / 255), atol=3 / 255)  # the garment (item 7), centred
    assert torch.allclose(x[:, 8, 0], torch.ones(3))  # white padding on the sides
    (root / "attribute_labels.json").write_text("[{}]")
    with pytest.raises(DataError, match="'filename' and 'itemN'"):
        load_dataset(spec, "train", tmp_path / "data")


# ---------------------------------------------------------------------------
# Shipped weights


@pytest.mark.parametrize("name", ["gmv.multiview-objects", "cgmv.multiview-objects"])
def test_shipped_weights_reproduce_their_golden_samples(name):
    from zoo.testing import check_golden

    check_golden(name)


def test_shipped_gmv_ties_identity_to_the_content_code():
    from zoo import api

    model = api.load("gmv")
    data = mv.MultiViewObjects("test", size=model.config.image_size, views=2)
    torch.manual_seed(0)
    out = model.method.evaluate(model.module, data, pairs=300)
    assert out["auc_gen_gen"] > 0.7  # same c, two views: closer than two contents


def test_shipped_cgmv_keeps_the_identity_of_its_input():
    from zoo import api

    model = api.load("cgmv")
    data = mv.MultiViewObjects("test", size=model.config.image_size, views=2)
    torch.manual_seed(0)
    out = model.method.evaluate(model.module, data, pairs=300)
    assert out["auc_mixed_real"] > 0.6  # a new view of x is closer to x than another object is
