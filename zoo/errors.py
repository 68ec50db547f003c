"""One exception hierarchy for every mistake a user can fix.

The CLI catches `ZooError` once, at its root, and prints `message` and `hint`
on one line each, then exits with status 2. A traceback is shown only with
`--debug`. Code raises the most specific child so tests and callers can tell
the cases apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """A problem the user can fix: bad input, missing files, a wrong name."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UnknownNameError(ZooError):
    """An unknown method, dataset, plugin, preset or weights name."""


class ConfigError(ZooError):
    """An unknown config key, a value of the wrong type, a malformed config file."""


class DataError(ZooError):
    """A data set that is missing, incomplete or in the wrong format."""


class DeviceError(ZooError):
    """A device that does not exist or cannot be used."""


class CheckpointError(ZooError):
    """A checkpoint that is missing, truncated, corrupt or for another method."""


class ChecksumError(CheckpointError):
    """A weights file whose sha256 is not the one the registry pins."""


class RegistryError(ZooError):
    """A malformed `registry.toml`."""


class HubError(ZooError):
    """Anything that went wrong talking to the Hugging Face Hub."""


class PluginError(ZooError):
    """A plugin that failed to import or register, or a name two plugins claim."""


class InputError(ZooError):
    """User-supplied inputs (images, videos, arrays) of the wrong shape or kind."""


class MissingDependencyError(ZooError):
    """An optional package or a user-supplied network that a command needs."""


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """Return a "did you mean ...?" hint for a mistyped `name`, or None."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown `kind` called `name`, with suggestions."""
    choices = sorted(choices)
    hint = did_you_mean(name, choices)
    if hint is None:
        hint = f"choose from: {', '.join(choices)}" if choices else f"no {kind}s are registered"
    return UnknownNameError(f"unknown {kind} {name!r}", hint)
