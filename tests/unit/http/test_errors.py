"""Errors over HTTP: each domain error's status, the error body for every failure, the 405's Allow."""

from __future__ import annotations

import json

import httpx
import pytest

from domain.errors import RepochatError
from domain.jobs import Job
from entrypoints.container import Container
from entrypoints.http.errors import error_response
from tests.unit.fakes import RecordingUseCase
from tests.unit.http.helpers import (
    DOMAIN_ERRORS,
    use,
)


@pytest.mark.parametrize(("error", "status"), DOMAIN_ERRORS, ids=[cls.__name__ for cls, _ in DOMAIN_ERRORS])
async def test_each_domain_error_has_its_status_and_the_error_body(
    container: Container, client: httpx.AsyncClient, error: type[RepochatError], status: int
) -> None:
    use(container.get_job, RecordingUseCase[Job](error("what went wrong")))

    response = await client.get("/v1/jobs/job-1")

    assert response.status_code == status
    assert response.json() == {"error": {"code": error.code, "message": "what went wrong"}}


async def test_an_unexpected_error_is_a_500_that_does_not_leak_its_message(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.get_job, RecordingUseCase[Job](RuntimeError("secret detail")))

    response = await client.get("/v1/jobs/job-1")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text


async def test_a_request_that_does_not_match_its_schema_is_a_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", json={"query": "x", "k": 0})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith("k: ")


async def test_a_body_that_is_not_json_is_a_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_an_unknown_route_is_a_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nowhere")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "http_404", "message": "Not Found"}}


async def test_a_method_a_route_does_not_take_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/search", json={"query": "x"})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "http_405"


@pytest.mark.parametrize("path", ["/v1/jobs/job-1", "/v1/repositories/owner/repo"])
async def test_the_405_of_a_path_with_several_routes_allows_the_methods_of_all(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.options(path)

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"


@pytest.mark.parametrize("path", ["/v1/jobs/job-1", "/v1/chat/completions"])
def test_an_error_whose_message_repeats_text_utf_8_cannot_encode_shows_it_escaped(path: str) -> None:
    body = json.loads(error_response("invalid_input", "no ref '\ud800' is indexed", 400, path).body)

    assert body["error"]["message"] == "no ref '\\ud800' is indexed"
