"""The training loop: learning, resume, accumulation, data parallelism."""

import json
import os
import subprocess
import sys

import pytest
import torch

from zoo import api
from zoo import checkpoint as ckpt
from zoo.engine import BatchIndices
from zoo.errors import ConfigError, ZooError

from ..conftest import FIXTURES, REPO


def weights(model):
    return {k: v.clone() for k, v in model.module.state_dict().items()}


def assert_same(a, b, atol=0.0):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0), f"{k} differs"


def test_loss_goes_down_and_a_run_is_written(toy_manager, tmp_path):
    model = api.train("toy", manager=toy_manager, out=tmp_path / "run", device="cpu", steps=60, log_every=10)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in logs if r["split"] == "train"]
    assert len(train) == 6 and train[-1] < 0.5 * train[0]
    assert all("lr_main" in r and "steps_per_s" in r for r in logs if r["split"] == "train")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["method"] == "toy" and run["steps"] == 60 and run["config"]["width"] == 16
    assert run["options"]["device"] == "cpu" and run["data"] == "toy-points"
    exported = json.loads((tmp_path / "run" / "config.json").read_text())
    assert exported["step"] == 60 and exported["sha256"] == ckpt.sha256_file(tmp_path / "run" / "model.safetensors")
    assert model.info["step"] == 60


def test_resumed_run_matches_an_uninterrupted_one(toy_manager, tmp_path, monkeypatch):
    full = api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=30, ckpt_every=7)
    cls = toy_manager.method("toy")
    original = cls.train_step

    def crash_at_17(self, model, batch, step):
        if step.index == 17:
            raise KeyboardInterrupt  # the process dies between checkpoints
        return original(self, model, batch, step)

    monkeypatch.setattr(cls, "train_step", crash_at_17)
    with pytest.raises(KeyboardInterrupt):
        api.train("toy", manager=toy_manager, out=tmp_path / "b", device="cpu", steps=30, ckpt_every=7)
    monkeypatch.setattr(cls, "train_step", original)
    assert not (tmp_path / "b" / "model.safetensors").exists()
    resumed = api.train("toy", manager=toy_manager, out=tmp_path / "b", device="cpu", steps=30, resume=True)
    assert_same(weights(full), weights(resumed))
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps), "the log of the resumed run has duplicate or out-of-order steps"


def test_resume_refuses_a_changed_config(toy_manager, tmp_path):
    api.train("toy", manager=toy_manager, out=tmp_path / "r", device="cpu", steps=2)
    with pytest.raises(ConfigError, match="keeps its config"):
        api.train("toy", manager=toy_manager, out=tmp_path / "r", steps=4, resume=True, sets=["width=3"])
    with pytest.raises(ZooError, match="no run"):
        api.train("toy", manager=toy_manager, out=tmp_path / "none", steps=4, resume=True)


def test_gradient_accumulation_matches_the_full_batch(toy_manager, tmp_path):
    one = api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=5, noise=0.0)
    two = api.train("toy", manager=toy_manager, out=tmp_path / "b", device="cpu", steps=5, noise=0.0, accum=4)
    assert_same(weights(one), weights(two), atol=1e-6)


def test_batch_that_does_not_split_is_a_clear_error(toy_manager, tmp_path):
    with pytest.raises(ConfigError, match="does not split"):
        api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=1, accum=5)


def test_best_checkpoint_is_kept(toy_manager, tmp_path):
    model = api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=20, eval_every=5)
    evals = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in evals if r["split"] == "val"]
    assert [r["step"] for r in vals] == [5, 10, 15, 20]
    best = min(vals, key=lambda r: r["mse"])
    info = json.loads((tmp_path / "a" / "config.json").read_text())
    assert info["step"] == best["step"]
    assert model.info["result"]["best"]["value"] == pytest.approx(best["mse"])


