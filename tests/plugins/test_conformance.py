"""Every built-in method passes the conformance kit: registering a method
gets it tested (as timm's tests parametrise over `list_models()`).

A method tunes its run through a class attribute, e.g.
`conformance = {"overrides": {"ch": 8}, "sample_options": {"temperature": 0.7}}`.
"""

from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager
from zoo.testing import ConformanceSuite

_PM = PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False, strict=True)


def _suite(name: str, cls) -> type:
    settings = dict(getattr(cls, "conformance", {}) or {})
    attrs = {"method": name, "in_registry": True, "manager": classmethod(lambda c: _PM), **settings}
    return type(f"Test_{name.replace('-', '_')}", (ConformanceSuite,), attrs)


for _name, _cls in sorted(_PM.methods.items()):
    globals()[f"Test_{_name.replace('-', '_')}"] = _suite(_name, _cls)


def test_every_builtin_method_is_in_the_registry():
    from zoo.registry import load_registry

    registry = load_registry()
    assert sorted(_PM.methods) == sorted(registry.methods), "registry.toml and the built-in plugins disagree"
