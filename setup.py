"""Package layout that pyproject.toml cannot state on its own.

The product card keeps `cli/` and `plugins/` at the top of the repository but
installs them as `zoo.cli` and `zoo.plugins`, and keeps `registry.toml` at the
top too. This file maps the folders and copies the registry into the built
package, so an installed `zoo` finds it with `importlib.resources`.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
PACKAGE_DIRS = {"zoo": "zoo", "zoo.cli": "cli", "zoo.plugins": "plugins"}


def find_packages():
    packages = []
    for name, folder in PACKAGE_DIRS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            if "tests" in rel.parts or any(p.startswith(".") for p in rel.parts):
                continue
            packages.append(".".join([name, *rel.parts]))
    return packages


class BuildWithRegistry(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "zoo" / "registry.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / "registry.toml").read_bytes())


setup(
    package_dir=PACKAGE_DIRS,
    packages=find_packages(),
    include_package_data=True,
    package_data={"": ["**/*.toml", "**/*.md", "**/*.safetensors", "**/*.json", "**/*.tmpl"]},
    cmdclass={"build_py": BuildWithRegistry},
)
