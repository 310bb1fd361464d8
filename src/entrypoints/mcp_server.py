"""The MCP server: repochat as the documentation tool of coding agents.

One `MCPServer` (the official `mcp` SDK) with the same tools on both transports:
`repochat mcp` serves it over stdio, and `repochat serve` mounts it at `/mcp` as streamable
HTTP behind the API keys of `/v1`. Over HTTP each tool acts as the caller the request's key
names (left in the request's state by the HTTP edge); over stdio, as the local user, who may do
everything. Tools call the same use cases as the HTTP API (so they refuse the same input,
`domain.limits`, and show the same repositories) and answer Markdown cut to a token budget
(`mcp_markdown`). A domain error becomes a tool error whose text is the error's sentence;
nothing else of the exception reaches the client.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from application.answering import AskRequest
from application.reading import ReadFileRequest
from application.search import SearchRequest
from domain.access import LOCAL_USER, Caller
from domain.answers import ChatTurn, Citation
from domain.collections import DEFAULT_COLLECTION
from domain.errors import DataDirBusy, RepochatError
from domain.jobs import IndexRequest
from domain.limits import MAX_K
from domain.retrieval import RetrievalMode
from entrypoints import mcp_markdown as md
from entrypoints.http.caller_state import caller_in
from entrypoints.mcp_tools import RepochatTools
from entrypoints.settings import Settings, load_settings
from entrypoints.source_input import source_spec

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "repochat answers from the documentation and code of indexed repositories, citing exact lines "
    "pinned to a commit. Find the repository with `resolve_repository` (or `list_repositories`), then "
    "`search_docs` for passages or `ask` for an answer; widen a cited passage with `read_file`."
)

Budget = Annotated[
    int,
    Field(
        ge=md.MIN_TOKEN_BUDGET,
        le=md.MAX_TOKEN_BUDGET,
        description="Upper bound on the size of the answer, in tokens (about 4 characters each).",
    ),
]
Repository = Annotated[
    str | None,
    Field(description="A repository id from `resolve_repository`/`list_repositories`; omit to search all."),
]
Collection = Annotated[str, Field(description="The collection to use; most deployments have only `default`.")]
Ref = Annotated[
    str | None,
    Field(
        description="Branch, tag or commit SHA, as `list_repositories` shows the refs indexed; omit for each "
        "repository's default branch, else its ref indexed last."
    ),
]
Mode = Annotated[
    RetrievalMode | None,
    Field(description="How to rank passages: hybrid (meaning and exact words), dense, keyword; omit for the default."),
]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


@contextmanager
def _tool_errors() -> Iterator[None]:
    """Domain errors as tool errors whose text is the error's sentence (no traceback, no class name)."""
    try:
        yield
    except DataDirBusy as e:
        raise ToolError(
            f"{e.message} For MCP, add repochat to your client as the server's streamable HTTP endpoint "
            "(http://127.0.0.1:8000/mcp for a default `repochat serve`) instead of `repochat mcp`."
        ) from None
    except RepochatError as e:
        raise ToolError(e.message) from None


def caller_of(ctx: Context) -> Caller:
    """The caller a tool acts for: over HTTP, the request's (refused when the edge left none: fail closed);
    over stdio, where there is no request, the local user."""
    request = ctx.request_context.request
    if request is None:
        return LOCAL_USER
    caller = caller_in(request.scope)
    if caller is None:
        raise ToolError("this request was not identified: send the server's API key")
    return caller


def create_mcp_server(tools: RepochatTools, *, read_only: bool = False) -> MCPServer:
    """The server with every tool; `read_only` leaves out the two that start or follow index jobs."""

    async def opened() -> RepochatTools:
        return tools

    return _server(opened, read_only)


