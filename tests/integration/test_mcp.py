"""The MCP server driven by the official SDK's client: `repochat mcp` over stdio, and `/mcp` of
`repochat serve` over streamable HTTP, against FastAPI's docs and a repository served by the
GitHub-shaped test server."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.integration.fake_github import FakeGitHub, GitRepo
from tests.integration.helpers import ServeFactory, repochat, repochat_command, repochat_env

ALL_TOOLS = {
    "list_repositories",
    "resolve_repository",
    "search_docs",
    "read_file",
    "ask",
    "index_repository",
    "job_status",
}
SETUP = "# Setup\n\nInstall the widget with pip.\n\nThen call configure_widget() once,\nbefore any request.\n"
PASSAGE = re.compile(r"^### \[(\d+)\] (\S+): `([^`]+)` lines (\d+)-(\d+)", re.MULTILINE)
API_KEY = "mcp-test-key-0123"


@dataclass
class Indexed:
    env: dict[str, str]
    corpus: Path
    corpus_id: str
    gh: FakeGitHub
    widgets: GitRepo


@pytest.fixture
def indexed(tmp_path: Path, corpus: Path) -> Iterator[Indexed]:
    """A data folder holding FastAPI's docs (indexed by the CLI) and a GitHub repository to index later."""
    with FakeGitHub(tmp_path / "git") as gh:
        widgets = gh.create_repo("acme", "widgets", {"README.md": "# Widgets\n\nA library.\n", "docs/setup.md": SETUP})
        env = repochat_env(tmp_path / "data", REPOCHAT_GITHUB_API_URL=gh.api_url)
        done = repochat("index", str(corpus), "--json", env=env)
        assert done.returncode == 0, done.stderr
        yield Indexed(env, corpus, json.loads(done.stdout)["repository"], gh, widgets)


def text_of(result: Any) -> str:
    return "\n".join(part.text for part in result.content if getattr(part, "text", None))


def fenced_block(markdown: str) -> str:
    """The content of the first code block."""
    match = re.search(r"^(`{3,})\n(.*?)\n\1$", markdown, re.MULTILINE | re.DOTALL)
    assert match, markdown
    return match.group(2)


