"""C2ST: the classifier, its training, the Monte-Carlo study, `zoo c2st test`
on every input format with its errors, and the shipped weights. (Training,
checkpoint round-trip and export run in the conformance kit.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.checkpoint import save_tensors
from zoo.data.two_sample import load_gauss_vs_t, load_sinusoid
from zoo.method import make_config
from zoo.plugins.c2st.method import C2ST
from zoo.plugins.c2st.model import C2STNN
from zoo.plugins.c2st.study import GRIDS, Setting, rejection_rates


class StepStub:
    """What train_step needs of the engine's Step: optimize() and index."""

    def __init__(self, optimizers):
        self.optimizers, self.index = optimizers, 0

    def optimize(self, name, loss):
        opt = self.optimizers[name]
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_classifier_shapes():
    net = C2STNN(dim=2, hidden=20)
    assert net(torch.randn(5, 2)).shape == (5,)
    p = net.prob(torch.randn(5, 2))
    assert p.shape == (5,) and ((0 < p) & (p < 1)).all()
    assert net.fc1.out_features == 20  # §5.3.3


def test_training_lowers_the_loss_and_beats_chance():
    torch.manual_seed(0)
    method = C2ST(make_config(C2ST, overrides={"dim": 2}))
    model = method.build()
    step = StepStub(method.configure_optimizers(model))
    data = load_sinusoid(None, "train", n=500)
    epoch_losses = []
    for epoch in range(100):  # the thesis's 100 epochs
        order, losses = torch.randperm(len(data)), []
        for lo in range(0, len(data), 64):
            idx = order[lo : lo + 64]
            losses.append(float(method.train_step(model, {"z": data.z[idx], "label": data.label[idx]}, step)["bce"].detach()))
        epoch_losses.append(sum(losses) / len(losses))
    test = load_sinusoid(None, "test", n=500)
    metrics = method.evaluate(model, test, reps=0)
    assert epoch_losses[-1] < epoch_losses[0] - 0.03
    assert metrics["accuracy"] > 0.6 and metrics["p_value"] < 1e-6 and metrics["reject"] == 1.0


def test_evaluate_reports_the_study_and_checks_dimensions():
    method = C2ST()
    model = method.build()
    metrics = method.evaluate(model, load_gauss_vs_t(None, "test", n=100), reps=3, grid="smoke", tests="knn,mmd")
    assert {"accuracy", "p_value", "reject", "type1_knn_n50", "student_mmd_n50_nu3", "sinusoid_knn_n50_d1_g0.25"} <= set(metrics)
    assert all(0 <= metrics[k] <= 1 for k in metrics)
    from zoo.errors import DataError, UnknownNameError

    with pytest.raises(DataError, match="takes 1-d points but the data have 2"):
        method.evaluate(model, load_sinusoid(None, "test", n=50), reps=0)
    with pytest.raises(UnknownNameError, match="grid"):
        method.evaluate(model, load_gauss_vs_t(None, "test", n=50), reps=1, grid="huge")


def test_study_keys_and_null_control():
    assert Setting("type1", 2000).key("c2st-nn") == "type1_nn_n2000"
    assert Setting("student", 500, nu=3).key("c2st-knn") == "student_knn_n500_nu3"
    assert Setting("sinusoid", 2000, gamma=0.5).key("mmd") == "sinusoid_mmd_n2000_d1_g0.5"
    assert len(GRIDS["full"]) == 33  # the released script's curves
    rates = rejection_rates([Setting("type1", 200), Setting("student", 2000)], ["c2st-knn"], reps=20, seed=0)
    assert rates["type1_knn_n200"] <= 0.15 and rates["student_knn_n2000_nu3"] >= 0.9


@pytest.mark.parametrize("dim", [1, 2])
def test_sample_draws_the_decision_function(dim):
    method = C2ST(make_config(C2ST, overrides={"dim": dim}))
    torch.manual_seed(0)
    picture = method.sample(method.build(), 50, size=64)
    assert picture.dim() == 4 and picture.shape[:2] == (1, 3) and 0 <= picture.min() and picture.max() <= 1


# ---------------------------------------------------------------------------
# zoo c2st test


def _images(folder, n, seed, bright=0.0):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = (rng.random((16, 16, 3)) * 0.5 + bright) * 255
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_cli_same_and_different_samples(cli, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(300, 2)))
    np.save(tmp_path / "b.npy", rng.normal(size=(300, 2)))
    np.save(tmp_path / "c.npy", rng.normal(size=(300, 2)) * 2)
    same = cli("c2st", "test", tmp_path / "a.npy", tmp_path / "b.npy", "--classifier", "knn")
    assert same.exit_code == 0, same.output
    assert "c2st-knn: statistic" in same.output and "accept H0" in same.output
    diff = cli("c2st", "test", tmp_path / "a.npy", tmp_path / "c.npy", "--epochs", "30", "--json", tmp_path / "r.json")
    assert diff.exit_code == 0, diff.output
    assert "reject H0" in diff.output
    import json

    record = json.loads((tmp_path / "r.json").read_text())
    assert record["test"] == "c2st-nn" and record["reject"] is True and record["p_value"] < 0.05
    mmd = cli("c2st", "test", tmp_path / "a.npy", tmp_path / "c.npy", "--method", "mmd")
    assert mmd.exit_code == 0 and "mmd: statistic" in mmd.output


