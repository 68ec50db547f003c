"""`zoo plugins`: list, install, uninstall and scaffold plugins; print the hooks.

Install and uninstall run pip in the interpreter that runs `zoo`
(`sys.executable -m pip`), so a plugin lands where zoo will find it. What
got registered is then read back from a fresh process (`python -m zoo
plugins list --json`), since this one cannot import what pip just added.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from zoo.cli.common import NamedGroup, console, err_console, handle_errors, stdout_is_tty
from zoo.errors import MissingDependencyError, PluginError, unknown
from zoo.plugin_manager import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, PluginInfo

PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}
ZOO_DISTRIBUTION = "thesis-zoo"


class PluginGroup(NamedGroup):
    kind = "plugins command"


def register(app: typer.Typer, manager) -> None:
    group = typer.Typer(
        cls=PluginGroup,
        help="List, install, uninstall and create plugins (methods, data sets and commands from other packages).",
        no_args_is_help=True,
    )

    @group.command("list")
    @handle_errors
    def list_plugins(
        as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON, for scripts.")] = False,
        hooks: Annotated[bool, typer.Option("--hooks", help="Also show which hooks each plugin implements.")] = False,
    ):
        """Every plugin, built-in or installed, and what it registered.

        For a plugin that failed to load (or had a method, data set or command
        refused), the full error."""
        records = list(manager.plugins.values())
        if as_json:
            typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        else:
            _print_records(records, hooks)
        if manager.only is not None:
            shown = ", ".join(sorted(manager.only)) or "none"
            err_console.print(f"ZOO_PLUGINS limits the installed plugins that load to: {escape(shown)}")
        for name in manager.missing:
            err_console.print(f"[yellow]Warning:[/] ZOO_PLUGINS names {name!r}, which no installed package provides")

    @group.command("install", context_settings=PASS_THROUGH)
    @handle_errors
    def install(
        args: Annotated[
            Optional[list[str]],
            typer.Argument(help="pip requirements or paths, and any pip options (-e, --no-deps, -U, ...).",
                           show_default=False),
        ] = None,
    ):
        """Install plugins with pip and show what they registered.

        pip runs in the Python that runs zoo; pip options pass through.
        Examples: `zoo plugins install zoo-my-method`,
        `zoo plugins install -e ./zoo-my-method`,
        `zoo plugins install --no-deps ./dist/zoo_my_method-0.1.0-py3-none-any.whl`."""
        install_plugins(list(args or []))

    @group.command("uninstall", context_settings=PASS_THROUGH)
    @handle_errors
    def uninstall(
        names: Annotated[list[str], typer.Argument(help="Plugin names (as `zoo plugins list` shows) or distribution names.",
                                                   show_default=False)],
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    ):
        """Uninstall plugins with pip.

        Works for a plugin that fails to load too."""
        uninstall_plugins(names, yes=yes)

    @group.command("new")
    @handle_errors
    def new(
        name: Annotated[str, typer.Argument(help="The method's name: lowercase letters, digits and dashes.")],
        folder: Annotated[
            Optional[Path], typer.Option("--dir", help="Where to write the package (default: ./zoo-NAME).")
        ] = None,
    ):
        """Write a new plugin package, ready to install, train and test.

        It holds pyproject.toml with the entry point, a small real method (a
        VAE) with an embedded data set, presets/quick.toml, a README and a test
        file that runs the conformance kit."""
        from zoo.scaffold import FILES, new_plugin, plugin_names

        names = plugin_names(name)
        if names.name in manager.methods:
            owner = manager.method_plugin(names.name).name
            raise PluginError(f"method {names.name!r} already exists (plugin {owner!r})", "choose another name")
        names, dest = new_plugin(name, folder)
        console.print(f"Wrote [bold]{escape(str(dest))}[/] ({len(FILES)} files): plugin {names.name!r}, "
                      f"distribution {names.distribution}, package {names.package}")
        console.print("Next:")
        where = str(dest) if dest.is_absolute() or str(dest).startswith(".") else f"./{dest}"  # pip wants a path
        for line in (f"zoo plugins install -e {where}", f"zoo train {names.name}",
                     f"cd {where} && python -m pytest"):
            console.print(f"  {escape(line)}", soft_wrap=True)

    @group.command("hooks")
    @handle_errors
    def hooks_reference():
        """Print every hook a plugin may implement, with its documentation.

        The text comes from zoo/hookspecs.py, as in docs/plugins.md."""
        typer.echo(hook_reference())

    app.add_typer(group, name="plugins")


# ---------------------------------------------------------------------------
# list


def _print_records(records: list[PluginInfo], hooks: bool) -> None:
    """One block per plugin: a heading line, then what it registered and its
    errors, each on its own line (no table: names are never cut)."""
    for r in records:
        if r.builtin:
            origin = f"built-in, {r.module}"
        elif r.distribution:
            origin = f"{r.distribution} {r.version}, {r.module}"
        else:
            origin = f"ZOO_PLUGIN_MODULES, {r.module}"
        status = "[green]ok[/]" if r.ok else "[red]failed[/]" if not (r.methods or r.datasets) else "[red]errors[/]"
        console.print(f"[bold]{escape(r.name)}[/] ({escape(origin)}) {status}", soft_wrap=True)
        rows = [("methods", r.methods), ("data sets", r.datasets), ("commands", r.commands)]
        if hooks:
            rows.append(("hooks", r.hooks))
        for label, items in rows:
            if items:
                console.print(f"  {label}: {escape(', '.join(items))}", soft_wrap=True)
        for error in r.errors:
            console.print(f"  [red]error:[/] {escape(error)}", soft_wrap=True)


def warn_problems(manager) -> None:
    """One line on stderr when some plugin did not load fully."""
    broken = [p.name for p in manager.plugins.values() if p.errors]
    if broken:
        err_console.print(
            f"[yellow]Warning:[/] plugin(s) {escape(', '.join(broken))} failed to load; "
            "`zoo plugins list` shows why"
        )


# ---------------------------------------------------------------------------
# pip


def _pip(*args: str) -> int:
    if importlib.util.find_spec("pip") is None:
        raise MissingDependencyError(
            f"pip is not installed in {sys.executable}",
            "run `python -m ensurepip`, or install the plugin with your own tool into this environment",
        )
    return subprocess.call([sys.executable, "-m", "pip", *args])


def _pip_supports_report() -> bool:
    try:
        major, minor = (int(x) for x in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (22, 2)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions() -> dict[str, str]:
    importlib.invalidate_caches()  # see what pip just wrote
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(_normalize(name), dist.version)
    return out


def _zoo_entry_points(dist_name: str) -> list[metadata.EntryPoint]:
    importlib.invalidate_caches()
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return []
    return [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]


def _installed(dist_name: str) -> str | None:
    importlib.invalidate_caches()
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


def _installed_elsewhere(dist_name: str) -> str | None:
    """The version of `dist_name` a fresh interpreter still finds, if any.
    Not this process: an editable install's source folder stays on its
    sys.path, with the metadata setuptools left there."""
    code = "import sys, importlib.metadata as m; print(m.version(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, dist_name], capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _guess_names(args: list[str]) -> list[str]:
    """Distribution names in pip arguments, for when pip installed nothing
    new (the requirement was already satisfied)."""
    names = []
    for arg in args:
        if arg.startswith("-"):
            continue
        path = Path(arg)
        if (path / "pyproject.toml").is_file():
            from zoo.method import read_toml

            name = read_toml(path / "pyproject.toml").get("project", {}).get("name")
            if name:
                names.append(name)
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", arg)
        if match and not path.exists():
            names.append(match.group(1))
    return [n for n in names if _installed(n)]


def _probe(dists: list[str]) -> list[dict[str, Any]]:
    """The plugin records of a fresh `zoo` process, which imports what pip
    just installed. ZOO_PLUGINS is dropped so that the new plugin loads."""
    env = {k: v for k, v in os.environ.items() if k != "ZOO_PLUGINS"}
    proc = subprocess.run([sys.executable, "-m", "zoo", "plugins", "list", "--json"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PluginError(f"`zoo plugins list` fails after the install: {last}",
                          f"remove what was installed with `{Path(sys.executable).name} -m pip uninstall "
                          f"{' '.join(dists)}`")
    start = re.search(r"^\[", proc.stdout, re.M)  # a plugin may print at import: skip that
    return json.loads(proc.stdout[start.start():]) if start else []


def install_plugins(args: list[str]) -> None:
    if not any(not a.startswith("-") for a in args):
        raise PluginError("give a pip requirement or a path to install", "e.g. zoo plugins install -e ./zoo-my-method")
    before = _distributions()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        extra = ["--report", str(report)] if _pip_supports_report() else []
        code = _pip("install", *extra, *args)
        if code != 0:
            raise PluginError(f"pip install failed (exit status {code})", "see pip's messages above")
        requested = []
        if report.is_file():
            data = json.loads(report.read_text(encoding="utf-8"))
            requested = [item["metadata"]["name"] for item in data.get("install", []) if item.get("requested")]
    after = _distributions()
    if not requested:  # an old pip, or nothing new: what changed, else what was named
        requested = [n for n, v in after.items() if before.get(n) != v] or _guess_names(args)
    if not requested:
        console.print("pip installed nothing new; `zoo plugins list` shows what is installed.")
        return

    plugins = {d: _zoo_entry_points(d) for d in requested}
    not_plugins = [d for d, eps in plugins.items() if not eps and _installed(d)]
    if not any(plugins.values()):
        if not not_plugins:  # e.g. --dry-run
            console.print("pip installed nothing; `zoo plugins list` shows what is installed.")
            return
        _not_a_plugin(not_plugins)
    if not_plugins:
        console.print(f"Also installed (not zoo plugins): {', '.join(not_plugins)}")

    records = {r["name"]: r for r in _probe(list(plugins))}
    failed = []
    for dist, eps in plugins.items():
        for ep in eps:
            record = records.get(ep.name)
            if record is None:
                failed.append(f"plugin {ep.name!r} of {dist} did not load")
                continue
            if record["distribution"] and _normalize(record["distribution"]) != _normalize(dist):
                # the name is taken by another package; the clash is on the second record
                clash = next((r for key, r in records.items() if key.startswith(f"{ep.name} (")), None)
                failed.append(f"plugin {ep.name!r}: " + ("; ".join(clash["errors"]) if clash else "name clash"))
                continue
            _print_installed(record)
            failed += [f"plugin {ep.name!r}: {e}" for e in record["errors"]]
    only = os.environ.get("ZOO_PLUGINS")
    if only is not None:
        names = {n.strip() for n in only.split(",")}
        for dist, eps in plugins.items():
            for ep in eps:
                if ep.name not in names:
                    err_console.print(f"[yellow]Note:[/] ZOO_PLUGINS is set and leaves out {ep.name!r}; "
                                      "add it there to load it")
    if failed:
        hint = "fix the plugin, or remove it with `zoo plugins uninstall " + " ".join(
            ep.name for eps in plugins.values() for ep in eps) + "`"
        raise PluginError(f"installed, but {failed[0]}" + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
                          hint)


def _print_installed(record: dict[str, Any]) -> None:
    parts = [f"{kind} {', '.join(record[key])}" for key, kind in
             (("methods", "methods"), ("datasets", "data sets"), ("commands", "commands")) if record[key]]
    what = "; ".join(parts) or "nothing registered"
    console.print(f"Installed plugin [bold]{escape(record['name'])}[/] "
                  f"({escape(str(record['distribution']))} {escape(str(record['version']))}): {escape(what)}",
                  soft_wrap=True)


def _not_a_plugin(dists: list[str]) -> None:
    names = " ".join(dists)
    message = f"{', '.join(dists)} is not a zoo plugin: it declares no entry point in the group {ENTRY_POINT_GROUP!r}"
    if dists and sys.stdin.isatty() and stdout_is_tty():
        err_console.print(f"[yellow]{escape(message)}[/]")
        if typer.confirm(f"Uninstall {names} again?", default=False):
            _pip("uninstall", "-y", *dists)
            raise PluginError(message, f"{names} was uninstalled again")
    raise PluginError(message, f"remove it with `zoo plugins uninstall {names}`")


def uninstall_plugins(args: list[str], *, yes: bool = False) -> None:
    options = [a for a in args if a.startswith("-")]
    names = [a for a in args if not a.startswith("-")]
    if not names:
        raise PluginError("give the name of a plugin to uninstall", "`zoo plugins list` shows them")
    dists = {}
    for name in names:
        dist, what = _resolve_uninstall(name)
        dists[dist] = what
    if not yes:
        if not sys.stdin.isatty():
            raise PluginError("uninstalling needs a confirmation", "add --yes")
        listing = "; ".join(f"{d} {_installed(d) or ''} ({w})" for d, w in dists.items())
        if not typer.confirm(f"Uninstall {listing}?", default=False):
            raise typer.Exit(1)
    code = _pip("uninstall", "-y", *options, *dists)
    if code != 0:
        raise PluginError(f"pip uninstall failed (exit status {code})", "see pip's messages above")
    for dist, what in dists.items():
        left = _installed_elsewhere(dist)
        if left:
            err_console.print(f"[yellow]Warning:[/] {dist} {left} is still installed (another copy on sys.path)")
        else:
            console.print(f"Uninstalled {escape(dist)} ({escape(what)})", soft_wrap=True)


def _resolve_uninstall(name: str) -> tuple[str, str]:
    """The distribution to uninstall for a plugin or distribution `name`."""
    builtins = {m.rsplit(".", 1)[-1] for m in DEFAULT_PLUGINS}
    if name in builtins or _normalize(name) == ZOO_DISTRIBUTION:
        raise PluginError(f"{name!r} is part of thesis-zoo itself, not an installed plugin",
                          "limit what loads with ZOO_PLUGINS instead")
    importlib.invalidate_caches()
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if eps:
        dist = getattr(eps[0], "dist", None)
        if dist is None:
            raise PluginError(f"cannot tell which package provides plugin {name!r}", "uninstall it with pip")
        return dist.metadata["Name"], f"plugin {name}"
    if _installed(name):
        eps = _zoo_entry_points(name)
        return name, ("plugins " + ", ".join(ep.name for ep in eps)) if eps else "not a zoo plugin"
    modules = {m.rsplit(".", 1)[-1] for m in os.environ.get("ZOO_PLUGIN_MODULES", "").split(",") if m.strip()}
    if name in modules:
        raise PluginError(f"plugin {name!r} is loaded from ZOO_PLUGIN_MODULES, not installed",
                          "remove it from ZOO_PLUGIN_MODULES")
    installed = sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})
    raise unknown("installed plugin", name, installed)


# ---------------------------------------------------------------------------
# the hook reference


def hook_reference() -> str:
    """Markdown for every hook in zoo/hookspecs.py, in source order: the
    signature as a heading, then the docstring."""
    from zoo import hookspecs

    marker = f"{ENTRY_POINT_GROUP}_spec"  # the attribute pluggy's HookspecMarker sets
    parts = []
    for name, fn in vars(hookspecs).items():
        if callable(fn) and hasattr(fn, marker):
            args = ", ".join(inspect.signature(fn).parameters)
            parts.append(f"### `{name}({args})`\n\n{inspect.getdoc(fn)}\n")
    return "\n".join(parts)
