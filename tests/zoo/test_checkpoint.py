"""Safetensors I/O: atomic writes, corrupt files, state round-trips."""

import json
import os

import numpy as np
import pytest
import torch

from zoo import checkpoint as ckpt
from zoo.errors import CheckpointError, ChecksumError


def test_tensors_and_metadata_round_trip(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5), "c": torch.zeros(0)}
    digest = ckpt.save_tensors(tmp_path / "x.safetensors", tensors, {"method": "toy", "n": [1, 2]})
    back, meta = ckpt.load_tensors(tmp_path / "x.safetensors")
    assert meta == {"method": "toy", "n": [1, 2]}
    for k in tensors:
        assert torch.equal(tensors[k], back[k])
    assert digest == ckpt.sha256_file(tmp_path / "x.safetensors")
    assert ckpt.read_metadata(tmp_path / "x.safetensors")["method"] == "toy"


def test_shared_storage_is_saved(tmp_path):
    base = torch.randn(4)
    ckpt.save_tensors(tmp_path / "x.safetensors", {"a": base, "b": base}, {})
    back, _ = ckpt.load_tensors(tmp_path / "x.safetensors")
    assert torch.equal(back["a"], back["b"])


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "x.safetensors"
    ckpt.save_tensors(path, {"a": torch.randn(100, 100)}, {})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        ckpt.load_tensors(path)


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError):
        ckpt.load_tensors(tmp_path / "g.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load_tensors(tmp_path / "none.safetensors")


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "x.safetensors"
    ckpt.save_tensors(path, {"a": torch.ones(2)}, {"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", boom)
    with pytest.raises(OSError):
        ckpt.save_tensors(path, {"a": torch.zeros(2)}, {"v": 2})
    back, meta = ckpt.load_tensors(path)
    assert meta == {"v": 1} and torch.equal(back["a"], torch.ones(2))
    assert os.listdir(tmp_path) == ["x.safetensors"]


def test_checksum_mismatch(tmp_path):
    path = tmp_path / "x.safetensors"
    ckpt.save_tensors(path, {"a": torch.ones(2)}, {})
    ckpt.verify_sha256(path, ckpt.sha256_file(path))
    with pytest.raises(ChecksumError, match="expected"):
        ckpt.verify_sha256(path, "0" * 64)


def test_optimizer_and_rng_state_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"opt": opt.state_dict(), "rng": ckpt.rng_state(), "step": 7, "t": (1, "a")}
    ckpt.save_train_state(tmp_path / "s.safetensors", model, state, {"method": "toy"})
    fresh = torch.nn.Linear(3, 2)
    back, meta = ckpt.load_train_state(tmp_path / "s.safetensors", fresh)
    assert meta["method"] == "toy" and back["step"] == 7 and back["t"] == (1, "a")
    assert torch.equal(fresh.weight, model.weight)
    exp = opt.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(back["opt"]["state"][0]["exp_avg"], exp)
    # the RNG state restores the same stream
    ckpt.set_rng_state(back["rng"])
    a = (torch.rand(3), np.random.rand(), __import__("random").random())
    ckpt.set_rng_state(back["rng"])
    b = (torch.rand(3), np.random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_latest_checkpoint_skips_a_corrupt_newest(tmp_path):
    model = torch.nn.Linear(2, 2)
    run = tmp_path / "run"
    for step in (10, 20):
        path = ckpt.checkpoint_path(run, step)
        digest = ckpt.save_train_state(path, model, {"step": step}, {})
        ckpt.mark_latest(path, step, digest, keep=5)
    newest = ckpt.checkpoint_path(run, 20)
    newest.write_bytes(newest.read_bytes()[:100])  # e.g. a disk error after the write
    assert ckpt.latest_checkpoint(run / "checkpoints") == ckpt.checkpoint_path(run, 10)


def test_mark_latest_keeps_the_last_few(tmp_path):
    model = torch.nn.Linear(2, 2)
    run = tmp_path / "run"
    for step in (1, 2, 3, 4):
        path = ckpt.checkpoint_path(run, step)
        ckpt.mark_latest(path, step, ckpt.save_train_state(path, model, {"step": step}, {}), keep=2)
    names = sorted(p.name for p in (run / "checkpoints").glob("*.safetensors"))
    assert names == ["step-00000003.safetensors", "step-00000004.safetensors"]
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 4


def test_pickle_files_are_refused(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="pickle"):
        ckpt.weights_file(tmp_path / "w.bin")
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="only pickle files"):
        ckpt.weights_file(folder)


def test_load_state_dict_explains_mismatches():
    model = torch.nn.Linear(3, 2)
    weights = {"weight": torch.zeros(2, 4), "extra": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="missing .*unexpected .*another shape"):
        ckpt.load_state_dict(model, weights, "w")


def test_unwrap_strips_compile_wrappers():
    model = torch.nn.Linear(2, 2)
    wrapped = torch.compile(model)
    assert ckpt.unwrap(wrapped) is model
    assert not any(k.startswith("_orig_mod") for k in ckpt.unwrap(wrapped).state_dict())


def test_written_files_get_normal_permissions(tmp_path):
    path = tmp_path / "x.safetensors"
    ckpt.save_tensors(path, {"a": torch.ones(1)}, {})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
