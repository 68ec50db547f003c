"""The plugin manager: entry points, ZOO_PLUGINS, ZOO_PLUGIN_MODULES, and
plugins that break in every way we know, none of which may take the CLI down.

The broken plugins are small modules (tests/fixtures/fake_plugins.py);
"installed" ones are a `.dist-info` folder on sys.path, which is all
importlib.metadata looks at.
"""

from __future__ import annotations

import sys

import pytest
import typer
from typer.testing import CliRunner

import fake_plugins
from zoo.cli.app import build_app
from zoo.errors import PluginError
from zoo.plugin_manager import PluginManager

BASE = ("zoo.data.builtin", "toy_plugin")


@pytest.fixture(scope="module")
def modules_site(tmp_path_factory):
    """A folder on sys.path holding every fake plugin module."""
    site = tmp_path_factory.mktemp("plugin-modules")
    for name in fake_plugins.MODULES:
        fake_plugins.write_module(site, name)
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    for name in fake_plugins.MODULES:
        sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("ZOO_PLUGINS", "ZOO_PLUGIN_MODULES", "ZOO_DEBUG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for installed distributions of this test only."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def load(monkeypatch, *modules: str, entry_points: bool = False, strict: bool = False) -> PluginManager:
    """A manager with the built-in data sets, the toy plugin and `modules`
    given through ZOO_PLUGIN_MODULES, as a developer would."""
    monkeypatch.setenv("ZOO_PLUGIN_MODULES", ",".join(modules))
    return PluginManager(builtins=BASE, entry_points=entry_points, strict=strict)


def errors_of(pm: PluginManager, name: str) -> str:
    return " | ".join(pm.plugins[name].errors)


# ---------------------------------------------------------------------------
# loading


def test_builtins_load_clean_and_record_what_they_register():
    pm = PluginManager(builtins=BASE, entry_points=False, strict=True)
    toy = pm.plugins["toy_plugin"]
    assert toy.ok and toy.builtin and toy.distribution == "thesis-zoo"
    assert toy.methods == ["toy"] and toy.datasets == ["toy-points"]
    assert toy.hooks == ["zoo_register_datasets", "zoo_register_methods"]
    assert pm.method_plugin("toy") is toy


def test_zoo_plugin_modules_load_a_module_by_import_path(monkeypatch, modules_site):
    pm = load(monkeypatch, "fake_good")
    good = pm.plugins["fake_good"]
    assert good.ok and not good.builtin and good.distribution is None
    assert good.methods == ["good"] and "good" in pm.methods


def test_entry_points_are_found_with_their_distribution(monkeypatch, modules_site, site):
    fake_plugins.write_distribution(site, "zoo-good", "1.2.3", {"good": "fake_good"})
    pm = load(monkeypatch, entry_points=True)
    good = pm.plugins["good"]
    assert (good.distribution, good.version, good.module) == ("zoo-good", "1.2.3", "fake_good")
    assert good.ok and good.methods == ["good"] and not good.builtin


def test_zoo_plugins_limits_the_entry_points_that_load(monkeypatch, modules_site, site):
    fake_plugins.write_distribution(site, "zoo-good", "1.0", {"good": "fake_good"})
    fake_plugins.write_distribution(site, "zoo-broken", "1.0", {"broken": "fake_import_error"})

    monkeypatch.setenv("ZOO_PLUGINS", "good")
    pm = load(monkeypatch, entry_points=True)
    assert "good" in pm.plugins and "broken" not in pm.plugins and not pm.errors

    monkeypatch.setenv("ZOO_PLUGINS", "")  # empty: only the built-ins
    pm = load(monkeypatch, entry_points=True)
    assert set(pm.plugins) == {"builtin", "toy_plugin"} and "toy" in pm.methods

    monkeypatch.setenv("ZOO_PLUGINS", "good, nosuch")
    pm = load(monkeypatch, entry_points=True)
    assert "good" in pm.plugins and pm.missing == ["nosuch"]

    monkeypatch.delenv("ZOO_PLUGINS")  # unset: all of them
    pm = load(monkeypatch, entry_points=True)
    assert {"good", "broken"} <= set(pm.plugins) and pm.missing == []


def test_two_distributions_claiming_one_plugin_name_is_an_error_naming_both(monkeypatch, modules_site, site):
    fake_plugins.write_distribution(site, "zoo-good-a", "1.0", {"good": "fake_good"})
    fake_plugins.write_distribution(site, "zoo-good-b", "2.0", {"good": "fake_duplicate_dataset"})
    pm = load(monkeypatch, entry_points=True)
    assert pm.plugins["good"].ok
    clash = [p for key, p in pm.plugins.items() if key.startswith("good (")]
    assert len(clash) == 1
    message = " ".join(clash[0].errors)
    assert "zoo-good-a 1.0" in message and "zoo-good-b 2.0" in message and "claimed by both" in message


# ---------------------------------------------------------------------------
# broken plugins: recorded, skipped, never fatal


@pytest.mark.parametrize(
    "module, needle",
    [
        ("fake_import_error", "failed to load: ModuleNotFoundError: No module named 'zoo_missing_dependency_xyz'"),
        ("fake_exits", "failed to load: SystemExit: this plugin refuses to load"),
        ("fake_misspelled", "'zoo_register_method' is marked @hookimpl but no hook has that name "
                            "(did you mean 'zoo_register_methods'"),
        ("fake_unmarked", "zoo_register_methods is not marked with @hookimpl"),
        ("fake_wrong_argument", "Argument(s) {'reg'} are declared in the hookimpl but can not be found in the hookspec"),
        ("fake_not_a_method", "registered an invalid method: TypeError: <class 'object'> is not a subclass"),
    ],
)
def test_a_broken_plugin_is_recorded_and_skipped(monkeypatch, modules_site, module, needle):
    pm = load(monkeypatch, module, "fake_good")
    assert needle in errors_of(pm, module)
    assert pm.plugins[module].methods == []
    assert pm.plugins["fake_good"].ok and {"toy", "good"} <= set(pm.methods)  # the others are untouched
    with pytest.raises(PluginError, match=module):
        load(monkeypatch, module, strict=True)


def test_a_hook_that_raises_registers_nothing(monkeypatch, modules_site):
    pm = load(monkeypatch, "fake_hook_raises")
    assert "zoo_register_methods raised RuntimeError: boom in the hook" in errors_of(pm, "fake_hook_raises")
    assert "half" not in pm.methods  # what it registered before raising is dropped


def test_a_taken_method_name_is_refused_naming_both_plugins(monkeypatch, modules_site):
    pm = load(monkeypatch, "fake_duplicate_method")
    message = errors_of(pm, "fake_duplicate_method")
    assert "method 'toy' is already registered by plugin 'toy_plugin'" in message
    assert "plugin 'fake_duplicate_method' cannot register it again" in message
    assert pm.methods["toy"].__module__ == "toy_plugin"  # the first stays


def test_a_taken_dataset_name_is_refused_naming_both_plugins(monkeypatch, modules_site):
    pm = load(monkeypatch, "fake_duplicate_dataset")
    assert "data set 'toy-points' is already registered by plugin 'toy_plugin'" in errors_of(pm, "fake_duplicate_dataset")


# ---------------------------------------------------------------------------
# commands


def test_plugin_commands_appear_with_their_help_and_run(monkeypatch, modules_site):
    pm = load(monkeypatch, "fake_commands")
    app, runner = build_app(pm), CliRunner()
    assert pm.plugins["fake_commands"].commands == ["fake-tools", "hello-there"]
    help_text = runner.invoke(app, ["--help"]).output
    assert "hello-there" in help_text and "Say hello from a plugin." in help_text
    assert "fake-tools" in help_text and "Tools from a plugin." in help_text
    assert runner.invoke(app, ["hello-there", "--name", "zoo"]).output.strip() == "hello zoo"
    assert runner.invoke(app, ["fake-tools", "count", "3"]).output.strip() == "1 2 3"


@pytest.mark.parametrize(
    "module, needle",
    [
        ("fake_commands_clash_builtin", "command 'list' is already a built-in command; plugin "
                                        "'fake_commands_clash_builtin' cannot register it again"),
        ("fake_commands_clash_plugin", "command 'hello-there' is already registered by plugin 'fake_commands'"),
        ("fake_commands_raise", "zoo_register_commands raised ValueError: commands exploded"),
        ("fake_commands_unbuildable", "its commands odd cannot be built: AssertionError"),
    ],
)
def test_bad_commands_are_left_out_and_the_cli_still_works(monkeypatch, modules_site, module, needle):
    pm = load(monkeypatch, "fake_commands", module)
    app, runner = build_app(pm), CliRunner()
    assert needle in errors_of(pm, module)
    assert pm.plugins[module].commands == []
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and "toy" in listing.stdout  # the built-in `list`, not the plugin's
    assert runner.invoke(app, ["hello-there"]).stdout.strip() == "hello world"
    for name in ("lost", "odd"):
        assert name not in runner.invoke(app, ["--help"]).output.split()
    build_app(pm)  # a second app records nothing twice
    assert sum(needle in e for e in pm.plugins[module].errors) == 1


def test_a_broken_plugin_leaves_every_command_working_with_one_warning(monkeypatch, modules_site, tmp_path):
    broken = ["fake_import_error", "fake_hook_raises", "fake_duplicate_method", "fake_misspelled",
              "fake_commands_raise"]
    pm = load(monkeypatch, *broken)
    app, runner = build_app(pm), CliRunner()
    for args in (["list"], ["info", "toy"], ["datasets"], ["train", "toy", "--steps", "2", "--no-progress",
                                                            "--out", str(tmp_path / "run")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        warning = result.stderr.strip().splitlines()
        assert len(warning) == 1 and warning[0].startswith("Warning: plugin(s) ")
        assert all(name in warning[0] for name in broken) and "zoo plugins list" in warning[0]
    listing = runner.invoke(app, ["plugins", "list"])
    assert listing.exit_code == 0 and listing.stderr == ""  # the record itself, no warning
    for name in broken:
        assert errors_of(pm, name).split(" | ")[0] in listing.stdout


def test_a_plugin_command_error_is_one_line(monkeypatch, modules_site, capsys):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_PLUGIN_MODULES", "fake_commands")
    monkeypatch.setattr("zoo.plugin_manager._manager", PluginManager(builtins=BASE, entry_points=False))
    with pytest.raises(SystemExit) as exit_:
        main.main(["hello-there", "--name", "nobody"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == "Error: nobody is not a name (give a name)"


def test_typer_app_is_untouched_by_a_hook_that_raises(monkeypatch, modules_site):
    pm = load(monkeypatch, "fake_commands_raise")
    app = typer.Typer()
    pm.register_commands(app)
    assert app.registered_commands == [] and app.registered_groups == []
