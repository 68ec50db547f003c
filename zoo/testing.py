"""The conformance kit: what every method, built-in or third-party, must do.

Subclass `ConformanceSuite` in a test file and name the method; pytest runs
every check on it:

    from zoo.testing import ConformanceSuite

    class TestMyMethod(ConformanceSuite):
        method = "my-method"
        overrides = {"width": 8}       # optional: make the quick preset smaller still

The checks: registration (the plugin loaded without errors), config
round-trip through TOML and `--set`, a few training steps on CPU through the
engine, the run directory's files, checkpoint round-trip (reloaded weights give
identical samples), the sample, evaluate and export contracts, the CLI
(`zoo info`, `zoo train --help`, `zoo sample` on the trained run), and clear
errors on bad input (unknown config key, wrong type, a data set the method
does not train on, weights of another method, a corrupt weights file).

A third-party plugin runs the same kit once it is installed (or named in
``ZOO_PLUGIN_MODULES``); `zoo plugins new` writes a test file that does.

`check_golden` compares a shipped set of weights with the input/output pair
stored next to it, offline.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, ClassVar

import torch

from zoo import checkpoint as ckpt
from zoo.errors import CheckpointError, ConfigError, DataError
from zoo.method import config_fields, config_to_dict, dump_toml, make_config, parse_text, validate_method_class
from zoo.plugin_manager import PluginManager, get_plugin_manager

try:
    import pytest
except ImportError:  # pragma: no cover - the kit is used under pytest
    pytest = None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))


class ConformanceSuite:
    """Base class of a method's conformance tests (see the module docstring)."""

    method: ClassVar[str] = ""
    preset: ClassVar[str | None] = "quick"    # None: the thesis defaults
    data: ClassVar[str | None] = None         # None: the method's default data set
    steps: ClassVar[int] = 2
    overrides: ClassVar[dict[str, Any]] = {}
    sample_n: ClassVar[int] = 2
    sample_options: ClassVar[dict[str, Any]] = {}
    evaluate_options: ClassVar[dict[str, Any]] = {}
    in_registry: ClassVar[bool] = False        # built-ins must be in registry.toml

    # -- fixtures ----------------------------------------------------------

    @classmethod
    def manager(cls) -> PluginManager:
        """The plugin manager the suite looks the method up in; override (as a
        classmethod) to test a plugin module that is not installed."""
        return get_plugin_manager()

    if pytest is not None:

        @pytest.fixture(scope="class")
        @classmethod
        def trained(cls, tmp_path_factory):
            """The method trained for `steps` steps on CPU, shared by the class."""
            from zoo import api

            torch.manual_seed(0)
            out = tmp_path_factory.mktemp(f"run-{cls.method}")
            return api.train(
                cls.method,
                data=cls.data,
                preset=cls.preset,
                steps=cls.steps,
                out=out,
                device="cpu",
                ckpt_every=1,
                manager=cls.manager(),
                **cls.overrides,
            )

    # -- registration and config -----------------------------------------------

    def test_registration(self):
        pm = self.manager()
        problems = "; ".join(f"{name}: {error}" for name, error in pm.errors)
        assert self.method in pm.methods, f"{self.method!r} is not registered; registered: {sorted(pm.methods)}" + (
            f"; plugin problems: {problems}" if problems else "")
        plugin = pm.method_plugin(self.method)
        assert plugin.ok, f"plugin {plugin.name!r} loaded with errors: {'; '.join(plugin.errors)}"
        cls = pm.methods[self.method]
        validate_method_class(cls)
        for name in cls.datasets:
            assert name in pm.datasets, f"{self.method} lists data set {name!r}, which no plugin registers"
        assert pm.datasets[cls.default_dataset].embedded, "the default data set must be embedded (no download)"
        if "quick" in cls.presets():
            make_config(cls, preset="quick", dataset=cls.default_dataset)  # the preset is valid
        if self.in_registry:
            from zoo.registry import load_registry

            entry = load_registry().method(self.method)
            assert entry.task == cls.task, f"registry task {entry.task!r} != class task {cls.task!r}"
            assert set(entry.datasets) == set(cls.datasets), "registry data sets differ from the class's"

    def test_config_round_trip(self, tmp_path):
        cls = self.manager().method(self.method)
        config = make_config(cls, preset=self.preset, dataset=self.data or cls.default_dataset,
                             overrides=self.overrides)
        path = tmp_path / "config.toml"
        path.write_text(dump_toml(config_to_dict(config)), encoding="utf-8")
        assert make_config(cls, file=path) == _without_none(config, cls), "config changed through TOML"
        # every field survives --set key=<its own text>
        sets = []
        for f in config_fields(cls.Config):
            value = getattr(config, f.name)
            if value is None:
                continue
            text = value if isinstance(value, str) else repr(value)
            if isinstance(value, bool):
                text = "true" if value else "false"
            assert parse_text(f, text) is not None
            sets.append(f"{f.name}={text}")
        assert make_config(cls, sets=sets) == _without_none(config, cls), "config changed through --set"

    def test_bad_config_is_a_clear_error(self):
        cls = self.manager().method(self.method)
        with pytest.raises(ConfigError, match="unknown config key"):
            make_config(cls, sets=["no_such_field_xyz=1"])
        with pytest.raises(ConfigError, match="batch_size"):
            make_config(cls, sets=["batch_size=not-a-number"])

    def test_unknown_dataset_is_a_clear_error(self):
        from zoo import api

        with pytest.raises(DataError, match="does not train on data set 'no-such-data'"):
            api.make(self.method, data="no-such-data", manager=self.manager())

    # -- training and the run directory -------------------------------------

    def test_train_writes_a_run(self, trained):
        run = trained.run_dir
        for name in ("config.json", "metrics.jsonl", "model.safetensors", "README.md"):
            assert (run / name).is_file(), f"the run directory lacks {name}"
        assert ckpt.latest_checkpoint(run / "checkpoints") is not None, "no complete training checkpoint"
        result = trained.info["result"]
        assert result["step"] == self.steps
        assert all(_finite(v) for v in result["metrics"].values()), f"non-finite training values {result['metrics']}"
        meta = ckpt.read_json(run / "config.json")
        assert meta["sha256"] == ckpt.sha256_file(run / "model.safetensors")

    def test_checkpoint_round_trip(self, trained):
        from zoo import api

        again = api.load(self.method, weights=trained.run_dir, manager=self.manager())
        a, b = trained.module.state_dict(), again.module.state_dict()
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k].cpu(), b[k].cpu()), f"weight {k} changed through save and load"
        torch.manual_seed(0)
        s1 = trained.sample(self.sample_n, **self.sample_options)
        torch.manual_seed(0)
        s2 = again.sample(self.sample_n, **self.sample_options)
        assert torch.allclose(s1, s2, atol=1e-6), "reloaded weights give different samples"

    # -- the contracts -----------------------------------------------------

    def test_sample_contract(self, trained, tmp_path):
        torch.manual_seed(0)
        samples = trained.sample(self.sample_n, **self.sample_options)
        assert isinstance(samples, torch.Tensor)
        assert samples.dim() in (4, 5), f"samples must be 4-d or 5-d, got {tuple(samples.shape)}"
        assert torch.isfinite(samples).all()
        assert samples.min() >= 0 and samples.max() <= 1, "samples must be images in [0, 1]"
        paths = trained.save_samples(samples, tmp_path / "samples.png")
        assert paths and all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in paths)

    def test_evaluate_contract(self, trained):
        metrics = trained.evaluate(self.data, split="test", **self.evaluate_options)
        assert isinstance(metrics, dict) and metrics, "evaluate must return a non-empty dict"
        for key, value in metrics.items():
            assert isinstance(key, str) and _finite(value), f"metric {key}={value!r} is not a finite number"

    def test_export_contract(self, trained, tmp_path):
        from zoo import api

        folder = trained.export(tmp_path / "export")
        for name in ("model.safetensors", "config.json", "README.md"):
            assert (folder / name).is_file(), f"export lacks {name}"
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert card.startswith("---\n") and "library_name: thesis-zoo" in card
        again = api.load(self.method, weights=folder, manager=self.manager())
        for k, v in trained.module.state_dict().items():
            assert torch.equal(v.cpu(), again.module.state_dict()[k].cpu())

    # -- bad input ---------------------------------------------------------

    def test_corrupt_weights_are_refused(self, trained, tmp_path):
        from zoo import api

        bad = tmp_path / "bad"
        bad.mkdir()
        data = (trained.run_dir / "model.safetensors").read_bytes()
        (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError):
            api.load(self.method, weights=bad, manager=self.manager())

    def test_weights_of_another_method_are_refused(self, trained, tmp_path):
        from zoo import api

        tensors, meta = ckpt.load_weights(trained.run_dir)
        other = f"not-{self.method}"
        ckpt.save_tensors(tmp_path / "model.safetensors", tensors, {**meta, "method": other})
        with pytest.raises(CheckpointError, match=f"holds weights of '{other}', not '{self.method}'"):
            api.load(self.method, weights=tmp_path / "model.safetensors", manager=self.manager())

    # -- the command line ----------------------------------------------------

    def test_cli(self, trained, tmp_path):
        """`zoo info`, `zoo train --help` and `zoo sample` know the method."""
        from typer.testing import CliRunner

        from zoo.cli.app import build_app

        app, runner = build_app(self.manager()), CliRunner()
        cls = self.manager().method(self.method)
        info = runner.invoke(app, ["info", self.method])
        assert info.exit_code == 0 and self.method in info.output, info.output
        help_ = runner.invoke(app, ["train", self.method, "--help"])
        assert help_.exit_code == 0, help_.output
        for f in config_fields(cls.Config):
            assert re.search(rf"\b{f.name}\b", help_.output), f"`zoo train {self.method} --help` lacks {f.name}"
        out = tmp_path / "cli-samples.png"
        options = [str(a) for k, v in self.sample_options.items() for a in _cli_option(k, v)]
        result = runner.invoke(app, ["sample", self.method, "--weights", str(trained.run_dir), "--n",
                                     str(self.sample_n), "--out", str(out), *options])
        assert result.exit_code == 0, result.output
        assert any(p.name.startswith(out.stem) for p in tmp_path.iterdir()), "`zoo sample` wrote nothing"


