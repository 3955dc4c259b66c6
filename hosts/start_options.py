"""The spawn options that start a workflow (Wippy's "Full Options Reference"),
read the same way by every durable host, under the ``workflow.`` and the
``temporal.workflow.`` prefix alike.

Each is checked here, once: a value of the wrong type or an unknown value is
Invalid naming the option. What a host does with them is the host's business;
one that has no meaning on a host is refused there, naming it (see
``StartOptions.given``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.durations import MILLISECOND, SECOND, DurationError, parse_duration
from actors.errors import ActorError

__all__ = ["CONFLICT_POLICIES", "PARENT_CLOSE_POLICIES", "REUSE_POLICIES", "RetryPolicy", "StartOptions",
           "start_options"]

CONFLICT_POLICIES = ("fail", "use_existing", "terminate_existing")
REUSE_POLICIES = ("allow_duplicate", "allow_duplicate_failed_only", "reject_duplicate")
PARENT_CLOSE_POLICIES = ("terminate", "abandon", "request_cancel")

#: Every option, without its prefix, and the reader of its value.
_PREFIX = "workflow."


def _invalid(option: str, message: str) -> ActorError:
    return ActorError("Invalid", f"{_PREFIX}{option}: {message}")


def seconds(value: Any, option: str) -> float:
    """A duration option in seconds: a string like "5m", or milliseconds as a number."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value or value < 0:
                raise DurationError(f"{value!r} is not a number of milliseconds")
            return value * MILLISECOND / SECOND
        return parse_duration(value) / SECOND
    except DurationError as error:
        raise _invalid(option, f"{error} (a duration: \"5s\", \"10m\", or milliseconds)") from None


