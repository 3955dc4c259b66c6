"""What the Lua library modules ask Python for: digests for ``uuid.v3`` and
``uuid.v5``.

Called from inside a worker's Lua state with Lua strings (bytes) only, it
answers with bytes.
"""

from __future__ import annotations

import hashlib

__all__ = ["digest"]

_DIGESTS = {b"md5": hashlib.md5, b"sha1": hashlib.sha1}


def digest(algorithm: bytes, data: bytes) -> bytes:
    """The ``md5`` or ``sha1`` digest of ``data`` (name-based UUIDs, not security)."""
    return _DIGESTS[algorithm](data, usedforsecurity=False).digest()
