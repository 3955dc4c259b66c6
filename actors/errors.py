"""The Python face of the runtime's error objects.

Lua code sees errors as objects with a kind, a message and a few more
fields; Python code gets the same information as an exception.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KINDS", "ActorError", "NodeFailure"]

#: Error kinds, with the values Wippy gives them.
KINDS = (
    "NotFound", "AlreadyExists", "Invalid", "PermissionDenied", "Unavailable",
    "Internal", "Canceled", "Conflict", "Timeout", "RateLimited", "Unknown",
)

#: The kinds as stores written by earlier releases hold them (``NOT_FOUND``...).
LEGACY_KINDS = {
    "NOT_FOUND": "NotFound", "ALREADY_EXISTS": "AlreadyExists", "INVALID": "Invalid",
    "PERMISSION_DENIED": "PermissionDenied", "UNAVAILABLE": "Unavailable", "INTERNAL": "Internal",
    "CANCELED": "Canceled", "CONFLICT": "Conflict", "TIMEOUT": "Timeout", "RATE_LIMITED": "RateLimited",
    "UNKNOWN": "Unknown",
}


class ActorError(Exception):
    """An error raised by a process, a call, or the runtime itself."""

    def __init__(self, kind: str, message: str, *, retryable: bool | None = None,
                 details: Any = None, stack: str | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.details = details
        self.stack = stack

    @classmethod
    def from_plain(cls, plain: Any) -> ActorError:
        """Build from the plain table Lua's ``errors.to_plain`` produces."""
        if not isinstance(plain, dict):
            return cls("Unknown", str(plain))
        kind = str(plain.get("kind") or "Unknown")
        return cls(LEGACY_KINDS.get(kind, kind), str(plain.get("message", "")),
                   retryable=plain.get("retryable") if isinstance(plain.get("retryable"), bool) else None,
                   details=plain.get("details"), stack=plain.get("stack"))

    def to_plain(self) -> dict:
        plain: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.retryable is not None:
            plain["retryable"] = self.retryable
        if self.details is not None:
            plain["details"] = self.details
        return plain


class NodeFailure(Exception):
    """A node component stopped the node (the top of a supervision tree gave up).

    ``Node.open`` exits with it unwrapped from its nursery's exception group.
    """
