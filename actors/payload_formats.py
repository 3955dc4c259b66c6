"""The payload formats Python encodes for Lua: msgpack and YAML.

A Lua ``payload:transcode(format)`` to one of these hands Python a plain
copy of the value (see ``actors/lua/payload.lua``); ``data()`` of such a
payload hands back the encoded bytes. Both directions answer ``(result,
None)`` or ``(None, message)``: a bad value or a bad document is the
caller's error to see, never an exception in the worker.
"""

from __future__ import annotations

from typing import Any

import msgpack
import yaml

from .codec import PayloadError, from_lua, to_lua

__all__ = ["PayloadFormats"]

MSGPACK = b"application/msgpack"
YAML = b"yaml/plain"


class PayloadFormats:
    """The encode/decode callbacks of one worker's Lua state."""

    def __init__(self, lua: Any):
        self._lua = lua

    def encode(self, fmt: bytes, value: Any) -> tuple[bytes | None, str | None]:
        try:
            plain = from_lua(value)
            if fmt == MSGPACK:
                return msgpack.packb(plain, use_bin_type=True), None
            if fmt == YAML:
                return yaml.safe_dump(plain, allow_unicode=True, sort_keys=True).encode(), None
        except (PayloadError, ValueError, TypeError, OverflowError, yaml.YAMLError, RecursionError) as error:
            return None, str(error)
        return None, f"no encoder for {fmt.decode(errors='replace')}"

    def decode(self, fmt: bytes, data: Any) -> tuple[Any, str | None]:
        if not isinstance(data, bytes):
            return None, "the payload holds no encoded text"
        try:
            if fmt == MSGPACK:
                value = msgpack.unpackb(data, raw=False, strict_map_key=False)
            elif fmt == YAML:
                value = yaml.safe_load(data)
            else:
                return None, f"no decoder for {fmt.decode(errors='replace')}"
            return to_lua(self._lua, value), None
        except (PayloadError, ValueError, TypeError, msgpack.UnpackException, yaml.YAMLError, RecursionError) as error:
            return None, str(error)
