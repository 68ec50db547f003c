"""The README is tested: its quickstart runs exactly as written, its Python
example runs as written, and every other `zoo` command it shows parses (as
does every `zoo` command in the plugins' READMEs)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    lines = []
    for block in blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(("zoo ", "torchrun ")):
                lines.append(line)
    return lines


def plugin_commands() -> list[tuple[str, str]]:
    """(plugin, command) for every `zoo ...` line in a code block of a
    plugin README, commands joined by && or ; taken apart."""
    found = []
    for readme in sorted((REPO / "plugins").glob("*/README.md")):
        for block in re.findall(r"```[a-z]*\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                for part in re.split(r"\s*(?:&&|;)\s*", line.split("  #")[0].strip()):
                    if part.startswith("zoo "):
                        found.append((readme.parent.name, part))
    return found


def run(args: list[str], cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "zoo", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_quickstart_runs_as_written(tmp_path):
    quick = blocks("bash")[0].strip().splitlines()
    assert quick == ['pip install -e ".[test]"', "zoo train redo", "zoo sample redo --weights <run dir>", "pytest"]
    train = run(["train", "redo", "--no-progress"], tmp_path)  # `zoo train redo`; no bar in a log
    assert train.returncode == 0, train.stdout + train.stderr
    found = re.search(r"Run directory: (\S+)", train.stdout)
    assert found, train.stdout
    run_dir = found.group(1)
    assert (tmp_path / run_dir / "model.safetensors").is_file()
    sample = run(["sample", "redo", "--weights", run_dir], tmp_path)
    assert sample.returncode == 0, sample.stdout + sample.stderr
    written = re.search(r"Wrote (\S+\.png)", sample.stdout)
    assert written and (tmp_path / written.group(1)).stat().st_size > 0


def test_python_example_runs_as_written(tmp_path, monkeypatch):
    (code,) = blocks("python")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["masks_and_redraws"].min() >= 0 and namespace["masks_and_redraws"].max() <= 1
    assert set(namespace["metrics"]) >= {"acc", "iou"}


@pytest.mark.parametrize("line", [c for c in commands() if c.startswith("zoo ")], ids=lambda c: c[:60])
def test_every_command_parses(line, cli_real):
    args = shlex.split(line.replace("<run dir>", "RUN").replace("<run>", "RUN"))[1:]
    result = cli_real(*args, "--help")
    assert result.exit_code == 0, f"{line}\n{result.output}"


@pytest.mark.parametrize("plugin,line", plugin_commands(), ids=lambda v: v[:60])
def test_every_plugin_readme_command_parses(plugin, line, cli_real):
    result = cli_real(*shlex.split(line)[1:], "--help")
    assert result.exit_code == 0, f"plugins/{plugin}/README.md: {line}\n{result.output}"


def test_multi_node_example_names_real_options(cli_real):
    (line,) = [c for c in commands() if c.startswith("torchrun ")]
    zoo_args = shlex.split(line.split("-m zoo ", 1)[1])
    assert cli_real(*zoo_args, "--help").exit_code == 0


@pytest.fixture(scope="module")
def cli_real():
    from typer.testing import CliRunner

    from zoo.cli.app import build_app
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    app = build_app(PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_weights_table_is_the_registry():
    from zoo.reproduce import WEIGHTS_END, WEIGHTS_START, weights_markdown

    shown = README.split(WEIGHTS_START, 1)[1].split(WEIGHTS_END, 1)[0]
    assert shown.strip() == weights_markdown().strip(), (
        "README's weights table is stale: run "
        "python -c \"from zoo.reproduce import refresh_weights_table; refresh_weights_table('README.md')\""
    )
