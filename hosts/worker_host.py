"""What every host that runs its processes on one worker has in common."""

from __future__ import annotations

from typing import Any

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
