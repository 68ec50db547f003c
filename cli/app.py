"""Build the `zoo` Typer app from a plugin manager.

Nothing happens at import: `build_app(manager)` makes a fresh app, so tests
build one per plugin setup instead of reloading modules.
"""

from __future__ import annotations

from typing import Annotated

import typer

from zoo.cli import catalog, hub, plugins, tools, train, use
from zoo.cli.common import NamedGroup, console


def _version(value: bool) -> None:
    if value:
        from zoo import __version__

        console.print(f"zoo {__version__}")
        raise typer.Exit()


def build_app(manager) -> typer.Typer:
    app = typer.Typer(
        name="zoo",
        cls=NamedGroup,
        help="thesis-zoo: train, sample, evaluate and export every method of five PhD theses.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        version: Annotated[
            bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
        ] = False,
        debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    ):
        ctx.obj = {"debug": debug}
        if ctx.invoked_subcommand != "plugins":  # `zoo plugins` shows the whole record
            plugins.warn_problems(manager)

    catalog.register(app, manager)
    train.register(app, manager)
    use.register(app, manager)
    tools.register(app, manager)
    hub.register(app, manager)
    plugins.register(app, manager)
    manager.register_commands(app)
    return app
