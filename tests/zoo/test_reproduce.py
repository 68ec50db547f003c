"""zoo reproduce, zoo plot, zoo env, and the Python API behind them."""

import json

import pytest
import torch

from zoo import api
from zoo.reproduce import README_END, README_START, Report, Row, compare, load_reports, update_readme


def test_reproduce_writes_the_table(cli, tmp_path):
    out = cli("reproduce", "toy", "--preset", "thesis", "--device", "cpu", "--steps", "20", "--out", tmp_path / "r")
    assert out.exit_code == 0, out.output
    assert "toy on toy-points (test split), preset thesis" in out.output
    report = json.loads((tmp_path / "r" / "reproduce.json").read_text())
    row = report["rows"][0]
    assert row["metric"] == "mse" and row["thesis"] == 0.05 and row["where"] == "Tab. 0.1"
    assert row["difference"] == pytest.approx(row["ours"] - 0.05)
    assert "| mse | toy-points | 0.05 |" in (tmp_path / "r" / "reproduce.md").read_text()
    card = (tmp_path / "r" / "README.md").read_text()
    assert "mse (test)" in card  # the run's test metrics reach its model card


def test_compare_falls_back_to_the_thesis_data_sets():
    from toy_plugin import Toy

    rows, same = compare(Toy, "toy-points", {"mse": 0.1})
    assert same and rows[0].difference == pytest.approx(0.05)
    rows, same = compare(Toy, "other-data", {"mse": 0.1})
    assert not same and rows[0].thesis_data == "toy-points"


@pytest.fixture
def toy_only_cli():
    """A CLI whose only method is the toy, so --all stays small."""
    from typer.testing import CliRunner

    from zoo.cli.app import build_app
    from zoo.plugin_manager import PluginManager

    app = build_app(PluginManager(builtins=("zoo.data.builtin", "toy_plugin"), entry_points=False, strict=True))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_reproduce_all_continues_past_a_failure_and_updates_the_readme(toy_only_cli, tmp_path, monkeypatch):
    from toy_plugin import Toy

    cli = toy_only_cli

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_START}\nold\n{README_END}\n\nafter\n")
    out = cli("reproduce", "--all", "--preset", "thesis", "--device", "cpu", "--steps", "3",
              "--out", tmp_path / "runs", "--summary", tmp_path / "s.json", "--update-readme", readme)
    assert out.exit_code == 0, out.output
    text = readme.read_text()
    assert "old" not in text and "| toy | toy-points, thesis | mse " in text and "| mse 0.05 (toy-points, Tab. 0.1) |" in text and text.endswith("after\n")
    assert [r.method for r in load_reports(tmp_path / "s.json")] == ["toy"]

    def broken(self, model, batch, step):
        raise RuntimeError("boom")

    monkeypatch.setattr(Toy, "train_step", broken)
    out = cli("reproduce", "--all", "--preset", "thesis", "--device", "cpu", "--steps", "2", "--out", tmp_path / "r2")
    assert out.exit_code == 1 and "toy failed" in out.output and "boom" in out.output


def test_update_readme_needs_the_markers(tmp_path):
    from zoo.errors import ZooError

    readme = tmp_path / "README.md"
    readme.write_text("# nothing\n")
    with pytest.raises(ZooError, match="no results section"):
        update_readme(readme, [Report("m", "d", "quick", "test", "", {}, [Row("a", "d", 1.0, 1.0)], True, 0.0)], "x")


def test_plot_draws_a_png(cli, tmp_path):
    from PIL import Image

    assert cli("train", "toy", "--steps", "20", "--out", tmp_path / "run", "--eval-every", "5", "--no-progress").exit_code == 0
    out = cli("plot", tmp_path / "run")
    assert out.exit_code == 0, out.output
    image = Image.open(tmp_path / "run" / "curves.png")
    assert image.size[0] == 900 and image.size[1] == 900  # training, validation, learning rate
    assert cli("plot", tmp_path / "nothing").exit_code == 2


def test_env_reports_versions_and_plugins(cli):
    out = cli("env", "--json")
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["packages"]["torch"] == torch.__version__.split("+")[0] or info["packages"]["torch"].startswith(
        torch.__version__.split("+")[0])
    assert any(p["name"] == "toy_plugin" and p["methods"] == ["toy"] for p in info["plugins"])
    assert info["huggingface"]["offline"] is True  # the test fixture sets HF_HUB_OFFLINE
    assert cli("env").exit_code == 0


def test_api_and_cli_do_the_same(cli, toy_manager, tmp_path):
    """One operation through both doors gives the same result."""
    model = api.train("toy", manager=toy_manager, out=tmp_path / "api", device="cpu", steps=10, seed=3)
    assert cli("train", "toy", "--steps", "10", "--seed", "3", "--out", tmp_path / "cli", "--device", "cpu",
               "--no-progress").exit_code == 0
    from_cli = api.load("toy", weights=tmp_path / "cli", manager=toy_manager)
    for k, v in model.module.state_dict().items():
        assert torch.equal(v, from_cli.module.state_dict()[k])
    metrics = api.evaluate(from_cli)
    out = cli("evaluate", "toy", "--weights", tmp_path / "cli", "--json", tmp_path / "m.json")
    assert out.exit_code == 0
    assert json.loads((tmp_path / "m.json").read_text())["metrics"] == pytest.approx(metrics)
    torch.manual_seed(0)
    samples = api.sample(model, 3, spread=2.0)
    assert samples.shape == (3, 1, 1, 3)


def test_update_readme_also_refreshes_the_weights_table(tmp_path):
    from zoo.reproduce import WEIGHTS_END, WEIGHTS_START

    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n\n{WEIGHTS_START}\nstale\n{WEIGHTS_END}\nend\n")
    update_readme(readme, [Report("m", "d", "quick", "test", "", {"a": 1.0}, [Row("a", "d", 2.0, 1.0)], True, 3.0)], "x")
    text = readme.read_text()
    assert "stale" not in text and "| `redo.synthetic-flowers` (shipped) | redo | synthetic-flowers | acc 0.8427" in text
    assert "| m | d, quick | a 1 | a 2 (d) | 3 s |" in text and text.endswith("end\n")
