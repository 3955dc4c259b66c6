"""The runs of a workflow on the embedded host, as its start options shape them.

A workflow's start options that outlive its first run are kept in its header
(``meta["options"]``): the retry policy, the cron schedule, the execution
deadline, the run timeout and the parent close policy. When a run ends, these
decide whether another run follows under the same id and PID, and when it
begins: a failed run is retried after its backoff (attempt + 1), a cron
schedule starts its next run at the next time it names; neither after the
execution deadline, nor after a terminate. Everything here is plain data and
pure functions: the host stores and acts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from actors.durations import SECOND

from .start_options import RetryPolicy, StartOptions

__all__ = ["first_run_meta", "next_run", "next_run_meta", "run_deadline"]


def first_run_meta(wanted: StartOptions, now_ns: int) -> dict[str, Any]:
    """What the header of a workflow's first run keeps of its start options."""
    options: dict[str, Any] = {}
    if wanted.retry_policy is not None:
        options["retry"] = wanted.retry_policy.to_plain()
    if wanted.cron_schedule is not None:
        options["cron"] = wanted.cron_schedule
    if wanted.execution_timeout is not None:
        options["execution_deadline_ns"] = now_ns + round(wanted.execution_timeout * SECOND)
    if wanted.run_timeout is not None:
        options["run_timeout_ns"] = round(wanted.run_timeout * SECOND)
    if wanted.parent_close_policy not in (None, "abandon"):
        options["parent_close_policy"] = wanted.parent_close_policy
    meta: dict[str, Any] = {}   # (attempt 1 is not written: most workflows have no other)
    if options:
        meta["options"] = options
    if wanted.start_delay is not None:
        meta["start_at"] = now_ns + round(wanted.start_delay * SECOND)
    elif wanted.cron_schedule is not None:
        meta["start_at"] = next_cron_time(wanted.cron_schedule, now_ns)   # a cron workflow waits for its first time
    if wanted.search_attributes:
        meta["search"] = dict(wanted.search_attributes)
    if wanted.memo:
        meta["memo"] = dict(wanted.memo)
    return meta


def next_cron_time(schedule: str, now_ns: int) -> int:
    """The first time after ``now_ns`` that cron ``schedule`` names (UTC), in ns."""
    from croniter import croniter

    after = datetime.fromtimestamp(now_ns / SECOND, tz=timezone.utc)
    return round(croniter(schedule, after).get_next(float) * SECOND)


def next_run(meta: dict, failure: dict | None, outcome: str | None, now_ns: int) -> tuple[int, int] | None:
    """``(start_at_ns, attempt)`` of the run that follows one that ended now, with
    ``failure`` (None if it completed) and ``outcome`` ("terminated", "timed_out"
    for its execution timeout), or None when the workflow ends with it."""
    options = meta.get("options") or {}
    if outcome in ("terminated", "execution_timed_out"):
        return None
    deadline = options.get("execution_deadline_ns")
    attempt = meta.get("attempt") or 1
    if failure is not None and options.get("retry"):
        policy = RetryPolicy.from_plain(options["retry"])
        if policy.retries(attempt, failure):
            start_at = now_ns + round(policy.delay(attempt) * SECOND)
            if deadline is None or start_at < deadline:
                return start_at, attempt + 1
    if options.get("cron"):
        start_at = next_cron_time(options["cron"], now_ns)
        if deadline is None or start_at < deadline:
            return start_at, 1
    return None


def next_run_meta(previous: dict, start_at: int, attempt: int) -> dict[str, Any]:
    """The header meta of the run that follows a run with ``previous`` meta: its options,
    attributes and workflow watchers carry over."""
    meta = {key: previous[key] for key in ("options", "search", "memo", "monitors", "links") if key in previous}
    meta.update(start_at=start_at, attempt=attempt)
    return meta


def run_deadline(meta: dict, started_ns: int) -> tuple[int, str] | None:
    """When a run that began at ``started_ns`` times out, and which timeout that is
    ("run" or "execution"), or None."""
    options = meta.get("options") or {}
    deadlines = []
    if "run_timeout_ns" in options:
        deadlines.append((max(started_ns, meta.get("start_at") or 0) + options["run_timeout_ns"], "run"))
    if "execution_deadline_ns" in options:
        deadlines.append((options["execution_deadline_ns"], "execution"))
    return min(deadlines) if deadlines else None
