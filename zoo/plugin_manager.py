"""The plugin manager: built-in plugins plus the entry points of group ``zoo``.

Built-ins register through the same path as third-party plugins. Each plugin
loads in its own ``try``: one that fails to import, to register, or inside a
hook is recorded with its error (`zoo plugins list` shows it) and skipped, so
a broken plugin never takes the CLI down. ``strict=True`` (used by the test
suite for the built-ins) raises instead.

This module is named ``plugin_manager`` rather than ``plugins`` because the
package ``zoo.plugins`` holds the built-in plugins themselves.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError, did_you_mean, unknown

if TYPE_CHECKING:
    from zoo.data import DatasetSpec
    from zoo.method import Method

ENTRY_POINT_GROUP = "zoo"

# Built-in plugins, in load order. Earlier plugins win a name clash.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "zoo.data.builtin",
    "zoo.plugins.redo",
    "zoo.plugins.gmv",
    "zoo.plugins.mv_bigan",
    "zoo.plugins.mar_scf",
    "zoo.plugins.srvp",
    "zoo.plugins.c2st",
    "zoo.plugins.dcgan",
    "zoo.plugins.distfit_toy",
    "zoo.plugins.cgan_c2st",
)


@dataclass
class PluginInfo:
    """What one plugin is and what it registered."""

    name: str
    module: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    methods: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def origin(self) -> str:
        """Where the plugin comes from, for messages that name two plugins."""
        if self.distribution:
            return f"{self.name!r} ({self.distribution} {self.version or '?'}, {self.module})"
        return f"{self.name!r} (module {self.module})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _env_list(name: str) -> list[str]:
    return [n.strip() for n in os.environ.get(name, "").split(",") if n.strip()]


def _describe(exc: BaseException) -> str:
    """One line for an exception raised by plugin code."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if isinstance(exc, pluggy.PluginValidationError):
        text = "; ".join(lines)  # pluggy puts the useful part on the later lines
    else:
        text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# What a plugin may raise while it loads. SystemExit too: a plugin that calls
# sys.exit() at import must not end every command.
PLUGIN_FAILURES = (Exception, SystemExit)


