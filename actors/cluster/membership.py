"""Who is in the cluster: this node's claim on its name, and the live peers.

A node's name is a key in the JetStream bucket ``luactor_nodes``, created
(never overwritten) at start, so a second node with a taken name is refused;
the node refreshes it every second and the bucket forgets it CLAIM_TTL
seconds after the last refresh (a node killed without leaving: its name is
free again that long after).

Liveness travels on core NATS: every node publishes a heartbeat each
HEARTBEAT seconds, and a peer not heard from for PEER_TIMEOUT seconds is
down (so a dead or cut-off node is seen down within PEER_TIMEOUT +
HEARTBEAT seconds). Heartbeats are sent, and their arrival noted, on the
NATS client's own thread: a node whose trio loop is busy (a flood of
messages) is not taken for dead. A node that leaves in order says so, and
is down at once. A peer back under a new incarnation was down in between.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import trio

from actors.errors import ActorError
from actors.pid import NODE_NAME

from . import wire
from .link import Conflict, NatsLink

__all__ = ["HEARTBEAT", "NODE_NAME", "PEER_TIMEOUT", "Membership", "check_node_name"]

log = logging.getLogger("luactor")

HEARTBEAT = 0.5      # seconds between heartbeats
PEER_TIMEOUT = 3.0   # seconds of silence after which a peer is down
CLAIM_TTL = 10.0     # seconds a node's name stays claimed after its last refresh

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
        self.peers: dict[str, dict[str, Any]] = {}   # live peers: node -> {incarnation, started}
        self.downs: list[tuple[str, str]] = []        # (node, why) of every peer seen going down
        self._arrived: dict[str, float] = {}          # node -> when its last heartbeat came (monotonic)
        self._bucket: Any = None
        self._revision = 0

    async def join(self) -> None:
        """Claim the node's name; ActorError AlreadyExists if another live node has it."""
        self._bucket = await self.link.bucket(NODES_BUCKET, ttl=CLAIM_TTL)
        try:
            self._revision = await self._bucket.create(self.node, self._info())
        except Conflict:
            raise ActorError("AlreadyExists", f"node name {self.node!r} is taken: another node of the cluster "
                                              f"at {','.join(self.link.urls)} runs under it") from None
        await self.link.subscribe(HEARTBEATS, self._heard, arrived=self._stamp)
        await self.link.subscribe(LEAVING, self._left)
        # the nodes holding a claim are the peers until heard of (or found silent)
        for node, (value, _) in (await self._bucket.items()).items():
            if node != self.node:
                self._stamp(value)
                self._heard(value, "")
        info = self._info()
        self.link.publish(HEARTBEATS, info)
        self.link.beat(HEARTBEATS, HEARTBEAT, lambda: info)

    async def run(self) -> None:
        """The peers' timeouts, and the claim's refresh (which may wait for JetStream:
        it never holds the timeouts up), until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._refreshing)
            while True:
                await trio.sleep(HEARTBEAT)
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

    def _stamp(self, data: bytes) -> None:
        """A heartbeat arrived (on the NATS client's thread): when, by node."""
        try:
            node = wire.decode(data).get("node")
        except (ValueError, AttributeError):
            return
        if isinstance(node, str):
            self._arrived[node] = time.monotonic()

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
            self.peers[node] = {"incarnation": info.get("incarnation"), "started": info.get("started")}

    def _left(self, data: bytes, _reply: str) -> None:
        info = wire.decode(data)
        node = info.get("node")
        known = self.peers.get(node) if isinstance(node, str) else None
        if known is not None and known["incarnation"] == info.get("incarnation"):
            self._down(node, "left the cluster")

    def _expire(self) -> None:
        now = time.monotonic()
        for node in list(self.peers):
            if now - self._arrived.get(node, now) > PEER_TIMEOUT:
                self._down(node, f"no heartbeat for {PEER_TIMEOUT:g}s")

    def _down(self, node: str, why: str) -> None:
        self.peers.pop(node, None)
        self.downs.append((node, why))
        log.warning("cluster: node %s is down (%s)", node, why)
        self._on_down(node, why)