def test_batch_indices_partition_global_batches_and_resume():
    single = iter(BatchIndices(10, 4, seed=3))
    ranks = [iter(BatchIndices(10, 2, seed=3, rank=r, world=2)) for r in range(2)]
    for _ in range(6):
        assert next(single) == next(ranks[0]) + next(ranks[1])
    stream = iter(BatchIndices(10, 4, seed=3))
    batches = [next(stream) for _ in range(5)]
    later = iter(BatchIndices(10, 4, seed=3, start=3))
    assert next(later) == batches[3]
    flat = sum(batches[:5], [])[:10]
    assert sorted(flat) == list(range(10)), "one epoch visits every item once"


def _zoo(*args, cwd, env_extra=None):
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(FIXTURES) + os.pathsep + env.get("PYTHONPATH", ""),
        "ZOO_PLUGIN_MODULES": "toy_plugin",
        "OMP_NUM_THREADS": "1",
    })
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "zoo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path):
    """`--device cpu --nproc 2` launches torchrun with gloo; gradients are
    averaged so the weights equal a single process seeing the whole batch."""
    common = ["--steps", "4", "--set", "noise=0.0", "--no-progress"]
    two = _zoo("train", "toy", "--device", "cpu", "--nproc", "2", "--out", str(tmp_path / "two"), *common, cwd=tmp_path)
    assert two.returncode == 0, two.stdout + two.stderr
    one = _zoo("train", "toy", "--device", "cpu", "--out", str(tmp_path / "one"), *common, cwd=tmp_path)
    assert one.returncode == 0, one.stdout + one.stderr
    a, _ = ckpt.load_weights(tmp_path / "one")
    b, _ = ckpt.load_weights(tmp_path / "two")
    assert json.loads((tmp_path / "two" / "checkpoints" / "latest.json").read_text())["step"] == 4
    assert_same(a, b, atol=1e-6)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["world_size"] == 2


def test_python_m_zoo_is_the_cli(tmp_path):
    out = _zoo("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("zoo ")
    bad = _zoo("train", "toyy", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "did you mean 'toy'" in bad.stderr


def test_bf16_autocast_trains_and_changes_the_numerics(toy_manager, tmp_path):
    fp32 = api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=10)
    bf16 = api.train("toy", manager=toy_manager, out=tmp_path / "b", device="cpu", steps=10, amp="bf16")
    a, b = weights(fp32), weights(bf16)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert 0 < diff < 0.05, "bf16 autocast must be in effect and stay close to float32"


def test_tensorboard_without_the_package_is_a_clear_error(toy_manager, tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        from zoo.errors import MissingDependencyError

        with pytest.raises(MissingDependencyError, match="pip install tensorboard"):
            api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=1, tensorboard=True)
        assert not (tmp_path / "a").exists(), "nothing is written for a run that cannot start"
    else:
        api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=1, tensorboard=True)
        assert any((tmp_path / "a" / "tensorboard").iterdir())


def test_steps_option_is_the_config_steps(toy_manager, tmp_path):
    """Schedules built from config.steps follow --steps."""
    model = api.train("toy", manager=toy_manager, out=tmp_path / "a", device="cpu", steps=7)
    assert model.config.steps == 7
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["config"]["steps"] == 7 and run["steps"] == 7


def test_standalone_step_is_the_step_fit_uses(toy_manager):
    """Benchmarks drive train_step with it: the method's optimizer, scheduler and clipping."""
    from zoo.engine import standalone_step

    method = api.make("toy", manager=toy_manager)
    method.clip_grad = {"main": 1e-3}
    model = method.build()
    step = standalone_step(method, model)
    before = [p.detach().clone() for p in model.parameters()]
    batch = {"x": torch.randn(8, 2), "y": torch.randn(8, 1) + 100}  # a large loss: clipping binds
    lr = step.lr("main")
    method.train_step(model, batch, step)
    moved = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert moved.item() == pytest.approx(lr * 1e-3, rel=1e-2)  # one SGD step of a gradient clipped to norm 1e-3
    assert all(p.grad is None for p in model.parameters())
    assert step.schedulers["main"].last_epoch == 1
