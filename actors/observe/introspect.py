"""Reading a worker's kernel from Python: its counters and a snapshot of its processes.

Both are plain data made by ``actors/lua/observe.lua`` with raw reads only, so
no process's code runs while the observer looks. Names live in Python (the
node's name registry) and are added here.
"""

from __future__ import annotations

from typing import Any

from actors.codec import from_lua, to_lua

__all__ = ["DEPTH_BUCKETS", "SORT_KEYS", "worker_snapshot", "worker_stats"]

#: Upper bounds of the mailbox depth histogram's buckets.
DEPTH_BUCKETS = (0, 1, 10, 100, 1000, 10000)

#: What a process table may be sorted by (largest first, except pid).
SORT_KEYS = ("mailbox", "reductions", "memory", "pid")


def worker_stats(worker: Any) -> dict:
    """Counters of the worker (spawns, exits, kills, reductions, turns, slices,
    messages delivered) and its processes' mailbox depths in ``DEPTH_BUCKETS``."""
    stats = from_lua(worker.kernel.stats(to_lua(worker.lua, list(DEPTH_BUCKETS))))
    stats["alive"] = worker.count()
    return stats


def worker_snapshot(worker: Any, *, limit: int | None = None, sort: str = "pid", pid: str | None = None) -> dict:
    """``{"total": n, "processes": [...]}``: every process of the worker (the first
    ``limit`` by ``sort``), or only ``pid``'s. Each row: pid, entry, kind, status,
    function (where its main task is in user code), mailbox (messages queued in all),
    inbox, events, topics (depth per listened topic), reductions (used by its live
    tasks, sampled: every 64th turn of a slice counts for 64), memory (an estimate: an idle process's cost plus what its mailboxes
    hold), links, monitors (the PIDs that monitor it), names, trap_links, workflow.
    """
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    raw = worker.kernel.snapshot(limit, sort.encode(), pid.encode() if pid is not None else None)
    snapshot = from_lua(raw)
    processes = snapshot.get("processes") or []
    names = worker.router.names
    for row in processes:
        row["names"] = sorted(names.names_of(row["pid"]))
        for key in ("links", "monitors"):
            if not isinstance(row.get(key), list):
                row[key] = []
        if not isinstance(row.get("topics"), dict):
            row["topics"] = {}
    return {"total": snapshot["total"], "processes": processes}
