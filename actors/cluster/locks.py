"""``system.lock``: cluster-wide locks, at most one holder each.

A lock is a key of the JetStream bucket ``luactor_locks`` (replicated by
NATS's Raft), created only if absent: acquiring is fail-fast, and a second
acquirer gets AlreadyExists at once. A lock is released by its holder, when
the holder ends (the node monitors it), or by the other nodes when the
holder's node goes down.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import trio

from actors.errors import ActorError

from . import wire
from .exits import ExitWatcher, watch_exits
from .link import Conflict, NatsLink

__all__ = ["Locks"]

log = logging.getLogger("luactor")

LOCKS_BUCKET = "luactor_locks"


def key_of(name: str) -> str:
    return "l" + base64.urlsafe_b64encode(name.encode()).decode()


class Locks:
    def __init__(self, node: str, link: NatsLink, router: Any):
        self.node = node
        self.link = link
        self.router = router
        self.held: dict[str, tuple[str, int]] = {}   # lock held by a process of this node -> (pid, revision)
        self._bucket: Any = None
        self._watcher: ExitWatcher | None = None
        self._nursery: trio.Nursery | None = None

    async def start(self, nursery: trio.Nursery, live: set[str]) -> None:
        self._nursery = nursery
        self._bucket = await self.link.bucket(LOCKS_BUCKET)
        self._watcher = watch_exits(self.router, self._ended)
        await self._release_where(lambda node: node not in live)  # of nodes that went down unseen

    async def acquire(self, name: str, pid: str) -> bool:
        if len(name.encode()) > 256:
            raise ActorError("Invalid", "a lock name may be at most 256 bytes long")
        try:
            revision = await self._bucket.create(key_of(name), wire.encode({"pid": pid, "node": self.node}))
        except Conflict:
            found = await self._bucket.get(key_of(name))
            holder = wire.decode(found[0])["pid"] if found else "another process"
            if holder == pid:
                return True
            raise ActorError("AlreadyExists", f"lock '{name}' is held by {holder}", retryable=False) from None
        self.held[name] = (pid, revision)
        self.router.signal("monitor", self._watcher.pid, pid, None)
        return True

    async def release(self, name: str, pid: str) -> bool:
        held = self.held.get(name)
        if held is None or held[0] != pid:
            return False
        del self.held[name]
        return await self._bucket.delete(key_of(name), last=held[1])

    def _ended(self, pid: str) -> None:
        for name in [name for name, (holder, _) in self.held.items() if holder == pid]:
            assert self._nursery is not None
            self._nursery.start_soon(self._release_quietly, name, pid)

    async def _release_quietly(self, name: str, pid: str) -> None:
        try:
            await self.release(name, pid)
        except ActorError as error:
            log.warning("cluster: lock %r of %s not released: %s", name, pid, error.message)

    async def node_down(self, node: str) -> None:
        """Release the locks of a node that went down (every node tries; one succeeds)."""
        await self._release_where(lambda holder: holder == node)

    async def _release_where(self, gone: Any) -> None:
        try:
            for key, (value, revision) in (await self._bucket.items()).items():
                if gone(wire.decode(value).get("node")):
                    await self._bucket.delete(key, last=revision)
        except ActorError as error:
            log.warning("cluster: locks of nodes gone not released: %s", error.message)
