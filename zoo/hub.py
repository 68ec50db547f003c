"""The only module that talks to the Hugging Face Hub, and the one that
resolves every weights reference.

A weights reference (`--weights`, `--init`, `zoo.load(weights=...)`) is one of:

* a local path: a weights folder (``model.safetensors`` + ``config.json``),
  a run directory, or a ``.safetensors`` file;
* ``hf://owner/repo`` or ``hf://owner/repo@revision``: a Hub model repo;
* a registry name ``<method>.<tag>`` from ``registry.toml``.

A reference that could mean two things is refused with the spelling to use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.checkpoint import CONFIG_NAME, WEIGHTS_NAME, verify_sha256
from zoo.errors import CheckpointError, HubError, ZooError

if TYPE_CHECKING:
    from zoo.method import Method
    from zoo.registry import Registry, WeightsEntry

HF_PREFIX = "hf://"


def parse_hf(ref: str) -> tuple[str, str | None]:
    """'hf://owner/repo@rev' -> ('owner/repo', 'rev')."""
    body = ref[len(HF_PREFIX) :] if ref.startswith(HF_PREFIX) else ref
    repo, _, revision = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise HubError(f"{ref!r} is not a Hub repo reference", "write hf://owner/repo or hf://owner/repo@revision")
    return repo, (revision or None)


def resolve_weights(ref: str | Path, registry: Registry | None = None) -> Path:
    """Turn a weights reference into a local folder or file, verified."""
    from zoo.registry import load_registry

    text = str(ref)
    if text.startswith(HF_PREFIX):
        repo, revision = parse_hf(text)
        return pull(repo, revision)
    registry = registry or load_registry()
    local = Path(text).expanduser()
    if text in registry.weights:
        if local.exists():
            raise ZooError(
                f"--weights {text!r} is both a registry name and a local path",
                f"write ./{text} for the local path",
            )
        return registry_weights(registry.weights[text])
    if local.exists():
        return local
    if text.count("/") == 1 and not text.startswith((".", "/", "~")) and not text.endswith(".safetensors"):
        raise ZooError(f"--weights {text!r} is not a local path", f"for a Hub repo write hf://{text}")
    hint = None
    from zoo.errors import did_you_mean

    hint = did_you_mean(text, registry.weights) or "give a local path, hf://owner/repo[@rev] or a registry name"
    raise CheckpointError(f"weights {text!r} not found", hint)


def registry_weights(entry: WeightsEntry) -> Path:
    """The local file of registered weights, checked against its sha256."""
    if entry.bundled:
        folder = entry.local_folder()
        file = folder / entry.file
        if not file.is_file():
            raise CheckpointError(f"bundled weights {entry.name!r} are missing from the package ({file})")
    else:
        folder = pull(entry.repo, entry.revision)
        file = folder / entry.file
    verify_sha256(file, entry.sha256)
    return file


def pull(repo: str, revision: str | None = None) -> Path:
    """Download a model repo (weights, config, card) into the Hugging Face
    cache and return its local folder."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a dependency
        raise HubError("huggingface_hub is not installed") from None
    try:
        folder = snapshot_download(
            repo_id=repo, revision=revision, allow_patterns=[WEIGHTS_NAME, CONFIG_NAME, "README.md"]
        )
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many kinds
        raise HubError(f"could not download {repo}{'@' + revision if revision else ''}: {exc}") from None
    return Path(folder)


# ---------------------------------------------------------------------------
# Model cards


def model_card(method: Method, meta: dict[str, Any]) -> str:
    """The README.md of a weights folder: YAML front matter the Hub reads,
    then what the model is, where it comes from and how to use it."""
    from zoo.registry import load_registry

    try:
        thesis = load_registry().thesis_of(method.name)
    except ZooError:
        thesis = None
    data = meta.get("data") or ""
    metrics = meta.get("metrics") or {}
    front = ["---", "library_name: thesis-zoo", "tags:", "- thesis-zoo", f"- {method.name}", f"- {method.task}"]
    if data:
        front += ["datasets:", f"- {data}"]
    front += ["license: mit", "---", ""]
    lines = [
        f"# {method.name}" + (f" trained on {data}" if data else ""),
        "",
        method.summary,
        "",
        f"Paper: {method.paper}",
    ]
    if thesis is not None:
        lines += ["", f"Thesis: {thesis.citation}" + (f" {thesis.url}" if thesis.url else "")]
    if metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in metrics.items()]
    lines += [
        "",
        "## Use",
        "",
        "```",
        "pip install thesis-zoo",
        f"zoo sample {method.name} --weights <this folder or hf://owner/repo>",
        "```",
        "",
        "## Training config",
        "",
        "```json",
        json.dumps(meta.get("config", {}), indent=2),
        "```",
        "",
    ]
    return "\n".join(front + lines)
