"""What crosses between nodes, in msgpack.

A batch is one NATS message to one node: a list of frames, in the order
they were made on the sending node. Frames:

- ``["m", sender, dest, topic, payload]``: a message;
- ``["s", op, sender, dest, data]``: a relationship signal (monitor, link,
  cancel, terminate, ...);
- ``["e", dest, event]``: a lifecycle event (EXIT, LINK_DOWN, CANCEL).

Requests (a spawn on another node, say) are ``[op, args]`` answered with
``[True, value]`` or ``[False, {"kind": ..., "message": ...}]``.
"""

from __future__ import annotations

from typing import Any

import msgpack

from actors.errors import ActorError

__all__ = ["FRAME_OVERHEAD", "answer", "decode", "encode", "failure", "success"]

#: Room left in a NATS message for a batch's framing around one frame (bytes).
FRAME_OVERHEAD = 1024


def encode(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def decode(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def success(value: Any) -> bytes:
    return encode([True, value])


def failure(error: ActorError) -> bytes:
    return encode([False, {"kind": error.kind, "message": error.message}])


def answer(data: bytes) -> Any:
    """The value of a request's answer, or raise its error."""
    ok, value = decode(data)
    if not ok:
        raise ActorError(value.get("kind", "Internal"), value.get("message", ""))
    return value
