"""What every verb shares: consoles, the error boundary, option helpers."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from zoo.errors import ZooError, unknown

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    obj = getattr(root, "obj", None) or {}
    return bool(obj.get("debug")) or os.environ.get("ZOO_DEBUG", "") not in ("", "0")


def report(exc: ZooError) -> None:
    """Print a ZooError as one line on stderr."""
    text = f"[bold red]Error:[/] {_escape(exc.message)}"
    if exc.hint:
        text += f" [dim]({_escape(exc.hint)})[/]"
    err_console.print(text)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def handle_errors(fn: Callable) -> Callable:
    """Run a command; a ZooError becomes one line and exit status 2
    (with `--debug`, the traceback instead)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = kwargs.pop("debug", False)
        if debug:
            ctx = click.get_current_context(silent=True)
            if ctx is not None:
                root = ctx.find_root()
                root.obj = {**(root.obj or {}), "debug": True}
        try:
            return fn(*args, **kwargs)
        except ZooError as exc:
            if debug or debug_enabled():
                raise
            report(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]Interrupted.[/] Checkpoints already written are intact.")
            raise typer.Exit(130) from None

    sig = inspect.signature(fn, eval_str=True)  # resolve postponed annotations where fn lives
    wrapper.__signature__ = sig
    if "debug" not in sig.parameters:
        params = list(sig.parameters.values())
        params.append(
            inspect.Parameter(
                "debug",
                inspect.Parameter.KEYWORD_ONLY,
                default=False,
                annotation=typing.Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")],
            )
        )
        wrapper.__signature__ = sig.replace(parameters=params)
    return wrapper


class NamedGroup(TyperGroup):
    """A command group whose unknown sub-command is one clear error line
    with a "did you mean", not a usage panel."""

    kind = "command"

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            report(unknown(self.kind, name, self.list_commands(ctx)))
            ctx.exit(2)
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)  # alphabetical, as users scan for a name


def command_group(help: str) -> typer.Typer:
    """The sub-command group of a plugin (`zoo <plugin> <command>`): help
    when called bare, one error line with a "did you mean" on a typo."""
    return typer.Typer(cls=NamedGroup, no_args_is_help=True, help=help)


class MethodGroup(NamedGroup):
    kind = "method"


# ---------------------------------------------------------------------------
# Options built from a method's own keyword arguments


_SIMPLE = (int, float, str, bool, Path)


def method_options(fn: Callable, skip: set[str]) -> list[inspect.Parameter]:
    """Keyword-only parameters of `fn` (e.g. `Method.sample`) as CLI options:
    `temperature: float = 1.0` becomes `--temperature FLOAT`. The option's
    help is the text after `name:` in the docstring's Options section."""
    helps = _option_help(fn)
    hints = typing.get_type_hints(fn)
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.name in skip:
            continue
        tp = hints.get(p.name, str)
        opt_type, default = _cli_type(tp, p.default)
        flag = "--" + p.name.replace("_", "-")
        decls = [flag] if opt_type is not bool else [f"{flag}/--no-{p.name.replace('_', '-')}"]
        option = typer.Option(*decls, help=helps.get(p.name, ""))
        out.append(
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=typing.Annotated[opt_type, option])
        )
    return out


def _cli_type(tp: Any, default: Any) -> tuple[Any, Any]:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (list, tuple) or (args and typing.get_origin(args[0]) in (list, tuple)):
        inner_src = args[0] if origin not in (list, tuple) else tp
        inner = (typing.get_args(inner_src) or (str,))[0]
        inner = inner if inner in _SIMPLE else str
        return list[inner], (list(default) if isinstance(default, (list, tuple)) else None)
    if tp in _SIMPLE:
        return tp, default
    if args and args[0] in _SIMPLE:  # Optional[X]
        return typing.Optional[args[0]], default
    return str, (None if default is inspect.Parameter.empty else default)


def _option_help(fn: Callable) -> dict[str, str]:
    doc = inspect.getdoc(fn) or ""
    helps, current = {}, None
    for line in doc.splitlines():
        stripped = line.strip()
        if ":" in stripped and not line.startswith(" " * 8):
            name, _, text = stripped.partition(":")
            if name.isidentifier():
                helps[name], current = text.strip(), name
                continue
        if current and line.startswith(" " * 4) and stripped:
            helps[current] += " " + stripped
        else:
            current = None
    return helps


def with_signature(fn: Callable, params: list[inspect.Parameter]) -> Callable:
    """Give `fn` (which takes **kwargs) the signature Typer should see."""
    fn.__signature__ = inspect.Signature(params)
    return fn


def write_json(path: Path, data: Any) -> None:
    from zoo.checkpoint import write_json_atomic

    write_json_atomic(Path(path), data)


def fail(message: str, hint: str | None = None, cls: type[ZooError] = ZooError) -> typing.NoReturn:
    raise cls(message, hint)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
