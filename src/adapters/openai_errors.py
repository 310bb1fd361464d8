"""Translate errors of the openai client (used by langchain-openai) into domain errors."""

from __future__ import annotations

import openai

from domain.errors import AccessDenied, InvalidInput, RateLimited, RepochatError, UpstreamUnavailable


def translate_openai_error(error: Exception, action: str) -> RepochatError:
    """A domain error whose message says what failed, never echoing the API key."""
    if isinstance(error, RepochatError):
        return error
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return AccessDenied(f"the OpenAI-compatible API refused the key for {action} (check OPENAI_API_KEY)")
    if isinstance(error, openai.RateLimitError):
        return RateLimited(f"the OpenAI-compatible API is rate limiting {action}; try again later")
    if isinstance(error, openai.BadRequestError | openai.NotFoundError):
        return InvalidInput(f"the OpenAI-compatible API rejected the {action} request: {_status(error)}")
    if isinstance(error, openai.APIStatusError):
        return UpstreamUnavailable(f"the OpenAI-compatible API failed during {action}: {_status(error)}")
    if isinstance(error, openai.APIConnectionError | openai.APITimeoutError):
        return UpstreamUnavailable(f"cannot reach the OpenAI-compatible API for {action} (check OPENAI_BASE_URL)")
    return UpstreamUnavailable(f"{action} failed: {type(error).__name__}")


def _status(error: openai.APIStatusError) -> str:
    return f"HTTP {error.status_code}"
