"""thesis-zoo: every method of five PhD theses, one plugin per method.

    import zoo
    model = zoo.load("redo")            # bundled weights, no network
    images = model.sample(8)

See `zoo.api` for the whole Python API and `zoo.hookspecs` for the plugin
contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "Method", "load", "train", "evaluate", "sample", "pull", "push", "make", "methods", "Model"]

_API = {"load", "train", "evaluate", "sample", "pull", "push", "make", "methods", "Model"}

if TYPE_CHECKING:
    from zoo.api import Model, evaluate, load, make, methods, pull, push, sample, train
    from zoo.method import Method


def __getattr__(name: str) -> Any:  # the API imports torch: load it on first use
    if name in _API:
        from zoo import api

        return getattr(api, name)
    if name == "Method":
        from zoo.method import Method

        return Method
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
