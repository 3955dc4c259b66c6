"""Restart policy of a ``process.service``: when, and how soon, to restart.

Everything here is pure: time comes from an injected ``clock`` and jitter from
an injected ``random``, so backoff can be tested without waiting and the
service state machine can drive it with ``trio.current_time``.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from actors.durations import parse_duration

_NS_PER_SECOND = 1_000_000_000


class RestartMode(str, Enum):
    """Which exits are followed by a restart (OTP child restart types)."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"

    def __str__(self) -> str:
        return self.value


def should_restart(mode: RestartMode, failed: bool) -> bool:
    """Permanent restarts after any exit, transient only after a failure, temporary never."""
    if mode is RestartMode.PERMANENT:
        return True
    if mode is RestartMode.TRANSIENT:
        return failed
    return False


class Reason(str, Enum):
    """Why a :class:`Decision` was taken; the value reads well in logs and errors."""

    FAILED = "failed"
    EXITED_UNDER_PERMANENT = "exit under permanent"
    NORMAL_EXIT_UNDER_TRANSIENT = "normal exit under transient"
    TEMPORARY = "temporary"
    MAX_ATTEMPTS_REACHED = "max_attempts reached"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Decision:
    """What to do after an exit.

    ``attempt`` is the 1-based number of the restart since the last stable run:
    the one about to happen, or the one refused.  ``delay`` is in seconds and
    is 0 when there is no restart.
    """

    restart: bool
    delay: float
    attempt: int
    reason: Reason


