"""`zoo plugins new`: write a plugin package that installs and passes its
own tests unchanged.

The files come from the templates in ``zoo/templates/plugin/*.tmpl``
(`string.Template`, ``$name`` placeholders). The package holds a real,
small method (a variational auto-encoder) with an embedded data set, so the
new plugin trains on CPU before a line of it is changed; its author then
replaces the model and the method with their own.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from zoo.errors import PluginError

# Where each template goes in the new package ({package} is filled in).
FILES: dict[str, str] = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "src/{package}/__init__.py": "__init__.py.tmpl",
    "src/{package}/data.py": "data.py.tmpl",
    "src/{package}/model.py": "model.py.tmpl",
    "src/{package}/method.py": "method.py.tmpl",
    "src/{package}/presets/quick.toml": "quick.toml.tmpl",
    "tests/test_{package}.py": "test_plugin.py.tmpl",
}

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    """Every name a new plugin uses, derived from the one the user gave."""

    name: str          # the method and the entry point: "my-method"
    distribution: str  # what pip installs and uninstalls: "zoo-my-method"
    package: str       # the import package: "zoo_my_method"
    cls: str           # the Method subclass: "MyMethod"
    dataset: str       # its embedded data set: "my-method-bars"
    zoo_version: str   # the thesis-zoo it is written against: "0.1"


def plugin_names(name: str) -> PluginNames:
    """Check `name` and derive the others from it."""
    from zoo import __version__

    if not _NAME.match(name):
        hint = f"try {re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')!r}" if name else None
        raise PluginError(f"plugin name {name!r} must be lowercase letters and digits joined by dashes", hint)
    distribution = name if name.startswith("zoo-") else f"zoo-{name}"
    return PluginNames(
        name=name,
        distribution=distribution,
        package=distribution.replace("-", "_"),
        cls="".join(part[:1].upper() + part[1:] for part in name.split("-")),
        dataset=f"{name}-bars",
        zoo_version=".".join(__version__.split(".")[:2]),
    )


def template_dir():
    return resources.files("zoo") / "templates" / "plugin"


def render(template: str, names: PluginNames) -> str:
    text = (template_dir() / template).read_text(encoding="utf-8")
    return string.Template(text).substitute(asdict(names))


def new_plugin(name: str, dest: Path | None = None) -> tuple[PluginNames, Path]:
    """Write the package for plugin `name` into `dest` (default
    ``./<distribution>``), which must not exist or be empty. The files are
    written into a temporary folder first, so a failure leaves nothing."""
    names = plugin_names(name)
    dest = Path(dest) if dest is not None else Path(names.distribution)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PluginError(f"{dest} already exists and is not empty", "choose another folder with --dir")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the package is not
        for target, template in FILES.items():
            path = staging / target.format(package=names.package)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(template, names), encoding="utf-8")
        if dest.exists():
            dest.rmdir()  # empty, checked above
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return names, dest
