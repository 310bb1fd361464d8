"""Checked citations through `repochat serve`: the OpenAI-shaped test server answers with a correct, a
misplaced (right fact, wrong [n]) and an invented ([9]) citation over the passages it was given, and
/v1/ask (whole and streamed), chat completions and REPOCHAT_UNSUPPORTED_CITATIONS=drop say so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fake_openai import FakeOpenAI
from tests.integration.helpers import ApiServer, repochat_env, sse_events

KEY = "sk-test-citations-0123456789"
FILES = {
    "docs/config.md": "# Configuration\n\nThe timeout option defaults to None, so the client waits forever.\n",
    "docs/install.md": "# Install\n\nInstall widgets with pip install widgets, then run widgets-setup --port 8080.\n",
    "src/widgets/client.py": 'def connect(timeout=None):\n    """Reads the timeout option when it connects."""\n',
}
QUESTION = "How do I install widgets and what is the timeout default?"


def numbers_of(body: dict[str, Any]) -> dict[str, int]:
    """The passage numbers repochat's prompt gives each file: `[n] repository:path lines a-b`."""
    prompt = "\n".join(str(m["content"]) for m in body["messages"])
    return {path: int(n) for n, path in re.findall(r"^\[(\d+)\] \S+:(\S+) lines", prompt, re.MULTILINE)}


def correct_misplaced_invented(body: dict[str, Any]) -> str:
    """A reply citing the install fact to its passage, the port (also an install fact) to the client's, and [9]."""
    numbers = numbers_of(body)
    install, client = numbers["docs/install.md"], numbers["src/widgets/client.py"]
    return (
        f"Install it with `pip install widgets` [{install}]. "
        f"The setup listens on port 8080 [{client}]. It also retries forever [9]."
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, reply=correct_misplaced_invented, dimensions=64) as server:
        yield server


@pytest.fixture(scope="module")
def widgets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("citations")
    for relative, text in FILES.items():
        (root / "widgets" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "widgets" / relative).write_text(text)
    return root


def started(fake: FakeOpenAI, root: Path, data: str, **extra: str) -> ApiServer:
    env = repochat_env(root / data, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=fake.base_url, REPOCHAT_EMBEDDINGS="openai",
                       REPOCHAT_LOCAL_ROOTS=str(root), **extra)  # fmt: skip
    api = ApiServer(env, root / f"{data}.log", cwd=root)
    api.wait_ready("/readyz")
    accepted = api.client.post("/v1/repositories", json={"source": str(root / "widgets")})
    assert accepted.status_code == 202, accepted.text
    assert api.wait_for_job(accepted.json()["job_id"], timeout=60)["state"] == "succeeded", api.output()
    return api


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, widgets: Path) -> Iterator[ApiServer]:
    api = started(fake, widgets, "flag")
    try:
        yield api
    finally:
        api.close()


def ask(server: ApiServer, **extra: Any) -> Any:
    response = server.client.post("/v1/ask", json={"question": QUESTION, "k": 5} | extra)
    assert response.status_code == 200, response.text
    return response


def by_path(citations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for c in citations}


def test_misplaced_and_invented_citations_are_flagged_with_their_reasons(server: ApiServer) -> None:
    answer = ask(server).json()

    cited = by_path(answer["citations"])
    assert (cited["docs/install.md"]["supported"], cited["docs/install.md"]["used"]) == (True, True)
    client = cited["src/widgets/client.py"]
    assert client["supported"] is False and client["used"] is True
    assert re.fullmatch(r"8080 is not in \[\d\]", client["reason"])
    assert answer["citation_check"] == {"cited": 3, "supported": 1, "unsupported": 2, "invented": [9]}
    assert "[9]" in answer["answer"]  # flag keeps the text as the model wrote it


def test_the_streamed_answer_carries_the_same_check_in_its_citations_event(server: ApiServer) -> None:
    events = sse_events(ask(server, stream=True).text)

    [checked] = [data for name, data in events if name == "citations"]
    assert checked["citation_check"] == {"cited": 3, "supported": 1, "unsupported": 2, "invented": [9]}
    assert by_path(checked["citations"])["src/widgets/client.py"]["supported"] is False


def test_chat_completions_say_which_sources_are_unsupported_in_the_text(server: ApiServer) -> None:
    body = {"model": "repochat", "messages": [{"role": "user", "content": QUESTION}]}
    completion = server.client.post("/v1/chat/completions", json=body).json()

    text = completion["choices"][0]["message"]["content"]
    sources = text.split("\n\nSources:\n", 1)[1].splitlines()
    assert any(re.search(r"install\.md#L\d+-L\d+$", line) for line in sources)
    assert any(re.search(r"client\.py#L\d+-L\d+ \(unsupported: 8080 is not in \[\d\]\)$", line) for line in sources)
    assert sources[-1] == "[9] (unsupported: [9] is not a passage of this answer)"
    assert completion["citation_check"]["unsupported"] == 2


def test_drop_removes_the_unsupported_markers_from_the_answer(fake: FakeOpenAI, widgets: Path) -> None:
    api = started(fake, widgets, "drop", REPOCHAT_UNSUPPORTED_CITATIONS="drop")
    try:
        whole = ask(api).json()
        streamed = sse_events(ask(api, stream=True).text)
    finally:
        api.close()

    assert re.fullmatch(
        r"Install it with `pip install widgets` \[\d\]\. The setup listens on port 8080\. It also retries forever\.",
        whole["answer"],
    )
    assert by_path(whole["citations"])["src/widgets/client.py"]["used"] is False
    tokens = [data["text"] for name, data in streamed if name == "token"]
    assert tokens == [whole["answer"]]  # held until checked, then sent whole
