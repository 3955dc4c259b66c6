"""Names of processes across the cluster: ``process.registry``'s EVENTUAL,
CONSISTENT and STRONG scopes, beside the node's LOCAL names.

Every cluster name is a key of the JetStream bucket ``luactor_names``
(replicated by NATS's Raft) whose value is ``{pid, node, scope, state}``.
Each node follows the bucket and resolves names from its own copy: reads
never leave the node, and may lag a write elsewhere by the time the change
takes to arrive (milliseconds). A cluster name shadows a LOCAL one of the
same text.

- CONSISTENT: created only if absent (first writer wins); a second
  registration to another PID is AlreadyExists, with the owner in the
  message and in ``details.owner``.
- STRONG: a CONSISTENT reservation that becomes active once every live
  node has acknowledged it; a node holding the name LOCAL for another PID
  refuses (AlreadyExists), and a node that does not answer in time fails
  the registration (Timeout, naming the nodes). The reservation is then
  withdrawn.
- EVENTUAL: the last registration wins; the process that held the name
  gets CANCEL with the reason ``name revoked: <name>`` and runs on.
  A CONSISTENT or STRONG name is not taken over (AlreadyExists).

Names are released when their process exits, and by the other nodes when
the owner's node goes down.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import trio

from actors.errors import ActorError
from actors.names import NameRegistry

from . import wire
from .link import Conflict, NatsLink

__all__ = ["SCOPES", "ClusterNames"]

log = logging.getLogger("luactor")

LOCAL, EVENTUAL, CONSISTENT, STRONG = 0, 1, 2, 3
SCOPES = {LOCAL: "LOCAL", EVENTUAL: "EVENTUAL", CONSISTENT: "CONSISTENT", STRONG: "STRONG"}

NAMES_BUCKET = "luactor_names"
#: How long every live node has to acknowledge a STRONG name (seconds).
STRONG_TIMEOUT = 2.0
#: How often a node checks that it follows every change of the names (seconds).
STALL_CHECK = 1.0
#: Longest cluster name, in bytes (it becomes a key of the bucket).
MAX_NAME = 256


def key_of(name: str) -> str:
    return "n" + base64.urlsafe_b64encode(name.encode()).decode()


def name_of(key: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(key[1:]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


class ClusterNames(NameRegistry):
    """The node's names: its LOCAL ones (the base class) and its copy of the cluster's."""

    def __init__(self, node: str, link: NatsLink):
        super().__init__()
        self.node = node
        self.link = link
        self.bindings: dict[str, dict[str, Any]] = {}   # name -> {pid, node, scope, state, revision}
        self._owned: dict[str, set[str]] = {}           # a PID of this node -> its cluster names
        self._bucket: Any = None
        self._nursery: trio.Nursery | None = None
        self.peers: Any = None                          # () -> live peer node names (membership)
        self.ask: Any = None                            # async (node, op, args) -> answer (routing)
        self.cancel: Any = None                         # (sender, dest, reason): CANCEL to a revoked owner
        self._stop_watch: Any = None
        self._seen = 0                                  # the latest revision the watch told of

    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._bucket = await self.link.bucket(NAMES_BUCKET)
        await self._follow()
        nursery.start_soon(self._keep_current)
        # names of nodes that went down while no node was there to release them
        live = {self.node, *self.peers()}
        for name, binding in list(self.bindings.items()):
            if binding["node"] not in live:
                self._spawn(self._drop, name, binding["pid"])

    async def _follow(self) -> None:
        """Read every name, then follow the bucket's changes (again, after a stall)."""
        if self._stop_watch is not None:
            self._stop_watch()
        found = await self._bucket.items()
        for name in [name for name in self.bindings if key_of(name) not in found]:
            del self.bindings[name]
        for key, (value, revision) in found.items():
            self._changed(key, value, revision)
        self._stop_watch = await self._bucket.watch(self._changed)

    async def _keep_current(self) -> None:
        """A watch whose consumer lived on a NATS server that went away stalls: when the
        bucket has changed and the watch has not said so for two checks, follow it anew."""
        behind = 0
        while True:
            await trio.sleep(STALL_CHECK)
            try:
                behind = behind + 1 if await self._bucket.last_revision() > self._seen else 0
                if behind >= 2:
                    log.info("cluster: following the names anew (the watch of the bucket stalled)")
                    await self._follow()
                    behind = 0
            except ActorError as error:
                log.debug("cluster: checking the names: %s", error.message)

    # -- reading: the cluster's names first ---------------------------------------

    def lookup(self, name: str) -> str | None:
        binding = self.bindings.get(name)
        if binding is not None and binding["state"] == "active":
            return binding["pid"]
        return super().lookup(name)

    def lookup_from_lua(self, name: bytes) -> bytes | None:
        try:
            pid = self.lookup(name.decode())
        except UnicodeDecodeError:
            return None
        return pid.encode() if pid is not None else None

    def release(self, pid: str) -> None:
        super().release(pid)
        for name in self._owned.pop(pid, ()):
            self._spawn(self._drop, name, pid)

    # -- writing --------------------------------------------------------------------

    async def register_cluster(self, name: str, pid: str, scope: int) -> None:
        """Bind ``name`` to ``pid`` (a process of this node) in a cluster ``scope``; raises."""
        if len(name.encode()) > MAX_NAME:
            raise ActorError("Invalid", f"a cluster name may be at most {MAX_NAME} bytes long")
        current = self.bindings.get(name)
        if current is not None and current["pid"] == pid and current["state"] == "active":
            self._own(name, pid)
            return
        value = {"pid": pid, "node": self.node, "scope": scope, "state": "active"}
        if scope == EVENTUAL:
            await self._take_over(name, value)
        elif scope == CONSISTENT:
            await self._create(name, value)
        else:
            await self._create(name, {**value, "state": "reserved"})
            await self._confirm(name, value)
        self._own(name, pid)

    async def unregister_cluster(self, name: str, owner: str) -> bool:
        """Release ``name`` if ``owner`` holds it in the cluster."""
        binding = self.bindings.get(name)
        if binding is None or binding["pid"] != owner:
            return False
        self._owned.get(owner, set()).discard(name)
        return await self._drop(name, owner)

    async def _create(self, name: str, value: dict) -> None:
        try:
            revision = await self._bucket.create(key_of(name), wire.encode(value))
        except Conflict:
            found = await self._bucket.get(key_of(name))
            owner = wire.decode(found[0])["pid"] if found else None
            if owner == value["pid"]:
                return
            raise ActorError("AlreadyExists", f"name '{name}' is already registered to {owner}",
                             retryable=False, details={"owner": owner}) from None
        self._changed(key_of(name), wire.encode(value), revision)

    async def _take_over(self, name: str, value: dict) -> None:
        """EVENTUAL: the last writer wins, and the one it displaced is told."""
        for _ in range(5):
            found = await self._bucket.get(key_of(name))
            if found is None:
                try:
                    await self._create(name, value)
                    return
                except ActorError:
                    continue
            previous = wire.decode(found[0])
            if previous["scope"] != EVENTUAL:
                raise ActorError("AlreadyExists", f"name '{name}' is already registered to {previous['pid']} "
                                                  f"({SCOPES.get(previous['scope'])})",
                                 retryable=False, details={"owner": previous["pid"]})
            try:
                revision = await self._bucket.update(key_of(name), wire.encode(value), found[1])
            except Conflict:
                continue
            self._changed(key_of(name), wire.encode(value), revision)
            if previous["pid"] != value["pid"] and self.cancel is not None:
                self.cancel(value["pid"], previous["pid"], f"name revoked: {name}")
            return
        raise ActorError("Conflict", f"name '{name}' changed hands too often to be registered; try again")

    async def _confirm(self, name: str, value: dict) -> None:
        """STRONG: every live node acknowledges before the name is active."""
        peers = list(self.peers()) if self.peers is not None else []
        refusals: list[str] = []
        missing: list[str] = []

        async def ask(node: str) -> None:
            try:
                with trio.fail_after(STRONG_TIMEOUT):
                    if not await self.ask(node, "name_ack", {"name": name, "pid": value["pid"]}):
                        refusals.append(node)
            except (trio.TooSlowError, ActorError):
                missing.append(node)

        async with trio.open_nursery() as nursery:
            for node in peers:
                nursery.start_soon(ask, node)
        if refusals or missing:
            await self._drop(name, value["pid"])
            if refusals:
                raise ActorError("AlreadyExists", f"name '{name}' is held on node(s) {', '.join(sorted(refusals))}",
                                 retryable=False)
            raise ActorError("Timeout", f"name '{name}': node(s) {', '.join(sorted(missing))} did not acknowledge "
                                        f"within {STRONG_TIMEOUT:g}s", retryable=True)
        found = await self._bucket.get(key_of(name))
        if found is None:
            raise ActorError("Conflict", f"name '{name}' was withdrawn while it was being confirmed")
        revision = await self._bucket.update(key_of(name), wire.encode(value), found[1])
        self._changed(key_of(name), wire.encode(value), revision)

    def acknowledge(self, name: str, pid: str) -> bool:
        """Another node's STRONG reservation: refused if this node holds the name LOCAL for another PID."""
        local = super().lookup(name)
        return local is None or local == pid

    async def _drop(self, name: str, pid: str) -> bool:
        """Delete ``name`` if ``pid`` still holds it."""
        binding = self.bindings.get(name)
        if binding is None or binding["pid"] != pid:
            return False
        try:
            return await self._bucket.delete(key_of(name), last=binding["revision"])
        except ActorError as error:
            log.warning("cluster: name %r of %s not released: %s", name, pid, error.message)
            return False

    def node_down(self, node: str) -> None:
        """Release the names of a node that went down (every node tries; one succeeds)."""
        for name, binding in list(self.bindings.items()):
            if binding["node"] == node:
                self._spawn(self._drop, name, binding["pid"])

    # -- internals --------------------------------------------------------------------

    def _own(self, name: str, pid: str) -> None:
        self._owned.setdefault(pid, set()).add(name)

    def _changed(self, key: str, value: bytes | None, revision: int) -> None:
        self._seen = max(self._seen, revision)
        name = name_of(key)
        if name is None:
            return
        current = self.bindings.get(name)
        if current is not None and current["revision"] > revision:
            return  # our own write got here before the watch told of an older one
        if value is None:
            self.bindings.pop(name, None)
            return
        binding = wire.decode(value)
        binding["revision"] = revision
        self.bindings[name] = binding

    def _spawn(self, fn: Any, *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)
