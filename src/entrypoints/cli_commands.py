"""The `repochat` commands, run once `entrypoints.cli` has parsed their arguments."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel

from application.answering import AskRequest, CitationsEvent, TokenEvent
from application.search import SearchRequest
from domain.access import Role, Scope
from domain.citation_check import flag_of
from domain.errors import DataDirBusy, InvalidInput
from domain.evaluation import EvalCase
from domain.jobs import IndexRequest, Job, JobState
from domain.refs import ref_label
from entrypoints.container import Container, running
from entrypoints.key_views import CreatedKey, KeyList
from entrypoints.settings import Settings, load_settings
from entrypoints.source_input import source_spec
from entrypoints.views import (
    AnswerView,
    EvaluationView,
    JobList,
    JobView,
    RepositoryList,
    RepositoryView,
    SearchResponse,
    SyncView,
)

EXIT_JOB_FAILED = 1
POLL_SECONDS = 0.25
SHORT_SHA = 12

Command = Callable[[Container, argparse.Namespace], Awaitable[int]]


def run_command(args: argparse.Namespace) -> int:
    """Run the command `args` name (domain errors propagate: `entrypoints.cli` turns them into exit codes)."""
    settings = load_settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "worker":
        return _worker(settings, args)
    container = Container(settings=settings, process_name=f"repochat {args.command}")
    command: Command = COMMANDS[args.command]
    return asyncio.run(_with_container(container, args, command))


async def _with_container(container: Container, args: argparse.Namespace, command: Command) -> int:
    run_jobs = args.command == "index" and not args.no_wait
    async with running(container, run_jobs=run_jobs):
        return await command(container, args)


async def _index(container: Container, args: argparse.Namespace) -> int:
    spec = source_spec(args.source, args.ref, args.include or (), args.exclude or ())
    job = await container.submit_index_job().execute(IndexRequest(spec, args.collection))
    if args.no_wait:
        _print_json(JobView.of(job)) if args.json else print(f"queued job {job.id} for {_job_name(job)}")
        return 0
    progress = _ProgressLine(enabled=not args.json)
    while not job.state.finished:
        progress.show(job)
        await asyncio.sleep(POLL_SECONDS)
        job = await container.get_job().execute(job.id)
    progress.close()
    if args.json:
        _print_json(JobView.of(job))
    else:
        _print_outcome(job)
    return 0 if job.state is JobState.SUCCEEDED else EXIT_JOB_FAILED


async def _search(container: Container, args: argparse.Namespace) -> int:
    request = SearchRequest(args.query, args.k, args.collection, args.repository, args.mode, ref=args.ref)
    results = await container.search().execute(request)
    found = SearchResponse.of(results.mode, results.hits)
    if args.json:
        _print_json(found)
        return 0
    if not found.hits:
        print("no matches")
    for n, hit in enumerate(found.hits, start=1):
        print(f"[{n}] {hit.path}:{hit.start_line}-{hit.end_line}  score {hit.score:.3f}  {hit.url}")
        print("    " + " ".join(hit.text.split())[:200])
    return 0


async def _ask(container: Container, args: argparse.Namespace) -> int:
    request = AskRequest(args.question, (), args.collection, args.k, args.repository, mode=args.mode, ref=args.ref)
    if args.json:
        _print_json(AnswerView.of(await container.answer_question().execute(request)))
        return 0
    async for event in container.answer_question().stream(request):
        if isinstance(event, TokenEvent):
            print(event.text, end="", flush=True)
        elif isinstance(event, CitationsEvent):
            print()
            _print_sources(event)
    return 0


def _print_sources(event: CitationsEvent) -> None:
    """The cited sources first; the passages found but not cited after them, said to be so."""
    numbered = list(enumerate(event.citations, start=1))
    cited = [(n, c) for n, c in numbered if c.used]
    others = [(n, c) for n, c in numbered if not c.used]
    headings = ("Sources:", "Also found, not cited:")
    if event.abstained:
        headings = ("", "Closest passages, too weak to answer from:")
    for heading, group in zip(headings, (cited, others), strict=True):
        if group:
            print(f"\n{heading}")
        for n, c in group:
            print(f"[{n}] {c.path} lines {c.start_line}-{c.end_line}  {c.url}{flag_of(c)}")


async def _jobs(container: Container, args: argparse.Namespace) -> int:
    if args.job_id:
        job = await container.get_job().execute(args.job_id)
        _print_json(JobView.of(job)) if args.json else _print_job_line(job)
        return 0
    jobs = await container.list_jobs().execute()
    if args.json:
        _print_json(JobList.of(jobs))
    for job in [] if args.json else jobs:
        _print_job_line(job)
    return 0


async def _repos(container: Container, args: argparse.Namespace) -> int:
    indexed = RepositoryList.of(await container.list_repositories().execute())
    if args.json:
        _print_json(indexed)
        return 0
    if not indexed.repositories:
        print("nothing indexed yet: repochat index SOURCE")
    for v in indexed.repositories:
        print(_repository_line(v))
        sync = _sync_line(v.sync)
        if sync:
            print(f"  {sync}")
        if v.sync.last_error:
            print(f"  last error: {v.sync.last_error}")
    return 0


def _repository_line(view: RepositoryView) -> str:
    """`id @ ref  [collection]  at commit, counts`, and whether a search naming no ref reads this ref."""
    ref = view.ref if view.ref is not None else "default branch"
    default = "  (searched by default)" if view.searched_by_default else ""
    counts = f"{view.files} files, {view.chunks} chunks"
    return f"{view.id} @ {ref}  [{view.collection}]  at {view.commit[:SHORT_SHA]}, {counts}{default}"


def _sync_line(sync: SyncView) -> str:
    """`last sync ...; syncing now ...; next sync ...`, of what is known."""
    parts = []
    if sync.last_result is not None:
        failures = f" ({sync.consecutive_failures} in a row)" if sync.consecutive_failures > 1 else ""
        parts.append(f"last sync {sync.last_sync_at}: {sync.last_result.value}{failures}")
    if sync.syncing_job_id:
        parts.append(f"syncing now (job {sync.syncing_job_id})")
    if sync.next_sync_at:
        parts.append(f"next sync {sync.next_sync_at}")
    return "; ".join(parts)


async def _forget(container: Container, args: argparse.Namespace) -> int:
    forgotten = await container.forget_repository().execute(args.repository, args.collection, args.ref)
    for entry in forgotten:
        print(f"forgot {entry.manifest.repository} at {ref_label(entry.manifest.ref)} in collection {entry.collection}")
    return 0


async def _eval(container: Container, args: argparse.Namespace) -> int:
    cases = read_cases(Path(args.qa_file))
    report = await container.evaluate().execute(cases, args.collection, args.k)
    _print_json(EvaluationView.of(report))
    return 0


async def _keys(container: Container, args: argparse.Namespace) -> int:
    try:
        return await _key_command(container, args)
    except DataDirBusy as e:
        raise DataDirBusy(f"{e.message} Keys too: POST, GET and DELETE /v1/keys with an admin key.") from e


async def _key_command(container: Container, args: argparse.Namespace) -> int:
    """`keys create` prints the key alone on stdout (`KEY=$(repochat keys create ...)`), and what it is on stderr."""
    if args.keys_command == "create":
        scope = Scope(tuple(args.collection or ()), tuple(args.repository or ()))
        created = CreatedKey.created(await container.create_key().execute(args.name, Role(args.role), scope))
        if args.json:
            _print_json(created)
            return 0
        print(created.key)
        print(
            f"created the {created.role} key {created.name!r} for {created.scope_text()}; it is shown only this "
            "once: store it now (`repochat keys revoke` ends it)",
            file=sys.stderr,
        )
    elif args.keys_command == "revoke":
        await container.revoke_key().execute(args.name)
        print(f"revoked the key {args.name!r}: every server refuses it within REPOCHAT_KEY_CACHE_SECONDS")
    else:
        keys = KeyList.of(await container.list_keys().execute())
        if args.json:
            _print_json(keys)
        for key in [] if args.json else keys.keys:
            print(f"{key.name}  {key.role.value:5}  {key.scope_text()}  created {key.created_at}")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from entrypoints.http.app import create_app
    from entrypoints.http.protocol import BoundedHttpProtocol

    container = Container(settings=settings, process_name="repochat serve")
    app = create_app(container)  # its own request log names each caller: uvicorn's access log would repeat it
    _freeze_start_up()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False, http=BoundedHttpProtocol)
    return 0


def _freeze_start_up() -> None:
    """Put what the imports and the app's construction made (modules, classes, routes) out of the garbage
    collector's sight for good.

    A full collection otherwise walks all of it with the event loop waiting: during a keyword-index
    catch-up, which makes objects by the hundred thousand, the longest pause was 50-80 ms, 7 ms frozen."""
    gc.collect()
    gc.freeze()


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker import run_worker

    return run_worker(settings, slots=args.slots, name=args.name)


def read_cases(path: Path) -> list[EvalCase]:
    """The question file `repochat eval` reads (JSON Lines of {"question", "gold"}); benchmarks read it too."""
    if not path.is_file():
        raise InvalidInput(f"evaluation file {path} does not exist")
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            cases.append(EvalCase(str(data["question"]), tuple(str(g) for g in data["gold"])))
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidInput(f'{path}:{number}: expected {{"question": ..., "gold": [path, ...]}}') from e
    return cases


class _ProgressLine:
    """One self-rewriting status line on a terminal; stage changes as plain lines otherwise."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._tty = sys.stderr.isatty()
        self._last = ""

    def show(self, job: Job) -> None:
        if not self._enabled:
            return
        p = job.progress
        counts = f"  {p.files_done}/{p.files_total} files  {p.chunks_written} chunks" if p.files_total else ""
        line = f"{job.stage}{counts}"
        if self._tty:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
        elif job.stage != self._last:
            print(line, file=sys.stderr, flush=True)
        self._last = job.stage

    def close(self) -> None:
        if self._enabled and self._tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _print_outcome(job: Job) -> None:
    if job.state is not JobState.SUCCEEDED or job.result is None:
        print(f"job {job.id} {job.state.value}: {job.error or job.stage}", file=sys.stderr)
        return
    r = job.result
    print(
        f"indexed {_job_name(job)}: {r.files_indexed} files indexed, {r.files_unchanged} unchanged, "
        f"{r.files_deleted} deleted, {r.files_skipped} skipped; {r.chunks_written} chunks written, "
        f"{r.chunks_deleted} deleted, {r.embedding_calls} embedding calls, {r.chunks_reused} vectors reused"
    )


def _print_job_line(job: Job) -> None:
    p = job.progress
    print(f"{job.id}  {job.state.value:9}  {job.stage:24}  {p.files_done}/{p.files_total} files  {_job_name(job)}")


def _job_name(job: Job) -> str:
    """`repository`, or `repository @ ref` for a job of a named ref."""
    ref = job.request.source.ref
    return f"{job.repository} @ {ref}" if ref else job.repository


def _print_json(view: BaseModel) -> None:
    print(json.dumps(view.model_dump(mode="json"), indent=2))


COMMANDS: dict[str, Command] = {
    "index": _index,
    "search": _search,
    "ask": _ask,
    "jobs": _jobs,
    "repos": _repos,
    "forget": _forget,
    "eval": _eval,
    "keys": _keys,
}
