"""Messages, signals and events between nodes, and spawns on other nodes.

Whatever a node addresses to a PID of another node (the PID names its node)
becomes a frame (see ``wire``) in that node's outgoing batch. Batches go out
once the current scheduler slice and its drain are over: one NATS publish
per target node per batch, frames in the order they were made, so messages
from one sender to one receiver arrive in order. A batch never exceeds the
server's ``max_payload``: a message too large for it alone is refused to its
sender.

The node also remembers which of its processes monitor or are linked with
processes of other nodes, so that when a node goes down every such monitor
gets EXIT and every such link LINK_DOWN, with an Unavailable error naming
the node.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import trio

from actors.codec import from_lua
from actors.errors import ActorError
from actors.pid import node_of

from . import wire
from .link import NatsLink

__all__ = ["RemoteRouting"]

log = logging.getLogger("luactor")

#: How long a spawn on another node may take to be answered (seconds).
SPAWN_TIMEOUT = 5.0


def inbox_subject(node: str) -> str:
    return f"luactor.node.{node}"


def rpc_subject(node: str) -> str:
    return f"luactor.rpc.{node}"


class RemoteRouting:
    def __init__(self, link: NatsLink, router: Any, node: str):
        self.link = link
        self.router = router
        self.node = node
        self._batches: dict[str, list[bytes]] = {}
        self._sizes: dict[str, int] = {}
        self._flush_soon = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.batches_sent = 0
        #: what other nodes may ask of this one: op -> async handler(args) -> answer
        self.handlers: dict[str, Any] = {"spawn": self._spawn_here}
        # (op, local pid, remote pid) by remote node: what fires when that node goes down
        self._watches: dict[str, set[tuple[str, str, str]]] = {}

    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        await self.link.subscribe(inbox_subject(self.node), self._received)
        await self.link.subscribe(rpc_subject(self.node), self._requested)
        nursery.start_soon(self._flusher)

    # -- outgoing -------------------------------------------------------------

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """A message from this node, queued; ActorError if it cannot go (too large, no link)."""
        self._queue(node_of(dest), ["m", sender, dest, topic, payload])

    def route(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """:meth:`send` where nobody can be told: lost, as a send to a dead PID, if it cannot go."""
        try:
            self.send(sender, dest, topic, payload)
        except ActorError as error:
            log.warning("cluster: message from %s to %s dropped: %s", sender, dest, error.message)

    def send_from_lua(self, sender: bytes, dest: bytes, topic: bytes, payload: Any) -> tuple | None:
        """``process.send`` to another node (a kernel callback): None when queued, else the
        error's ``(kind, message)`` for the sender."""
        try:
            self.send(sender.decode(), dest.decode(), topic.decode(), from_lua(payload))
        except ActorError as error:
            return (error.kind.encode(), error.message.encode())
        return None

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        try:
            node = node_of(dest)
            self._queue(node, ["s", op, sender, dest, data])
        except ActorError as error:
            log.warning("cluster: %s from %s to %s dropped: %s", op, sender, dest, error.message)
            return
        if op in ("monitor", "link"):
            self._watch(node, (op, sender, dest))
        elif op in ("unmonitor", "unlink"):
            self._unwatch(node, (op[2:], sender, dest))

    def event(self, dest: str, event: dict) -> None:
        try:
            self._queue(node_of(dest), ["e", dest, event])
        except ActorError as error:
            log.warning("cluster: %s event for %s dropped: %s", event.get("kind"), dest, error.message)

    async def spawn(self, node: str, host: str, entry_id: str, args: list, options: dict) -> str:
        """Start ``entry_id`` on ``host`` of ``node``; its PID."""
        self.flush()  # what this node sent before the spawn goes first
        pid = await self.ask(node, "spawn", {"host": host, "entry": entry_id, "args": args, "options": options})
        for op, key in (("monitor", "monitor_by"), ("link", "link_with")):
            if options.get(key):
                self._watch(node, (op, options[key], pid))
        return pid

    def _queue(self, node: str, frame: list) -> None:
        if not self.link.connected:
            raise ActorError("Unavailable", f"node {self.node} is cut off from the cluster (no NATS connection)")
        try:
            data = wire.encode(frame)
        except (TypeError, ValueError, OverflowError) as error:
            raise ActorError("Invalid", f"cannot cross to node {node}: {error}") from None
        limit = self.link.max_payload - wire.FRAME_OVERHEAD
        if len(data) > limit:
            raise ActorError("Invalid", f"message to {frame[2] if frame[0] == 'm' else frame[1]} is {len(data)} bytes, "
                                        f"over the {limit} bytes a message between nodes may take (NATS max_payload)")
        if self._sizes.get(node, 0) + len(data) > limit:
            self._publish(node)
        self._batches.setdefault(node, []).append(data)
        self._sizes[node] = self._sizes.get(node, 0) + len(data)
        self._flush_soon.set()

    def flush(self) -> None:
        """Publish every pending batch now."""
        for node in list(self._batches):
            self._publish(node)

    def _publish(self, node: str) -> None:
        frames = self._batches.pop(node, None)
        self._sizes.pop(node, None)
        if frames:
            self.batches_sent += 1
            self.link.publish(inbox_subject(node), msgpack.Packer().pack_array_header(len(frames)) + b"".join(frames))

    async def _flusher(self) -> None:
        """Publish after the slice that queued frames is over: trio runs this task
        only once the worker's synchronous slice and drain have returned."""
        while True:
            await self._flush_soon.wait()
            self._flush_soon = trio.Event()
            self.flush()

    # -- incoming -------------------------------------------------------------

    def _received(self, data: bytes, _reply: str) -> None:
        try:
            frames = wire.decode(data)
        except (ValueError, msgpack.UnpackException) as error:
            log.warning("cluster: an unreadable batch was dropped: %s", error)
            return
        for frame in frames:
            try:
                self._dispatch(frame)
            except ActorError as error:
                # a full mailbox, a host out of memory: the message is dropped there, as locally
                log.debug("cluster: frame %s refused: %s", frame[0], error.message)

    def _dispatch(self, frame: list) -> None:
        kind = frame[0]
        if kind == "m":
            _, sender, dest, topic, payload = frame
            self.router.route(sender, dest, topic, payload)
        elif kind == "s":
            _, op, sender, dest, data = frame
            if op == "link":
                self._watch(node_of(sender), ("link", dest, sender))
            elif op == "unlink":
                self._unwatch(node_of(sender), ("link", dest, sender))
            self.router.signal(op, sender, dest, data)
        elif kind == "e":
            _, dest, event = frame
            source = event.get("from")
            if event.get("kind") in ("EXIT", "LINK_DOWN") and isinstance(source, str):
                node = node_of(source)
                self._unwatch(node, ("monitor", dest, source))
                self._unwatch(node, ("link", dest, source))
            self.router.deliver_event(dest, event)

    def _requested(self, data: bytes, reply: str) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._serve, data, reply)

    async def _serve(self, data: bytes, reply: str) -> None:
        try:
            op, args = wire.decode(data)
            handler = self.handlers.get(op)
            if handler is None:
                raise ActorError("Invalid", f"unknown request {op!r}")
            answer = wire.success(await handler(args))
        except ActorError as error:
            answer = wire.failure(error)
        if reply:
            self.link.publish(reply, answer)

    async def ask(self, node: str, op: str, args: Any, timeout: float = SPAWN_TIMEOUT) -> Any:
        """Request ``op`` of ``node`` (one of its :attr:`handlers`); its answer, or its error raised."""
        return wire.answer(await self.link.request(rpc_subject(node), wire.encode([op, args]), timeout))

    async def _spawn_here(self, args: dict) -> str:
        return await self.router.start(args["host"], args["entry"], args["args"], args["options"])

    # -- node down ------------------------------------------------------------

    def _watch(self, node: str, watch: tuple[str, str, str]) -> None:
        self._watches.setdefault(node, set()).add(watch)

    def _unwatch(self, node: str, watch: tuple[str, str, str]) -> None:
        watches = self._watches.get(node)
        if watches is not None:
            watches.discard(watch)

    def node_down(self, node: str, why: str) -> None:
        """Every monitor of a process of ``node`` gets EXIT, every link LINK_DOWN."""
        self._batches.pop(node, None)
        self._sizes.pop(node, None)
        message = f"node {node} is down ({why})"
        error = {"kind": "Unavailable", "message": message}
        for op, local, remote in sorted(self._watches.pop(node, ())):
            if op == "monitor":
                self.router.deliver_event(local, {"kind": "EXIT", "from": remote, "result": {"error": error}})
            else:
                self.router.deliver_event(local, {"kind": "LINK_DOWN", "from": remote, "reason": f"Unavailable: {message}",
                                                  "result": {"error": error}})
