"""The ``process.host`` kind: a scheduler that runs ``process.lua`` entries.

A process host owns ``host.workers`` workers (Lua states with their own run
queues, see ``actors/workers.py``) and is the node's address for every PID
whose host part is this entry's id.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import trio
from lupa.lua54 import LuaMemoryError

from actors.durations import SECOND, parse_duration
from actors.errors import ActorError
from actors.observe.introspect import worker_snapshot, worker_stats
from actors.pid import pid_prefix
from actors.registry import Entry
from actors.sizes import parse_byte_size
from actors.worker import LUA_KINDS, Worker
from actors.workers import WorkerGroup, default_workers

__all__ = ["ProcessHost"]

log = logging.getLogger("luactor")

#: Workers per CPU past which ``host.workers`` is warned about: more cannot run at once.
_WORKERS_PER_CPU_WARNING = 4


class ProcessHost:
    kind = "process.host"

    def __init__(self, entry: Entry, node: Any):
        self.id = entry.id
        self._node_pid = node.pid
        self._stop_timeout = parse_duration(entry.get("lifecycle.stop_timeout")) / SECOND
        count = entry.get("host.workers", None) or default_workers()
        cpus = len(os.sched_getaffinity(0))
        if count > _WORKERS_PER_CPU_WARNING * cpus:
            log.warning("%s: field host.workers: %d workers on %d CPUs; at most %d run at once",
                        entry.id, count, cpus, cpus)
        max_memory = parse_byte_size(entry.get("host.max_memory"))
        lua_entries = node.registry.of_kind(*LUA_KINDS)
        max_processes = entry.get("host.max_processes", None)

        def make_worker(index: int, loads: list[int] | None, extra_deps: dict, handlers: dict) -> Worker:
            return Worker(
                node.router, entry.id, pid_prefix(node.name, entry.id), lua_entries,
                max_processes=max_processes,
                max_instructions=entry.get("host.max_instructions"),
                source_root=node.registry.app_dir.parent,
                max_memory=max_memory,  # each worker's Lua state
                # the kernel keeps a reserve within max_memory; max_mailbox 0 is no bound
                extra_deps={b"max_memory": max_memory, b"max_mailbox": entry.get("host.max_mailbox") or None,
                            **extra_deps},
                handlers=handlers, index=index, loads=loads,
            )
        self.workers = WorkerGroup(count, pid_prefix(node.name, entry.id),
                                   {e.id: e.kind for e in lua_entries}, max_processes, make_worker)

    async def start(self, nursery: trio.Nursery) -> None:
        await self.workers.start(nursery)

    async def stop(self) -> None:
        """Deliver CANCEL to every process, wait (``lifecycle.stop_timeout`` at
        most) for those that listen to their events to end, then end the rest;
        monitors and links hear about it."""
        await self.workers.stop(self._node_pid, "node shutting down", self._stop_timeout)

    def spawn(self, entry_id: str, args: list, options: dict) -> str:
        return self.workers.spawn(entry_id, args, options)

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """Deliver a message from Python or another host; a full mailbox
        refuses it (RateLimited), as does a host out of memory."""
        try:
            self.workers.send(sender, dest, topic, payload)
        except LuaMemoryError:
            raise ActorError("RateLimited", f"host {self.id} is out of memory (host.max_memory): "
                                            f"message to {dest} refused") from None

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        self.workers.signal(op, sender, dest, data)

    def process_count(self) -> int:
        return self.workers.count()

    def memory(self) -> int:
        """Bytes held by the host's Lua states after a full collection."""
        return self.workers.memory()

    def snapshot(self, *, limit: int | None = None, sort: str = "pid", pid: str | None = None) -> dict:
        """Plain data about the host's processes, for the observer (see ``worker_snapshot``)."""
        workers = self.workers.workers
        if pid is not None:
            workers = [self.workers.worker_of(pid)]
        parts = []
        for worker in workers:
            with worker.locked():
                parts.append(worker_snapshot(worker, limit=limit, sort=sort, pid=pid))
        if len(parts) == 1:
            return parts[0]
        rows = [row for part in parts for row in part["processes"]]
        if sort == "pid":
            rows.sort(key=lambda row: row["pid"])
        else:
            rows.sort(key=lambda row: (-row[sort], row["pid"]))
        return {"total": sum(part["total"] for part in parts),
                "processes": rows if limit is None else rows[:limit]}

    def stats(self) -> dict:
        """The host's counters, for metrics (see ``worker_stats``): its workers' summed."""
        totals: dict = {}
        for worker in self.workers.workers:
            with worker.locked():
                stats = worker_stats(worker)
            for key, value in stats.items():
                if key == "depth_max":
                    totals[key] = max(totals.get(key, 0), value)
                elif key == "depth_counts":
                    old = totals.get(key) or [0] * len(value)
                    totals[key] = [a + b for a, b in zip(old, value)]
                else:
                    totals[key] = totals.get(key, 0) + value
        return totals

    def busy_seconds(self) -> list[float]:
        """Wall seconds each of the host's workers has spent running slices."""
        return [worker.busy_seconds for worker in self.workers.workers]

    def configure_observe(self, options: dict) -> None:
        """Tell every worker's kernel whether metrics and tracing are collected."""
        for worker in self.workers.workers:
            worker.configure_observe(options)
