"""Serving an ASGI app from a node: Hypercorn's trio worker on a socket bound beforehand.

Binding first (:func:`bind`) lets a taken port fail the node's open in one
line before any host runs; Hypercorn then serves on that socket (``fd://``).
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from actors.errors import ActorError

__all__ = ["bind", "serve"]

#: Hypercorn's own log: its warnings and errors only (the node logs where it serves).
http_log = logging.getLogger("luactor.http")
http_log.setLevel(logging.WARNING)


def bind(address: tuple[str, int], what: str) -> socket.socket:
    """A listening TCP socket on ``address``; ActorError in one line when it cannot be had."""
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise ActorError("Invalid", f"cannot serve {what} on {host}:{port}: {error.strerror or error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(128)
    except OSError as error:
        sock.close()
        reason = "the address is already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
        raise ActorError("Unavailable", f"cannot serve {what} on {host}:{port}: {reason}") from None
    return sock


async def serve(app: Any, sock: socket.socket, shutdown: trio.Event) -> None:
    """Serve ``app`` on ``sock`` until ``shutdown`` is set (open streams then get a second to end)."""
    config = Config()
    config.accesslog = None
    config.errorlog = http_log
    config.graceful_timeout = 1.0
    config.bind = [f"fd://{sock.detach()}"]   # Hypercorn's from here on: it closes it
    await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait)
