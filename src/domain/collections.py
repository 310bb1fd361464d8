"""Collection names: validated up front with Chroma's rules, so users get a clear error."""

import re

from domain.errors import InvalidInput

DEFAULT_COLLECTION = "default"
MANIFEST_COLLECTION = "repochat-manifests"
"""Reserved: where the live manifests are kept, beside the user's collections."""
SYNC_STATUS_COLLECTION = "repochat-sync-status"
"""Reserved: where the sync status of each indexed ref is kept."""
WEBHOOK_DELIVERY_COLLECTION = "repochat-webhook-deliveries"
"""Reserved: the ids of the webhook deliveries handled lately."""
SESSION_COLLECTION = "repochat-sessions"
"""Reserved: the chat page's GitHub sign-in sessions."""
API_KEY_COLLECTION = "repochat-api-keys"
"""Reserved: the API keys, each by its name, role, scope and hash."""
RESERVED_COLLECTIONS = (
    MANIFEST_COLLECTION,
    SYNC_STATUS_COLLECTION,
    WEBHOOK_DELIVERY_COLLECTION,
    SESSION_COLLECTION,
    API_KEY_COLLECTION,
)

COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$"
"""The characters and length of a collection name (beside it: no `..`, not an IPv4 address, not reserved).
Chroma takes up to 512 characters; each process's keyword index keeps a folder named after the collection,
and a file name has at most 255 bytes."""
_VALID = re.compile(COLLECTION_PATTERN)
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def validate_collection(name: str) -> str:
    if not _VALID.fullmatch(name) or ".." in name or _IPV4.fullmatch(name):
        raise InvalidInput(
            f"invalid collection name {name!r}: use 3-255 characters from letters, digits, "
            "'.', '_' and '-', starting and ending with a letter or digit, without '..'"
        )
    if name in RESERVED_COLLECTIONS:
        raise InvalidInput(f"the collection name {name!r} is reserved by repochat")
    return name
