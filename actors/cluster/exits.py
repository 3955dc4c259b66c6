"""An endpoint of the cluster's own that monitors processes and hears of their end:
how group memberships and locks end with the process that holds them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.mailbox import Endpoint

__all__ = ["ExitWatcher", "watch_exits"]


class ExitWatcher(Endpoint):
    on_exit: Callable[[str], None] | None = None

    def event(self, event: dict) -> None:
        pid = event.get("from")
        if event.get("kind") == "EXIT" and isinstance(pid, str) and self.on_exit is not None:
            self.on_exit(pid)


def watch_exits(router: Any, on_exit: Callable[[str], None]) -> ExitWatcher:
    """A watcher that calls ``on_exit(pid)`` when a process it monitors ends
    (``router.signal("monitor", watcher.pid, pid, None)`` to watch one)."""
    watcher = router.new_endpoint(ExitWatcher)
    watcher.on_exit = on_exit
    return watcher
