"""A small stand-in for the Hugging Face Hub, for tests.

It speaks, over real HTTP on loopback ports, the part of the Hub API that
`huggingface_hub` uses to create a repo, commit to it and download from it:

    GET  /api/whoami-v2
    POST /api/repos/create                          {"name", "organization", "private" | "visibility", "type"}
    POST /api/validate-yaml                         the model card's front matter
    GET  /api/models/{o}/{n}[/revision/{rev}]       repo info: sha, siblings
    GET  /api/models/{o}/{n}/tree/{rev}[/{path}]    file listing (oid, size, lfs)
    GET  /api/models/{o}/{n}/refs
    POST /api/models/{o}/{n}/branch/{branch}        {"startingPoint"}
    POST /api/models/{o}/{n}/preupload/{rev}        upload mode per file: "lfs" or "regular"
    POST /{o}/{n}.git/info/lfs/objects/batch        LFS batch API (basic transfer)
    POST /api/models/{o}/{n}/commit/{rev}           NDJSON: header, file (base64), lfsFile, deletedFile
    HEAD/GET /{o}/{n}/resolve/{rev}/{path}          regular files: 200 with ETag (git oid); LFS files:
                                                    302 to the CDN with X-Linked-Etag (sha256) and
                                                    X-Linked-Size; both with X-Repo-Commit
and, on a second port standing for the CDN (reached as `localhost`, another
host for the client, which drops its token there as it does for the real one):

    HEAD/GET /blobs/{sha256}                        file contents, with Range support
    PUT  /upload/{sha256}                           LFS upload (checked against its sha256)
    POST /verify/{sha256}                           LFS verify

Errors carry the X-Error-Code / X-Error-Message headers the client turns into
RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError and
GatedRepoError. An unknown token gets 401 (as on the Hub), a read token or
another user's token 403 on writes, a private repo is invisible to others.

File contents live on disk, addressed by sha256. Every request is logged
(`server.log`) so a test can count downloads, and faults can be injected:
`fail()` answers a status for matching requests, `cut()` sends half of a file's
body and then drops the connection, the way a broken network does.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".npz", ".msgpack")
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()


def git_oid(data: bytes) -> str:
    """The git blob id of `data` (what the Hub sends as ETag of a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def free_port() -> int:
    """A loopback port nothing listens on (for "network down" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int
    sha256: str
    oid: str      # git blob id
    lfs: bool


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, RepoFile]
    date: str


@dataclass
class Repo:
    id: str
    private: bool = False
    gated: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def lookup(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        return self.commits.get(revision)


@dataclass(frozen=True)
class Logged:
    origin: str   # "hub" or "cdn"
    method: str
    path: str     # unquoted, without the query
    status: int
    range: str | None = None
    file: str | None = None   # the repo file whose contents were served


@dataclass
class Fault:
    pattern: re.Pattern
    status: int
    method: str | None
    code: str | None
    message: str
    times: int | None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubServer:
    """Start with `with HubServer(root) as hub:` (or `start()` / `stop()`);
    `hub.url` is the value for HF_ENDPOINT. `tokens` maps a token to
    (user, "read" | "write")."""

    def __init__(self, root: Path, tokens: dict[str, tuple[str, str]] | None = None, *, lfs: bool = True):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tokens = dict(tokens or {})
        self.lfs = lfs                     # False: every file is committed as a regular file
        self.repos: dict[str, Repo] = {}
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self.cuts: dict[str, tuple[str, int | None]] = {}  # file name -> ("armed" | "done", status after the cut)
        self.lock = threading.RLock()
        self._counter = itertools.count()
        self._servers: list[ThreadingHTTPServer] = []

    # -- life cycle -----------------------------------------------------------

    def start(self) -> HubServer:
        for origin in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.hub, server.origin = self, origin
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        # another host name for the same loopback address: clients treat the CDN as off the Hub
        self.cdn_url = f"http://localhost:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests set up and look at -------------------------------------------

    def fail(self, pattern: str, status: int, *, method: str | None = None, code: str | None = None,
             message: str = "injected failure", times: int | None = None) -> None:
        """Answer `status` to requests whose path matches `pattern`."""
        self.faults.append(Fault(re.compile(pattern), status, method, code, message, times))

    def cut(self, filename: str, then: int | None = 503) -> None:
        """The next download of `filename` stops halfway and the connection
        drops; later ones get status `then` (None: served normally again)."""
        self.cuts[filename] = ("armed", then)

    def heal(self) -> None:
        self.faults.clear()
        self.cuts.clear()

    def downloads(self, name: str | None = None) -> list[Logged]:
        """GET requests that sent file contents (resolve of regular files, CDN blobs)."""
        with self.lock:
            out = [r for r in self.log if r.method == "GET" and r.status in (200, 206)
                   and (r.origin == "cdn" and r.path.startswith("/blobs/") or "/resolve/" in r.path)]
        return [r for r in out if name is None or r.file == name]

    def requests(self) -> list[Logged]:
        with self.lock:
            return list(self.log)

    def create_repo(self, repo_id: str, *, private: bool = False, gated: bool = False) -> Repo:
        with self.lock:
            repo = Repo(repo_id, private=private, gated=gated)
            self.repos[repo_id] = repo
            self._commit(repo, "main", {".gitattributes": GITATTRIBUTES}, "initial commit", new_branch=True)
            return repo

    def add_commit(self, repo_id: str, files: dict[str, bytes], *, branch: str = "main", message: str = "update") -> str:
        """Commit `files` directly (no HTTP): for repos a test needs as they are
        (pickle-only, a wrong checksum)."""
        with self.lock:
            repo = self.repos.get(repo_id) or self.create_repo(repo_id)
            return self._commit(repo, branch, files, message)

    def file_bytes(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        f = self.repos[repo_id].lookup(revision).files[path]
        return (self.blobs / f.sha256).read_bytes()

    # -- storage ---------------------------------------------------------------

    def _store(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.blobs / digest
        if not target.exists():
            tmp = target.with_suffix(f".tmp{next(self._counter)}")
            tmp.write_bytes(data)
            tmp.replace(target)
        return digest

    def _is_lfs(self, path: str, size: int, sample: bytes = b"") -> bool:
        return self.lfs and (path.lower().endswith(LFS_SUFFIXES) or size > 10 * 2**20 or b"\0" in sample)

    def _commit(self, repo: Repo, branch: str, files: dict[str, bytes | RepoFile], message: str,
                deleted: tuple[str, ...] = (), new_branch: bool = False) -> str:
        parent = None if new_branch else repo.branches[branch]
        tree = dict(repo.commits[parent].files) if parent else {}
        for path in deleted:
            tree = {p: f for p, f in tree.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
        for path, content in files.items():
            if isinstance(content, RepoFile):
                tree[path] = content
            else:
                digest = self._store(content)
                tree[path] = RepoFile(path, len(content), digest, git_oid(content), self._is_lfs(path, len(content)))
        seed = json.dumps([parent, message, sorted((p, f.sha256) for p, f in tree.items()), next(self._counter)])
        oid = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[oid] = Commit(oid, parent, message, tree, time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
        repo.branches[branch] = oid
        return oid


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-stand-in/1"

    # -- plumbing ---------------------------------------------------------------

    def log_message(self, *args) -> None:  # quiet
        pass

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.method, self.query = method, parse_qs(url.query)
        self.raw_path = url.path
        self.clean_path = unquote(url.path)
        self.status = 0
        self.served = None
        self.body = self._read_body()
        try:
            self._fault(method)
            routes = _CDN_ROUTES if self.server.origin == "cdn" else _HUB_ROUTES
            for verb, pattern, handler in routes:
                m = pattern.match(url.path)
                if m and (verb == method or verb == "GET" and method == "HEAD"):
                    handler(self, *[unquote(g) if g is not None else None for g in m.groups()])
                    break
            else:
                raise HubError(404, f"no route for {method} {self.clean_path}")
        except HubError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.status = self.status or 499
        finally:
            with self.hub.lock:
                self.hub.log.append(Logged(self.server.origin, method, self.clean_path, self.status,
                                           self.headers.get("Range"), self.served))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _fault(self, method: str) -> None:
        for fault in list(self.hub.faults):
            if (fault.method in (None, method)) and fault.pattern.search(self.clean_path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times < 0:
                        continue
                raise HubError(fault.status, fault.message, fault.code)

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, *, length: int | None = None) -> None:
        self.status = status
        self.send_response(status)
        headers = {"Content-Length": str(len(body) if length is None else length), "Connection": "close",
                   **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()
        self.close_connection = True
        if self.method != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict | None = None, content_type="application/json") -> None:
        self._send(status, json.dumps(data).encode(), {"Content-Type": content_type, **(headers or {})})

    def _error(self, exc: HubError) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": exc.message, **exc.headers}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        self._send(exc.status, json.dumps({"error": exc.message}).encode(), headers)

    def _payload(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError:
            raise HubError(400, "body is not JSON") from None

    # -- who is asking ------------------------------------------------------------

    def _user(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization") or ""
        if not auth:
            return None
        token = auth.split(" ", 1)[1].strip() if auth.lower().startswith("bearer ") else auth
        if token not in self.hub.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.hub.tokens[token]

    def _writer(self, namespace: str) -> str:
        user = self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to write to the Hub")
        name, role = user
        if role != "write" or name != namespace:
            raise HubError(403, f"You don't have the rights to write to {namespace!r} with this token")
        return name

    def _repo(self, owner: str, name: str) -> Repo:
        user = self._user()
        repo = self.hub.repos.get(f"{owner}/{name}")
        if repo is None or repo.private and (user is None or user[0] != owner):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        return repo

    def _commit_of(self, repo: Repo, revision: str) -> Commit:
        commit = repo.lookup(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- the Hub API -------------------------------------------------------------

    def whoami(self) -> None:
        user = self._user()
        if user is None:
            raise HubError(401, "Invalid username or password.")
        self._json({"type": "user", "name": user[0], "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"role": user[1]}}})

    def create_repo(self) -> None:
        data = self._payload()
        if data.get("type", "model") not in (None, "model"):
            raise HubError(400, "this stand-in only hosts model repos")
        user = self._user()
        namespace = data.get("organization") or (user[0] if user else "")
        self._writer(namespace)
        repo_id = f"{namespace}/{data['name']}"
        with self.hub.lock:
            if repo_id in self.hub.repos:
                self._json({"error": "You already created this model repo", "url": f"{self.hub.url}/{repo_id}"}, 409)
                return
            private = data.get("private") is True or data.get("visibility") == "private"
            self.hub.create_repo(repo_id, private=private)
        self._json({"url": f"{self.hub.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def validate_yaml(self) -> None:
        import yaml

        content = self._payload().get("content", "")
        if content.startswith("---"):
            front = content.split("---", 2)[1] if content.count("---") >= 2 else ""
            try:
                meta = yaml.safe_load(front)
            except yaml.YAMLError as exc:
                self._json({"errors": [{"message": f"invalid YAML: {exc}"}]}, 400)
                return
            if meta is not None and not isinstance(meta, dict):
                self._json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
                return
        self._json({"errors": [], "warnings": []})

    def model_info(self, owner: str, name: str, revision: str | None) -> None:
        repo = self._repo(owner, name)
        commit = self._commit_of(repo, revision or "main")
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for f in commit.files.values():
            entry = {"rfilename": f.path}
            if blobs:
                entry.update(size=f.size, blobId=f.oid)
                if f.lfs:
                    entry["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(entry)
        self._json({
            "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24], "id": repo.id, "modelId": repo.id,
            "author": owner, "sha": commit.oid, "lastModified": commit.date, "createdAt": commit.date,
            "private": repo.private, "gated": "auto" if repo.gated else False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [], "siblings": siblings, "spaces": [],
            "usedStorage": sum(f.size for f in commit.files.values()),
        })

    def tree(self, owner: str, name: str, revision: str, path: str | None) -> None:
        repo = self._repo(owner, name)
        commit = self._commit_of(repo, revision)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = (path.strip("/") + "/") if path else ""
        entries, folders = [], set()
        for f in sorted(commit.files.values(), key=lambda f: f.path):
            if not f.path.startswith(prefix):
                continue
            rest = f.path[len(prefix):]
            parts = rest.split("/")
            for i in range(1, len(parts)):
                folder = prefix + "/".join(parts[:i])
                if folder not in folders and (recursive or i == 1):
                    folders.add(folder)
                    entries.append({"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                    "size": 0, "path": folder})
            if len(parts) > 1 and not recursive:
                continue
            entry = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        if path and not entries:
            raise HubError(404, f"{path} does not exist", "EntryNotFound")
        self._json(entries)

    def refs(self, owner: str, name: str) -> None:
        repo = self._repo(owner, name)
        self._json({"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": c}
                                 for b, c in repo.branches.items()], "tags": [], "converts": []})

    def create_branch(self, owner: str, name: str, branch: str) -> None:
        repo = self._repo(owner, name)
        self._writer(owner)
        start = self._payload().get("startingPoint") or "main"
        with self.hub.lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = self._commit_of(repo, start).oid
        self._json({})

    def preupload(self, owner: str, name: str, revision: str) -> None:
        repo = self._repo(owner, name)
        self._writer(owner)
        commit = self._commit_of(repo, revision)
        files = []
        for f in self._payload().get("files", []):
            sample = base64.b64decode(f.get("sample", ""))
            lfs = self.hub._is_lfs(f["path"], int(f.get("size", 0)), sample)
            old = commit.files.get(f["path"])
            oid = None if old is None else (old.sha256 if old.lfs else old.oid)
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        self._json({"files": files, "commitOid": commit.oid})

    def lfs_batch(self, owner: str, name: str) -> None:
        self._repo(owner, name)
        self._writer(owner)
        data = self._payload()
        if data.get("operation") != "upload":
            raise HubError(400, "only uploads go through this stand-in's batch API")
        objects = []
        for obj in data.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not (self.hub.blobs / obj["oid"]).exists():
                entry["actions"] = {
                    "upload": {"href": f"{self.hub.cdn_url}/upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{self.hub.cdn_url}/verify/{obj['oid']}", "header": {}},
                }
            objects.append(entry)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                   content_type="application/vnd.git-lfs+json")

    def commit(self, owner: str, name: str, revision: str) -> None:
        repo = self._repo(owner, name)
        self._writer(owner)
        if "create_pr" in self.query:
            raise HubError(400, "this stand-in does not open pull requests")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        files, deleted = {}, []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                blob = self.hub.blobs / value["oid"]
                if not blob.exists():
                    raise HubError(422, f"LFS file {value['path']} ({value['oid'][:12]}) was never uploaded")
                size = blob.stat().st_size
                files[value["path"]] = RepoFile(value["path"], size, value["oid"], git_oid(blob.read_bytes()), True)
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        with self.hub.lock:
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            parent = header.get("parentCommit")
            if parent and parent != repo.branches[revision]:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            oid = self.hub._commit(repo, revision, files, header.get("summary", ""), tuple(deleted))
        self._json({"success": True, "commitOid": oid, "commitUrl": f"{self.hub.url}/{repo.id}/commit/{oid}",
                    "hookOutput": ""})

    def resolve(self, owner: str, name: str, revision: str, path: str) -> None:
        repo = self._repo(owner, name)
        commit = self._commit_of(repo, revision)
        f = commit.files.get(path)
        if f is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        user = self._user()
        if repo.gated and (user is None or user[0] != owner):  # nobody but the owner accepted the conditions
            raise HubError(401 if user is None else 403, "Access to this model is restricted", "GatedRepo")
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{f.oid}"', "Accept-Ranges": "bytes"}
        if f.lfs:
            location = f"{self.hub.cdn_url}/blobs/{f.sha256}?file={quote(path)}"
            self._send(302, b"", {**headers, "Location": location, "X-Linked-Etag": f'"{f.sha256}"',
                                  "X-Linked-Size": f.size})
            return
        self._serve(f, headers)

    # -- contents, on either origin ----------------------------------------------------

    def _serve(self, f: RepoFile, headers: dict) -> None:
        data = (self.hub.blobs / f.sha256).read_bytes()
        name = f.path.rsplit("/", 1)[-1]
        self.served = f.path
        cut = self.hub.cuts.get(name)
        if cut is not None and self.method == "GET":
            state, then = cut
            if state == "armed":
                self.hub.cuts[name] = ("done", then)
                self._send(200, b"", {**headers, "Content-Type": "application/octet-stream"}, length=len(data))
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if then is not None:
                raise HubError(then, "Service Unavailable")
        start = 0
        ranged = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        if ranged:
            start = int(ranged.group(1))
            end = int(ranged.group(2)) if ranged.group(2) else len(data) - 1
            if start >= len(data):
                raise HubError(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            self._send(206, data[start:end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}",
                                                  "Content-Type": "application/octet-stream"})
            return
        self._send(200, data, {**headers, "Content-Type": "application/octet-stream",
                               "Content-Disposition": f'attachment; filename="{name}"'})

    def cdn_blob(self, sha256: str) -> None:
        blob = self.hub.blobs / sha256
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not blob.exists():
            raise HubError(404, "NoSuchKey")
        path = (self.query.get("file") or [sha256])[0]
        size = blob.stat().st_size
        self._serve(RepoFile(path, size, sha256, "", True), {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"})

    def cdn_upload(self, sha256: str) -> None:
        if hashlib.sha256(self.body).hexdigest() != sha256:
            raise HubError(400, "uploaded content does not match its sha256")
        self.hub._store(self.body)
        self._send(200)

    def cdn_verify(self, sha256: str) -> None:
        data = self._payload()
        blob = self.hub.blobs / sha256
        if not blob.exists() or blob.stat().st_size != data.get("size"):
            raise HubError(404, "object not found or of the wrong size")
        self._json({})


_NAME = r"([^/]+)"
_HUB_ROUTES = [
    ("GET", re.compile(r"^/api/whoami-v2$"), _Handler.whoami),
    ("POST", re.compile(r"^/api/repos/create$"), _Handler.create_repo),
    ("POST", re.compile(r"^/api/validate-yaml$"), _Handler.validate_yaml),
    ("GET", re.compile(rf"^/api/models/{_NAME}/{_NAME}/tree/{_NAME}(?:/(.+))?$"), _Handler.tree),
    ("GET", re.compile(rf"^/api/models/{_NAME}/{_NAME}/refs$"), _Handler.refs),
    ("POST", re.compile(rf"^/api/models/{_NAME}/{_NAME}/branch/{_NAME}$"), _Handler.create_branch),
    ("POST", re.compile(rf"^/api/models/{_NAME}/{_NAME}/preupload/{_NAME}$"), _Handler.preupload),
    ("POST", re.compile(rf"^/api/models/{_NAME}/{_NAME}/commit/{_NAME}$"), _Handler.commit),
    ("GET", re.compile(rf"^/api/models/{_NAME}/{_NAME}(?:/revision/{_NAME})?$"), _Handler.model_info),
    ("POST", re.compile(rf"^/{_NAME}/{_NAME}\.git/info/lfs/objects/batch$"), _Handler.lfs_batch),
    ("GET", re.compile(rf"^/{_NAME}/{_NAME}/resolve/{_NAME}/(.+)$"), _Handler.resolve),
]
_CDN_ROUTES = [
    ("GET", re.compile(r"^/blobs/([^/]+)$"), _Handler.cdn_blob),
    ("PUT", re.compile(r"^/upload/([^/]+)$"), _Handler.cdn_upload),
    ("POST", re.compile(r"^/verify/([^/]+)$"), _Handler.cdn_verify),
]
