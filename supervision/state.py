"""Lifecycle states of services and supervisors, and the one-line log of each change.

Operators read a supervised node through these states, so every
change is checked against the transitions below and logged on one line of
the ``luactor`` logger: id, old -> new state, attempt, delay and error.
"""

from __future__ import annotations

import logging
from enum import Enum

log = logging.getLogger("luactor")


class State(str, Enum):
    """Where a service or supervisor is in its life."""

    UNKNOWN = "Unknown"    # never started
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"    # stopped on request (operator, shutdown, a sibling's restart)
    FAILED = "Failed"      # ended abnormally; a restart will follow
    EXITED = "Exited"      # ended; no restart will follow

    def __str__(self) -> str:
        return self.value


S = State
#: Allowed moves.  Anything else is a bug in the supervision code, not in the app.
TRANSITIONS: dict[State, frozenset[State]] = {
    S.UNKNOWN: frozenset({S.STARTING}),
    S.STARTING: frozenset({S.RUNNING, S.FAILED, S.EXITED, S.STOPPED}),
    S.RUNNING: frozenset({S.STOPPING, S.FAILED, S.EXITED, S.STOPPED}),
    S.STOPPING: frozenset({S.STOPPED, S.EXITED}),
    S.STOPPED: frozenset({S.STARTING}),
    S.FAILED: frozenset({S.STARTING, S.STOPPED, S.EXITED}),
    S.EXITED: frozenset({S.STARTING}),
}
del S


class Lifecycle:
    """The current state of one service or supervisor, with its last error.

    ``move`` is the only way to change state, so that no change goes unlogged.
    ``reason`` says why in words; ``error`` is also kept as ``last_error``.
    """

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.id = ident
        self.state = State.UNKNOWN
        self.last_error: str | None = None
        self.starts = 0     # moves to Starting: the first start and every restart (for metrics)

    def move(self, new: State, *, attempt: int | None = None, delay: float | None = None,
             error: str | None = None, reason: str | None = None) -> None:
        old = self.state
        if new is old:
            return
        if new not in TRANSITIONS[old]:
            raise RuntimeError(f"{self.kind} {self.id}: no transition {old} -> {new}")
        self.state = new
        if new is State.STARTING:
            self.starts += 1
        if error is not None:
            self.last_error = error
        parts = [f"{self.kind} {self.id}: {old} -> {new}"]
        if attempt is not None:
            parts.append(f"attempt={attempt}")
        if delay is not None:
            parts.append(f"delay={delay:.3f}s")
        if reason is not None:
            parts.append(f"reason={reason!r}")
        if error is not None:
            parts.append(f"error={error!r}")
        log.log(logging.WARNING if error is not None else logging.INFO, " ".join(parts))
