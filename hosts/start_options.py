"""The spawn options that name a workflow, read the same way by every
durable host: ``workflow.id`` and ``workflow.id_conflict_policy``, also under
the ``temporal.`` prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.errors import ActorError

__all__ = ["CONFLICT_POLICIES", "StartOptions", "start_options"]

CONFLICT_POLICIES = ("fail", "use_existing", "terminate_existing")


@dataclass(frozen=True)
class StartOptions:
    workflow_id: str | None  # None: the host names the workflow
    policy: str


def start_options(options: dict[str, Any] | None, *fallback_ids: str | None) -> StartOptions:
    """The id a start asks for (``workflow.id``, else the first of
    ``fallback_ids`` given, e.g. with_name's) and its conflict policy."""
    plain = {str(key).removeprefix("temporal."): value for key, value in (options or {}).items()}
    workflow_id = plain.get("workflow.id") or next((f for f in fallback_ids if f), None)
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise ActorError("Invalid", f"workflow.id must be a string, got {workflow_id!r}")
    policy = plain.get("workflow.id_conflict_policy", "fail")
    if policy not in CONFLICT_POLICIES:
        raise ActorError("Invalid", f"workflow.id_conflict_policy must be fail, use_existing or "
                                    f"terminate_existing, got {policy!r}")
    return StartOptions(workflow_id, policy)