async def call(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def call_fails(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text_of(result)
    message = text_of(result)
    assert "Traceback" not in message and 'File "' not in message
    return message


async def index_and_wait(client: Client, **arguments: Any) -> None:
    """Call index_repository, then job_status until the job finished; it must have succeeded."""
    queued = await call(client, "index_repository", **arguments)
    job_id = re.search(r"Job `([^`]+)`", queued)
    assert job_id, queued
    status = ""
    for _ in range(600):
        status = await call(client, "job_status", job_id=job_id.group(1))
        if "**succeeded**" in status or "**failed**" in status:
            break
        await asyncio.sleep(0.1)
    assert "**succeeded**" in status, status


async def exercise_every_tool(client: Client, setup: Indexed) -> None:
    """List the tools and call each one, with good and bad arguments, as an agent would."""
    listed = await client.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == ALL_TOOLS
    assert all(tool.description and tool.input_schema["type"] == "object" for tool in tools.values())
    assert tools["search_docs"].input_schema["required"] == ["query"]

    assert setup.corpus_id in await call(client, "list_repositories")
    resolved = await call(client, "resolve_repository", name="fastapi docs")
    assert resolved.index(setup.corpus_id) < len(resolved)
    assert "No indexed repository matches" in await call(client, "resolve_repository", name="kubernetes")

    found = await call(client, "search_docs", query="declare an optional query parameter", repository=setup.corpus_id)
    number, repository, path, start, end = PASSAGE.findall(found)[0]
    assert repository == setup.corpus_id and number == "1"
    excerpt = await call(
        client, "read_file", repository=repository, path=path, start_line=int(start), end_line=int(end)
    )
    lines = (setup.corpus / path).read_text().splitlines()
    assert fenced_block(excerpt) == "\n".join(lines[int(start) - 1 : int(end)])
    assert f"#L{start}-L{end}" in excerpt

    small = await call(client, "search_docs", query="query parameters", k=20, max_tokens=300)
    assert len(small) <= 300 * 4 and "left out to stay within max_tokens" in small

    answer = await call(client, "ask", question="How do I declare an optional query parameter?")
    assert "Extractive answer" in answer and "**Sources**" in answer and "file://" in answer
    follow_up = await call(
        client,
        "ask",
        question="And a required one?",
        history=[{"role": "user", "content": "query parameters"}, {"role": "assistant", "content": "[1]"}],
    )
    assert "**Sources**" in follow_up

    await index_and_wait(client, source="acme/widgets")
    widget = await call(client, "search_docs", query="configure_widget", repository="acme/widgets", k=1)
    _, repository, path, start, end = PASSAGE.findall(widget)[0]
    head = setup.widgets.head()
    assert f"https://github.com/acme/widgets/blob/{head}/docs/setup.md#L{start}-L{end}" in widget
    github_excerpt = await call(client, "read_file", repository=repository, path=path, start_line=int(start))
    assert fenced_block(github_excerpt) == "\n".join(SETUP.splitlines()[int(start) - 1 :])

    assert "not indexed" in await call_fails(client, "read_file", repository="nobody/nothing", path="README.md")
    assert "not a file indexed" in await call_fails(client, "read_file", repository=repository, path="nope.md")
    assert "k" in await call_fails(client, "search_docs", query="x", k=0)
    assert "query" in await call_fails(client, "search_docs", query="")
    assert "accepted forms" in await call_fails(client, "index_repository", source="https://gitlab.com/a/b")
    assert "no job" in (await call_fails(client, "job_status", job_id="no-such-job")).lower()


async def test_stdio_session_lists_and_calls_every_tool(indexed: Indexed) -> None:
    server = StdioServerParameters(command=repochat_command(), args=["mcp"], env=indexed.env)
    async with Client(server, read_timeout_seconds=120) as client:
        await exercise_every_tool(client, indexed)


async def test_http_session_needs_the_api_key_and_calls_every_tool(indexed: Indexed, serve: ServeFactory) -> None:
    api = serve(Path(indexed.env["REPOCHAT_DATA_DIR"]), REPOCHAT_GITHUB_API_URL=indexed.gh.api_url,
                REPOCHAT_API_KEYS=API_KEY)  # fmt: skip
    refused = api.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    wrong = api.client.post("/mcp", json={}, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    with pytest.raises(ExceptionGroup) as refused_session:
        async with Client(f"{api.url}/mcp") as client:
            await client.list_tools()
    assert refused_session.group_contains(MCPError, depth=None)  # the client's session is refused, not opened

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120) as http:
        async with Client(streamable_http_client(f"{api.url}/mcp", http_client=http)) as client:
            await exercise_every_tool(client, indexed)
        async with Client(streamable_http_client(f"{api.url}/mcp", http_client=http), mode="legacy") as client:
            assert indexed.corpus_id in await call(client, "list_repositories")


async def test_a_read_only_deployment_offers_no_indexing_tools(indexed: Indexed, serve: ServeFactory) -> None:
    api = serve(Path(indexed.env["REPOCHAT_DATA_DIR"]), REPOCHAT_MCP_READ_ONLY="true")
    async with Client(f"{api.url}/mcp") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == ALL_TOOLS - {"index_repository", "job_status"}
        assert indexed.corpus_id in await call(client, "list_repositories")


async def test_stdio_beside_a_running_server_says_to_use_its_http_endpoint(
    indexed: Indexed, serve: ServeFactory
) -> None:
    serve(Path(indexed.env["REPOCHAT_DATA_DIR"]))
    server = StdioServerParameters(command=repochat_command(), args=["mcp"], env=indexed.env)
    async with Client(server, read_timeout_seconds=60) as client:
        message = await call_fails(client, "search_docs", query="optional query parameter")
        assert "is in use by repochat serve" in message and "/mcp" in message


async def test_the_tools_take_a_ref_and_show_the_refs_indexed(tmp_path: Path) -> None:
    with FakeGitHub(tmp_path / "git") as gh:
        widgets = gh.create_repo("acme", "widgets", {"docs/setup.md": "# Setup\n\nInstall with easy_install.\n"})
        widgets.tag("v1")
        head = widgets.commit("v2", {"docs/setup.md": SETUP})
        old = widgets.head("v1")
        env = repochat_env(tmp_path / "data", REPOCHAT_GITHUB_API_URL=gh.api_url)
        server = StdioServerParameters(command=repochat_command(), args=["mcp"], env=env)
        async with Client(server, read_timeout_seconds=120) as client:
            await index_and_wait(client, source="acme/widgets")
            await index_and_wait(client, source="acme/widgets", ref="v1")

            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            for name in ("search_docs", "ask", "read_file"):
                assert "default branch" in tools[name].input_schema["properties"]["ref"]["description"], name
            listed = await call(client, "list_repositories")
            assert f"| default branch | {head[:12]} | yes |" in listed and f"| v1 | {old[:12]} | no |" in listed
            resolved = await call(client, "resolve_repository", name="widgets")
            assert "refs default branch, v1; searched by default: default branch" in resolved

            found = await call(client, "search_docs", query="install", repository="acme/widgets", ref="v1", k=1)
            assert f"/blob/{old}/docs/setup.md" in found and "easy_install" in found
            assert f"/blob/{head}/docs/setup.md" in await call(client, "search_docs", query="install", k=1)
            read = await call(client, "read_file", repository="acme/widgets", path="docs/setup.md", ref="v1")
            assert fenced_block(read).endswith("Install with easy_install.")
            answer = await call(client, "ask", question="How do I install it?", ref="v1")
            assert f"/blob/{old}/" in answer and f"/blob/{head}/" not in answer
            missing = await call_fails(client, "search_docs", query="install", ref="v9")
            assert "not indexed at v9; indexed: the default branch, v1" in missing


async def test_the_tools_refuse_a_question_over_the_limit_the_http_api_refuses(tmp_path: Path) -> None:
    env = repochat_env(tmp_path / "data", REPOCHAT_MAX_QUESTION_BYTES="1000", REPOCHAT_MAX_HISTORY_BYTES="2000")
    server = StdioServerParameters(command=repochat_command(), args=["mcp"], env=env)
    oversized = "why " * 160_000  # 640 KB
    async with Client(server, read_timeout_seconds=60) as client:
        asked = await call_fails(client, "ask", question=oversized)
        searched = await call_fails(client, "search_docs", query=oversized)
        history = [{"role": "user", "content": "x" * 1500}, {"role": "assistant", "content": "y" * 501}]
        followed = await call_fails(client, "ask", question="and then?", history=history)

    limit = "over the limit of 1000 (REPOCHAT_MAX_QUESTION_BYTES)"  # the SDK puts "Error executing tool ..." first
    assert asked.endswith(f": the question is 640000 bytes, {limit}")
    assert searched.endswith(f": the query is 640000 bytes, {limit}")
    assert followed.endswith(": the history is 2001 bytes, over the limit of 2000 (REPOCHAT_MAX_HISTORY_BYTES)")