@dataclass(frozen=True)
class RestartPolicy:
    """The ``lifecycle.restart`` settings of a service, in seconds.

    ``max_attempts`` counts restarts after the first start (0 = forever);
    ``stable_threshold`` is how long a run must last to reset that count.
    """

    initial_delay: float = 1.0
    max_delay: float = 90.0
    backoff_factor: float = 2.0
    jitter: float = 0.1
    max_attempts: int = 0
    mode: RestartMode = RestartMode.TRANSIENT
    stable_threshold: float = 5.0

    def __post_init__(self) -> None:
        for name in ("initial_delay", "max_delay", "stable_threshold"):
            value = getattr(self, name)
            _require(name, value, _is_real(value) and 0 <= value < math.inf,
                     "must be a finite number of seconds >= 0")
        _require("backoff_factor", self.backoff_factor,
                 _is_real(self.backoff_factor) and 1 <= self.backoff_factor < math.inf,
                 "must be a finite number >= 1")
        _require("jitter", self.jitter,
                 _is_real(self.jitter) and 0 <= self.jitter <= 1,
                 "must be between 0 and 1")
        _require("max_attempts", self.max_attempts,
                 isinstance(self.max_attempts, int) and not isinstance(self.max_attempts, bool)
                 and self.max_attempts >= 0,
                 "must be an integer >= 0 (0 = forever)")
        _require("mode", self.mode, isinstance(self.mode, RestartMode),
                 f"must be a RestartMode ({_modes()})")

    @classmethod
    def from_mapping(cls, lifecycle: Mapping[str, Any]) -> RestartPolicy:
        """Build from a registry entry's ``lifecycle`` mapping; missing keys take defaults.

        Durations are nanosecond ints (already parsed) or strings such as ``"1s"``.
        Unknown keys under ``restart`` are rejected so that a typo is not silently ignored.
        """
        restart = lifecycle.get("restart") or {}
        if not isinstance(restart, Mapping):
            raise ValueError(f"lifecycle.restart: expected a mapping, got {restart!r}")
        unknown = set(restart) - _RESTART_KEYS
        if unknown:
            raise ValueError(f"lifecycle.restart: unknown keys {sorted(map(str, unknown))}; "
                             f"expected some of {sorted(_RESTART_KEYS)}")
        fields: dict[str, Any] = {}
        for key in ("initial_delay", "max_delay"):
            if key in restart:
                fields[key] = _seconds(f"lifecycle.restart.{key}", restart[key])
        for key in ("backoff_factor", "jitter"):
            if key in restart:
                fields[key] = _number(f"lifecycle.restart.{key}", restart[key])
        if "max_attempts" in restart:
            fields["max_attempts"] = restart["max_attempts"]
        if "mode" in restart:
            fields["mode"] = _mode(restart["mode"])
        if "stable_threshold" in lifecycle:
            fields["stable_threshold"] = _seconds("lifecycle.stable_threshold",
                                                  lifecycle["stable_threshold"])
        return cls(**fields)

    def base_delay(self, attempt: int) -> float:
        """Delay before restart ``attempt`` (1-based) without jitter: geometric, capped."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt!r}")
        if self.initial_delay == 0:
            return 0.0
        try:
            grown = self.initial_delay * self.backoff_factor ** (attempt - 1)
        except OverflowError:  # far past any cap
            return self.max_delay
        return min(self.max_delay, grown)

    def delay(self, attempt: int, u: float) -> float:
        """:meth:`base_delay` scaled by ``1 ± jitter``, with ``u`` uniform in [0, 1).

        Jitter spreads restarts of services that failed together.
        """
        if not 0 <= u < 1:
            raise ValueError(f"random value must be in [0, 1), got {u!r}")
        return self.base_delay(attempt) * (1 + self.jitter * (2 * u - 1))


class RestartTracker:
    """Restart bookkeeping of one service: counts attempts and decides each restart.

    The caller reports :meth:`record_start` when the process is running and
    :meth:`record_exit` when it ends.  A run that lasted ``stable_threshold``
    resets the attempt count, so a service that crashes once a day always
    restarts after ``initial_delay`` and never exhausts ``max_attempts``.
    """

    def __init__(self, policy: RestartPolicy, clock: Callable[[], float],
                 random: Callable[[], float] = _random.random) -> None:
        self.policy = policy
        self._clock = clock
        self._random = random
        self._attempts = 0
        self._started_at: float | None = None

    @property
    def attempts(self) -> int:
        """Restarts made since the last stable run."""
        return self._attempts

    def record_start(self) -> None:
        """The process is now running; its run is timed from here."""
        self._started_at = self._clock()

    def record_exit(self, failed: bool) -> Decision:
        """The process ended; decide whether and when to restart it.

        An exit without a preceding :meth:`record_start` (a failed start)
        counts as a run of length zero.
        """
        if self._ran_stably():
            self._attempts = 0
        self._started_at = None
        attempt = self._attempts + 1
        mode = self.policy.mode
        if not should_restart(mode, failed):
            reason = (Reason.TEMPORARY if mode is RestartMode.TEMPORARY
                      else Reason.NORMAL_EXIT_UNDER_TRANSIENT)
            return Decision(False, 0.0, attempt, reason)
        if 0 < self.policy.max_attempts < attempt:
            return Decision(False, 0.0, attempt, Reason.MAX_ATTEMPTS_REACHED)
        self._attempts = attempt
        reason = Reason.FAILED if failed else Reason.EXITED_UNDER_PERMANENT
        return Decision(True, self.policy.delay(attempt, self._random()), attempt, reason)

    def reset(self) -> None:
        """Forget past attempts, e.g. when an operator starts the service again."""
        self._attempts = 0
        self._started_at = None

    def _ran_stably(self) -> bool:
        return (self._started_at is not None
                and self._clock() - self._started_at >= self.policy.stable_threshold)


_RESTART_KEYS = frozenset(
    {"initial_delay", "max_delay", "backoff_factor", "jitter", "max_attempts", "mode"})


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(name: str, value: Any, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"RestartPolicy.{name} {rule}, got {value!r}")


def _modes() -> str:
    return " | ".join(m.value for m in RestartMode)


def _seconds(path: str, value: Any) -> float:
    """A duration in seconds from nanoseconds or a duration string such as ``"1s"``."""
    try:
        return parse_duration(value) / _NS_PER_SECOND
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _number(path: str, value: Any) -> float:
    if not _is_real(value):
        raise ValueError(f"{path}: expected a number, got {value!r}")
    return float(value)


def _mode(value: Any) -> RestartMode:
    try:
        return RestartMode(str(value).lower())
    except ValueError:
        raise ValueError(f"lifecycle.restart.mode: expected {_modes()}, got {value!r}") from None
