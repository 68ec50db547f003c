"""zoo.data.segmentation: the embedded synthetic flowers, and the real
loaders on tiny fixtures written in each data set's official layout."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset
from zoo.data.segmentation import DATASETS, SyntheticFlowers
from zoo.errors import DataError, MissingDependencyError

SPECS = {spec.name: spec for spec in DATASETS}


# ---------------------------------------------------------------------------
# synthetic-flowers


def test_synthetic_flowers_items():
    ds = SyntheticFlowers("test", 32)
    assert len(ds) == 1000 and len(SyntheticFlowers("train", 32)) == 6000 and len(SyntheticFlowers("val", 32)) == 500
    item = ds[3]
    assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (1, 32, 32)
    assert item["image"].dtype == torch.float32 and 0 <= item["image"].min() and item["image"].max() <= 1
    assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    shares = torch.stack([ds[i]["mask"].mean() for i in range(40)])
    assert 0.05 < shares.min() and shares.max() < 0.6 and 0.15 < shares.mean() < 0.4


def test_synthetic_flowers_are_deterministic_and_splits_differ():
    a, b = SyntheticFlowers("val", 24), SyntheticFlowers("val", 24)
    assert torch.equal(a[7]["image"], b[7]["image"]) and torch.equal(a[7]["mask"], b[7]["mask"])
    assert not torch.equal(a[7]["image"], SyntheticFlowers("test", 24)[7]["image"])
    assert not torch.equal(a[7]["image"], a[8]["image"])
    with pytest.raises(IndexError):
        a[500]


def test_synthetic_flowers_object_and_background_colours_differ():
    # inside the mask and outside it the mean colours are those of two
    # independent draws, so on average they differ clearly
    ds = SyntheticFlowers("train", 32)
    gaps = []
    for i in range(20):
        x, m = ds[i]["image"], ds[i]["mask"].bool()[0]
        gaps.append((x[:, m].mean(1) - x[:, ~m].mean(1)).abs().max())
    assert torch.stack(gaps).mean() > 0.1


# ---------------------------------------------------------------------------
# Flowers-102: jpg/, segmim/, setid.mat


def write_flowers(root, n=6):
    scipy_io = pytest.importorskip("scipy.io")
    (root / "jpg").mkdir(parents=True)
    (root / "segmim").mkdir()
    for i in range(1, n + 1):
        Image.fromarray(np.full((40, 50, 3), 30 * i, np.uint8)).save(root / "jpg" / f"image_{i:05d}.jpg")
        seg = np.zeros((40, 50, 3), np.uint8)
        seg[:] = (0, 0, 254)                       # the background blue
        seg[10:30, 15:35] = (200, 60, 90)          # the flower
        Image.fromarray(seg).save(root / "segmim" / f"segmim_{i:05d}.jpg", quality=100, subsampling=0)
    ids = {"trnid": np.array([[1, 2]], float), "valid": np.array([[3, 4]], float), "tstid": np.array([[5, 6]], float)}
    scipy_io.savemat(root / "setid.mat", ids)


def test_flowers_loader_reads_the_official_layout_with_redos_split(tmp_path):
    write_flowers(tmp_path / "flowers")
    sizes = {s: len(load_dataset(SPECS["flowers"], s, tmp_path, size=16)) for s in ("train", "val", "test")}
    assert sizes == {"train": 2, "val": 2, "test": 2}
    train = load_dataset(SPECS["flowers"], "train", tmp_path, size=16)
    test = load_dataset(SPECS["flowers"], "test", tmp_path, size=16)
    # ReDO's split is the official one reversed: official tstid (5, 6) trains
    assert train[0]["image"].mean().item() == pytest.approx(150 / 255, abs=0.02)
    assert test[1]["image"].mean().item() == pytest.approx(60 / 255, abs=0.02)
    item = train[0]
    assert item["image"].shape == (3, 16, 16) and item["mask"].shape == (1, 16, 16)
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    # 40x50 -> 16x20 (scale 0.4), centre crop of 2 columns: the box 10:30, 15:35 -> 4:12, 4:12
    box = torch.zeros(16, 16)
    box[4:12, 4:12] = 1
    inter = (item["mask"][0] * box).sum()
    union = ((item["mask"][0] + box) > 0).sum()
    assert inter / union > 0.8


def test_flowers_foreground_rule_is_not_background_blue(tmp_path):
    from zoo.data.segmentation import flowers_foreground

    seg = np.zeros((2, 4, 3), np.uint8)
    seg[:] = (0, 0, 254)
    seg[0, 0] = (10, 0, 200)     # G == 0: background
    seg[0, 1] = (0, 5, 5)        # R == 0: background
    seg[0, 2] = (5, 5, 254)      # B == 254: background
    seg[0, 3] = (5, 5, 5)        # foreground
    seg[1, 3] = (255, 255, 0)    # foreground
    Image.fromarray(seg).save(tmp_path / "s.png")
    assert flowers_foreground(tmp_path / "s.png").tolist() == [[False, False, False, True], [False, False, False, True]]


def test_flowers_missing_files_say_what_to_put_where(tmp_path):
    with pytest.raises(DataError, match="missing jpg/, segmim/, setid.mat") as err:
        load_dataset(SPECS["flowers"], "train", tmp_path)
    assert str(tmp_path / "flowers") in str(err.value) and "robots.ox.ac.uk" in str(err.value)


def test_flowers_without_scipy_is_a_clear_error(tmp_path, monkeypatch):
    write_flowers(tmp_path / "flowers")
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(MissingDependencyError, match="scipy"):
        load_dataset(SPECS["flowers"], "train", tmp_path)


# ---------------------------------------------------------------------------
# CUB-200-2011: images.txt, images/, segmentations/, ReDO's split file


def write_cub(root):
    base = root / "CUB_200_2011"
    names = ["001.Albatross/a_1.jpg", "001.Albatross/a_2.jpg", "002.Auklet/b_1.jpg", "002.Auklet/b_2.jpg"]
    for i, name in enumerate(names, start=1):
        (base / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 50 * i, np.uint8)).save(base / "images" / name)
        seg = np.zeros((20, 20), np.uint8)
        seg[5:15, 5:15] = 255
        seg[0:5, :] = 100                          # a soft annotation below 0.5: background
        png = base / "segmentations" / name.replace(".jpg", ".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(seg).save(png)
    (base / "images.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names, start=1)))
    (base / "train_val_test_split.txt").write_text("1 0\n2 2\n3 1\n4 0\n")


def test_cub_loader_uses_redos_split_and_thresholds_masks(tmp_path):
    write_cub(tmp_path / "cub")
    spec = SPECS["cub"]
    train, val, test = (load_dataset(spec, s, tmp_path, size=10) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (2, 1, 1)
    assert test[0]["image"].mean().item() == pytest.approx(100 / 255, abs=0.02)
    assert val[0]["image"].mean().item() == pytest.approx(150 / 255, abs=0.02)
    expected = torch.zeros(10, 10)
    expected[3:8, 3:8] = 1  # 20 -> 10 px, nearest: source rows 6, 8, ..., 14
    assert torch.equal(train[0]["mask"][0], expected)


def test_cub_missing_split_file_names_it(tmp_path):
    write_cub(tmp_path / "cub")
    (tmp_path / "cub" / "CUB_200_2011" / "train_val_test_split.txt").unlink()
    with pytest.raises(DataError, match="train_val_test_split.txt"):
        load_dataset(SPECS["cub"], "train", tmp_path)


# ---------------------------------------------------------------------------
# LFW: lfw_funneled/, parts_lfw_funneled_gt_images/, ReDO's split files


def write_lfw(root):
    people = {"train": ["Ann_Lee_0001", "Bo_Ryan_0002"], "val": ["Cy_Twombly_0001"], "test": ["Di_Ng_0001", "Di_Ng_0002"]}
    for split, stems in people.items():
        lines = []
        for stem in stems:
            person = stem.rsplit("_", 1)[0]
            (root / "lfw_funneled" / person).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((25, 25, 3), 120, np.uint8)).save(root / "lfw_funneled" / person / f"{stem}.jpg")
            if split != "train":
                part = np.zeros((25, 25, 3), np.uint8)
                part[:] = (0, 0, 255)              # background
                part[0:5, 5:20] = (255, 0, 0)      # hair
                part[5:20, 5:20] = (0, 255, 0)     # face
                (root / "parts_lfw_funneled_gt_images").mkdir(exist_ok=True)
                Image.fromarray(part).save(root / "parts_lfw_funneled_gt_images" / f"{stem}.ppm")
            lines.append(f"{person} {stem}\n")
        (root / f"{split}.txt").write_text("".join(lines))


def test_lfw_loader_has_masks_for_val_and_test_only(tmp_path):
    write_lfw(tmp_path / "lfw")
    spec = SPECS["lfw"]
    train = load_dataset(spec, "train", tmp_path, size=25)
    test = load_dataset(spec, "test", tmp_path, size=25)
    assert len(train) == 2 and len(test) == 2 and len(load_dataset(spec, "val", tmp_path, size=25)) == 1
    assert "mask" not in train[0] and train[0]["image"].shape == (3, 25, 25)
    expected = torch.zeros(25, 25)
    expected[0:20, 5:20] = 1  # hair and face, not background
    assert torch.equal(test[1]["mask"][0], expected)


def test_lfw_missing_files_say_what_to_put_where(tmp_path):
    with pytest.raises(DataError, match="lfw_funneled/.*test.txt.*parts_lfw_funneled_gt_images/"):
        load_dataset(SPECS["lfw"], "test", tmp_path)