def test_cli_reads_npz_safetensors_and_image_folders(cli, tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "two.npz", real=rng.normal(size=(100, 3)), fake=rng.normal(size=(100, 3)))
    np.savez(tmp_path / "one.npz", x=rng.normal(size=(100, 3)))
    save_tensors(tmp_path / "s.safetensors", {"features": torch.randn(100, 3)}, {})
    ok = cli("c2st", "test", tmp_path / "one.npz", tmp_path / "s.safetensors", "--classifier", "knn")
    assert ok.exit_code == 0, ok.output
    ambiguous = cli("c2st", "test", tmp_path / "two.npz", tmp_path / "one.npz")
    assert ambiguous.exit_code == 2 and "holds 2 arrays" in ambiguous.output and "--key" in ambiguous.output
    a, b = _images(tmp_path / "real", 40, 0), _images(tmp_path / "bright", 40, 1, bright=0.5)
    pics = cli("c2st", "test", a, b, "--classifier", "knn", "--image-size", "16")
    assert pics.exit_code == 0 and "reject H0" in pics.output


def test_cli_features_from_a_resnet_file(cli, tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    save_tensors(tmp_path / "resnet18.safetensors", resnet18().state_dict(), {})
    a, b = _images(tmp_path / "a", 20, 0), _images(tmp_path / "b", 20, 1, bright=0.5)
    result = cli("c2st", "test", a, b, "--features", tmp_path / "resnet18.safetensors", "--classifier", "knn")
    assert result.exit_code == 0, result.output
    points = tmp_path / "p.npy"
    np.save(points, np.zeros((20, 3)))
    bad = cli("c2st", "test", points, points, "--features", tmp_path / "resnet18.safetensors")
    assert bad.exit_code == 2 and "needs images" in bad.output


@pytest.mark.parametrize("case,message", [
    ("dims", "3 feature(s) per point but sample B has 4"),
    ("tiny", "needs at least 8 per sample"),
    ("nan", "NaN or infinite"),
    ("garbage", "cannot read"),
    ("pickle", "pickled objects"),
    ("suffix", "unsupported sample file"),
    ("ragged-csv", "cannot read"),
    ("text-csv", "cannot read"),
    ("missing", "does not exist"),
    ("empty-folder", "holds no images"),
    ("method", "--method must be c2st or mmd"),
])
def test_cli_bad_input_is_one_error_line(cli, tmp_path, case, message):
    rng = np.random.default_rng(2)
    a = tmp_path / "a.npy"
    np.save(a, rng.normal(size=(50, 3)))
    b = tmp_path / "b.npy"
    extra = []
    if case == "dims":
        np.save(b, rng.normal(size=(50, 4)))
    elif case == "tiny":
        np.save(b, rng.normal(size=(3, 3)))
    elif case == "nan":
        arr = rng.normal(size=(50, 3))
        arr[4, 1] = np.nan
        np.save(b, arr)
    elif case == "garbage":
        b.write_bytes(b"\x93NUMPY garbage")
    elif case == "pickle":
        np.save(b, np.array([{"a": 1}] * 10, dtype=object), allow_pickle=True)
    elif case == "suffix":
        b = tmp_path / "b.xlsx"
        b.write_text("1,2,3\n")
    elif case == "ragged-csv":
        b = tmp_path / "b.csv"
        b.write_text("x,y,z\n1,2,3\n4,5\n")
    elif case == "text-csv":
        b = tmp_path / "b.csv"
        b.write_text("x,y,z\n1,two,3\n")
    elif case == "missing":
        b = tmp_path / "nope.npy"
    elif case == "empty-folder":
        b = tmp_path / "folder"
        b.mkdir()
    elif case == "method":
        b, extra = a, ["--method", "t-test"]
    result = cli("c2st", "test", a, b, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_text_tables_read_like_the_same_array(tmp_path):
    from zoo.plugins.c2st.samples import read_sample

    rng = np.random.default_rng(3)
    points = rng.normal(size=(12, 3))
    np.save(tmp_path / "p.npy", points)
    (tmp_path / "p.csv").write_text("a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in points) + "\n")
    (tmp_path / "p.tsv").write_text("\n".join("\t".join(repr(float(v)) for v in row) for row in points))
    (tmp_path / "one.txt").write_text("\n".join(repr(float(v)) for v in points[:, 0]))
    reference = read_sample(tmp_path / "p.npy").data
    assert torch.equal(read_sample(tmp_path / "p.csv").data, reference)
    assert torch.equal(read_sample(tmp_path / "p.tsv").data, reference)
    assert read_sample(tmp_path / "one.txt").data.shape == (12, 1)


def test_shipped_weights_match_their_golden_samples():
    from zoo.testing import check_golden

    check_golden("c2st.gauss-vs-t")


def test_cli_evaluate_prints_the_published_bound_next_to_ours(cli):
    result = cli("evaluate", "c2st", "--reps", "2", "--tests", "knn", "--grid", "key")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "type1_knn_n2000" in line)
    assert "0.05" in row and "ICLR 2017" in row


def test_readme_commands_run_as_written(cli, tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "plugins" / "c2st" / "README.md").read_text(encoding="utf-8")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "real.npy", rng.normal(size=(200, 2)))
    np.save(tmp_path / "fake.npy", rng.normal(size=(200, 2)) + 0.5)
    ran = 0
    for line in readme.splitlines():
        args = line.split("#")[0].split()
        if line.startswith("zoo c2st test real.npy") or line.startswith("zoo sample c2st"):
            result = cli(*args[1:])
            assert result.exit_code == 0, result.output
            ran += 1
    assert ran == 4
