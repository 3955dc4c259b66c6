"""How long a workflow's history may grow: a workflow.host's ``history.*`` settings.

A workflow can append to its history without end (a loop of sends to itself
writes about a megabyte a second), and so can a flood of messages to it. As
in Temporal, each run of a workflow has a limit on its events and on their
stored bytes, with a warning level below each:

- past a warning level the host logs one warning for that workflow;
- a record of the workflow's own (a command, a batch of events) that would
  take its history past a limit is not stored: the workflow fails with a
  RATE_LIMITED error naming the limit and the setting, and what was stored
  stays readable;
- a message that would take it past a limit is refused: its sender gets
  that error, nothing is stored, and the workflow fails as above; messages
  to a workflow that failed at a limit are refused too.

So a history never holds more than the limits allow, and the store stays
healthy for every other workflow. The counts are the host's, kept while a
workflow runs and read back from its stored events when it is recovered.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from actors.errors import ActorError
from actors.sizes import parse_byte_size

__all__ = ["HistoryLimits", "Usage"]

#: A limit of 0 is none.
_UNLIMITED = sys.maxsize


class Usage:
    """One workflow run's history so far, and where the next check is due.

    ``next_events`` and ``next_bytes`` are the warning levels until the warning
    is given, then the limits: a record is checked in full only when it
    passes one of them.
    """

    __slots__ = ("bytes", "events", "next_bytes", "next_events", "prepaid", "warned")

    def __init__(self, limits: HistoryLimits):
        self.events = self.bytes = 0
        self.next_events = min(limits.warn_events, limits.max_events)
        self.next_bytes = min(limits.warn_bytes, limits.max_bytes)
        self.warned = False
        self.prepaid: dict[Any, int] | None = None

    def prepay(self, sender: Any) -> None:
        """A message of ``sender`` was counted when it was sent (from Python, which
        learns of a refusal before the message goes anywhere): :meth:`paid` says so
        when it is stored."""
        prepaid = self.prepaid = self.prepaid or {}
        prepaid[sender] = prepaid.get(sender, 0) + 1

    def paid(self, sender: Any) -> bool:
        """Whether a message of ``sender`` was counted when sent; uses that up."""
        prepaid = self.prepaid
        if not prepaid or sender not in prepaid:
            return False
        prepaid[sender] -= 1
        if not prepaid[sender]:
            del prepaid[sender]
        return True


@dataclass(frozen=True)
class HistoryLimits:
    """The ``history.*`` settings of workflow host ``host`` (0 turns a level off)."""

    host: str
    max_events: int
    max_bytes: int
    warn_events: int
    warn_bytes: int

    @classmethod
    def of(cls, entry: Any) -> HistoryLimits:
        def level(name: str, parse: Any = int) -> int:
            return parse(entry.get(f"history.{name}")) or _UNLIMITED
        return cls(entry.id, level("max_events"), level("max_bytes", parse_byte_size),
                   level("warn_events"), level("warn_bytes", parse_byte_size))

    def passed(self, usage: Usage, size: int) -> str | None:
        """The limit one more record of ``size`` bytes would take ``usage`` past, if any."""
        if usage.events + 1 > self.max_events:
            return "max_events"
        if usage.bytes + size > self.max_bytes:
            return "max_bytes"
        return None

    def warning(self, workflow_id: str, usage: Usage) -> str | None:
        """The warning to log now that ``usage`` passed a warning level (once per
        workflow); from then on its checks are due at the limits."""
        usage.next_events, usage.next_bytes = self.max_events, self.max_bytes
        if usage.warned or (usage.events <= self.warn_events and usage.bytes <= self.warn_bytes):
            return None
        usage.warned = True
        return (f"workflow {workflow_id!r} has a long history: {usage.events:,} events, {usage.bytes:,} bytes "
                f"(warning levels history.warn_events {self._show(self.warn_events)}, history.warn_bytes "
                f"{self._show(self.warn_bytes)}); it fails at history.max_events {self._show(self.max_events)} "
                f"or history.max_bytes {self._show(self.max_bytes)} (host {self.host})")

    def failure(self, workflow_id: str, usage: Usage, limit: str) -> dict:
        """The error a workflow fails with when its next record would pass ``limit``."""
        return self._error(f"workflow {workflow_id!r} failed: its history would pass "
                           f"{self._limit(limit)} ({self._usage(usage)}); what it stored stays readable",
                           limit).to_plain()

    def refusal(self, workflow_id: str, usage: Usage, limit: str) -> ActorError:
        """The error of a message that would take a workflow's history past ``limit``."""
        return self._error(f"message to workflow {workflow_id!r} refused: its history would pass "
                           f"{self._limit(limit)} ({self._usage(usage)})", limit)

    def _error(self, message: str, limit: str) -> ActorError:
        return ActorError("RateLimited", message, retryable=False,
                          details={"limit": f"history.{limit}", "value": getattr(self, limit), "host": self.host})

    def _limit(self, limit: str) -> str:
        unit = "events" if limit == "max_events" else "bytes"
        return f"history.{limit} = {getattr(self, limit):,} {unit} of host {self.host}"

    @staticmethod
    def _usage(usage: Usage) -> str:
        return f"it holds {usage.events:,} events, {usage.bytes:,} bytes"

    @staticmethod
    def _show(level: int) -> str:
        return "off" if level == _UNLIMITED else f"{level:,}"