def _string(value: Any, option: str, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(option, f"must be a non-empty string, got {value!r}")
    if choices and value not in choices:
        raise _invalid(option, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _boolean(value: Any, option: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(option, f"must be true or false, got {value!r}")
    return value


def _table(value: Any, option: str) -> dict:
    if value == []:   # an empty Lua table
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _invalid(option, f"must be a table with string keys, got {value!r}")
    return value


def _search_attributes(value: Any, option: str) -> dict:
    table = _table(value, option)
    for name, item in table.items():
        scalar = isinstance(item, (str, int, float))
        if not (scalar or (isinstance(item, list) and all(isinstance(v, str) for v in item))):
            raise _invalid(option, f"{name}: a search attribute is a string, number, boolean or list of strings, "
                                   f"got {item!r}")
    return table


@dataclass(frozen=True)
class RetryPolicy:
    """Temporal's retry policy; intervals in seconds, 0 attempts for unlimited."""

    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: tuple[str, ...] = ()

    FIELDS = ("initial_interval", "backoff_coefficient", "maximum_interval", "maximum_attempts",
              "non_retryable_error_types")

    @classmethod
    def parse(cls, value: Any, option: str) -> RetryPolicy:
        """A policy from its table; one that could never retry sensibly is Invalid."""
        table = _table(value, option)
        unknown = sorted(set(table) - set(cls.FIELDS))
        if unknown:
            raise _invalid(option, f"unknown field {unknown[0]!r} (fields: {', '.join(cls.FIELDS)})")
        values: dict[str, Any] = {}
        for name in ("initial_interval", "maximum_interval"):
            if name in table:
                values[name] = seconds(table[name], f"{option}.{name}")
                if values[name] <= 0:
                    raise _invalid(f"{option}.{name}", "must be more than 0")
        if "backoff_coefficient" in table:
            coefficient = table["backoff_coefficient"]
            if isinstance(coefficient, bool) or not isinstance(coefficient, (int, float)) or not coefficient >= 1:
                raise _invalid(f"{option}.backoff_coefficient", f"must be a number of at least 1, got {coefficient!r}")
            values["backoff_coefficient"] = float(coefficient)
        if "maximum_attempts" in table:
            attempts = table["maximum_attempts"]
            if isinstance(attempts, float) and attempts.is_integer():
                attempts = int(attempts)
            if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
                raise _invalid(f"{option}.maximum_attempts", f"must be a whole number, 0 for unlimited, got {attempts!r}")
            values["maximum_attempts"] = attempts
        if "non_retryable_error_types" in table:
            kinds = table["non_retryable_error_types"]
            if kinds == {}:
                kinds = []
            if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
                raise _invalid(f"{option}.non_retryable_error_types", f"must be a list of error kinds, got {kinds!r}")
            values["non_retryable_error_types"] = tuple(kinds)
        policy = cls(**values)
        if policy.maximum_interval is not None and policy.maximum_interval < policy.initial_interval:
            raise _invalid(f"{option}.maximum_interval", "is less than initial_interval")
        return policy

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``, after attempt ``attempt`` failed."""
        delay = self.initial_interval * self.backoff_coefficient ** (attempt - 1)
        return min(delay, self.maximum_interval) if self.maximum_interval is not None else delay

    def retries(self, attempt: int, error: dict | None) -> bool:
        """Whether a run that failed with ``error`` at attempt ``attempt`` is tried again."""
        if self.maximum_attempts and attempt >= self.maximum_attempts:
            return False
        return not (isinstance(error, dict) and error.get("kind") in self.non_retryable_error_types)

    def to_plain(self) -> dict:
        return {name: (list(value) if isinstance(value, tuple) else value)
                for name in self.FIELDS if (value := getattr(self, name)) is not None}

    @classmethod
    def from_plain(cls, plain: dict) -> RetryPolicy:
        return cls(**{**plain, "non_retryable_error_types": tuple(plain.get("non_retryable_error_types") or ())})


def _cron(value: Any, option: str) -> str:
    from croniter import croniter  # (only when a cron schedule is asked for)

    text = _string(value, option)
    if not croniter.is_valid(text):
        raise _invalid(option, f"{text!r} is not a cron expression (minute hour day month weekday)")
    return text


#: option (without prefix) -> (StartOptions field, reader)
_READERS: dict[str, tuple[str, Any]] = {
    "id": ("workflow_id", _string),
    "id_conflict_policy": ("policy", lambda v, o: _string(v, o, CONFLICT_POLICIES)),
    "id_reuse_policy": ("reuse_policy", lambda v, o: _string(v, o, REUSE_POLICIES)),
    "execution_error_when_already_started": ("error_when_started", _boolean),
    "execution_timeout": ("execution_timeout", seconds),
    "run_timeout": ("run_timeout", seconds),
    "task_timeout": ("task_timeout", seconds),
    "retry_policy": ("retry_policy", RetryPolicy.parse),
    "cron_schedule": ("cron_schedule", _cron),
    "memo": ("memo", _table),
    "search_attributes": ("search_attributes", _search_attributes),
    "enable_eager_start": ("eager_start", _boolean),
    "start_delay": ("start_delay", seconds),
    "parent_close_policy": ("parent_close_policy", lambda v, o: _string(v, o, PARENT_CLOSE_POLICIES)),
    "wait_for_cancellation": ("wait_for_cancellation", _boolean),
    "task_queue": ("task_queue", _string),
    "namespace": ("namespace", _string),
}


@dataclass(frozen=True)
class StartOptions:
    workflow_id: str | None = None  # None: the host names the workflow
    policy: str = "use_existing"
    reuse_policy: str | None = None
    error_when_started: bool = False
    execution_timeout: float | None = None
    run_timeout: float | None = None
    task_timeout: float | None = None
    retry_policy: RetryPolicy | None = None
    cron_schedule: str | None = None
    memo: dict | None = None
    search_attributes: dict | None = None
    eager_start: bool | None = None
    start_delay: float | None = None
    parent_close_policy: str | None = None
    wait_for_cancellation: bool | None = None
    task_queue: str | None = None
    namespace: str | None = None
    given: frozenset[str] = field(default=frozenset())  # the options set, without prefix

    def refuse(self, options: tuple[str, ...], why: str) -> None:
        """Invalid naming the first of ``options`` that was given, with ``why``."""
        for option in options:
            if option in self.given:
                raise _invalid(option, why)

    def existing_is_error(self) -> bool:
        """Whether a start that finds its id running fails (AlreadyExists)."""
        return self.policy == "fail" or (self.error_when_started and self.policy != "terminate_existing")


def start_options(options: dict[str, Any] | None, *fallback_ids: str | None) -> StartOptions:
    """The start options a spawn gives (``workflow.*`` or ``temporal.workflow.*``):
    the id is ``workflow.id``, else the first of ``fallback_ids`` given (with_name's,
    a child's default)."""
    if not options:   # the common case, made without running the dataclass's __init__ (~15x faster)
        plain = object.__new__(StartOptions)
        plain.__dict__.update(_DEFAULTS, workflow_id=next((f for f in fallback_ids if f), None))
        return plain
    values: dict[str, Any] = {}
    given = set()
    for key, value in options.items():
        plain = str(key).removeprefix("temporal.")
        if not plain.startswith(_PREFIX):
            continue
        option = plain[len(_PREFIX):]
        if option not in _READERS:
            raise ActorError("Invalid", f"{key}: unknown workflow start option (options: "
                                        f"{', '.join(_PREFIX + name for name in _READERS)})")
        name, read = _READERS[option]
        values[name] = read(value, option)
        given.add(option)
    if "workflow_id" not in values:
        values["workflow_id"] = next((f for f in fallback_ids if f), None)
    return StartOptions(**values, given=frozenset(given))


_DEFAULTS = dict(vars(StartOptions()))
