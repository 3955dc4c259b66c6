"""What a supervisor needs of its children, services and supervisors alike (OTP child spec).

A supervisor starts, stops and resets children, and asks a child that ended
on its own (``settle``) whether it wants to be restarted.  Everything here is
called from the owning supervisor's loop only, so children need no locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .failure import Failure
from .state import Lifecycle, State

#: States in which a child takes part in its siblings' restarts: it is up, or about to be.
ACTIVE = frozenset({State.STARTING, State.RUNNING, State.FAILED})


@dataclass(frozen=True)
class Outcome:
    """What a child's end calls for: a restart after ``delay`` seconds, or nothing."""

    restart: bool
    delay: float = 0.0
    failure: Failure | None = None


class Child(Protocol):
    id: str
    lifecycle: Lifecycle
    is_supervisor: bool

    async def start(self) -> None:
        """Bring the child up; a failure to start is reported like a crash."""

    async def stop(self) -> None:
        """Bring the child down within its stop timeout; no restart follows."""

    def reset(self) -> None:
        """Forget past restarts: the child begins a fresh life under a fresh supervisor."""

    def settle(self, token: Any, shutting_down: bool) -> Outcome | None:
        """The child ended on its own (``token`` names which life); None if that news is stale."""