def _cli_option(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else f"--no-{name.replace('_', '-')}"]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in (flag, str(v))]
    return [flag, str(value)]


def _without_none(config: Any, cls: type) -> Any:
    """TOML has no null: a None field written to TOML comes back as its default."""
    defaults = cls.Config()
    changes = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(config) if getattr(config, f.name) is None}
    return dataclasses.replace(config, **changes)


# ---------------------------------------------------------------------------
# Golden outputs of shipped weights

GOLDEN_NAME = "golden.safetensors"


def golden_outputs(model, n: int = 4, seed: int = 0, **options: Any) -> torch.Tensor:
    torch.manual_seed(seed)
    return model.sample(n, **options)


def write_golden(weights_folder: Path, model, n: int = 4, seed: int = 0, **options: Any) -> Path:
    """Store the samples `model` draws with `seed` next to its weights."""
    out = golden_outputs(model, n, seed, **options)
    path = Path(weights_folder) / GOLDEN_NAME
    ckpt.save_tensors(path, {"samples": out}, {"n": n, "seed": seed, "options": options})
    return path


def check_golden(weights_name: str, atol: float = 1e-3) -> None:
    """Assert the registered weights reproduce their stored samples."""
    from zoo import api
    from zoo.hub import resolve_weights

    file = resolve_weights(weights_name)
    tensors, meta = ckpt.load_tensors(file.parent / GOLDEN_NAME)
    model = api.load(weights=weights_name)
    out = golden_outputs(model, meta["n"], meta["seed"], **meta.get("options", {}))
    expected = tensors["samples"]
    assert out.shape == expected.shape, f"{weights_name}: golden shape {tuple(expected.shape)} vs {tuple(out.shape)}"
    err = (out - expected).abs().max().item()
    assert err <= atol, f"{weights_name}: samples differ from the golden ones by {err:.2e}"
