"""Python-side endpoints: things with a PID that live in Python.

A :class:`Mailbox` lets Python code take part in messaging as a process:
it has a PID, receives messages and lifecycle events, and can be monitored
and linked like any process. An :class:`ExitWaiter` is the one-shot endpoint
the node uses to wait for a process's result (``node.call``, ``node.exec``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from .errors import ActorError

if TYPE_CHECKING:
    from .router import Router

__all__ = ["EVENT_TOPICS", "ExitWaiter", "Mailbox", "Message"]

#: Lifecycle events reach a mailbox as messages on these reserved topics.
EVENT_TOPICS = {"EXIT": "@exit", "LINK_DOWN": "@link_down", "CANCEL": "@cancel"}


@dataclass(frozen=True)
class Message:
    topic: str
    payload: Any
    sender: str | None


class Endpoint:
    """Common part of Python endpoints: a PID and who watches it."""

    def __init__(self, router: Router, pid: str):
        self.router = router
        self.pid = pid
        self.monitors: set[str] = set()
        self.links: set[str] = set()

    def deliver(self, message: Message) -> None:
        """A message addressed to this endpoint (dropped by default)."""

    def event(self, event: dict) -> None:
        """A lifecycle event addressed to this endpoint (dropped by default)."""

    def close(self) -> None:
        """Leave the node; monitors see a normal EXIT."""
        self.router.remove_endpoint(self.pid)
        for watcher in self.monitors:
            self.router.deliver_event(watcher, {"kind": "EXIT", "from": self.pid, "result": {"value": None}})


class Mailbox(Endpoint):
    """A Python participant with a PID. Use through ``node.mailbox()``.

    ``receive()`` returns messages in arrival order; lifecycle events
    (EXIT, LINK_DOWN, CANCEL) arrive as messages whose topic is ``@exit``,
    ``@link_down`` or ``@cancel`` and whose payload is the event.
    """

    def __init__(self, router: Router, pid: str):
        super().__init__(router, pid)
        self._send_end, self._receive_end = trio.open_memory_channel[Message](math.inf)

    def deliver(self, message: Message) -> None:
        self._send_end.send_nowait(message)

    def event(self, event: dict) -> None:
        topic = EVENT_TOPICS.get(event.get("kind"), "@event")
        self._send_end.send_nowait(Message(topic, event, event.get("from")))

    async def receive(self) -> Message:
        return await self._receive_end.receive()

    def receive_nowait(self) -> Message:
        """The next message; ``trio.WouldBlock`` if there is none."""
        return self._receive_end.receive_nowait()

    async def send(self, dest: str, topic: str, payload: Any = None) -> None:
        """Send with this mailbox as the sender (to a workflow: once stored)."""
        await self.router.send(self.pid, dest, topic, payload)

    def monitor(self, pid: str) -> None:
        self.router.signal("monitor", self.pid, self.router.resolve(pid), None)

    def unmonitor(self, pid: str) -> None:
        self.router.signal("unmonitor", self.pid, self.router.resolve(pid), None)

    def link(self, pid: str) -> None:
        target = self.router.resolve(pid)
        self.links.add(target)
        self.router.signal("link", self.pid, target, None)

    def unlink(self, pid: str) -> None:
        target = self.router.resolve(pid)
        self.links.discard(target)
        self.router.signal("unlink", self.pid, target, None)


class ExitWaiter(Endpoint):
    """Waits for the EXIT of the one process it monitors."""

    def __init__(self, router: Router, pid: str):
        super().__init__(router, pid)
        self._done = trio.Event()
        self._result: dict = {}

    def event(self, event: dict) -> None:
        if event.get("kind") == "EXIT" and not self._done.is_set():
            self._result = event.get("result") or {}
            self._done.set()

    async def result(self) -> dict:
        """The raw result ``{value, error}`` of the watched process."""
        await self._done.wait()
        return self._result

    async def value(self) -> Any:
        """The watched process's value, or its error raised as ActorError."""
        result = await self.result()
        if result.get("error") is not None:
            raise ActorError.from_plain(result["error"])
        return result.get("value")
