"""What every host that runs its processes on one worker has in common."""

from __future__ import annotations

from typing import Any

from actors.observe.introspect import worker_snapshot, worker_stats
from actors.worker import Worker

__all__ = ["WorkerHost"]


class WorkerHost:
    """Relationship signals and introspection go straight to the worker."""

    id: str
    worker: Worker

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        self.worker.signal(op, sender, dest, data)

    def process_count(self) -> int:
        return self.worker.count()

    def memory(self) -> int:
        """Bytes held by the host's Lua state after a full collection."""
        return self.worker.memory()

    def snapshot(self, *, limit: int | None = None, sort: str = "pid", pid: str | None = None) -> dict:
        """Plain data about the host's processes, for the observer (see ``worker_snapshot``)."""
        return worker_snapshot(self.worker, limit=limit, sort=sort, pid=pid)

    def stats(self) -> dict:
        """The host's counters, for metrics (see ``worker_stats``)."""
        return worker_stats(self.worker)

    def busy_seconds(self) -> list[float]:
        """Wall seconds each of the host's workers has spent running slices."""
        return [self.worker.busy_seconds]

    def configure_observe(self, options: dict) -> None:
        """Tell the kernel whether metrics and tracing are collected (see the
        kernel's ``configure_observe``)."""
        self.worker.configure_observe(options)
