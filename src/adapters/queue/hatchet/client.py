"""The Hatchet SDK client, configured by the SDK's own HATCHET_CLIENT_* variables."""

from __future__ import annotations

from hatchet_sdk import Hatchet

from domain.errors import InvalidInput


def connect_hatchet() -> Hatchet:
    try:
        return Hatchet()
    except ValueError as e:  # the SDK's message may quote the start of the token: not repeated here
        raise InvalidInput(
            "REPOCHAT_JOB_QUEUE=hatchet needs the Hatchet SDK's settings: HATCHET_CLIENT_TOKEN, and for an "
            "engine without TLS HATCHET_CLIENT_TLS_STRATEGY=none (scripts/hatchet-dev.sh env prints them)"
        ) from e