class PluginManager:
    """Loads plugins and holds what they registered: methods and data sets."""

    def __init__(
        self,
        builtins: Iterable[str] = DEFAULT_PLUGINS,
        *,
        entry_points: bool = True,
        only: Iterable[str] | None = None,
        strict: bool = False,
    ):
        """`only` limits the entry-point plugins that load (by name); None
        reads ``ZOO_PLUGINS`` (comma-separated; empty loads no entry points;
        unset loads them all). Built-ins always load, and so do the modules
        named in ``ZOO_PLUGIN_MODULES`` (import paths, comma-separated), which
        lets a plugin under development load without being installed."""
        self.pm = pluggy.PluginManager("zoo")
        self.pm.add_hookspecs(hookspecs)
        self.strict = strict
        self.plugins: dict[str, PluginInfo] = {}
        self.methods: dict[str, type[Method]] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self._method_owner: dict[str, str] = {}
        self._dataset_owner: dict[str, str] = {}
        if only is None and "ZOO_PLUGINS" in os.environ:
            only = _env_list("ZOO_PLUGINS")
        self.only = None if only is None else set(only)
        self.missing: list[str] = []  # names in `only` that no entry point has

        for module in builtins:
            self._load_module(module.rsplit(".", 1)[-1], module, builtin=True)
        for module in _env_list("ZOO_PLUGIN_MODULES"):  # plugins under development, by import path
            self._load_module(module.rsplit(".", 1)[-1], module, builtin=False)
        if entry_points:
            found = set()
            for ep in self._entry_points():
                found.add(ep.name)
                if self.only is not None and ep.name not in self.only:
                    continue
                dist = getattr(ep, "dist", None)
                self._load(
                    ep.name,
                    ep.value,
                    ep.load,
                    builtin=False,
                    distribution=dist.name if dist else None,
                    version=dist.version if dist else None,
                )
            self.missing = sorted((self.only or set()) - found)
        self._collect("zoo_register_methods", "register", self._register_method)
        self._collect("zoo_register_datasets", "register", self._register_dataset)

    # -- loading ----------------------------------------------------------

    @staticmethod
    def _entry_points() -> list[metadata.EntryPoint]:
        """The entry points of group ``zoo``, by name. A distribution found
        twice on sys.path counts once; two distributions using one name both
        stay, so the second is reported as a clash naming the first."""
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        seen, unique = set(), []
        for ep in sorted(eps, key=lambda e: e.name):  # stable: sys.path order within a name
            dist = getattr(ep, "dist", None)
            key = (ep.name, ep.value, dist.name if dist else None)
            if key not in seen:
                seen.add(key)
                unique.append(ep)
        return unique

    def _load_module(self, name: str, module: str, builtin: bool) -> None:
        from zoo import __version__

        self._load(
            name,
            module,
            lambda: importlib.import_module(module),
            builtin=builtin,
            distribution="thesis-zoo" if builtin else None,
            version=__version__ if builtin else None,
        )

    def _load(self, name, module, loader: Callable[[], Any], **info) -> None:
        record = PluginInfo(name=name, module=module, **info)
        if name in self.plugins:
            other = self.plugins[name]
            self.plugins[f"{name} ({module})"] = record
            self._fail(record, f"plugin name {name!r} is claimed by both {other.origin} and "
                               f"{record.origin}; only the first loads")
            return
        self.plugins[name] = record
        try:
            obj = loader()
            self.pm.register(obj, name=name)
        except PLUGIN_FAILURES as exc:  # a plugin may raise anything
            self._fail(record, f"failed to load: {_describe(exc)}", exc)
            return
        problem = _hookimpl_problem(obj)
        if problem is None:
            try:
                self.pm.check_pending()  # a misspelled hookimpl is an error, not a no-op
            except PLUGIN_FAILURES as exc:
                problem = _describe(exc)
        if problem is not None:
            self.pm.unregister(name=name)
            self._fail(record, f"failed to load: {problem}")
            return
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(obj) or ())

    def _fail(self, record: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        if message in record.errors:  # e.g. register_commands run for a second app
            return
        record.errors.append(message)
        if exc is not None and os.environ.get("ZOO_DEBUG"):
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        if self.strict:
            raise PluginError(f"plugin {record.name!r}: {message}") from exc

    def _collect(self, hook: str, argname: str, add: Callable[[PluginInfo, Any], None]) -> None:
        """Call `hook` on each plugin alone, so one failure stays with its plugin."""
        for impl in self._ordered(hook):
            record = self.plugins[impl.plugin_name]
            staged: list[Any] = []
            try:
                impl.function(**{a: staged.append for a in impl.argnames if a == argname})
            except PLUGIN_FAILURES as exc:
                self._fail(record, f"{hook} raised {_describe(exc)}", exc)
                continue
            for item in staged:
                add(record, item)

    def _ordered(self, hook: str):
        order = {name: i for i, name in enumerate(self.plugins)}
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        return sorted(impls, key=lambda impl: order.get(impl.plugin_name, len(order)))

    def _register_method(self, record: PluginInfo, cls: Any) -> None:
        from zoo.method import Method, validate_method_class

        try:
            if not (isinstance(cls, type) and issubclass(cls, Method)):
                raise TypeError(f"{cls!r} is not a subclass of zoo.method.Method")
            validate_method_class(cls)
        except Exception as exc:  # noqa: BLE001
            self._fail(record, f"registered an invalid method: {_describe(exc)}", exc)
            return
        if cls.name in self.methods:
            owner = self._method_owner[cls.name]
            self._fail(
                record,
                f"method {cls.name!r} is already registered by plugin {owner!r}; "
                f"plugin {record.name!r} cannot register it again",
            )
            return
        self.methods[cls.name] = cls
        self._method_owner[cls.name] = record.name
        record.methods.append(cls.name)

    def _register_dataset(self, record: PluginInfo, spec: Any) -> None:
        from zoo.data import DatasetSpec

        if not isinstance(spec, DatasetSpec):
            self._fail(record, f"registered {spec!r}, which is not a zoo.data.DatasetSpec")
            return
        if spec.name in self.datasets:
            owner = self._dataset_owner[spec.name]
            self._fail(
                record,
                f"data set {spec.name!r} is already registered by plugin {owner!r}; "
                f"plugin {record.name!r} cannot register it again",
            )
            return
        self.datasets[spec.name] = spec
        self._dataset_owner[spec.name] = record.name
        record.datasets.append(spec.name)

    # -- the CLI ----------------------------------------------------------

    def register_commands(self, app) -> None:
        """Let each plugin add sub-commands to the Typer `app`. A plugin whose
        hook raises, whose command cannot be built, or that takes a command
        name already in use has all its commands left out (and recorded)."""
        owners: dict[str, str | None] = {n: None for n in _command_names(app)}  # None: a built-in verb
        for impl in self._ordered("zoo_register_commands"):
            record = self.plugins[impl.plugin_name]
            n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)

            def leave_out(message: str, exc: BaseException | None = None) -> None:
                del app.registered_commands[n_commands:]
                del app.registered_groups[n_groups:]
                self._fail(record, message, exc)

            try:
                impl.function(**{a: app for a in impl.argnames if a == "cli"})
            except PLUGIN_FAILURES as exc:
                leave_out(f"zoo_register_commands raised {_describe(exc)}; its commands are left out", exc)
                continue
            added = _command_names(app, n_commands, n_groups)
            try:
                _build_commands(app, n_commands, n_groups)  # Typer builds lazily: fail here, not in every command
            except PLUGIN_FAILURES as exc:
                leave_out(f"its commands {', '.join(added)} cannot be built: {_describe(exc)}", exc)
                continue
            clash = next((n for i, n in enumerate(added) if n in owners or n in added[:i]), None)
            if clash is not None:
                owner = owners.get(clash, record.name)
                who = "a built-in command" if owner is None else f"registered by plugin {owner!r}"
                leave_out(f"command {clash!r} is already {who}; plugin {record.name!r} cannot register it "
                          "again, so its commands are left out")
                continue
            owners.update((n, record.name) for n in added)
            record.commands = sorted(set(record.commands) | set(added))

    # -- lookups ----------------------------------------------------------

    def method(self, name: str) -> type[Method]:
        if name not in self.methods:
            raise unknown("method", name, self.methods)
        return self.methods[name]

    def dataset(self, name: str) -> DatasetSpec:
        if name not in self.datasets:
            raise unknown("data set", name, self.datasets)
        return self.datasets[name]

    def method_plugin(self, name: str) -> PluginInfo:
        return self.plugins[self._method_owner[name]]

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(p.name, e) for p in self.plugins.values() for e in p.errors]


