"""Domain errors. Entrypoints map each class to an HTTP status and a CLI exit code."""


class RepochatError(Exception):
    """Base class of every error repochat reports to a user."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RepochatError):
    code = "invalid_input"


class NotFound(RepochatError):
    code = "not_found"


class Conflict(RepochatError):
    code = "conflict"


class AccessDenied(RepochatError):
    """The upstream refused our credentials (bad token, no access)."""

    code = "access_denied"


class RateLimited(RepochatError):
    code = "rate_limited"


class UpstreamUnavailable(RepochatError):
    """An upstream service (GitHub, OpenAI, Chroma, Hatchet) failed or is unreachable."""

    code = "upstream_unavailable"


class DataDirBusy(RepochatError):
    """Another process owns the embedded state under the data folder."""

    code = "data_dir_busy"


class NotAllowed(RepochatError):
    """A valid request this deployment does not allow its caller (a local folder through the API)."""

    code = "not_allowed"


class StorageFull(RepochatError):
    """The disk holding repochat's data has too little room left to write more safely."""

    code = "storage_full"
