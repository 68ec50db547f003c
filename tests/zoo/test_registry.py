"""registry.toml: parsing, validation errors, and the shipped file."""

import pytest

from zoo.errors import RegistryError
from zoo.registry import load_registry, parse_registry

SHA = "a" * 64
REV = "b" * 40


def base():
    return {
        "theses": {"t": {"author": "A B", "title": "T", "year": 2020, "institution": "U"}},
        "methods": {"m": {"thesis": "t", "chapter": "3", "task": "x", "datasets": ["d"]}},
        "weights": {
            "m.local": {"method": "m", "data": "d", "sha256": SHA, "path": "zoo:w", "default": True},
            "m.hub": {"method": "m", "data": "d", "sha256": SHA, "repo": "o/r", "revision": REV, "metrics": {"iou": 0.5}},
        },
    }


def test_a_valid_registry_parses():
    reg = parse_registry(base())
    assert reg.default_weights("m").name == "m.local"
    assert reg.get_weights("m.hub").metrics == {"iou": 0.5}
    assert reg.get_weights("m.hub").tag == "hub"
    assert reg.thesis_of("m").citation == "A B. T. PhD thesis, U, 2020."


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["theses"]["t"].pop("year"), "missing key 'year'"),
        (lambda d: d["theses"]["t"].update(year="2020"), "'year' must be a int"),
        (lambda d: d["methods"]["m"].update(thesis="nope"), "thesis 'nope' is not in"),
        (lambda d: d["methods"]["m"].update(datasets=[]), "non-empty list"),
        (lambda d: d["methods"]["m"].update(colour="red"), "unknown key 'colour'"),
        (lambda d: d["weights"]["m.local"].update(sha256="xyz"), "64 lowercase hex"),
        (lambda d: d["weights"]["m.hub"].update(revision="main"), "pinned 'revision'"),
        (lambda d: d["weights"]["m.local"].update(repo="o/r"), "exactly one of"),
        (lambda d: d["weights"]["m.hub"].update(default=True), "both the default"),
        (lambda d: d["weights"].update({"x.y": d["weights"].pop("m.hub")}), "name starts with 'x'"),
        (lambda d: d["weights"].update({"bad": d["weights"].pop("m.hub")}), "'<method>.<tag>'"),
        (lambda d: d["weights"]["m.hub"].update(metrics={"iou": "high"}), "must be numbers"),
        (lambda d: d.update(extra={}), "unknown key 'extra'"),
    ],
)
def test_malformed_entries_are_named(mutate, message):
    data = base()
    mutate(data)
    with pytest.raises(RegistryError, match=message):
        parse_registry(data, "registry.toml")


def test_invalid_toml_is_a_registry_error(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text("[methods\n")
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(path)


def test_the_shipped_registry_is_valid_and_matches_the_plugins():
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    reg = load_registry()
    pm = PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False)
    for name, entry in reg.methods.items():
        assert name in pm.methods, f"registry method {name!r} is not a registered plugin method"
        cls = pm.methods[name]
        assert entry.task == cls.task and set(entry.datasets) == set(cls.datasets)
    for w in reg.weights.values():
        assert w.data in pm.methods[w.method].datasets, f"{w.name}: trained on {w.data!r}, not a data set of {w.method}"


def test_every_bundled_weight_matches_its_checksum():
    from zoo.hub import registry_weights

    for entry in load_registry().weights.values():
        if entry.bundled:
            assert registry_weights(entry).is_file()
