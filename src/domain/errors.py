"""Domain errors. Entrypoints map each class to an HTTP status and a CLI exit code."""


class RepochatError(Exception):
    """Base class of every error repochat reports to a user.

    A subclass names the `code` its error bodies carry in its class line:
    `class NotFound(RepochatError, code="not_found")`; one that names none keeps its parent's."""

    code = "internal_error"

    def __init_subclass__(cls, code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RepochatError, code="invalid_input"):
    """The request is not one repochat can serve as it is (the message says what to change)."""


class NotFound(RepochatError, code="not_found"):
    """No such repository, job, file or ref."""


class Conflict(RepochatError, code="conflict"):
    """The request contradicts what is stored or running (a collection of another embedder, a running job)."""


class AccessDenied(RepochatError, code="access_denied"):
    """The upstream refused our credentials (bad token, no access)."""


class RateLimited(RepochatError, code="rate_limited"):
    """An upstream (GitHub, OpenAI) is rate limiting repochat longer than it waits."""


class UpstreamUnavailable(RepochatError, code="upstream_unavailable"):
    """An upstream service (GitHub, OpenAI, Chroma, Hatchet) failed or is unreachable."""


class DataDirBusy(RepochatError, code="data_dir_busy"):
    """Another process owns the embedded state under the data folder."""


class NotAllowed(RepochatError, code="not_allowed"):
    """A valid request this deployment does not allow its caller (a local folder through the API)."""


class StorageFull(RepochatError, code="storage_full"):
    """The disk holding repochat's data has too little room left to write more safely."""
