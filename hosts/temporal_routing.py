"""Which ``temporal.worker`` serves which entry, from the entries' ``meta.temporal``.

- ``meta.temporal.activity: {worker, local}`` on a ``function.lua`` or
  ``process.lua`` entry registers it as an activity named by its entry id
  on that worker's task queue (``local`` is accepted and, as Wippy
  documents, runs as a regular activity);
- ``meta.temporal.workflow: {worker, name}`` on a ``workflow.lua`` entry
  names the worker that serves it.

``luactor check`` reports a reference to a missing worker, or a field of the
wrong type, naming the entry and the field. ``worker`` may also name a
``workflow.host``, so that swapping the host entry is all it takes to move an
app between the embedded host and Temporal. Kept free of temporalio, so
checking an app does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.registry import Entry, Registry
from actors.registry.model import Problem, entry_problem

__all__ = ["ActivityRoute", "activity_routes", "meta_problems", "served_activities", "workflow_type", "workflow_worker"]

ACTIVITY_KINDS = ("function.lua", "process.lua")
#: What ``worker`` may name: a Temporal worker, or the embedded host that takes its place
#: (the same app runs on either; the embedded host runs everything in the node).
DURABLE_HOSTS = ("temporal.worker", "workflow.host")


@dataclass(frozen=True)
class ActivityRoute:
    worker: str        # the temporal.worker entry
    task_queue: str    # on the server (tq_prefix included)
    local: bool


def _meta(entry: Entry, role: str) -> dict | None:
    temporal = entry.meta.get("temporal") if isinstance(entry.meta, dict) else None
    value = temporal.get(role) if isinstance(temporal, dict) else None
    return value if isinstance(value, dict) else None


def _task_queue(registry: Registry, worker: Entry) -> str:
    client = registry.entries.get(worker.get("client"))
    prefix = client.get("tq_prefix") if client is not None else ""
    return f"{prefix or ''}{worker.get('task_queue')}"


def activity_routes(registry: Registry) -> dict[str, ActivityRoute]:
    """Every activity entry (by id) and where it runs; entries whose worker is missing are left out
    (``check_temporal_meta`` reports them)."""
    routes = {}
    for entry in registry.of_kind(*ACTIVITY_KINDS):
        meta = _meta(entry, "activity")
        worker = registry.entries.get(meta.get("worker")) if meta else None
        if worker is not None and worker.kind == "temporal.worker":
            routes[entry.id] = ActivityRoute(worker.id, _task_queue(registry, worker), meta.get("local") is True)
    return routes


def served_activities(registry: Registry, worker_id: str) -> list[Entry]:
    """The activity entries a worker registers."""
    routes = activity_routes(registry)
    return [registry.entries[entry_id] for entry_id, route in routes.items() if route.worker == worker_id]


def workflow_worker(registry: Registry, entry_id: str) -> Entry | None:
    """The temporal.worker a workflow.lua entry's ``meta.temporal.workflow.worker`` names, if any."""
    entry = registry.entries.get(entry_id)
    meta = _meta(entry, "workflow") if entry is not None else None
    worker = registry.entries.get(meta.get("worker")) if meta else None
    return worker if worker is not None and worker.kind == "temporal.worker" else None


def workflow_type(entry: Entry) -> str:
    """The Temporal workflow type of a workflow.lua entry: ``meta.temporal.workflow.name``, else its id."""
    meta = _meta(entry, "workflow")
    name = meta.get("name") if meta else None
    return name if isinstance(name, str) and name else entry.id


def meta_problems(registry: Registry) -> list[Problem]:
    """Each ``meta.temporal`` that names no temporal.worker or has a field of the wrong type."""
    problems = []
    roles = [(entry, "activity") for entry in registry.of_kind(*ACTIVITY_KINDS)]
    roles += [(entry, "workflow") for entry in registry.of_kind("workflow.lua")]
    for entry, role in roles:
        temporal = entry.meta.get("temporal") if isinstance(entry.meta, dict) else None
        if not isinstance(temporal, dict) or role not in temporal:
            continue
        field = f"meta.temporal.{role}"
        meta = temporal[role]
        if not isinstance(meta, dict):
            problems.append(entry_problem(registry, entry, field, "must be a mapping with 'worker'"))
            continue
        worker = registry.entries.get(meta.get("worker")) if isinstance(meta.get("worker"), str) else None
        if worker is None or worker.kind not in DURABLE_HOSTS:
            problems.append(entry_problem(registry, entry, f"{field}.worker",
                                          f"{meta.get('worker')!r} is not a temporal.worker (or workflow.host) entry"))
        if role == "activity" and "local" in meta and not isinstance(meta["local"], bool):
            problems.append(entry_problem(registry, entry, f"{field}.local", "must be true or false"))
        if role == "workflow" and "name" in meta and not isinstance(meta["name"], str):
            problems.append(entry_problem(registry, entry, f"{field}.name", "must be a string"))
    return problems
