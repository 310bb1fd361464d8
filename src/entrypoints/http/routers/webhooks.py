"""/v1/webhooks/github: GitHub's push deliveries queue syncs of the refs they moved.

Without the API key of /v1: GitHub authenticates its deliveries with their signature instead.
Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

import asyncio
import json
import tempfile
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import parse_qs

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Header, Request, Response

from application.sync import QueuedSync, SyncPushedRef
from domain.errors import InvalidInput, NotFound
from domain.webhooks import Push, SignatureCheck, push_of
from entrypoints.container import Container
from entrypoints.http.errors import ERROR_MEANINGS, AuthError, BodyTooSlow, error_response, error_responses
from entrypoints.http.middleware import WEBHOOK_PATH
from entrypoints.http.schemas import whole_text
from entrypoints.settings import Settings
from entrypoints.views import QueuedSyncView, WebhookAnswer

READ_SECONDS = 5
"""How long a delivery may take to arrive once its read has begun (a 408 past it): GitHub itself gives up on a
delivery not answered within 10 s, and a slow sender would otherwise hold one of the READS_AT_ONCE."""
WEBHOOK_ERROR_MEANINGS: dict[int, str] = {
    **ERROR_MEANINGS,
    400: "The payload is not JSON, or not a push event's",
    401: "The X-Hub-Signature-256 header is missing or does not sign the body with the webhook's secret",
    404: "Webhooks are off: REPOCHAT_GITHUB_WEBHOOK_SECRET is not set",
    408: f"The delivery did not arrive whole within {READ_SECONDS} s of its read beginning",
    413: "The delivery is over 25 MB, GitHub's own cap on webhook payloads",
    503: "The job queue or the vector store is failing or unreachable, or other deliveries are being read",
}
UNSIGNED = "X-Hub-Signature-256 is missing or does not sign this body with the webhook's secret: nothing queued"
READS_AT_ONCE = 4
"""Deliveries read at once; more wait, and past WAIT_TO_READ_SECONDS are a 503, their bodies unread."""
WAIT_TO_READ_SECONDS = 10
IN_MEMORY_BYTES = 256 * 1024
"""Of a delivery being read, what is kept in memory; the rest waits in a temporary file until it is signed."""

router = APIRouter()


@router.post(
    WEBHOOK_PATH,
    status_code=202,
    response_model=WebhookAnswer,
    responses={
        200: {
            "model": WebhookAnswer,
            "description": "A `ping` (the webhook is set up and its secret matches), or a delivery handled before",
        },
        **error_responses(400, 401, 404, 408, 413, 422, 503, meanings=WEBHOOK_ERROR_MEANINGS),
    },
)
@inject
async def github_webhook(
    request: Request,
    response: Response,
    sync_pushed_ref: Annotated[SyncPushedRef, Depends(Provide[Container.sync_pushed_ref])],
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
    x_github_event: Annotated[str, Header(description="The event: `push` and `ping` are acted on")] = "",
    x_hub_signature_256: Annotated[str | None, Header(description="`sha256=` HMAC-SHA256 of the body")] = None,
    x_github_delivery: Annotated[str | None, Header(description="The delivery's id")] = None,
) -> WebhookAnswer | Response:
    """GitHub's webhooks: a `push` to an indexed ref of an indexed repository queues a sync of that ref.

    Needs no API key: each delivery must be signed with REPOCHAT_GITHUB_WEBHOOK_SECRET
    (`X-Hub-Signature-256`), else it is refused with 401 and nothing is queued; without the
    secret configured, the route is off (404). A `ping` answers 200; other events, and pushes
    to refs nothing indexes, answer 202 with nothing queued. A delivery replayed within a day
    (same `X-GitHub-Delivery`) answers 200 with nothing queued. A sync joins a job of the
    repository already queued or running. Payloads may be sent as JSON or form-encoded.
    """
    secret = settings.webhook_secret
    if secret is None:
        raise NotFound("GitHub webhooks are off on this server: set REPOCHAT_GITHUB_WEBHOOK_SECRET to turn them on")
    body = await _signed_body(request, secret, x_hub_signature_256)
    if isinstance(body, Response):
        return body
    answer = WebhookAnswer(event=x_github_event, delivery=x_github_delivery, queued=[], message="")
    if x_github_event == "ping":
        response.status_code = 200
        return answer.model_copy(update={"message": "pong: the webhook is set up and its secret matches"})
    if x_github_event != "push":
        return answer.model_copy(update={"message": f"{x_github_event or 'an unnamed'} event: nothing to sync"})
    push = push_of(_webhook_payload(body, request.headers.get("content-type", "")))
    syncs = await sync_pushed_ref.execute(push, x_github_delivery)
    if syncs.replay_of is not None:
        response.status_code = 200
        handled = syncs.replay_of.isoformat(timespec="seconds")
        return answer.model_copy(update={"message": f"this delivery was handled at {handled}: nothing queued"})
    views = [QueuedSyncView.of(q) for q in syncs.queued]
    return answer.model_copy(update={"queued": views, "message": _push_message(push, syncs.queued)})


async def _signed_body(request: Request, secret: str, signature: str | None) -> bytes | Response:
    """The body, read as it arrives and checked against `signature` before it is kept whole in memory;
    a 413 past GitHub's cap (the body limit's), a 408 past READ_SECONDS, a 503 while READS_AT_ONCE other
    deliveries are being read."""
    if not signature:  # nothing could match: refused before a byte is read
        raise AuthError(401, UNSIGNED)
    reads: asyncio.Semaphore = request.app.state.delivery_reads
    try:
        await asyncio.wait_for(reads.acquire(), WAIT_TO_READ_SECONDS)
    except TimeoutError:
        busy = error_response("busy", "other deliveries are being read: redeliver this one later", 503, WEBHOOK_PATH)
        busy.headers["retry-after"] = str(WAIT_TO_READ_SECONDS)
        return busy
    try:
        check = SignatureCheck(secret)
        with tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES) as spool:
            async with asyncio.timeout(READ_SECONDS):
                async for piece in request.stream():  # the body limit stops it past WEBHOOK_MAX_BODY_BYTES
                    check.update(piece)
                    spool.write(piece)
            if not check.matches(signature):
                raise AuthError(401, UNSIGNED)
            spool.seek(0)
            return spool.read()
    except TimeoutError:
        raise BodyTooSlow(f"the delivery did not arrive whole within {READ_SECONDS} s of its read beginning") from None
    finally:
        reads.release()


def _webhook_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON payload, sent as the body itself or as the `payload` field of a form."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode(), strict_parsing=True)["payload"][0].encode()
        payload = whole_text(json.loads(body))
    except (ValueError, KeyError, RecursionError) as e:
        raise InvalidInput(
            "the webhook's payload is not JSON (or a form with a JSON `payload` field) of valid Unicode"
        ) from e
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook's payload is not a JSON object")
    return payload


def _push_message(push: Push, queued: Sequence[QueuedSync]) -> str:
    if push.deleted:
        return f"the push deleted {push.ref}: nothing to sync"
    if not queued:
        return f"nothing indexed follows {push.ref} of {push.repository}: nothing queued"
    return f"{len(queued)} sync{'s' if len(queued) > 1 else ''} of {push.ref} of {push.repository} queued"
