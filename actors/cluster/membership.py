"""Who is in the cluster: this node's claim on its name, and the live peers.

A node's name is a key in the JetStream bucket ``luactor_nodes``, created
(never overwritten) at start, so a second node with a taken name is refused;
the node refreshes it every HEARTBEAT seconds and the bucket forgets it
PEER_TIMEOUT seconds after the last refresh (a node killed without leaving).

Liveness travels on core NATS: every node publishes a heartbeat each
HEARTBEAT seconds, and a peer not heard from for PEER_TIMEOUT seconds is
down (so a dead or cut-off node is seen down within PEER_TIMEOUT +
HEARTBEAT seconds). A node that leaves in order says so, and is down at
once. A peer back under a new incarnation was down in between.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import trio

from actors.errors import ActorError

from . import wire
from .link import Conflict, NatsLink

__all__ = ["HEARTBEAT", "NODE_NAME", "PEER_TIMEOUT", "Membership", "check_node_name"]

log = logging.getLogger("luactor")

HEARTBEAT = 0.5      # seconds between heartbeats
PEER_TIMEOUT = 3.0   # seconds of silence after which a peer is down

#: Node names are NATS subject tokens and key-value keys.
NODE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

NODES_BUCKET = "luactor_nodes"
HEARTBEATS = "luactor.heartbeat"
LEAVING = "luactor.leaving"


def check_node_name(name: Any) -> str:
    if not isinstance(name, str) or not NODE_NAME.fullmatch(name):
        raise ActorError("Invalid", f"node name must be 1 to 64 letters, digits, '-' or '_', got {name!r}")
    return name


class Membership:
    def __init__(self, link: NatsLink, node: str, on_down: Callable[[str, str], None]):
        self.link = link
        self.node = node
        self.incarnation = os.urandom(8).hex()
        self.started = time.time()
        self._on_down = on_down
        self.peers: dict[str, dict[str, Any]] = {}   # live peers: node -> {incarnation, started, seen}
        self.downs: list[tuple[str, str]] = []        # (node, why) of every peer seen going down
        self._bucket: Any = None
        self._revision = 0

    async def join(self) -> None:
        """Claim the node's name; ActorError AlreadyExists if another live node has it."""
        self._bucket = await self.link.bucket(NODES_BUCKET, ttl=PEER_TIMEOUT)
        try:
            self._revision = await self._bucket.create(self.node, self._info())
        except Conflict:
            raise ActorError("AlreadyExists", f"node name {self.node!r} is taken: another node of the cluster "
                                              f"at {','.join(self.link.urls)} runs under it") from None
        await self.link.subscribe(HEARTBEATS, self._heard)
        await self.link.subscribe(LEAVING, self._left)
        # the nodes holding a claim are the peers until heard of (or found silent)
        for node, (value, _) in (await self._bucket.items()).items():
            if node != self.node:
                self._heard(value, "")
        self.link.publish(HEARTBEATS, self._info())

    async def run(self) -> None:
        """Heartbeats and the peers' timeouts, and the claim's refresh (which may wait for
        JetStream: it never holds the heartbeats up), until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._refreshing)
            while True:
                await trio.sleep(HEARTBEAT)
                if self.link.connected:
                    self.link.publish(HEARTBEATS, self._info())
                self._expire()

    async def _refreshing(self) -> None:
        while True:
            await trio.sleep(2 * HEARTBEAT)
            if self.link.connected:
                await self._refresh()

    async def leave(self) -> None:
        """Say so to the peers and give the name back."""
        if self._bucket is None or not self.link.connected:
            return
        self.link.publish(LEAVING, wire.encode({"node": self.node, "incarnation": self.incarnation}))
        try:
            await self._bucket.delete(self.node, last=self._revision)
            await self.link.flush()
        except ActorError:
            pass

    def members(self) -> list[str]:
        return sorted([self.node, *self.peers])

    def is_up(self, node: str) -> bool:
        return node == self.node or node in self.peers

    # -- internals --------------------------------------------------------------

    def _info(self) -> bytes:
        return wire.encode({"node": self.node, "incarnation": self.incarnation, "started": self.started})

    async def _refresh(self) -> None:
        try:
            self._revision = await self._bucket.update(self.node, self._info(), self._revision)
        except Conflict:
            found = await self._bucket.get(self.node)
            if found is not None and wire.decode(found[0]).get("incarnation") == self.incarnation:
                self._revision = found[1]  # a refresh landed but its answer was lost (a server went away)
            else:  # cut off for longer than the claim lasts, and the name changed hands meanwhile
                log.error("cluster: node name %r was taken over by another node while this one was cut off", self.node)
        except ActorError as error:
            log.debug("cluster: refreshing the node's name: %s", error)

    def _heard(self, data: bytes, _reply: str) -> None:
        info = wire.decode(data)
        node = info.get("node")
        if not isinstance(node, str) or node == self.node:
            return
        known = self.peers.get(node)
        if known is not None and known["incarnation"] != info.get("incarnation"):
            self._down(node, "restarted")
            known = None
        if known is None:
            log.info("cluster: node %s is up", node)
            known = self.peers[node] = {"incarnation": info.get("incarnation"), "started": info.get("started")}
        known["seen"] = trio.current_time()

    def _left(self, data: bytes, _reply: str) -> None:
        info = wire.decode(data)
        node = info.get("node")
        known = self.peers.get(node) if isinstance(node, str) else None
        if known is not None and known["incarnation"] == info.get("incarnation"):
            self._down(node, "left the cluster")

    def _expire(self) -> None:
        now = trio.current_time()
        for node, known in list(self.peers.items()):
            if now - known["seen"] > PEER_TIMEOUT:
                self._down(node, f"no heartbeat for {PEER_TIMEOUT:g}s")

    def _down(self, node: str, why: str) -> None:
        self.peers.pop(node, None)
        self.downs.append((node, why))
        log.warning("cluster: node %s is down (%s)", node, why)
        self._on_down(node, why)
