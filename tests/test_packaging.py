"""A regular (not editable) install carries everything zoo reads at run
time: the registry, every plugin's presets and results, the bundled weights
with their golden samples, and the scaffold's templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zoo.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so that no stale build/ folder of the checkout leaks in and none is left behind.
    source = tmp_path_factory.mktemp("source") / "thesis-zoo"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", ".venv", "venv", ".ci-venv", "runs", "__pycache__", ".pytest_cache"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source), "-w", str(out)],
        capture_output=True, text=True,
    )
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = out.glob("thesis_zoo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_holds_the_registry_and_every_bundled_weights_folder(wheel_files):
    assert "zoo/registry.toml" in wheel_files
    bundled = [w for w in load_registry().weights.values() if w.bundled]
    assert bundled, "the registry lists no bundled weights"
    for entry in bundled:
        package, _, folder = entry.path.partition(":")
        prefix = package.replace(".", "/") + "/" + folder + "/"
        for name in (entry.file, "config.json", "golden.safetensors"):
            assert prefix + name in wheel_files, f"{entry.name}: {prefix + name} is not in the wheel"


def test_wheel_holds_every_plugins_presets_and_results(wheel_files):
    for plugin in sorted(p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()):
        for data in [*plugin.glob("presets/*.toml"), *plugin.glob("results.toml")]:
            name = "zoo/plugins/" + data.relative_to(ROOT / "plugins").as_posix()
            assert name in wheel_files, f"{name} is not in the wheel"


def test_wheel_holds_the_scaffold_templates(wheel_files):
    templates = sorted((ROOT / "zoo" / "templates").rglob("*.tmpl"))
    assert templates
    for template in templates:
        assert "zoo/" + template.relative_to(ROOT / "zoo").as_posix() in wheel_files
