"""A fake GitHub REST API on 127.0.0.1, backed by real git repositories.

Tests create repositories with the `git` command (`FakeGitHub.create_repo`), then point the
adapter at `fake.api_url`. The server answers the endpoints repochat uses, in GitHub's shape:

- `GET /repos/{o}/{r}`                          default branch
- `GET /repos/{o}/{r}/commits/{ref}`             SHA (media type `vnd.github.sha`) or JSON, ETag, 304
- `GET /repos/{o}/{r}/git/trees/{sha}?recursive=1`  with `truncated` support
- `GET /repos/{o}/{r}/git/blobs/{sha}`           raw (`vnd.github.raw`) or base64 JSON
- `GET /repos/{o}/{r}/tarball/{ref}`             302 to `/_codeload/...`, which streams `git archive`

It records every request (method, path, query, all headers, status, body bytes sent) and
can inject answers (`inject`), truncate trees, serve a hand-made tarball, and make a
repository private (404 without a valid token; any unknown token gets 401, as on GitHub).
A token of `tokens` reads every repository (the server's); a user's token (`users`, see
`fake_github_users`) reads public repositories and the private ones granted to the user.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from tests.integration.fake_github_users import GitHubUsers, repository_json
from tests.integration.loopback_server import LoopbackServer

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


class GitRepo:
    """A real git repository in a folder, edited through the `git` command."""

    def __init__(self, path: Path, owner: str, name: str, default_branch: str = "main") -> None:
        self.path = path
        self.owner = owner
        self.name = name
        self.default_branch = default_branch
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", default_branch)

    def git(self, *args: str, input: bytes | None = None) -> bytes:
        env = {**os.environ, **GIT_ENV}
        done = subprocess.run(["git", *args], cwd=self.path, env=env, input=input, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for relative, content in files.items():
            target = self.path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)

    def delete(self, *paths: str) -> None:
        self.git("rm", "-q", "--", *paths)

    def rename(self, old: str, new: str) -> None:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str = "change", files: Mapping[str, str | bytes] | None = None) -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def symlink(self, relative: str, target: str) -> None:
        (self.path / relative).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, self.path / relative)

    def tag(self, name: str, ref: str = "HEAD") -> None:
        self.git("tag", name, ref)

    def branch(self, name: str, ref: str = "HEAD") -> None:
        self.git("branch", name, ref)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()

    def resolve(self, ref: str) -> str | None:
        try:
            return self.head(ref)
        except RuntimeError:
            return None

    def blob(self, sha: str) -> bytes | None:
        try:
            kind = self.git("cat-file", "-t", sha).decode().strip()
        except RuntimeError:
            return None
        return self.git("cat-file", "blob", sha) if kind == "blob" else None

    def tree(self, commit: str) -> list[dict[str, Any]]:
        out = self.git("ls-tree", "-r", "-t", "-l", "-z", "--full-tree", commit)
        items: list[dict[str, Any]] = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, path = record.decode().split("\t", 1)
            mode, kind, sha, size = meta.split()
            item: dict[str, Any] = {"path": path, "mode": mode, "type": kind, "sha": sha}
            if kind == "blob":
                item["size"] = int(size)
            items.append(item)
        return items

    def archive(self, commit: str) -> Iterator[bytes]:
        """Stream `git archive` as GitHub names it: top folder `owner-repo-sha7/`."""
        prefix = f"{self.owner}-{self.name}-{commit[:7]}/"
        env = {**os.environ, **GIT_ENV}
        args = ["git", "archive", "--format=tar.gz", f"--prefix={prefix}", commit]
        with subprocess.Popen(args, cwd=self.path, env=env, stdout=subprocess.PIPE) as process:
            assert process.stdout is not None
            while chunk := process.stdout.read(65536):
                yield chunk


@dataclass
class HostedRepo:
    git: GitRepo
    private: bool = False
    truncate_tree: bool = False
    tarball: bytes | None = None
    """Served instead of `git archive` (malicious archives)."""


RepoEndpoint = Callable[[Request, HostedRepo], Awaitable[Response]]


@dataclass(frozen=True)
class Canned:
    """An injected answer."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | dict[str, Any] = b""

    def response(self) -> Response:
        if isinstance(self.body, dict):
            return JSONResponse(self.body, self.status, dict(self.headers))
        return Response(self.body, self.status, dict(self.headers))


