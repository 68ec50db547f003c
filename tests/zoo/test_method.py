"""Config handling: types, presets, files, --set, field docs."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from zoo.errors import ConfigError, UnknownNameError
from zoo.method import (
    config_fields,
    config_to_dict,
    dump_toml,
    make_config,
    parse_sets,
    preset_values,
    read_toml,
)


def toy():
    from toy_plugin import Toy

    return Toy


def test_field_comments_document_each_field():
    fields = {f.name: f for f in config_fields(toy().Config)}
    assert fields["width"].help == "hidden units"
    assert fields["lr"].type is float and fields["lr"].default == 0.05
    assert fields["dims"].type_name == "tuple[int, ...]"
    assert fields["scale"].type_name == "float | None"


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("width=8", "width", 8),
        ("lr=1e-3", "lr", 1e-3),
        ("lr=2", "lr", 2.0),  # an int is a valid float
        ("mode=adam", "mode", "adam"),  # strings need no quotes
        ("dims=(4, 5, 6)", "dims", (4, 5, 6)),
        ("dims=[1]", "dims", (1,)),
        ("scale=none", "scale", None),
        ("scale=0.5", "scale", 0.5),
    ],
)
def test_set_values_are_parsed_to_the_field_type(text, key, expected):
    config = make_config(toy(), sets=[text])
    assert getattr(config, key) == expected
    assert type(getattr(config, key)) is type(expected)


@pytest.mark.parametrize(
    "text, message",
    [
        ("width=1.5", "not a valid int"),
        ("width=abc", "not a valid int"),
        ("width=true", "not a valid int"),  # bool is not an int here
        ("dims=(1, 'a')", "not a valid tuple"),
        ("lr=fast", "not a valid float"),
        ("widht=3", "did you mean 'width'"),
        ("width", "not of the form key=value"),
    ],
)
def test_bad_set_values_are_clear_errors(text, message):
    with pytest.raises(ConfigError) as info:
        make_config(toy(), sets=[text])
    assert message in str(info.value)


def test_layers_apply_in_order(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("width = 7\nlr = 0.2\n[data.toy-points]\nlr = 0.3\n", encoding="utf-8")
    config = make_config(toy(), file=f, dataset="toy-points", sets=["width=9"], overrides={"steps": 3})
    assert (config.width, config.lr, config.steps) == (9, 0.3, 3)


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("withd = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.toml: unknown config key 'withd' .*width"):
        make_config(toy(), file=f)


def test_malformed_and_missing_files(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("width = = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(f)
    with pytest.raises(ConfigError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")


def test_toml_round_trip(tmp_path):
    config = make_config(toy(), sets=["dims=(3, 4)", "lr=0.125", "mode=a \"quoted\" name"])
    path = tmp_path / "out.toml"
    path.write_text(dump_toml(config_to_dict(config)), encoding="utf-8")
    assert make_config(toy(), file=path) == config


def test_presets(tmp_path, monkeypatch):
    cls = toy()
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "quick.toml").write_text('description = "small"\nwidth = 4\n[data.toy-points]\nsteps = 5\n')
    monkeypatch.setattr(cls, "presets", classmethod(lambda c: {p.stem: p for p in folder.glob("*.toml")}))
    assert preset_values(cls, "quick", None) == {"width": 4}
    assert preset_values(cls, "quick", "toy-points") == {"width": 4, "steps": 5}
    assert preset_values(cls, "thesis", None) == {}  # the defaults are the thesis setting
    with pytest.raises(UnknownNameError, match="did you mean 'quick'"):
        preset_values(cls, "quikc", None)


def test_parse_sets_rejects_unknown_keys_before_any_type_check():
    with pytest.raises(ConfigError, match="unknown config key"):
        parse_sets(toy().Config, ["nope=1"])


def test_every_registered_builtin_config_documents_every_field():
    from zoo.plugin_manager import DEFAULT_PLUGINS, PluginManager

    pm = PluginManager(builtins=DEFAULT_PLUGINS, entry_points=False)
    for name, cls in pm.methods.items():
        missing = [f.name for f in config_fields(cls.Config) if not f.help]
        assert not missing, f"{name}: config fields without a comment: {missing}"


def test_method_class_validation():
    from zoo.method import Method, validate_method_class

    class Bad(Method):
        name = "Bad Name"
        summary = task = paper = "x"
        datasets = ("a",)
        default_dataset = "a"

        @dataclass
        class Config:
            batch_size: int = 1
            steps: int = 1

    with pytest.raises(TypeError, match="lowercase"):
        validate_method_class(Bad)
    Bad.name = "bad"
    validate_method_class(Bad)
    Bad.default_dataset = "b"
    with pytest.raises(TypeError, match="default_dataset"):
        validate_method_class(Bad)
