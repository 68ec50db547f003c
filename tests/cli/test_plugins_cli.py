"""`zoo plugins`: list, install, uninstall, new and hooks, and the promise of
docs/plugins.md: `zoo plugins new`, `zoo plugins install`, `zoo train` take a
new user to a trained third-party method.

The end-to-end test installs a scaffolded plugin into the running
environment with the real pip (offline, editable) and always uninstalls it.
The install and uninstall of broken packages use a stand-in pip (a `pip`
package first on PYTHONPATH) that copies a prepared `.dist-info` into place,
so those tests cost no pip run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import uuid
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fake_plugins
from zoo.cli.app import build_app
from zoo.cli.plugins import hook_reference
from zoo.plugin_manager import PluginManager

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "plugins.md"
BASE = ("zoo.data.builtin", "toy_plugin")
E2E_PREFIX = "scaffold-check-"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("ZOO_PLUGINS", "ZOO_PLUGIN_MODULES", "ZOO_DEBUG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def cli_with(monkeypatch):
    """cli_with(*modules)(args...): the CLI around the toy plugin and `modules`
    (loaded through ZOO_PLUGIN_MODULES)."""

    def make(*modules: str):
        monkeypatch.setenv("ZOO_PLUGIN_MODULES", ",".join(modules))
        pm = PluginManager(builtins=BASE, entry_points=False)
        app, runner = build_app(pm), CliRunner()
        return lambda *args: runner.invoke(app, [str(a) for a in args])

    return make


@pytest.fixture(scope="module")
def modules_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("plugin-modules")
    for name in ("fake_import_error", "fake_commands"):
        fake_plugins.write_module(site, name)
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))


def one_error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert lines and lines[-1].startswith("Error:") and "Traceback" not in result.output, result.output
    return lines[-1]


def doc_block(after_heading: str, lang: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(f"\n{after_heading}\n"):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


# ---------------------------------------------------------------------------
# list


def test_list_json_is_the_full_record(cli_with, modules_site):
    out = cli_with("fake_import_error", "fake_commands")("plugins", "list", "--json")
    assert out.exit_code == 0 and out.stderr == ""
    records = {r["name"]: r for r in json.loads(out.stdout)}
    toy = records["toy_plugin"]
    assert (toy["methods"], toy["datasets"], toy["builtin"], toy["ok"]) == (["toy"], ["toy-points"], True, True)
    assert records["fake_commands"]["commands"] == ["fake-tools", "hello-there"]
    assert records["fake_commands"]["hooks"] == ["zoo_register_commands"]
    broken = records["fake_import_error"]
    assert not broken["ok"] and not broken["builtin"] and broken["distribution"] is None
    assert broken["errors"] == ["failed to load: ModuleNotFoundError: No module named 'zoo_missing_dependency_xyz'"]


def test_list_shows_origin_registrations_errors_and_hooks(cli_with, modules_site):
    out = cli_with("fake_import_error", "fake_commands")("plugins", "list", "--hooks")
    assert out.exit_code == 0
    text = out.stdout
    assert "toy_plugin (built-in, toy_plugin) ok" in text
    assert "fake_import_error (ZOO_PLUGIN_MODULES, fake_import_error) failed" in text
    assert "error: failed to load: ModuleNotFoundError" in text
    assert "commands: fake-tools, hello-there" in text and "hooks: zoo_register_commands" in text


def test_zoo_plugins_naming_nothing_installed_is_a_warning(cli_with, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", "no-such-plugin")
    monkeypatch.setenv("ZOO_PLUGIN_MODULES", "")
    pm = PluginManager(builtins=BASE, entry_points=True)
    out = CliRunner().invoke(build_app(pm), ["plugins", "list"])
    assert out.exit_code == 0
    assert "ZOO_PLUGINS names 'no-such-plugin', which no installed package provides" in out.stderr


# ---------------------------------------------------------------------------
# hooks and the documentation


def test_hooks_command_prints_the_reference(cli_with):
    out = cli_with()("plugins", "hooks")
    assert out.exit_code == 0 and out.stdout.strip() == hook_reference().strip()


def test_docs_hook_reference_matches_hookspecs():
    from zoo import hookspecs

    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("<!-- hooks:start -->\n") + len("<!-- hooks:start -->\n"):text.index("<!-- hooks:end -->")]
    assert block.strip() == hook_reference().strip(), (
        "docs/plugins.md's hook reference differs from zoo/hookspecs.py: "
        "replace the block between the hooks markers with the output of `zoo plugins hooks`"
    )
    specs = [n for n, f in vars(hookspecs).items() if hasattr(f, "zoo_spec")]
    assert specs, "no hookspecs found"
    for name in specs:  # the same, said plainly: every hook and argument is documented
        args = ", ".join(__import__("inspect").signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({args})`" in block


def test_docs_command_example_works(monkeypatch, tmp_path, capsys):
    """The `count-params` plugin of docs/plugins.md, as written."""
    from zoo.cli import main

    (tmp_path / "docs_example_plugin.py").write_text(doc_block("## Adding commands", "python"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO_PLUGIN_MODULES", "docs_example_plugin")
    pm = PluginManager(builtins=BASE, entry_points=False, strict=True)
    monkeypatch.setattr("zoo.plugin_manager._manager", pm)
    with pytest.raises(SystemExit) as exit_:
        main.main(["count-params", "toy"])
    assert exit_.value.code == 0
    assert pm.plugins["docs_example_plugin"].commands == ["count-params"]
    assert capsys.readouterr().out.strip() == "toy: 65 parameters"  # 2*16 + 16 + 16*1 + 1
    with pytest.raises(SystemExit) as exit_:
        main.main(["count-params", "tyo"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == "Error: unknown method 'tyo' (did you mean 'toy'?)"


# ---------------------------------------------------------------------------
# new


def test_new_writes_the_whole_package(cli_with, tmp_path):
    from zoo.scaffold import FILES

    out = cli_with()("plugins", "new", "my-vae", "--dir", tmp_path / "pkg")
    assert out.exit_code == 0, out.output
    assert "zoo plugins install -e" in out.stdout and "zoo train my-vae" in out.stdout
    written = sorted(str(p.relative_to(tmp_path / "pkg")) for p in (tmp_path / "pkg").rglob("*") if p.is_file())
    assert written == sorted(t.format(package="zoo_my_vae") for t in FILES)
    pyproject = (tmp_path / "pkg" / "pyproject.toml").read_text()
    assert 'name = "zoo-my-vae"' in pyproject and '[project.entry-points.zoo]\nmy-vae = "zoo_my_vae"' in pyproject
    method = (tmp_path / "pkg" / "src" / "zoo_my_vae" / "method.py").read_text()
    assert "class MyVae(Method):" in method and 'name = "my-vae"' in method
    for path in (tmp_path / "pkg").rglob("*"):
        if path.is_file():
            assert "$" not in path.read_text(), f"{path} has an unfilled placeholder"
            if path.suffix == ".py":
                compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["My_Method"], "plugin name 'My_Method' must be lowercase letters and digits joined by dashes (try 'my-method')"),
        (["2fast"], "must be lowercase"),
        (["toy"], "method 'toy' already exists (plugin 'toy_plugin')"),
    ],
)
def test_new_refuses_bad_names(cli_with, tmp_path, args, needle):
    assert needle in one_error_line(cli_with()("plugins", "new", *args, "--dir", tmp_path / "pkg"))
    assert not (tmp_path / "pkg").exists()


def test_new_never_overwrites(cli_with, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mine.txt").write_text("keep")
    line = one_error_line(cli_with()("plugins", "new", "my-vae", "--dir", tmp_path / "pkg"))
    assert "already exists and is not empty" in line
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"] and (tmp_path / "pkg" / "mine.txt").read_text() == "keep"


# ---------------------------------------------------------------------------
# install and uninstall: mistakes


@pytest.mark.parametrize(
    "args, needle",
    [
        (["plugins", "install"], "give a pip requirement or a path to install"),
        (["plugins", "install", "--no-deps"], "give a pip requirement or a path to install"),
        (["plugins", "uninstall", "redo", "--yes"], "'redo' is part of thesis-zoo itself"),
        (["plugins", "uninstall", "thesis-zoo", "--yes"], "'thesis-zoo' is part of thesis-zoo itself"),
        (["plugins", "uninstall", "no-such-plugin-xyz", "--yes"], "unknown installed plugin 'no-such-plugin-xyz'"),
        (["plugins", "uninstall", "fake_commands", "--yes"], "is loaded from ZOO_PLUGIN_MODULES, not installed"),
        (["plugins", "uninstal"], "unknown plugins command 'uninstal' (did you mean 'uninstall'"),
    ],
)
def test_install_and_uninstall_mistakes_are_one_line(cli_with, modules_site, args, needle):
    assert needle in one_error_line(cli_with("fake_commands")(*args))


# ---------------------------------------------------------------------------
# install and uninstall of broken packages, with a stand-in pip

FAKE_PIP = '''
"""Stand-in for `python -m pip`: logs its arguments; install copies the
package prepared in $FAKE_PIP_PACKAGE next to this folder, uninstall
removes what the RECORD of the named distribution lists."""
import json, os, shutil, sys
from pathlib import Path

site = Path(__file__).resolve().parent.parent
args = sys.argv[1:]
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "install":
    package = Path(os.environ["FAKE_PIP_PACKAGE"])
    for item in package.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, site / item.name)
    if "--report" in args:
        info = next(package.glob("*.dist-info"))
        name = next(l for l in (info / "METADATA").read_text().splitlines() if l.startswith("Name: "))[6:]
        report = {"install": [{"requested": True, "metadata": {"name": name}}]}
        Path(args[args.index("--report") + 1]).write_text(json.dumps(report))
elif args[0] == "uninstall":
    for name in [a for a in args[1:] if not a.startswith("-")]:
        for info in site.glob(name.replace("-", "_") + "-*.dist-info"):
            for line in (info / "RECORD").read_text().splitlines():
                (site / line.split(",")[0]).unlink(missing_ok=True)
            shutil.rmtree(info, ignore_errors=True)
'''


@pytest.fixture
def fake_pip(tmp_path):
    """(env, site, log): a site folder first on PYTHONPATH with the stand-in
    pip in it, and the file where it logs its calls."""
    site = tmp_path / "site"
    (site / "pip").mkdir(parents=True)
    (site / "pip" / "__init__.py").write_text("")
    (site / "pip" / "__main__.py").write_text(textwrap.dedent(FAKE_PIP))
    fixtures = str(Path(fake_plugins.__file__).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_PLUGIN_MODULES", "ZOO_DEBUG")}
    env.update(PYTHONPATH=os.pathsep.join([str(site), fixtures]), FAKE_PIP_LOG=str(tmp_path / "pip.log"),
               OMP_NUM_THREADS="1", COLUMNS="200")
    return env, site, tmp_path / "pip.log"


def zoo(*args: str, env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def prepare(tmp_path: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str | None]) -> Path:
    package = tmp_path / f"pkg-{dist}"
    package.mkdir()
    fake_plugins.write_distribution(package, dist, "0.3.0", entry_points, modules)
    return package


def test_installing_a_package_that_is_not_a_plugin_says_so(fake_pip, tmp_path):
    env, site, log = fake_pip
    env["FAKE_PIP_PACKAGE"] = str(prepare(tmp_path, "not-a-plugin-xyz", {}, {"not_a_plugin_xyz": "X = 1\n"}))
    out = zoo("plugins", "install", "--no-deps", "not-a-plugin-xyz", env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip() == (
        "Error: not-a-plugin-xyz is not a zoo plugin: it declares no entry point in the group 'zoo' "
        "(remove it with `zoo plugins uninstall not-a-plugin-xyz`)"
    )
    first = json.loads(log.read_text().splitlines()[0])
    assert first[0] == "install" and first[-2:] == ["--no-deps", "not-a-plugin-xyz"]  # options passed through


def test_a_broken_installed_plugin_is_reported_and_can_be_uninstalled(fake_pip, tmp_path):
    env, site, log = fake_pip
    env["ZOO_PLUGINS"] = "brokenp"  # only this test's entry points, whatever else is installed
    modules = {"zoo_brokenp": fake_plugins.IMPORT_ERROR}
    env["FAKE_PIP_PACKAGE"] = str(prepare(tmp_path, "zoo-brokenp", {"brokenp": "zoo_brokenp"}, modules))

    install = zoo("plugins", "install", "zoo-brokenp", env=env, cwd=tmp_path)
    assert install.returncode == 2
    assert install.stderr.strip().splitlines()[-1] == (
        "Error: installed, but plugin 'brokenp': failed to load: ModuleNotFoundError: No module named "
        "'zoo_missing_dependency_xyz' (fix the plugin, or remove it with `zoo plugins uninstall brokenp`)"
    )

    listing = zoo("list", env=env, cwd=tmp_path)  # every other command works, with one warning line
    assert listing.returncode == 0, listing.stderr
    warning = listing.stderr.strip().splitlines()
    assert len(warning) == 1 and "brokenp" in warning[0] and "`zoo plugins list` shows why" in warning[0]

    uninstall = zoo("plugins", "uninstall", "brokenp", "--yes", env=env, cwd=tmp_path)
    assert uninstall.returncode == 0, uninstall.stderr
    assert "Uninstalled zoo-brokenp (plugin brokenp)" in uninstall.stdout
    assert json.loads(log.read_text().splitlines()[-1]) == ["uninstall", "-y", "zoo-brokenp"]
    assert not list(site.glob("zoo_brokenp*"))


# ---------------------------------------------------------------------------
# the three commands of docs/plugins.md, with the real pip


def _can_build_without_isolation() -> bool:
    """setuptools builds wheels by itself from 70.1 on; before, it needs `wheel`."""
    try:
        version = tuple(int(x) for x in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _pip_uninstall_leftovers() -> None:
    """Remove scaffolded plugins an interrupted run of this test left behind."""
    stale = {d.metadata["Name"] for d in metadata.distributions()
             if (d.metadata["Name"] or "").startswith(f"zoo-{E2E_PREFIX}")}
    if stale:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", *sorted(stale)], check=False)


def test_from_nothing_to_a_trained_third_party_method(tmp_path):
    """`zoo plugins new`, `zoo plugins install`, `zoo train`, as docs/plugins.md
    shows them (on a unique name, pip kept offline, and fewer steps), then the
    plugin in `zoo plugins list` and `zoo list`, its own tests, and uninstall."""
    quickstart = [line for line in doc_block("## From nothing to a trained method", "sh").splitlines() if line]
    assert quickstart == ["zoo plugins new my-method", "zoo plugins install -e ./zoo-my-method", "zoo train my-method"]
    name = E2E_PREFIX + uuid.uuid4().hex[:6]
    new, install, train = (shlex.split(line.replace("my-method", name))[1:] for line in quickstart)
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_PLUGINS", "ZOO_PLUGIN_MODULES", "ZOO_DEBUG")}
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", COLUMNS="200")
    offline = ["--no-deps"]
    if _can_build_without_isolation():  # build with what is installed rather than fetch it
        offline.append("--no-build-isolation")
        env["PIP_NO_INDEX"] = "1"
    _pip_uninstall_leftovers()

    created = CliRunner().invoke(build_app(PluginManager(entry_points=False)), new)  # in-process: one start less
    assert created.exit_code == 0, created.output
    folder = tmp_path / f"zoo-{name}"
    assert folder.is_dir()
    try:
        installed = zoo(*install, *offline, env=env, cwd=tmp_path)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert f"Installed plugin {name} (zoo-{name} 0.1.0): methods {name}; data sets {name}-bars" in installed.stdout

        records = {r["name"]: r for r in json.loads(zoo("plugins", "list", "--json", env=env, cwd=tmp_path).stdout)}
        record = records[name]
        assert record["ok"] and (record["distribution"], record["methods"], record["datasets"]) == (
            f"zoo-{name}", [name], [f"{name}-bars"])
        assert name in zoo("list", env=env, cwd=tmp_path).stdout

        run = tmp_path / "run"
        trained = zoo(*train, "--steps", "20", "--no-progress", "--out", str(run), env=env, cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr
        assert (run / "model.safetensors").is_file() and f"Run directory: {run}" in trained.stdout

        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=300)
        assert tests.returncode == 0, tests.stdout[-3000:]
        summary = tests.stdout.strip().splitlines()[-1]
        assert re.search(r"\d+ passed", summary) and "skipped" not in summary and "failed" not in summary, summary
    finally:
        removed = zoo("plugins", "uninstall", name, "--yes", env=env, cwd=tmp_path)
        _pip_uninstall_leftovers()
    assert removed.returncode == 0 and f"Uninstalled zoo-{name} (plugin {name})" in removed.stdout, removed.stderr
    assert name not in {ep.name for ep in metadata.entry_points(group="zoo")}
