"""The only module that talks to the Hugging Face Hub, and the one that
resolves every weights reference.

A weights reference (`--weights`, `--init`, `zoo.load(weights=...)`) is one of:

* a local path: a weights folder (``model.safetensors`` + ``config.json``),
  a run directory, or a ``.safetensors`` file;
* ``hf://owner/repo`` or ``hf://owner/repo@revision``: a Hub model repo;
* a registry name ``<method>.<tag>`` from ``registry.toml``.

A reference that could mean two things is refused with the spelling to use.

Downloads go into the standard Hugging Face cache (``HF_HUB_CACHE``, else
``$HF_HOME/hub``). ``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HOME`` and
``HF_HUB_OFFLINE`` are read when a call is made, not when a module is
imported, and passed to ``huggingface_hub`` explicitly, so they mean what
they mean in every Hugging Face tool. Only stable public calls of
``huggingface_hub`` (0.26 up to 2.x) are used: ``HfApi.model_info``,
``snapshot_download``, ``HfApi.create_repo`` / ``create_branch`` /
``create_commit``.

Nothing half-downloaded is ever loaded: ``huggingface_hub`` keeps partial
files out of the snapshot folder, and every pull is verified here before it is
returned (the weights file is present, its sha256 is the one ``config.json``
and the registry state, and it reads as safetensors). Pickle files are never
downloaded nor loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.checkpoint import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_metadata, sha256_file
from zoo.errors import CheckpointError, ChecksumError, HubError, MissingDependencyError, ZooError, did_you_mean

if TYPE_CHECKING:
    from zoo.method import Method
    from zoo.registry import Registry, WeightsEntry

logger = logging.getLogger(__name__)

HF_PREFIX = "hf://"
DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_PART = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
_TRUE = {"1", "ON", "YES", "TRUE"}


# ---------------------------------------------------------------------------
# Settings, read from the environment at call time


@dataclass(frozen=True)
class HubSettings:
    """Where the Hub is, where its cache is, the token, and offline mode."""

    endpoint: str
    cache_dir: Path
    token: str | None
    offline: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ

        def path(value: str) -> Path:
            return Path(os.path.expandvars(value)).expanduser()

        hf_home = path(env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface"))
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
        token = (env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip() or None
        if token is None:  # the file `hf auth login` writes
            token_file = path(env.get("HF_TOKEN_PATH") or str(hf_home / "token"))
            try:
                token = token_file.read_text(encoding="utf-8").strip() or None
            except OSError:
                token = None
        offline = any((env.get(k) or "").upper() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
        return cls(
            endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            cache_dir=path(cache) if cache else hf_home / "hub",
            token=token,
            offline=offline,
        )

    @property
    def token_arg(self) -> str | bool:
        """The token as huggingface_hub takes it: False means "send none"
        (it would otherwise look for one in places fixed at its import)."""
        return self.token or False


def _hf():
    try:
        import huggingface_hub
    except ImportError:  # pragma: no cover - a dependency of thesis-zoo
        raise MissingDependencyError("huggingface_hub is not installed", "pip install huggingface_hub") from None
    return huggingface_hub


@contextmanager
def _progress_bars(show: bool) -> Iterator[None]:
    """huggingface_hub's own progress bars, on or (temporarily) off."""
    if show:
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


# ---------------------------------------------------------------------------
# References


