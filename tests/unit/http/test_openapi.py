"""The OpenAPI document tells the truth about every route's bodies, statuses and keys."""

from __future__ import annotations

from typing import Any

import httpx

from domain.collections import COLLECTION_PATTERN
from entrypoints.http.middleware import WEBHOOK_PATH
from tests.unit.http.helpers import ANY_TEXT

V1_ERRORS = ("401", "403", "408", "409", "413", "422", "503", "507")


ERROR_BODIES = {
    ("post", "/v1/repositories"): (*V1_ERRORS, "400"),
    ("get", "/v1/repositories"): (*V1_ERRORS, "400"),
    ("get", "/v1/repositories/{repository}"): (*V1_ERRORS, "404"),
    ("delete", "/v1/repositories/{repository}"): (*V1_ERRORS, "400", "404"),
    ("get", "/v1/jobs"): V1_ERRORS,
    ("get", "/v1/jobs/{job_id}"): (*V1_ERRORS, "404"),
    ("delete", "/v1/jobs/{job_id}"): (*V1_ERRORS, "404"),
    ("post", "/v1/search"): (*V1_ERRORS, "400", "404", "429"),
    ("post", "/v1/ask"): (*V1_ERRORS, "400", "404", "429"),
    ("post", "/v1/chat/completions"): (*V1_ERRORS, "400", "404", "429"),
    ("get", "/v1/models"): V1_ERRORS,
    ("get", "/v1/models/{model}"): (*V1_ERRORS, "404"),
    ("post", "/v1/keys"): (*V1_ERRORS, "400"),
    ("get", "/v1/keys"): V1_ERRORS,
    ("delete", "/v1/keys/{name}"): (*V1_ERRORS, "404"),
    ("get", "/healthz"): (),
    ("get", "/readyz"): (),
    ("get", "/metrics"): (),
    ("post", "/v1/webhooks/github"): ("400", "401", "404", "408", "413", "422", "503"),
}
"""The error statuses each route declares with ErrorResponse (OpenAIErrorResponse on the OpenAI routes) as the body."""


async def test_openapi_declares_every_route_s_success_body_and_its_error_statuses(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}

    assert set(operations) == set(ERROR_BODIES)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for (method, path), operation in operations.items():
        model = "OpenAIErrorResponse" if path.startswith(("/v1/chat", "/v1/models")) else "ErrorResponse"
        responses = operation["responses"]
        success = [status for status in responses if status.startswith("2")]
        assert len(success) == (2 if path == WEBHOOK_PATH else 1), path  # a webhook's ping is a 200
        assert all(media.get("schema") for media in responses[success[0]]["content"].values()), path
        errors = {status for status, r in responses.items() if _schema(r) == {"$ref": f"#/components/schemas/{model}"}}
        assert errors == set(ERROR_BODIES[method, path]), path


async def test_openapi_lets_every_v1_call_send_an_api_key_as_bearer_or_header(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer", "description": ANY_TEXT}
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": ANY_TEXT}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            keyed = path.startswith("/v1/") and path != WEBHOOK_PATH  # a webhook's signature is its key
            expected: object = [{"HTTPBearer": []}, {"APIKeyHeader": []}] if keyed else None
            assert operation.get("security") == expected, path


def _schema(response: dict[str, Any]) -> object:
    return response.get("content", {}).get("application/json", {}).get("schema")


async def test_openapi_declares_the_streamed_alternatives_and_the_other_bodies(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path, model in (("/v1/ask", "AnswerView"), ("/v1/chat/completions", "ChatCompletion")):
        content = paths[path]["post"]["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert "text/event-stream" in content
    assert paths["/v1/repositories"]["post"]["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IndexAccepted"
    }
    readiness = {"$ref": "#/components/schemas/Readiness"}
    for status in ("200", "503"):
        assert paths["/readyz"]["get"]["responses"][status]["content"]["application/json"]["schema"] == readiness
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


async def test_openapi_shows_the_retrieval_mode_as_an_enum_and_the_answer_s_new_fields(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]

    assert schemas["RetrievalMode"]["enum"] == ["hybrid", "dense", "keyword"]
    for body in ("SearchBody", "AskBody"):
        assert {"$ref": "#/components/schemas/RetrievalMode"} in schemas[body]["properties"]["mode"]["anyOf"]
    assert {"search_query", "abstained"} <= set(schemas["AnswerView"]["required"])
    assert {"search_query", "abstained"} <= set(schemas["ChatCompletion"]["required"])
    assert "used" in schemas["CitationView"]["required"] and "used" not in schemas["HitView"]["properties"]
    assert schemas["SearchResponse"]["properties"]["mode"] == {"$ref": "#/components/schemas/RetrievalMode"} | {
        "description": ANY_TEXT
    }


async def test_openapi_describes_the_refs_of_searches_listings_forgetting_and_chats(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas, paths = document["components"]["schemas"], document["paths"]

    assert "default branch" in schemas["SearchFilters"]["properties"]["ref"]["description"]
    view = schemas["RepositoryView"]
    assert "searched_by_default" in view["required"] and view["properties"]["searched_by_default"]["type"] == "boolean"
    assert "null for the default branch" in view["properties"]["ref"]["description"]
    forget = {p["name"]: p for p in paths["/v1/repositories/{repository}"]["delete"]["parameters"]}
    assert {"ref", "collection"} <= set(forget) and "default branch" in forget["ref"]["description"]
    chat_body = schemas["ChatCompletionRequest"]["properties"]
    assert all("extra_body" in chat_body[name]["description"] for name in ("repository", "ref", "mode"))


async def test_openapi_publishes_the_rules_the_server_applies(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas, paths = document["components"]["schemas"], document["paths"]

    assert {name for name, schema in schemas.items() if schema.get("additionalProperties") is False} == {
        "IndexBody", "SearchBody", "SearchFilters", "AskBody", "Turn", "KeyBody"
    }  # fmt: skip
    assert {"minLength": 1, "pattern": r"\S"}.items() <= schemas["IndexBody"]["properties"]["source"].items()
    assert schemas["SearchBody"]["properties"]["collection"]["pattern"] == COLLECTION_PATTERN
    assert "Cancels the job, and does not delete it" in paths["/v1/jobs/{job_id}"]["delete"]["description"]
    links = paths["/v1/repositories"]["post"]["responses"]["202"]["links"]
    assert links["GetJob"] == {
        "operationRef": "#/paths/~1v1~1jobs~1{job_id}/get",
        "parameters": {"job_id": "$response.body#/job_id"},
    }
    assert set(links) == {"GetJob", "CancelJob", "GetRepository"}
