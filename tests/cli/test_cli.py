"""The CLI as a user types it (on the toy method)."""

import json

import pytest


def one_error_line(result):
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert lines and lines[-1].startswith("Error:"), result.output
    assert "Traceback" not in result.output
    return lines[-1]


def test_list_info_datasets(cli):
    listing = cli("list")
    assert listing.exit_code == 0 and "toy" in listing.output
    info = cli("info", "toy")
    assert info.exit_code == 0
    for text in ("hidden units", "width", "toy-points", "regression"):
        assert text in info.output
    data = cli("datasets")
    assert data.exit_code == 0 and "toy-points" in data.output and "digits" in data.output


def test_train_help_lists_config_fields(cli):
    out = cli("train", "toy", "--help")
    assert out.exit_code == 0 and "width (int, default 16): hidden units" in out.output


def test_train_sample_evaluate_export(cli, tmp_path):
    run = tmp_path / "run"
    train = cli("train", "toy", "--steps", "5", "--out", run, "--no-progress", "--set", "width=8")
    assert train.exit_code == 0, train.output
    assert f"Run directory: {run}" in train.output.replace("\n", "")
    assert json.loads((run / "run.json").read_text())["config"]["width"] == 8

    sample = cli("sample", "toy", "--weights", run, "--n", "4", "--spread", "2", "--out", tmp_path / "s.png")
    assert sample.exit_code == 0, sample.output
    assert (tmp_path / "s.png").stat().st_size > 0

    ev = cli("evaluate", "toy", "--weights", run, "--json", tmp_path / "m.json")
    assert ev.exit_code == 0, ev.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["split"] == "test" and metrics["metrics"]["mse"] >= 0

    ex = cli("export", "toy", "--weights", run, "--out", tmp_path / "exp")
    assert ex.exit_code == 0, ex.output
    assert {p.name for p in (tmp_path / "exp").iterdir()} == {"model.safetensors", "config.json", "README.md"}


def test_default_run_dir_is_printed(cli, tmp_path):
    out = cli("train", "toy", "--steps", "2", "--no-progress")
    assert out.exit_code == 0, out.output
    runs = list((tmp_path / "runs" / "toy").iterdir())
    assert len(runs) == 1 and (runs[0] / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "tyo"], "unknown method 'tyo' (did you mean 'toy'?)"),
        (["info", "tyo"], "did you mean 'toy'"),
        (["train", "toy", "--data", "digits"], "does not train on data set 'digits'"),
        (["train", "toy", "--data", "digitz"], "does not train on data set 'digitz'"),
        (["train", "toy", "--set", "widht=2"], "did you mean 'width'"),
        (["train", "toy", "--set", "width=2.5"], "not a valid int"),
        (["train", "toy", "--config", "nope.toml"], "does not exist"),
        (["train", "toy", "--preset", "quik"], "unknown preset 'quik'"),
        (["train", "toy", "--device", "cuda:7"], "cuda"),
        (["train", "toy", "--amp", "fp8"], "--amp"),
        (["sample", "toy", "--weights", "no/where"], "hf://no/where"),
        (["sample", "toy", "--weights", "missing-dir"], "not found"),
        (["sample", "toy"], "no pretrained weights"),
        (["nosuchverb"], "unknown command 'nosuchverb'"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(cli, args, needle):
    line = one_error_line(cli(*args))
    assert needle in line, line


def test_corrupt_weights(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "toy", "--steps", "2", "--out", run, "--no-progress").exit_code == 0
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[:40])
    assert "not a readable safetensors file" in one_error_line(cli("sample", "toy", "--weights", run))


def test_debug_shows_the_traceback(cli):
    from zoo.errors import UnknownNameError

    result = cli("info", "tyo", "--debug")
    assert result.exit_code != 2 and isinstance(result.exception, UnknownNameError)


@pytest.mark.parametrize("group,typo,meant", [
    ("c2st", "tset", "test"), ("dcgan", "rnak", "rank"), ("distfit-toy", "fitt", "fit"),
    ("cgan-c2st", "predikt", "predict"), ("mar-scf", "interpolat", "interpolate"), ("srvp", "swapp", "swap"),
])
def test_plugin_command_groups_suggest_the_command_meant(cli, group, typo, meant):
    out = cli(group, typo)
    assert out.exit_code == 2 and f"did you mean '{meant}'" in out.output and "Traceback" not in out.output
