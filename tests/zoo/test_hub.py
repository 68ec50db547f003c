"""zoo.hub, `zoo pull` and `zoo push` against a local stand-in for the Hub.

The real huggingface_hub client talks HTTP to tests/hub_server.py on
loopback ports; nothing reaches the internet. huggingface_hub reads some
settings when it is imported, so the `hub` fixture also sets them on its
`constants` module; the end-to-end tests run the real `zoo` command in a
subprocess, with the environment a user would have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.hub_server import HubServer, free_port
from zoo import api
from zoo.checkpoint import load_tensors, sha256_file
from zoo.errors import ChecksumError, HubError, ZooError
from zoo.hub import HubSettings, model_card, pull_ref, resolve_weights

ALICE, ALICE_READ, BOB = "hf_alice_write", "hf_alice_read", "hf_bob_write"
TOKENS = {ALICE: ("alice", "write"), ALICE_READ: ("alice", "read"), BOB: ("bob", "write")}
REPO = "alice/toy-demo"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    from huggingface_hub import constants, file_download

    with HubServer(tmp_path / "hub-data", TOKENS) as server:
        env = {
            "HF_ENDPOINT": server.url,
            "HF_TOKEN": ALICE,
            "HF_HUB_DISABLE_XET": "1",  # the stand-in speaks LFS, not Xet
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        # as if HF_ENDPOINT had been set before the import (some URLs are built from these)
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
        for module in (constants, file_download):  # huggingface_hub 0.26 keeps a copy in file_download
            monkeypatch.setattr(module, "HUGGINGFACE_CO_URL_TEMPLATE", template, raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False, raising=False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True, raising=False)
        yield server


def make_weights(folder: Path, manager, seed: int) -> Path:
    """Exported toy weights (untrained, distinct per seed)."""
    method = api.make("toy", manager=manager)
    torch.manual_seed(seed)
    return method.export(method.build(), folder, data="toy-points", step=seed, metrics={"val_mse": 0.25 + seed})


@pytest.fixture
def v1(tmp_path, toy_manager):
    return make_weights(tmp_path / "v1", toy_manager, 1)


@pytest.fixture
def v2(tmp_path, toy_manager):
    return make_weights(tmp_path / "v2", toy_manager, 2)


def tensors(folder) -> dict[str, torch.Tensor]:
    return load_tensors(Path(folder) / "model.safetensors")[0]


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def front_matter(card: str) -> dict:
    import yaml

    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---", 2)[1])


def push(folder, repo=REPO, manager=None, **kw):
    return api.push(folder, repo, progress=False, manager=manager, **kw)


# ---------------------------------------------------------------------------
# Round trips, revisions, the cache


@pytest.mark.parametrize("lfs", [True, False], ids=["lfs-upload", "regular-upload"])
def test_push_then_pull_gives_identical_tensors(hub, v1, toy_manager, lfs):
    hub.lfs = lfs
    pushed = push(v1, manager=toy_manager)
    assert pushed.commit_url == f"{hub.url}/{REPO}/commit/{pushed.commit}"
    repo = hub.repos[REPO]
    assert len(repo.commits) == 2, "one commit besides the repo's initial one"
    files = repo.commits[pushed.commit].files
    assert set(files) == {".gitattributes", "model.safetensors", "config.json", "README.md"}
    assert files["model.safetensors"].lfs is lfs and not files["config.json"].lfs
    uploads = [r for r in hub.requests() if r.method == "PUT"]
    assert len(uploads) == (1 if lfs else 0), "only the weights go through the LFS upload"

    pulled = api.pull(REPO, progress=False)
    assert pulled.commit == pushed.commit and pulled.source == "hub"
    assert pulled.path.is_relative_to(HubSettings.from_env().cache_dir)
    assert_same(tensors(pulled.path), tensors(v1))
    loaded = api.load("toy", weights=f"hf://{REPO}", manager=toy_manager)
    assert_same({k: v for k, v in loaded.module.state_dict().items()}, tensors(v1))


def test_pushed_model_card_is_one_the_hub_reads(hub, v1, toy_manager):
    push(v1, manager=toy_manager)
    card = hub.file_bytes(REPO, "README.md").decode()
    meta = front_matter(card)
    assert meta["library_name"] == "thesis-zoo" and meta["license"] == "mit"
    assert {"thesis-zoo", "toy", "regression"} <= set(meta["tags"]) and meta["datasets"] == ["toy-points"]
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["name"] == "toy-points" and result["dataset"]["split"] == "val"
    assert result["metrics"][0] == {"type": "mse", "value": 1.25, "name": "mse (val)"}
    assert f"zoo sample toy --weights hf://{REPO}" in card and f"zoo pull {REPO}" in card
    config = json.loads(hub.file_bytes(REPO, "config.json"))
    assert config["sha256"] == sha256_file(v1 / "model.safetensors") and config["sha256"] in card


def test_push_can_keep_the_folders_own_card(hub, v1, toy_manager):
    (v1 / "README.md").write_text("---\nlicense: mit\n---\n# my own words\n")
    push(v1, manager=toy_manager, keep_card=True)
    assert hub.file_bytes(REPO, "README.md").decode().endswith("# my own words\n")


def test_a_second_pull_downloads_nothing(hub, v1, toy_manager):
    push(v1, manager=toy_manager)
    first = api.pull(REPO, progress=False)
    assert {r.file for r in hub.downloads()} == {"model.safetensors", "config.json", "README.md"}
    hub.log.clear()
    again = api.pull(REPO, progress=False)
    assert again.path == first.path and hub.downloads() == []
    hub.log.clear()
    pinned = api.pull(f"{REPO}@{first.commit}", progress=False)
    assert pinned.source == "cache" and hub.requests() == [], "a cached commit needs no request at all"


def test_revisions_are_pinned(hub, v1, v2, toy_manager):
    c1 = push(v1, manager=toy_manager).commit
    c2 = push(v2, manager=toy_manager).commit
    assert c1 != c2
    assert_same(tensors(api.pull(f"{REPO}@{c1}", progress=False).path), tensors(v1))
    assert_same(tensors(api.pull(REPO, progress=False).path), tensors(v2))
    dev = push(v1, manager=toy_manager, branch="dev")
    assert dev.branch == "dev" and dev.url.endswith("/tree/dev")
    assert api.pull(f"hf://{REPO}@dev", progress=False).commit == dev.commit
    assert hub.repos[REPO].branches["main"] == c2, "a push to a branch leaves main alone"
    with pytest.raises(HubError, match="looks like a commit"):
        push(v1, manager=toy_manager, branch=c1)


def test_a_run_with_only_checkpoints_is_exported_then_pushed(hub, tmp_path, toy_manager):
    run = api.train("toy", steps=2, out=tmp_path / "run", device="cpu", ckpt_every=1, manager=toy_manager).run_dir
    for name in ("model.safetensors", "config.json", "README.md"):
        (run / name).unlink()
    pushed = push(run, "alice/from-checkpoint", manager=toy_manager)
    pulled = api.pull("alice/from-checkpoint", progress=False)
    assert pulled.commit == pushed.commit
    model = api.load(weights=run, manager=toy_manager)
    assert_same(tensors(pulled.path), {k: v for k, v in model.module.state_dict().items()})


# ---------------------------------------------------------------------------
# Offline, unreachable, interrupted


def test_offline_mode_with_and_without_a_warm_cache(hub, v1, toy_manager, monkeypatch):
    push(v1, manager=toy_manager)
    hub.log.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="not in the Hugging Face cache .* HF_HUB_OFFLINE is set"):
        api.pull(REPO, progress=False)
    assert hub.requests() == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    online = api.pull(REPO, progress=False)
    hub.log.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = api.pull(REPO, progress=False)
    assert offline.path == online.path and offline.source == "offline" and "HF_HUB_OFFLINE" in offline.notice
    api.load("toy", weights=f"hf://{REPO}", manager=toy_manager)
    assert hub.requests() == [], "offline means no request at all"
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set"):
        push(v1, manager=toy_manager)


def test_an_unreachable_hub_falls_back_to_the_cache_and_says_so(hub, v1, toy_manager, monkeypatch, caplog):
    push(v1, manager=toy_manager)
    online = api.pull(REPO, progress=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    pulled = api.pull(REPO, progress=False)
    assert pulled.source == "fallback" and pulled.path == online.path
    assert "cannot be reached" in pulled.notice and online.commit[:7] in pulled.notice
    with caplog.at_level("WARNING", logger="zoo.hub"):
        api.load("toy", weights=f"hf://{REPO}", manager=toy_manager)
    assert "cannot be reached" in caplog.text
    with pytest.raises(HubError, match="cannot reach the Hub .* not in the cache"):
        api.pull("alice/never-pulled", progress=False)


def test_an_interrupted_download_is_never_loaded(hub, v1, toy_manager, monkeypatch):
    push(v1, manager=toy_manager)
    hub.cut("model.safetensors", then=503)  # half the body, then the Hub is down
    with pytest.raises(HubError, match="downloading alice/toy-demo@main .* failed"):
        api.pull(REPO, progress=False)
    snapshots = HubSettings.from_env().cache_dir / "models--alice--toy-demo" / "snapshots"
    assert not list(snapshots.glob("*/model.safetensors")), "a partial file reached the snapshot"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="not in the Hugging Face cache"):
        api.load("toy", weights=f"hf://{REPO}", manager=toy_manager)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub.heal()
    assert_same(tensors(api.pull(REPO, progress=False).path), tensors(v1))


# ---------------------------------------------------------------------------
# What is refused


def test_a_file_that_does_not_match_its_config_is_refused(hub, v1, v2):
    hub.add_commit("alice/tampered", {
        "model.safetensors": (v2 / "model.safetensors").read_bytes(),
        "config.json": (v1 / "config.json").read_bytes(),  # declares v1's sha256
    })
    with pytest.raises(ChecksumError, match="its config.json says"):
        api.pull("alice/tampered", progress=False)
    with pytest.raises(ChecksumError):
        resolve_weights("hf://alice/tampered")


def test_a_pickle_only_repo_is_refused_before_any_download(hub):
    hub.add_commit("alice/old-style", {"pytorch_model.bin": b"\x80\x04pickle", "config.json": b"{}"})
    with pytest.raises(HubError, match=r"only pickle weights \(pytorch_model.bin\); zoo never loads pickle"):
        api.pull("alice/old-style", progress=False)
    assert hub.downloads() == []


def test_pushing_a_folder_whose_config_does_not_match_is_refused(hub, v1, v2, toy_manager):
    (v1 / "model.safetensors").write_bytes((v2 / "model.safetensors").read_bytes())
    with pytest.raises(ChecksumError, match="it was not pushed"):
        push(v1, manager=toy_manager)
    assert REPO not in hub.repos or len(hub.repos[REPO].commits) == 1


@pytest.mark.parametrize(
    "setup, call, message",
    [
        (None, "pull:alice/nope", "repo alice/nope not found on http"),
        ("pushed", "pull:alice/toy-demo@nope", "revision 'nope' not found in alice/toy-demo"),
        ("pushed:token=hf_wrong", "pull:alice/toy-demo", r"refused the token \(401 Unauthorized\)"),
        ("gated:token=" + BOB, "pull:alice/gated", "alice/gated is gated"),
        ("pushed:forbidden", "pull:alice/toy-demo", r"refused to let this token download alice/toy-demo \(403"),
        ("private:no-token", "pull:alice/secret", "a private repo also needs HF_TOKEN"),
        ("token=" + ALICE_READ, "push:alice/toy-demo", r"403 Forbidden\) \(use a token with write access to 'alice'"),
        ("token=" + BOB, "push:alice/toy-demo", r"push to alice/toy-demo \(403 Forbidden\)"),
        ("token=hf_wrong", "push:alice/toy-demo", r"401 Unauthorized"),
        ("down", "pull:alice/toy-demo", "cannot reach the Hub at http://127.0.0.1:"),
        ("down", "push:alice/toy-demo", "cannot reach the Hub at http://127.0.0.1:"),
    ],
)
def test_hub_errors_are_one_clear_line(hub, v1, toy_manager, monkeypatch, setup, call, message):
    for step in (setup or "").split(":"):
        if step == "pushed":
            push(v1, manager=toy_manager)
        elif step == "gated":
            hub.create_repo("alice/gated", gated=True)
            hub.add_commit("alice/gated", {"model.safetensors": (v1 / "model.safetensors").read_bytes()})
        elif step == "private":
            hub.create_repo("alice/secret", private=True)
        elif step == "forbidden":
            hub.fail(r"/resolve/", 403, message="Forbidden")
        elif step == "no-token":
            monkeypatch.delenv("HF_TOKEN")
        elif step.startswith("token="):
            monkeypatch.setenv("HF_TOKEN", step[len("token="):])
        elif step == "down":
            monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    verb, ref = call.split(":", 1)
    with pytest.raises(HubError, match=message) as info:
        api.pull(ref, progress=False) if verb == "pull" else push(v1, ref, manager=toy_manager)
    assert "\n" not in str(info.value)


def test_push_without_a_token_sends_nothing(hub, v1, toy_manager, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="pushing to the Hub needs a token .*HF_TOKEN"):
        push(v1, manager=toy_manager)
    assert hub.requests() == []


@pytest.mark.parametrize(
    "ref, error, message",
    [
        ("alice/toy-demo", ZooError, "for a Hub repo write hf://alice/toy-demo"),
        ("hf://alice", HubError, "is not a Hub repo reference"),
        ("hf://alice/a/b", HubError, "is not a Hub repo reference"),
        ("hf://alice/x--y", HubError, "is not a Hub repo reference"),
        ("hf://alice/x@", HubError, "empty revision"),
    ],
)
def test_weights_references_that_are_refused(ref, error, message):
    with pytest.raises(error, match=message):
        resolve_weights(ref)


# ---------------------------------------------------------------------------
# registry.toml: bundled and Hub weights, pinned and checked


@pytest.fixture
def registry(hub, v1, toy_manager, tmp_path, monkeypatch):
    """A registry for the toy method: Hub weights pinned to a pushed commit,
    bundled weights inside an importable package, and wrong checksums."""
    commit = push(v1, manager=toy_manager).commit
    digest = sha256_file(v1 / "model.safetensors")
    package = tmp_path / "packages" / "toy_weights"
    make_weights(package / "weights" / "small", toy_manager, 3)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(package.parent))
    bundled = sha256_file(package / "weights" / "small" / "model.safetensors")
    path = tmp_path / "registry.toml"
    path.write_text(textwrap.dedent(f"""
        [theses.toy-2024]
        author = "Ada Lovelace"
        title = "Regressing Points"
        year = 2024
        institution = "Analytical Engine University"

        [methods.toy]
        thesis = "toy-2024"
        chapter = "2"
        task = "regression"
        datasets = ["toy-points"]

        [weights."toy.hub"]
        method = "toy"
        repo = "{REPO}"
        revision = "{commit}"
        sha256 = "{digest}"
        data = "toy-points"
        default = true
        metrics = {{ mse = 0.3 }}

        [weights."toy.small"]
        method = "toy"
        path = "toy_weights:weights/small"
        sha256 = "{bundled}"
        data = "toy-points"

        [weights."toy.tampered"]
        method = "toy"
        repo = "{REPO}"
        revision = "{commit}"
        sha256 = "{'0' * 64}"
        data = "toy-points"

        [weights."toy.stale"]
        method = "toy"
        path = "toy_weights:weights/small"
        sha256 = "{'1' * 64}"
        data = "toy-points"
    """))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return commit


def test_default_weights_come_pinned_from_the_hub_then_from_the_cache(registry, hub, v1, toy_manager, monkeypatch):
    model = api.load("toy", manager=toy_manager)  # no weights: the registry's default, toy.hub
    assert_same(dict(model.module.state_dict()), tensors(v1))
    hub.log.clear()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    api.load("toy", manager=toy_manager)  # a pinned commit in the cache needs no Hub
    pulled = pull_ref("toy.hub", progress=False)
    assert pulled.commit == registry and pulled.source == "cache" and hub.requests() == []


def test_bundled_weights_load_with_no_hub_at_all(registry, toy_manager, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = api.load("toy", weights="toy.small", manager=toy_manager)
    assert model.info["data"] == "toy-points"
    assert pull_ref("toy.small").source == "bundled"


@pytest.mark.parametrize("name", ["toy.tampered", "toy.stale"])
def test_weights_that_do_not_match_the_registry_are_refused(registry, toy_manager, name):
    with pytest.raises(ChecksumError, match="registry.toml pins"):
        api.load("toy", weights=name, manager=toy_manager)


def test_the_card_carries_the_thesis_and_its_numbers(registry, hub, v1, toy_manager, monkeypatch):
    from zoo.method import ThesisResult

    toy = toy_manager.method("toy")
    monkeypatch.setattr(toy, "results", classmethod(lambda cls: [
        ThesisResult(data="toy-points", metric="mse", value=0.05, where="Tab. 2.1", higher_is_better=False),
        ThesisResult(data="real-points", metric="mse", value=0.01, where="Tab. 2.2", higher_is_better=False),
    ]))
    meta = json.loads((v1 / "config.json").read_text())
    card = model_card(toy, {**meta, "metrics": {"val_mse": 0.3, "test_mse": 0.2}}, repo=REPO)
    front_matter(card)
    assert "| mse | toy-points (test) | 0.2 (test) | 0.05 | Tab. 2.1 |" in card
    assert "| mse | real-points (test) | - | 0.01 | Tab. 2.2 |" in card
    assert "| mse | toy-points (val) | 0.3 | - | this model |" in card
    assert "Thesis: Ada Lovelace. Regressing Points. PhD thesis, Analytical Engine University, 2024., chapter 2" in card
    assert "@phdthesis{lovelace2024," in card
    assert 'model = zoo.load("toy", weights="hf://alice/toy-demo")' in card


# ---------------------------------------------------------------------------
# The CLI


def test_cli_push_and_pull(cli, hub, v1):
    pushed = cli("push", v1, REPO)
    assert pushed.exit_code == 0, pushed.output
    commit = hub.repos[REPO].branches["main"]
    assert pushed.output.strip().splitlines()[-1] == f"{hub.url}/{REPO}/commit/{commit}"
    pulled = cli("pull", REPO)
    assert pulled.exit_code == 0, pulled.output
    path = Path(pulled.output.strip().splitlines()[-1])
    assert path.name == commit and (path / "model.safetensors").is_file()
    assert f"Verified model.safetensors of {REPO}@main (commit {commit[:7]})" in pulled.output
    evaluated = cli("evaluate", "toy", "--weights", f"hf://{REPO}@{commit}")
    assert evaluated.exit_code == 0 and "mse" in evaluated.output, evaluated.output
    exported = cli("export", "toy", "--weights", f"hf://{REPO}", "--out", v1.parent / "again")
    assert exported.exit_code == 0, exported.output
    assert_same(tensors(v1.parent / "again"), tensors(v1))


def test_training_can_start_from_hub_weights(hub, v1, tmp_path, toy_manager):
    commit = push(v1, manager=toy_manager).commit
    run = api.train("toy", steps=1, init=f"hf://{REPO}@{commit}", out=tmp_path / "run", device="cpu",
                    manager=toy_manager, lr=0.0, momentum=0.0)
    assert_same(dict(run.module.state_dict()), tensors(v1))  # a zero learning rate keeps the initial weights


@pytest.mark.parametrize(
    "args, needle",
    [
        (["pull", "alice/nope"], "repo alice/nope not found"),
        (["pull", "alice"], "is neither a Hub repo nor registered weights"),
        (["push", "missing-dir", REPO], "is not a folder"),
    ],
)
def test_cli_hub_mistakes_are_one_line_and_exit_2(cli, hub, args, needle):
    result = cli(*args)
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert lines[-1].startswith("Error:") and needle in lines[-1], result.output


def test_the_commands_as_a_user_types_them(hub, tmp_path, v1):
    """The installed `zoo` in subprocesses, configured only by environment."""
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": ALICE,
        "HF_HOME": str(tmp_path / "user-hf"),
        "HF_HUB_DISABLE_XET": "1",
        "ZOO_PLUGIN_MODULES": "toy_plugin",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "fixtures"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("HF_HUB_OFFLINE", None)

    def zoo(*args, **extra):
        return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], env={**env, **extra},
                              capture_output=True, text=True, timeout=120)

    pushed = zoo("push", v1, REPO, "--private")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == f"{hub.url}/{REPO}/commit/{hub.repos[REPO].branches['main']}"
    assert hub.repos[REPO].private

    pulled = zoo("pull", REPO)
    assert pulled.returncode == 0, pulled.stderr
    folder = Path(pulled.stdout.strip())
    assert folder.is_relative_to(tmp_path / "user-hf" / "hub")
    assert_same(tensors(folder), tensors(v1))

    sample = zoo("sample", "toy", "--weights", f"hf://{REPO}", "--n", "2", "--out", tmp_path / "s.png",
                 HF_HUB_OFFLINE="1")
    assert sample.returncode == 0, sample.stderr
    assert (tmp_path / "s.png").stat().st_size > 0
