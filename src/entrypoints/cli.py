"""The `repochat` command line: its arguments and exit codes.

The arguments are parsed before anything heavy is imported (Chroma, FastAPI, the container, the
model runtime), so `repochat --help` and a mistyped command answer at once; the commands
themselves are `entrypoints/cli_commands.py`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from domain.collections import DEFAULT_COLLECTION
from domain.errors import (
    AccessDenied,
    Conflict,
    DataDirBusy,
    InvalidInput,
    NotAllowed,
    NotFound,
    RateLimited,
    RepochatError,
    StorageFull,
    UpstreamUnavailable,
)
from domain.retrieval import RetrievalMode

EXIT_CODES: dict[type[RepochatError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    Conflict: 4,
    DataDirBusy: 4,
    AccessDenied: 6,
    NotAllowed: 6,
    RateLimited: 7,
    UpstreamUnavailable: 7,
    StorageFull: 8,
}
MODE_OPTION: dict[str, Any] = {
    "type": RetrievalMode,
    "choices": list(RetrievalMode),
    "help": "how to rank passages (default: REPOCHAT_RETRIEVAL, hybrid unless set)",
}
REPOSITORY_HELP = "only this repository (an id `repochat repos` shows)"
REF_HELP = (
    "search each repository at this branch, tag or commit SHA, as `repochat repos` lists them "
    "(HEAD: the default branch); without it, each repository at its default branch, else at its ref indexed last"
)


def main(argv: list[str] | None = None) -> None:
    args = argument_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command in ("serve", "worker") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    sys.exit(run(args))


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "mcp":
            from entrypoints.mcp_server import run_stdio  # answers `initialize` before the container is imported

            return run_stdio()
        from entrypoints.cli_commands import run_command  # the heavy imports, once the arguments are known

        return run_command(args)
    except RepochatError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return next((code for cls, code in EXIT_CODES.items() if isinstance(e, cls)), 1)
    except KeyboardInterrupt:
        print("interrupted; an unfinished index job resumes on the next start", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`repochat jobs | head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _add_retrieval_arguments(command: argparse.ArgumentParser, text: str) -> None:
    """`search` and `ask`: the text, then what is searched and how."""
    command.add_argument(text)
    command.add_argument("--collection", default=DEFAULT_COLLECTION)
    command.add_argument("-k", type=int, default=5)
    command.add_argument("--repository", help=REPOSITORY_HELP)
    command.add_argument("--ref", help=REF_HELP)
    command.add_argument("--mode", **MODE_OPTION)
    command.add_argument("--json", action="store_true")


def _add_key_commands(keys: argparse.ArgumentParser) -> None:
    commands = keys.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser("create", help="create a key and print it, once")
    create.add_argument("name", help="what logs and `keys list` call the key (a team, a service)")
    create.add_argument(
        "--role",
        required=True,
        choices=["read", "index", "admin"],
        help="read: search, ask, list; index: also index, sync, cancel, forget; admin: everything, and keys",
    )
    create.add_argument(
        "--collection", action="append", metavar="C", help="only this collection (repeatable; default: every one)"
    )
    create.add_argument(
        "--repository",
        action="append",
        metavar="GLOB",
        help="only repositories whose id matches, like 'acme/*' (repeatable; default: every one)",
    )
    create.add_argument("--json", action="store_true", help="print the key and what it may do as JSON")
    listing = commands.add_parser("list", help="the keys: name, role, scope, created (never the key)")
    listing.add_argument("--json", action="store_true")
    revoke = commands.add_parser("revoke", help="revoke a key: every server refuses it within seconds")
    revoke.add_argument("name")


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repochat", description="Chat with the docs and code of repositories.")
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="index a GitHub repository or a local folder")
    index.add_argument("source", help="owner/repo, github:owner/repo@ref, a GitHub URL, or a folder")
    index.add_argument("--collection", default=DEFAULT_COLLECTION)
    index.add_argument(
        "--ref",
        help="branch, tag or commit SHA to index, beside the refs of the repository already indexed "
        "(default: the default branch)",
    )
    index.add_argument("--include", action="append", metavar="GLOB", help="only index matching paths (repeatable)")
    index.add_argument("--exclude", action="append", metavar="GLOB", help="skip matching paths (repeatable)")
    index.add_argument("--no-wait", action="store_true", help="queue the job and return")
    index.add_argument("--json", action="store_true", help="print the finished job as JSON")

    _add_retrieval_arguments(sub.add_parser("search", help="search indexed passages"), "query")
    _add_retrieval_arguments(sub.add_parser("ask", help="answer a question with citations"), "question")

    jobs = sub.add_parser("jobs", help="list index jobs, or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--json", action="store_true")

    repos = sub.add_parser(
        "repos", help="list indexed repositories: each ref with its commit, marking the one searched by default"
    )
    repos.add_argument("--json", action="store_true", help="print them as GET /v1/repositories answers")

    forget = sub.add_parser("forget", help="remove a repository (every ref, or one) from the index")
    forget.add_argument("repository", help="the repository id shown by `repochat repos`")
    forget.add_argument("--collection", help="only from this collection")
    forget.add_argument(
        "--ref",
        help="forget only this branch, tag or commit SHA (HEAD: the default branch), keeping the other refs; "
        "without it, every ref",
    )

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    worker = sub.add_parser("worker", help="run index jobs from Hatchet (REPOCHAT_JOB_QUEUE=hatchet)")
    worker.add_argument("--slots", type=int, default=8, help="tasks run at once (default 8)")
    worker.add_argument("--name", default="repochat-worker", help="the worker's name in Hatchet")

    _add_key_commands(sub.add_parser("keys", help="create, list and revoke the API keys of a server"))

    sub.add_parser("mcp", help="serve the MCP tools over stdio, for a coding agent's local configuration")

    evaluate = sub.add_parser("eval", help="measure retrieval hit@k and MRR on a JSONL file")
    evaluate.add_argument("qa_file", metavar="QA.jsonl")
    evaluate.add_argument("--collection", default=DEFAULT_COLLECTION)
    evaluate.add_argument("-k", type=int, default=5)
    return parser


if __name__ == "__main__":
    main()
