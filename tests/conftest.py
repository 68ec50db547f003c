"""Shared fixtures. The toy plugin in tests/fixtures exercises the core
without depending on any real method."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def toy_manager():
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    return PluginManager(builtins=(*DEFAULT_PLUGINS, "toy_plugin"), entry_points=False, strict=True)


@pytest.fixture
def cli(toy_manager):
    """Invoke the CLI built around the toy manager: cli("train", "toy", ...)."""
    from typer.testing import CliRunner

    from zoo.cli.app import build_app

    app = build_app(toy_manager)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Runs and samples written by a test land in its own temp folder, and no
    test sees the user's data or Hugging Face cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
