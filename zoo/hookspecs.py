"""The whole plugin contract: every hook a plugin may implement.

A plugin is a module (a built-in under `zoo.plugins`, or any pip-installed
distribution with an entry point in the group ``zoo``) whose functions are
marked with `hookimpl` and named after a spec below. A plugin implements any
subset of the hooks. An implementation may take fewer arguments than its spec,
so hooks can gain arguments without breaking plugins, but never lose them.

Example, the whole `__init__.py` of a plugin::

    from zoo import hookimpl
    from .method import ReDO

    @hookimpl
    def zoo_register_methods(register):
        register(ReDO)
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_register_methods(register):
    """Register the methods this plugin provides.

    Called once per plugin when the plugin manager loads, before any command
    runs. `register(method_class)` takes a subclass of `zoo.method.Method`
    (see that class for the contract) and may be called any number of times.

    A class whose `name` another plugin already registered is refused: the
    refusal names both plugins, is shown by `zoo plugins list`, and the first
    registration stays in effect. An exception raised here is recorded as the
    plugin's load error; the methods it registered before raising are dropped.
    Return nothing.
    """


@hookspec
def zoo_register_datasets(register):
    """Register the data sets this plugin can load.

    Called once per plugin when the plugin manager loads.
    `register(spec)` takes a `zoo.data.DatasetSpec`: a name, a one-line
    description, whether it is embedded (generated or shipped with the
    package, so it needs no download) and a `load(root, split, **options)`
    function returning a map-style `torch.utils.data.Dataset` of dicts of
    tensors. `load` raises `zoo.errors.DataError` naming the exact files it
    expects when they are missing. Names are global: a name already taken is
    refused as for methods. Return nothing.
    """


@hookspec
def zoo_register_commands(cli):
    """Add sub-commands to the `zoo` command line.

    Called once per plugin while the CLI is built, after the built-in verbs
    exist. `cli` is the root `typer.Typer` app: add commands with
    `@cli.command()` or groups with `cli.add_typer(app, name=...)`;
    `zoo.cli.common.command_group(help)` makes a group that shows its help
    when called bare and answers a mistyped command with a "did you mean".
    The help text of each command is its docstring. Raise
    `zoo.errors.ZooError` from a command for a mistake the user can fix; the
    CLI prints it as one line and exits with status 2. An exception raised
    by this hook itself is recorded as the plugin's load error and its
    commands are left out; so are they when one of them takes a name already
    in use (a built-in verb or another plugin's command) or has a parameter
    Typer cannot build. Return nothing.
    """
