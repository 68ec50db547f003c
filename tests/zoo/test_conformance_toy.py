"""The conformance kit itself, run on the toy method."""

from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager
from zoo.testing import ConformanceSuite

_PM = None


def toy_pm():
    global _PM
    if _PM is None:
        _PM = PluginManager(builtins=(*DEFAULT_PLUGINS, "toy_plugin"), entry_points=False, strict=True)
    return _PM


class TestToyConforms(ConformanceSuite):
    method = "toy"
    preset = None
    steps = 3

    @classmethod
    def manager(cls):
        return toy_pm()
