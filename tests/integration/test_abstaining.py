"""Abstaining over HTTP: `repochat serve` with the offline model, on a few real pages of FastAPI's docs.

An unrelated question finds only weak passages (best similarity under the local model's
threshold), so every surface says nothing relevant was found instead of quoting them; a
question the pages answer is answered as before, with the passages it quotes marked used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.settings import ABSTAIN_BELOW_BY_EMBEDDINGS
from tests.integration.helpers import ApiServer, repochat_env, sse_events

THRESHOLD = ABSTAIN_BELOW_BY_EMBEDDINGS["local"]
ON_TOPIC = "How do I make a query parameter optional?"
OFF_TOPIC = "How long should I proof sourdough bread dough in the fridge overnight?"


@pytest.fixture(scope="module")
def server(corpus: Path, local_roots: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The server on the default settings but for the offline model, with three tutorial pages indexed."""
    folder = tmp_path_factory.mktemp("abstaining")
    env = repochat_env(folder / "data", REPOCHAT_EMBEDDINGS="local", REPOCHAT_LOCAL_ROOTS=local_roots)
    api = ApiServer(env, folder / "serve.log")
    try:
        api.wait_ready("/readyz")
        body = {"source": str(corpus / "tutorial"), "include": ["query-params*.md", "path-params.md"]}
        accepted = api.client.post("/v1/repositories", json=body)
        assert accepted.status_code == 202, accepted.text
        job = api.wait_for_job(accepted.json()["job_id"], timeout=300)
        assert job["state"] == "succeeded", f"{job}\n{api.output()}"
        yield api
    finally:
        api.close()


def ask(server: ApiServer, question: str, **body: object) -> dict[str, object]:
    response = server.client.post("/v1/ask", json={"question": question, **body})
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_a_question_the_pages_answer_is_answered_with_the_quoted_passages_used(server: ApiServer) -> None:
    answer = ask(server, ON_TOPIC)

    assert answer["abstained"] is False and answer["search_query"] == ON_TOPIC
    citations = answer["citations"]
    assert isinstance(citations, list) and len(citations) == 5
    assert max(c["similarity"] or -1 for c in citations) >= THRESHOLD  # None: a hit of the keyword leg alone
    assert [c["used"] for c in citations] == [True, True, True, False, False]  # the extractive answer quotes three
    assert citations[0]["path"] in str(answer["answer"])


def test_an_unrelated_question_abstains_naming_the_collection_with_its_weak_passages_unused(server: ApiServer) -> None:
    answer = ask(server, OFF_TOPIC)

    assert answer["abstained"] is True and answer["generated"] is False
    assert "nothing relevant" in str(answer["answer"]) and "collection default" in str(answer["answer"])
    citations = answer["citations"]
    assert isinstance(citations, list) and citations  # the candidates, none good enough
    assert all((c["similarity"] or -1) < THRESHOLD and c["used"] is False for c in citations)
    assert not any(c["path"] in str(answer["answer"]) for c in citations)  # nothing quoted from them


def test_an_unrelated_question_about_one_repository_names_it(server: ApiServer) -> None:
    [repository] = server.client.get("/v1/repositories").json()["repositories"]

    answer = ask(server, OFF_TOPIC, filters={"repository": repository["id"]})

    assert answer["abstained"] is True and f"the repository {repository['id']}" in str(answer["answer"])


def test_a_streamed_answer_and_a_chat_completion_abstain_alike(server: ApiServer) -> None:
    whole = ask(server, OFF_TOPIC)

    streamed = server.client.post("/v1/ask", json={"question": OFF_TOPIC, "stream": True})
    chat = server.client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": OFF_TOPIC}]})

    events = sse_events(streamed.text)
    assert [name for name, _ in events] == ["token", "citations", "done"]
    assert events[0][1]["text"] == whole["answer"]
    assert events[1][1]["abstained"] is True and events[1][1]["citations"] == whole["citations"]
    completion = chat.json()
    assert completion["abstained"] is True
    assert completion["choices"][0]["message"]["content"] == whole["answer"]  # no Sources list of weak passages