def check_repo_id(repo: str, ref: str | None = None) -> str:
    """`repo` if it is a valid `owner/name`, else a HubError."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.match(p) for p in parts) or "--" in repo or ".." in repo:
        raise HubError(
            f"{ref or repo!r} is not a Hub repo reference",
            "write owner/name or owner/name@revision (letters, digits, '-', '_' and '.')",
        )
    return repo


def parse_hf(ref: str) -> tuple[str, str | None]:
    """'hf://owner/repo@rev' (or 'owner/repo@rev') -> ('owner/repo', 'rev')."""
    body = ref[len(HF_PREFIX) :] if ref.startswith(HF_PREFIX) else ref
    repo, at, revision = body.partition("@")
    check_repo_id(repo, ref)
    if at and not revision.strip():
        raise HubError(f"{ref!r} has an empty revision", "write owner/name@<branch, tag or commit>")
    return repo, (revision.strip() or None)


def resolve_weights(ref: str | Path, registry: Registry | None = None) -> Path:
    """Turn a weights reference into a verified local folder or file."""
    from zoo.registry import load_registry

    text = str(ref)
    if text.startswith(HF_PREFIX):
        repo, revision = parse_hf(text)
        pulled = pull(repo, revision)
        _tell(pulled)
        return pulled.path
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
    hint = did_you_mean(text, registry.weights) or "give a local path, hf://owner/repo[@rev] or a registry name"
    raise CheckpointError(f"weights {text!r} not found", hint)


def registry_weights(entry: WeightsEntry) -> Path:
    """The local file of registered weights, checked against the sha256 that
    `registry.toml` pins. Hub weights come from the cache when it has them
    (a pinned commit never changes), else from the Hub."""
    if entry.file.lower().endswith(PICKLE_SUFFIXES):
        raise CheckpointError(
            f"weights {entry.name!r} name a pickle file ({entry.file}); zoo loads safetensors only",
            "register a .safetensors file in registry.toml",
        )
    if entry.bundled:
        folder = entry.local_folder()
        file = folder / entry.file
        if not file.is_file():
            raise CheckpointError(f"bundled weights {entry.name!r} are missing from the package ({file})")
        _check_sha256(file, entry.sha256, f"bundled weights {entry.name!r}", "registry.toml pins",
                      "reinstall thesis-zoo; if you re-exported them, update the sha256 in registry.toml")
        return file
    pulled = pull(entry.repo, entry.revision, file=entry.file, sha256=entry.sha256, name=entry.name)
    _tell(pulled)
    return pulled.path / entry.file


def _tell(pulled: Pulled) -> None:
    if pulled.source == "fallback" and pulled.notice:
        logger.warning(pulled.notice)


# ---------------------------------------------------------------------------
# Pull


@dataclass(frozen=True)
class Pulled:
    """A verified model repo in the local cache."""

    name: str            # what was asked for: owner/repo@rev or a registry name
    repo: str            # owner/repo ("" for weights bundled in a package)
    revision: str        # the branch, tag or commit asked for
    commit: str          # the commit the files come from ("" for bundled weights)
    path: Path           # the folder holding the files
    file: str = WEIGHTS_NAME
    source: str = "hub"  # hub | cache (pinned commit, no network) | offline | fallback (Hub unreachable) | bundled
    notice: str | None = None

    @property
    def weights(self) -> Path:
        return self.path / self.file

    def __fspath__(self) -> str:
        return str(self.path)


def pull_ref(ref: str, *, force: bool = False, progress: bool = True, registry: Registry | None = None) -> Pulled:
    """Pull `owner/repo[@rev]`, `hf://owner/repo[@rev]` or a registry weights name."""
    from zoo.registry import load_registry

    text = ref.strip()
    if text.startswith(HF_PREFIX) or "/" in text:
        repo, revision = parse_hf(text)
        return pull(repo, revision, force=force, progress=progress)
    registry = registry or load_registry()
    if text not in registry.weights:
        hint = did_you_mean(text, registry.weights) or "write owner/repo[@revision], or a weights name from `zoo list`"
        raise HubError(f"{ref!r} is neither a Hub repo nor registered weights", hint)
    entry = registry.weights[text]
    if entry.bundled:
        file = registry_weights(entry)
        return Pulled(entry.name, "", "", "", file.parent, file.name, "bundled")
    return pull(entry.repo, entry.revision, file=entry.file, sha256=entry.sha256, name=entry.name,
                force=force, progress=progress)


def pull(
    repo: str,
    revision: str | None = None,
    *,
    file: str = WEIGHTS_NAME,
    sha256: str | None = None,
    name: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Pulled:
    """Download a model repo (weights, `config.json`, model card) into the
    Hugging Face cache, verify it, and return where it is.

    A pinned commit already in the cache is used without asking the Hub. With
    `HF_HUB_OFFLINE` set, or when the Hub cannot be reached, the cached copy
    is used and `Pulled.notice` says so. `sha256`, when given (the registry's
    pin), must match the weights file; so must the sha256 in `config.json`."""
    hf = _hf()
    check_repo_id(repo)
    revision = revision or DEFAULT_REVISION
    label = name or f"{repo}@{revision}"
    if file.lower().endswith(PICKLE_SUFFIXES):
        raise HubError(f"{label}: {file} is a pickle file; zoo loads safetensors only")
    s = HubSettings.from_env()
    wanted = list(dict.fromkeys([file, CONFIG_NAME, CARD_NAME]))
    pulled = dict(name=label, repo=repo, revision=revision, file=file)

    if _COMMIT.match(revision) and not force:  # a commit never changes: the cache is enough
        folder = _cached(hf, s, repo, revision, wanted, file)
        if folder is not None:
            return _verified(Pulled(**pulled, commit=folder.name, path=folder, source="cache"), sha256)
    if s.offline:
        folder = _cached(hf, s, repo, revision, wanted, file)
        if folder is None:
            raise HubError(
                f"{label} is not in the Hugging Face cache ({s.cache_dir}) and HF_HUB_OFFLINE is set",
                f"pull it once with network access: zoo pull {_pull_arg(repo, revision, name)}",
            )
        notice = f"HF_HUB_OFFLINE is set: using the cached {label} (commit {folder.name[:7]})"
        return _verified(Pulled(**pulled, commit=folder.name, path=folder, source="offline", notice=notice), sha256)

    api = hf.HfApi(endpoint=s.endpoint, token=s.token_arg)
    try:
        info = api.model_info(repo, revision=revision)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many kinds
        if not _unreachable(exc):
            raise _hub_error(exc, s, repo, revision, "download") from None
        folder = _cached(hf, s, repo, revision, wanted, file)
        if folder is None:
            raise HubError(
                f"cannot reach the Hub at {s.endpoint} ({_reason(exc)}) and {label} is not in the cache",
                "check the network and HF_ENDPOINT",
            ) from None
        notice = (f"the Hub at {s.endpoint} cannot be reached ({_reason(exc)}): "
                  f"using the cached {label} (commit {folder.name[:7]})")
        return _verified(Pulled(**pulled, commit=folder.name, path=folder, source="fallback", notice=notice), sha256)

    names = {sibling.rfilename for sibling in info.siblings or ()}
    _check_repo_files(names, file, label)
    try:
        with _progress_bars(progress):
            folder = hf.snapshot_download(
                repo,
                revision=revision,
                allow_patterns=[n for n in wanted if n in names],
                cache_dir=str(s.cache_dir),
                endpoint=s.endpoint,
                token=s.token_arg,
                force_download=force,
            )
    except Exception as exc:  # noqa: BLE001
        exc = _root(exc)
        if _unreachable(exc) or isinstance(exc, OSError) and "onsistency check" in str(exc):
            raise HubError(
                f"downloading {label} from {s.endpoint} failed ({_reason(exc)})",
                "the partial download is kept out of the cache and never loaded; run the same command to resume",
            ) from None
        raise _hub_error(exc, s, repo, revision, "download") from None
    folder = Path(folder)
    return _verified(Pulled(**pulled, commit=folder.name, path=folder, source="hub"), sha256)


def _pull_arg(repo: str, revision: str, name: str | None) -> str:
    if name and "@" not in name and "/" not in name:
        return name
    return repo if revision == DEFAULT_REVISION else f"{repo}@{revision}"


def _check_repo_files(names: set[str], file: str, label: str) -> None:
    """The repo must hold the weights as safetensors; pickles are refused
    before anything is downloaded."""
    if file in names:
        return
    pickles = sorted(n for n in names if n.lower().endswith(PICKLE_SUFFIXES))
    if pickles:
        raise HubError(
            f"{label} has only pickle weights ({', '.join(pickles[:3])}); zoo never loads pickle files",
            "convert them to model.safetensors (with a config.json) and push that",
        )
    others = sorted(n for n in names if n.endswith(".safetensors"))
    hint = f"it has {', '.join(others[:3])}" if others else "push weights exported by `zoo export`, or check the revision"
    raise HubError(f"{label} has no {file}", hint)


def _cached(hf, s: HubSettings, repo: str, revision: str, wanted: list[str], file: str) -> Path | None:
    """The cached snapshot of `repo` at `revision` holding `file`, or None.
    Never touches the network."""
    try:
        folder = hf.snapshot_download(
            repo, revision=revision, allow_patterns=wanted, cache_dir=str(s.cache_dir), local_files_only=True
        )
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, FileNotFoundError) or "LocalEntryNotFoundError" in _names(exc):
            return None  # not cached, or only partly (an interrupted download)
        raise _hub_error(exc, s, repo, revision, "read the cache of") from None
    folder = Path(folder)
    return folder if (folder / file).is_file() else None


def _verified(pulled: Pulled, sha256: str | None) -> Pulled:
    weights = pulled.weights
    if not weights.is_file():
        raise HubError(
            f"the cached {pulled.name} has no {pulled.file} (an interrupted download?)",
            f"run `zoo pull {_pull_arg(pulled.repo, pulled.revision, pulled.name)}` with network access",
        )
    declared = None
    config = pulled.path / CONFIG_NAME
    if config.is_file():
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{CONFIG_NAME} of {pulled.name} is not valid JSON") from None
        if isinstance(meta, dict) and meta.get("weights", WEIGHTS_NAME) == pulled.file:
            declared = meta.get("sha256")
    hint = (f"it was not loaded; `zoo pull {_pull_arg(pulled.repo, pulled.revision, pulled.name)} --force` "
            "downloads it again")
    actual = sha256_file(weights)
    _check_sha256(weights, sha256, f"{pulled.file} of {pulled.name}", "registry.toml pins", hint, actual)
    _check_sha256(weights, declared, f"{pulled.file} of {pulled.name}", f"its {CONFIG_NAME} says", hint, actual)
    read_metadata(weights)  # a readable safetensors file: raises CheckpointError otherwise
    return pulled


def _check_sha256(file: Path, expected: str | None, what: str, who: str, hint: str, actual: str | None = None) -> None:
    if not expected:
        return
    actual = actual or sha256_file(file)
    if actual != expected.strip().lower():
        raise ChecksumError(f"{what} has sha256 {actual[:12]}..., but {who} {expected[:12]}...", hint)


# ---------------------------------------------------------------------------
# Push


@dataclass(frozen=True)
class Pushed:
    """A commit made on the Hub."""

    repo: str
    branch: str
    commit: str
    commit_url: str
    url: str
    files: tuple[str, ...]


def push_settings() -> HubSettings:
    """The settings a push needs, or a HubError before anything is sent."""
    s = HubSettings.from_env()
    if s.offline:
        raise HubError("HF_HUB_OFFLINE is set, so nothing can be pushed", "unset HF_HUB_OFFLINE to push")
    if not s.token:
        raise HubError(
            "pushing to the Hub needs a token",
            "set HF_TOKEN to a token with write access, or log in with `hf auth login`",
        )
    return s


def push(
    folder: str | Path,
    repo: str,
    *,
    card: str | None = None,
    private: bool = False,
    branch: str | None = None,
    message: str | None = None,
    progress: bool = True,
) -> Pushed:
    """Upload a weights folder (`model.safetensors` + `config.json`) and a
    model card (`card`, else the folder's `README.md`) to `repo`, in one
    commit on `branch` (default main). The repo and the branch are created
    if needed."""
    hf = _hf()
    check_repo_id(repo)
    branch = branch or DEFAULT_REVISION
    if _COMMIT.match(branch):
        raise HubError(f"--revision {branch} looks like a commit; a push goes to a branch", "give a branch name")
    s = push_settings()
    folder = Path(folder)
    meta = _pushable(folder)
    if card is None:
        if not (folder / CARD_NAME).is_file():
            raise HubError(f"{folder} has no {CARD_NAME} to push", "let zoo generate the model card")
        card = (folder / CARD_NAME).read_text(encoding="utf-8")
    data, step = meta.get("data"), meta.get("step")
    summary = message or f"Upload {meta['method']} weights" + (f" trained on {data}" if data else "") + (
        f" ({step} steps)" if step else "")
    description = f"model.safetensors sha256 {meta['sha256']}, pushed with thesis-zoo."
    ops = [
        hf.CommitOperationAdd(path_in_repo=WEIGHTS_NAME, path_or_fileobj=str(folder / WEIGHTS_NAME)),
        hf.CommitOperationAdd(path_in_repo=CONFIG_NAME, path_or_fileobj=str(folder / CONFIG_NAME)),
        hf.CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card.encode("utf-8")),
    ]
    api = hf.HfApi(endpoint=s.endpoint, token=s.token)
    try:
        api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
        if branch != DEFAULT_REVISION:
            api.create_branch(repo, branch=branch, repo_type="model", exist_ok=True)
        with _progress_bars(progress):
            info = api.create_commit(
                repo, ops, commit_message=summary, commit_description=description, revision=branch, repo_type="model"
            )
    except Exception as exc:  # noqa: BLE001
        raise _hub_error(exc, s, repo, branch, "push to") from None
    url = f"{s.endpoint}/{repo}" + ("" if branch == DEFAULT_REVISION else f"/tree/{branch}")
    return Pushed(repo, branch, info.oid, info.commit_url, url, (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME))


def _pushable(folder: Path) -> dict[str, Any]:
    """The config of a weights folder that may be pushed as it is."""
    from zoo.checkpoint import read_json

    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder", "push a run directory or a folder written by `zoo export`")
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        hint = "only pickle files are there, which zoo never pushes" if pickles else "export it with `zoo export` first"
        raise CheckpointError(f"{folder} has no {WEIGHTS_NAME}", hint)
    if not (folder / CONFIG_NAME).is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_NAME}", "export it with `zoo export <method> --out DIR`")
    meta = read_json(folder / CONFIG_NAME)
    if "method" not in meta:
        raise CheckpointError(f"{folder / CONFIG_NAME} does not say which method it belongs to", "was it exported by zoo?")
    read_metadata(weights)
    actual = sha256_file(weights)
    _check_sha256(weights, meta.get("sha256"), str(weights), f"{CONFIG_NAME} says",
                  "it was not pushed; export the weights again")
    meta.setdefault("sha256", actual)
    return meta


# ---------------------------------------------------------------------------
# Errors from huggingface_hub, as one line each

_NETWORK = {
    "ConnectError", "ConnectTimeout", "ConnectionError", "ReadTimeout", "Timeout", "TimeoutException",
    "RemoteProtocolError", "ProtocolError", "ChunkedEncodingError", "NetworkError", "ReadError", "WriteError",
    "TransportError", "ProxyError", "OfflineModeIsEnabled",
}


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _root(exc: BaseException) -> BaseException:
    """The Hub's own answer behind "not in the cache either" wrappers."""
    while "LocalEntryNotFoundError" in _names(exc) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _unreachable(exc: BaseException) -> bool:
    """A network failure or a Hub that is down (5xx), as opposed to an answer."""
    if _names(exc) & _NETWORK or isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = _status(exc)
    return status is not None and status >= 500


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # huggingface_hub puts "404 Client Error." first and the server's message after
    useful = [line for line in lines if not re.match(r"^\d{3} (Client|Server) Error\.?$", line)]
    return (useful or lines or [type(exc).__name__])[0]


def _reason(exc: BaseException) -> str:
    status = _status(exc)
    if status is not None:
        return f"HTTP {status}"
    text = _first_line(exc)
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


def _hub_error(exc: BaseException, s: HubSettings, repo: str, revision: str, action: str) -> HubError:
    """One clear line for what huggingface_hub raised while doing `action`."""
    exc = _root(exc)
    names, status = _names(exc), _status(exc)
    owner = repo.split("/")[0]
    if "GatedRepoError" in names:
        return HubError(f"{repo} is gated: its conditions must be accepted on the Hub first",
                        f"accept them at {s.endpoint}/{repo}, then set HF_TOKEN")
    if "RevisionNotFoundError" in names:
        return HubError(f"revision {revision!r} not found in {repo}", "give a branch, tag or commit that exists")
    if "RepositoryNotFoundError" in names:
        hint = "check the name; a private repo also needs HF_TOKEN" if not s.token else \
            "check the name and that your token can read it"
        return HubError(f"repo {repo} not found on {s.endpoint}", hint)
    if "LocalEntryNotFoundError" in names:
        return HubError(f"{repo}@{revision} is not in the Hugging Face cache ({s.cache_dir})",
                        "pull it with network access first")
    if "EntryNotFoundError" in names:
        return HubError(f"{repo}@{revision} lacks a file zoo needs ({_first_line(exc)})")
    if status == 401:
        return HubError(f"the Hub at {s.endpoint} refused the token (401 Unauthorized)",
                        "check HF_TOKEN, or log in again with `hf auth login`")
    if status == 403:
        hint = (f"use a token with write access to {owner!r} (HF_TOKEN)" if action == "push to"
                else "ask for access to the repo, or check HF_TOKEN")
        return HubError(f"the Hub refused to let this token {action} {repo} (403 Forbidden)", hint)
    if _unreachable(exc):
        return HubError(f"cannot reach the Hub at {s.endpoint} ({_reason(exc)})", "check the network and HF_ENDPOINT")
    if status is not None:
        return HubError(f"the Hub answered {status} when asked to {action} {repo}: {_first_line(exc)}")
    return HubError(f"could not {action} {repo}: {_reason(exc)}")


# ---------------------------------------------------------------------------
# Model cards


def model_card(method: Method | type[Method], meta: Mapping[str, Any], *, repo: str | None = None) -> str:
    """The README.md of a weights folder: YAML front matter the Hub reads
    (library, tags, data set, license, metrics as a model-index), then what
    the model is, the thesis, the metrics this model reached next to the
    thesis's own numbers, how to use it with `zoo`, the training config and
    the citation. `repo` (owner/name), when known, makes the commands exact."""
    from zoo.registry import load_registry

    try:
        registry = load_registry()
        thesis, entry = registry.thesis_of(method.name), registry.methods.get(method.name)
    except ZooError:
        thesis, entry = None, None
    try:
        results = list(method.results())
    except ZooError:
        results = []
    data = str(meta.get("data") or "")
    measured = _measured(meta.get("metrics") or {})
    parts = [
        _front_matter(method, data, measured),
        f"# {method.name}" + (f" trained on {data}" if data else ""),
        "",
        method.summary,
        "",
        *_facts(method, meta),
        "",
        "## Thesis",
        "",
        f"Paper: {method.paper}",
    ]
    if thesis is not None:
        where = f", chapter {entry.chapter}" if entry is not None and entry.chapter else ""
        parts += ["", f"Thesis: {thesis.citation}{where}" + (f" <{thesis.url}>" if thesis.url else "")]
    parts += _results_section(data, measured, results)
    parts += _use_section(method.name, data, repo)
    parts += ["## Training config", "", "```json", json.dumps(meta.get("config", {}), indent=2), "```", ""]
    if thesis is not None:
        parts += ["## Citation", "", "```bibtex", *_bibtex(thesis), "```", ""]
    return "\n".join(parts)


def _measured(metrics: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """`{"val_iou": 0.7}` -> `[("iou", "val", 0.7)]`; a key with no split
    prefix keeps an empty split."""
    out = []
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            continue
        metric, split = str(key), ""
        for prefix in ("val_", "test_", "train_"):
            if metric.startswith(prefix):
                metric, split = metric[len(prefix):], prefix[:-1]
                break
        out.append((metric, split, float(value)))
    return out


def _yaml(value: Any) -> str:
    """A YAML scalar: plain where that is unambiguous, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:.6g}"
    text = str(value)
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", text) and text.lower() not in {
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "nan", "inf"}
    return text if plain else json.dumps(text)


def _front_matter(method, data: str, measured: list[tuple[str, str, float]]) -> str:
    lines = ["---", "library_name: thesis-zoo", "license: mit", "tags:"]
    lines += [f"- {_yaml(t)}" for t in dict.fromkeys(["thesis-zoo", method.name, method.task]) if t]
    if data:
        lines += ["datasets:", f"- {_yaml(data)}"]
    if measured:
        lines += ["metrics:"] + [f"- {_yaml(m)}" for m in dict.fromkeys(m for m, _, _ in measured)]
        lines += [
            "model-index:",
            f"- name: {_yaml(method.name)}",
            "  results:",
        ]
        for split in dict.fromkeys(s for _, s, _ in measured):
            lines += [
                "  - task:",
                f"      type: {_yaml(method.task)}",
                "    dataset:",
                f"      name: {_yaml(data or 'unknown')}",
                f"      type: {_yaml(data or 'unknown')}",
            ]
            if split:
                lines.append(f"      split: {_yaml(split)}")
            lines.append("    metrics:")
            for metric, s, value in measured:
                if s == split:
                    lines += [f"    - type: {_yaml(metric)}", f"      value: {_yaml(value)}",
                              f"      name: {_yaml(f'{metric} ({split})' if split else metric)}"]
    lines += ["---", ""]
    return "\n".join(lines)


def _facts(method, meta: Mapping[str, Any]) -> list[str]:
    prov = meta.get("provenance") or {}
    rows = [("method", f"`{method.name}` ({method.task})")]
    if meta.get("data"):
        rows.append(("trained on", f"`{meta['data']}`"))
    if meta.get("step"):
        rows.append(("optimizer steps", str(meta["step"])))
    if meta.get("preset"):
        rows.append(("preset", f"`{meta['preset']}`"))
    if prov.get("zoo_version"):
        rows.append(("made with", f"thesis-zoo {prov['zoo_version']}, torch {prov.get('torch_version', '?')}"))
    if meta.get("sha256"):
        rows.append(("weights sha256", f"`{meta['sha256']}`"))
    return ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]


def _results_section(data: str, measured, results) -> list[str]:
    if not measured and not results:
        return [""]
    rows, used = [], set()
    for r in results:
        ours = None
        if r.data == data:
            hits = [(m, s, v) for m, s, v in measured if m == r.metric]
            same = [h for h in hits if h[1] == r.split] or hits
            if same:
                ours = same[0]
                used.add(ours)
        mine = "-" if ours is None else f"{ours[2]:.4g}" + (f" ({ours[1]})" if ours[1] else "")
        note = f"{r.where}" + (f"; {r.note}" if r.note else "")
        rows.append(f"| {r.metric} | {r.data} ({r.split}) | {mine} | {r.value:.4g} | {note} |")
    for m, s, v in measured:
        if (m, s, v) not in used:
            rows.append(f"| {m} | {data or '-'}" + (f" ({s})" if s else "") + f" | {v:.4g} | - | this model |")
    lines = ["", "## Results", "", "| metric | data (split) | this model | thesis | where |", "|---|---|---|---|---|"]
    lines += rows
    thesis_data = sorted({r.data for r in results})
    if results and data not in thesis_data:
        lines += ["", f"The thesis reports its numbers on {', '.join(thesis_data)} at full scale; this model was "
                      f"trained on `{data or '?'}`, so its numbers are not comparable with them."]
    return lines + [""]


def _use_section(name: str, data: str, repo: str | None) -> list[str]:
    where = f"hf://{repo}" if repo else "path/to/this/folder"
    lines = ["## Use", "", "```bash", "pip install thesis-zoo"]
    if repo:
        lines.append(f"zoo pull {repo}")
    lines += [f"zoo sample {name} --weights {where}", f"zoo evaluate {name} --weights {where}"
              + (f" --data {data}" if data else ""), "```", "", "```python", "import zoo", "",
              f'model = zoo.load("{name}", weights="{where}")', "samples = model.sample(8)", "```", ""]
    if not repo:
        lines += ["After `zoo push <this folder> <owner/repo>`, use `hf://<owner/repo>` as the weights.", ""]
    return lines


def _bibtex(thesis) -> list[str]:
    surname = re.sub(r"[^a-z]", "", thesis.author.split()[-1].lower()) or "thesis"
    fields = [("author", thesis.author), ("title", thesis.title), ("school", thesis.institution),
              ("year", str(thesis.year))]
    if thesis.url:
        fields.append(("url", thesis.url))
    body = [f"  {k} = {{{v}}}," for k, v in fields]
    body[-1] = body[-1].rstrip(",")
    return [f"@phdthesis{{{surname}{thesis.year},", *body, "}"]