def _server(opened: Callable[[], Awaitable[RepochatTools]], read_only: bool) -> MCPServer:
    """The server, its tools taken from `opened` as each call starts (over stdio, they may still be opening)."""
    server: MCPServer = MCPServer(name="repochat", instructions=INSTRUCTIONS)
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=reading)
    async def list_repositories(ctx: Context) -> str:
        """List every indexed repository, one row per indexed ref: its id, collection, ref, commit, whether a
        search naming no ref reads it, number of files, when it was indexed, and how its last sync went and
        when the next one is."""
        with _tool_errors():
            return md.repositories(await (await opened()).list_repositories().execute(caller=caller_of(ctx)))

    @server.tool(annotations=reading)
    async def resolve_repository(
        name: Annotated[str, Field(description="A loose name: 'fastapi', 'tiangolo/fastapi', 'hatchet python sdk'.")],
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=20, description="How many matches to return at most.")] = 5,
    ) -> str:
        """Find the indexed repositories a loose library or project name refers to, best match first, with
        the refs each has indexed. Call this before search_docs, read_file or ask to get the repository id
        (and a ref) to pass them."""
        with _tool_errors():
            return md.matches(await (await opened()).resolve_repository().execute(name, limit, caller_of(ctx)), name)

    @server.tool(annotations=reading)
    async def search_docs(
        query: Annotated[str, Field(min_length=1, description="What to look for: words, an identifier, an error.")],
        ctx: Context,
        repository: Repository = None,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages to return at most.")] = 5,
        collection: Collection = DEFAULT_COLLECTION,
        mode: Mode = None,
        ref: Ref = None,
        max_tokens: Budget = md.DEFAULT_TOKEN_BUDGET,
    ) -> str:
        """Search the indexed documentation and code. Returns passages with their file, line range,
        commit permalink and score, best first."""
        request = SearchRequest(query, k, collection, repository, mode, ref=ref, caller=caller_of(ctx))
        with _tool_errors():
            found = await (await opened()).search().execute(request)
        return md.passages([Citation.of(hit) for hit in found.hits], max_tokens)

    @server.tool(annotations=reading)
    async def read_file(
        repository: Annotated[str, Field(description="The repository id, as search_docs and list_repositories show.")],
        path: Annotated[str, Field(description="The file's path in the repository, as search_docs shows it.")],
        ctx: Context,
        start_line: Annotated[int, Field(ge=1, description="First line to read (1-based).")] = 1,
        end_line: Annotated[int | None, Field(ge=1, description="Last line to read; omit for the end.")] = None,
        collection: Annotated[str | None, Field(description="Omit unless the repository is in several.")] = None,
        ref: Ref = None,
        max_tokens: Budget = md.DEFAULT_TOKEN_BUDGET,
    ) -> str:
        """Read lines of a file exactly as it was indexed (the commit search_docs cites), for example
        to widen a passage: pass the start and end line of a citation to get exactly its lines, and the
        ref it was searched at."""
        request = ReadFileRequest(repository, path, start_line, end_line, collection, ref, caller_of(ctx))
        with _tool_errors():
            return md.excerpt(await (await opened()).read_file().execute(request), max_tokens)

    @server.tool(annotations=reading)
    async def ask(
        question: Annotated[str, Field(min_length=1, description="The question, in the user's words.")],
        ctx: Context,
        repository: Repository = None,
        history: Annotated[
            list[Turn] | None, Field(description="Earlier turns of this conversation, oldest first.")
        ] = None,
        collection: Collection = DEFAULT_COLLECTION,
        mode: Mode = None,
        ref: Ref = None,
        max_tokens: Budget = md.DEFAULT_TOKEN_BUDGET,
    ) -> str:
        """Answer a question from the indexed documentation, citing its sources as [n] with permalinks.
        Without a language model configured the answer quotes the best passages and says so. When
        nothing relevant is indexed it says so instead of answering."""
        turns = tuple(ChatTurn(t.role, t.content) for t in history or ())
        caller = caller_of(ctx)
        request = AskRequest(question, turns, collection, repository=repository, mode=mode, ref=ref, caller=caller)
        with _tool_errors():
            return md.answer(await (await opened()).answer_question().execute(request), max_tokens)

    if read_only:
        return server

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True))
    async def index_repository(
        source: Annotated[
            str, Field(min_length=1, description="owner/repo, github:owner/repo@ref or https://github.com/owner/repo.")
        ],
        ctx: Context,
        ref: Annotated[
            str | None,
            Field(
                description="Branch, tag or commit SHA, indexed beside the refs already indexed; "
                "omit for the default branch."
            ),
        ] = None,
        collection: Collection = DEFAULT_COLLECTION,
    ) -> str:
        """Index (or re-sync) a repository so it can be searched. Returns a job; follow it with job_status.
        A repository already being indexed returns its running job instead of a second one."""
        with _tool_errors():
            tools = await opened()
            spec = source_spec(source, ref, local=tools.local_folders)
            return md.job(await tools.submit_index_job().execute(IndexRequest(spec, collection), caller_of(ctx)))

    @server.tool(annotations=reading)
    async def job_status(
        job_id: Annotated[str, Field(min_length=1, description="The id index_repository gave.")],
        ctx: Context,
    ) -> str:
        """The state, stage and progress of an index job, and its result or error once finished."""
        with _tool_errors():
            return md.job(await (await opened()).get_job().execute(job_id, caller_of(ctx)))

    return server


def run_stdio() -> int:
    """`repochat mcp`: the server over stdin/stdout (see `serve_stdio`)."""
    asyncio.run(serve_stdio(load_settings()))
    return 0


async def serve_stdio(settings: Settings) -> None:
    """The server over stdin/stdout, answering at once: the container (Chroma, the model, the keyword index)
    is imported and opened beside it, and a tool called before it is open waits for it.

    It runs index jobs itself, like `repochat index`, when it can own the data folder. When
    `repochat serve` owns it, the server still starts, and every tool that needs the folder
    answers with what to do instead (use the server's /mcp endpoint).
    """
    async with AsyncExitStack() as stack:
        opening = asyncio.create_task(_opened_container(settings, stack))

        async def opened() -> RepochatTools:
            return await asyncio.shield(opening)

        try:
            await _server(opened, settings.mcp_read_only).run_stdio_async()
        finally:
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)


async def _opened_container(settings: Settings, stack: AsyncExitStack) -> RepochatTools:
    """The container's tools, once it is imported (in a thread: it takes seconds) and open until `stack` closes."""
    container_module = await asyncio.to_thread(importlib.import_module, "entrypoints.container")
    container = container_module.Container(settings=settings, process_name="repochat mcp")
    try:
        await stack.enter_async_context(container_module.running(container, run_jobs=True))
    except DataDirBusy as e:
        log.warning("%s", e.message)
        await stack.enter_async_context(container_module.running(container))
    tools: RepochatTools = container.mcp_tools()
    return tools