def rate_limited(reset_epoch: int) -> Canned:
    """GitHub's primary rate limit answer."""
    headers = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset_epoch)}
    return Canned(403, headers, {"message": "API rate limit exceeded for 127.0.0.1."})


def retry_after(seconds: int, status: int = 429) -> Canned:
    return Canned(status, {"retry-after": str(seconds)}, {"message": "You have exceeded a secondary rate limit."})


def server_error(status: int = 503) -> Canned:
    return Canned(status, {}, {"message": "Service Unavailable"})


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int = 0
    bytes_sent: int = 0


@dataclass
class _Injection:
    pattern: re.Pattern[str]
    answers: deque[Canned]
    forever: Canned | None = None


class FakeGitHub:
    """The server and its repositories; use as a context manager (`with FakeGitHub(tmp) as gh`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos: dict[tuple[str, str], HostedRepo] = {}
        self.tokens: set[str] = set()
        self.users = GitHubUsers()
        self.requests: list[Recorded] = []
        self._injections: list[_Injection] = []
        self._lock = threading.Lock()
        self._codeload_secret = secrets.token_hex(8)
        self._http = LoopbackServer(self, "fake GitHub")
        self.app = Starlette(routes=self._routes())

    # -- lifecycle

    @property
    def api_url(self) -> str:
        return self._http.url

    def __enter__(self) -> FakeGitHub:
        self._http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    # -- test controls

    def create_repo(self, owner: str, name: str, files: Mapping[str, str | bytes], branch: str = "main") -> GitRepo:
        repo = GitRepo(self.root / f"{owner}__{name}", owner, name, branch)
        repo.commit("initial", files)
        self.repos[(owner.lower(), name.lower())] = HostedRepo(repo)
        return repo

    def hosted(self, owner: str, name: str) -> HostedRepo:
        return self.repos[(owner.lower(), name.lower())]

    def inject(self, pattern: str, *answers: Canned, forever: Canned | None = None) -> None:
        """Answer the next requests whose path matches `pattern` (regex) with `answers`, in order."""
        with self._lock:
            self._injections.append(_Injection(re.compile(pattern), deque(answers), forever))

    def forget_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    @property
    def bytes_sent(self) -> int:
        return sum(r.bytes_sent for r in self.requests)

    # -- ASGI: record, inject, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        index = self._record(Recorded(scope["method"], scope["path"], scope["query_string"].decode(), headers))
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        canned = self._injected(scope["path"])
        try:
            if canned is not None:
                await canned.response()(scope, receive, counting_send)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            with self._lock:
                old = self.requests[index]
                self.requests[index] = Recorded(old.method, old.path, old.query, old.headers, status, sent)

    def _record(self, recorded: Recorded) -> int:
        with self._lock:
            self.requests.append(recorded)
            return len(self.requests) - 1

    def _injected(self, path: str) -> Canned | None:
        with self._lock:
            for injection in self._injections:
                if injection.pattern.search(path):
                    if injection.answers:
                        return injection.answers.popleft()
                    if injection.forever is not None:
                        return injection.forever
        return None

    # -- GitHub endpoints

    def _routes(self) -> list[Route]:
        base = "/repos/{owner}/{repo}"
        return [
            Route(base, self._authorized(self._repository)),
            Route(base + "/commits/{ref:path}", self._authorized(self._commit)),
            Route(base + "/git/trees/{sha:path}", self._authorized(self._tree)),
            Route(base + "/git/blobs/{sha}", self._authorized(self._blob)),
            Route(base + "/tarball/{ref:path}", self._authorized(self._tarball)),
            Route("/_codeload/{owner}/{repo}/legacy.tar.gz/{sha}", self._codeload),
            *self.users.routes(self._listed),
        ]

    def _listed(self) -> list[tuple[str, bool]]:
        return [(f"{h.git.owner}/{h.git.name}", h.private) for h in self.repos.values()]

    def _authorized(self, endpoint: RepoEndpoint) -> Callable[[Request], Awaitable[Response]]:
        """`endpoint`, answering only requests `_authorize` lets through, with the repository they address."""

        async def guarded(request: Request) -> Response:
            hosted = self._authorize(request)
            return hosted if isinstance(hosted, Response) else await endpoint(request, hosted)

        return guarded

    def _authorize(self, request: Request) -> HostedRepo | Response:
        """GitHub's rules: an unknown token is 401 anywhere; a private repo is 404 without access."""
        auth = request.headers.get("authorization")
        token = auth.removeprefix("Bearer ").removeprefix("token ").strip() if auth else None
        if token is not None and token not in self.tokens and token not in self.users.by_token:
            return JSONResponse({"message": "Bad credentials", "status": "401"}, 401)
        owner, name = request.path_params["owner"], request.path_params["repo"]
        hosted = self.repos.get((owner.lower(), name.lower()))
        if hosted is None or (hosted.private and not self._may_read(token, owner, name)):
            return JSONResponse({"message": "Not Found", "status": "404"}, 404)
        return hosted

    def _may_read(self, token: str | None, owner: str, name: str) -> bool:
        """Of a private repository: the server's tokens read it, a user's token when it is granted."""
        if token is None:
            return False
        return token in self.tokens or self.users.may_read(token, owner, name, private=True)

    async def _repository(self, _request: Request, hosted: HostedRepo) -> Response:
        git = hosted.git
        return JSONResponse(
            {**repository_json(f"{git.owner}/{git.name}", hosted.private), "default_branch": git.default_branch}
        )

    async def _commit(self, request: Request, hosted: HostedRepo) -> Response:
        ref = unquote(request.path_params["ref"])
        sha = hosted.git.resolve(ref)
        if sha is None:
            return JSONResponse({"message": f"No commit found for SHA: {ref}", "status": "422"}, 422)
        accept = request.headers.get("accept", "")
        as_sha = "vnd.github.sha" in accept
        etag = '"' + hashlib.sha1(f"{sha}:{as_sha}".encode(), usedforsecurity=False).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        if as_sha:
            return Response(sha, headers={"etag": etag, "content-type": "application/vnd.github.sha"})
        return JSONResponse({"sha": sha, "commit": {"message": "..."}}, headers={"etag": etag})

    async def _tree(self, request: Request, hosted: HostedRepo) -> Response:
        sha = hosted.git.resolve(unquote(request.path_params["sha"]))
        if sha is None:
            return JSONResponse({"message": "Not Found"}, 404)
        items = hosted.git.tree(sha)
        if request.query_params.get("recursive") not in ("1", "true"):
            items = [item for item in items if "/" not in item["path"]]
        truncated = hosted.truncate_tree
        if truncated:
            items = items[: len(items) // 2]
        tree_sha = hosted.git.git("rev-parse", f"{sha}^{{tree}}").decode().strip()
        return JSONResponse({"sha": tree_sha, "tree": items, "truncated": truncated})

    async def _blob(self, request: Request, hosted: HostedRepo) -> Response:
        sha = request.path_params["sha"]
        content = hosted.git.blob(sha)
        if content is None:
            return JSONResponse({"message": "Not Found"}, 404)
        if "vnd.github.raw" in request.headers.get("accept", ""):
            return Response(content, media_type="application/vnd.github.raw")
        encoded = base64.encodebytes(content).decode()
        return JSONResponse({"sha": sha, "size": len(content), "content": encoded, "encoding": "base64"})

    async def _tarball(self, request: Request, hosted: HostedRepo) -> Response:
        sha = hosted.git.resolve(unquote(request.path_params["ref"]))
        if sha is None:
            return JSONResponse({"message": "Not Found"}, 404)
        git = hosted.git
        location = f"{self.api_url}/_codeload/{quote(git.owner)}/{quote(git.name)}/legacy.tar.gz/{sha}"
        if hosted.private:
            location += f"?token={self._codeload_secret}"
        return Response(status_code=302, headers={"location": location})

    async def _codeload(self, request: Request) -> Response:
        hosted = self.repos.get((request.path_params["owner"].lower(), request.path_params["repo"].lower()))
        if hosted is None or (hosted.private and request.query_params.get("token") != self._codeload_secret):
            return Response("Not Found", 404)
        if hosted.tarball is not None:
            return Response(hosted.tarball, media_type="application/x-gzip")
        sha = request.path_params["sha"]
        return StreamingResponse(hosted.git.archive(sha), media_type="application/x-gzip")
