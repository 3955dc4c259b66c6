"""The ``process.host`` kind: a scheduler that runs ``process.lua`` entries.

A process host owns one worker (a Lua state with its own run queue) and is
the node's address for every PID whose host part is this entry's id.
"""

from __future__ import annotations

from typing import Any

import trio
from lupa.lua54 import LuaMemoryError

from actors.durations import SECOND, parse_duration
from actors.errors import ActorError
from actors.pid import pid_prefix
from actors.registry import Entry
from actors.sizes import parse_byte_size
from actors.worker import LUA_KINDS, Worker

from .worker_host import WorkerHost

__all__ = ["ProcessHost"]


class ProcessHost(WorkerHost):
    kind = "process.host"

    def __init__(self, entry: Entry, node: Any):
        self.id = entry.id
        self._node_pid = node.pid
        self._stop_timeout = parse_duration(entry.get("lifecycle.stop_timeout")) / SECOND
        max_memory = parse_byte_size(entry.get("host.max_memory"))
        self.worker = Worker(
            node.router, entry.id, pid_prefix(node.name, entry.id), node.registry.of_kind(*LUA_KINDS),
            max_processes=entry.get("host.max_processes", None),
            max_instructions=entry.get("host.max_instructions"),
            source_root=node.registry.app_dir.parent,
            max_memory=max_memory,
            # the kernel keeps a reserve within max_memory; max_mailbox 0 is no bound
            extra_deps={b"max_memory": max_memory, b"max_mailbox": entry.get("host.max_mailbox") or None},
        )

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.worker.run)

    async def stop(self) -> None:
        """Deliver CANCEL to every process, wait (``lifecycle.stop_timeout`` at
        most) for those that listen to their events to end, then end the rest;
        monitors and links hear about it."""
        await self.worker.cancel_all(self._node_pid, "node shutting down", self._stop_timeout)
        self.worker.terminate_all("node shutting down")

    def spawn(self, entry_id: str, args: list, options: dict) -> str:
        return self.worker.spawn(entry_id, args, options)

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """Deliver a message from Python or another host; a full mailbox
        refuses it (RateLimited), as does a host out of memory."""
        try:
            self.worker.send(sender, dest, topic, payload)
        except LuaMemoryError:
            raise ActorError("RateLimited", f"host {self.id} is out of memory (host.max_memory): "
                                            f"message to {dest} refused") from None