def _hookimpl_problem(obj: Any) -> str | None:
    """A hook function left unmarked, or a marked one named after no hook:
    either would silently never run."""
    specs = {name for name in dir(hookspecs) if name.startswith("zoo_")}
    marker = f"{ENTRY_POINT_GROUP}_impl"  # the attribute pluggy's HookimplMarker sets
    for attr in sorted(dir(obj)):
        try:
            value = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - odd objects may raise on getattr
            continue
        opts = getattr(value, marker, None) if callable(value) else None
        if opts is not None:
            name = (opts.get("specname") if isinstance(opts, dict) else None) or attr
            if name not in specs:
                hint = did_you_mean(name, specs) or f"the hooks are {', '.join(sorted(specs))}"
                return f"{name!r} is marked @hookimpl but no hook has that name ({hint})"
        elif attr in specs and callable(value):
            return f"{attr} is not marked with @hookimpl (add `from zoo import hookimpl` and `@hookimpl`)"
    return None


def _command_names(app, n_commands: int = 0, n_groups: int = 0) -> list[str]:
    """Names of the commands and groups of a Typer `app` from the given
    positions on, as Typer will name them."""
    names = [c.name or c.callback.__name__.lower().replace("_", "-") for c in app.registered_commands[n_commands:]]
    for g in app.registered_groups[n_groups:]:
        names.append(g.name or getattr(g.typer_instance.info, "name", None) or "(unnamed group)")
    return names


def _build_commands(app, n_commands: int, n_groups: int) -> None:
    """Build the click commands a plugin added, so a bad parameter type
    raises now rather than when any command runs."""
    import typer

    probe = typer.Typer()
    probe.registered_commands = list(app.registered_commands[n_commands:])
    probe.registered_groups = list(app.registered_groups[n_groups:])
    probe.callback()(lambda: None)  # a group, so every command is built
    typer.main.get_command(probe)


_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, loaded on first use (the only global)."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide manager (tests; `None` reloads on next use)."""
    global _manager
    _manager = manager
