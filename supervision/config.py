"""What a ``process.service`` or ``supervisor`` entry asks for, in seconds and enums.

The loader has checked each field's type; this module turns the fields into
the values supervision runs with (a missing field takes the default its kind
declares in ``supervision.kinds``), and reports what the loader cannot see
(``period: 0``, an unknown key under ``lifecycle.restart``) as a ``Problem``
naming the file and entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.durations import SECOND, parse_duration
from actors.registry import Entry

from .policy import RestartPolicy
from .strategy import Strategy


class ConfigError(ValueError):
    """An entry's value supervision cannot run with; ``field`` is the dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ServiceSpec:
    """A ``process.service``: which process to keep running where, and how."""

    id: str
    process: str
    host: str
    args: tuple[Any, ...]
    start_timeout: float
    stop_timeout: float
    policy: RestartPolicy

    @classmethod
    def from_entry(cls, entry: Entry) -> ServiceSpec:
        lifecycle = entry.get("lifecycle", {}) or {}
        try:
            policy = RestartPolicy.from_mapping(lifecycle)
        except ValueError as error:
            raise ConfigError("lifecycle.restart", str(error)) from None
        start_timeout = _seconds(entry, "lifecycle.start_timeout")
        if start_timeout <= 0:
            raise ConfigError("lifecycle.start_timeout",
                              f"must be longer than zero, got {entry.get('lifecycle.start_timeout')!r}")
        return cls(
            id=entry.id, process=entry.get("process"), host=entry.get("host"),
            args=tuple(entry.get("input") or ()),
            start_timeout=start_timeout,
            stop_timeout=_seconds(entry, "lifecycle.stop_timeout"),
            policy=policy,
        )


@dataclass(frozen=True)
class SupervisorSpec:
    """A ``supervisor``: its strategy and how many restarts it tolerates in which window."""

    id: str
    strategy: Strategy
    intensity: int
    period: float

    @classmethod
    def from_entry(cls, entry: Entry) -> SupervisorSpec:
        period = _seconds(entry, "period")
        if period <= 0:
            raise ConfigError("period", f"must be longer than zero, got {entry.get('period')!r}")
        return cls(entry.id, Strategy(entry.get("strategy")), entry.get("intensity"), period)


def _seconds(entry: Entry, path: str) -> float:
    return parse_duration(entry.get(path)) / SECOND
