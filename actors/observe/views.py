"""What the observer shows, as plain data: of a running node, or of a workflow store alone.

:class:`NodeView` reads a node (hosts' counters and process snapshots,
supervision, the workflow hosts' stores); :class:`StoreView` reads one store
opened read-only (``luactor observe STORE``). Both answer the same
questions, so one web app serves either. A damaged store record is reported
by its message (which names the database and key), never raised.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import trio

from actors.errors import ActorError
from actors.pid import pid_prefix

from .introspect import SORT_KEYS
from .runtime_metrics import service_statuses, worker_hosts, workflow_hosts

__all__ = ["NodeView", "StoreView"]

#: Rows of the process table and of the workflow list sent to a page.
TABLE_ROWS = 100


def _matches(header: Any, query: str) -> bool:
    """Does ``query`` occur in the workflow's id, entry, status, parent or input (as compact
    JSON: ``"amount":390``), ignoring case?"""
    if not query:
        return True
    text = " ".join([header.id, header.entry, header.status, header.parent or "",
                     json.dumps(header.input, default=str, separators=(",", ":"))])
    return query.lower() in text.lower()


def _header(header: Any, host: str) -> dict:
    return {"id": header.id, "host": host, "entry": header.entry, "status": header.status, "run": header.run,
            "parent": header.parent, "created_ns": header.created_ns, "updated_ns": header.updated_ns,
            "events": header.next_seq - header.first_seq, "input": header.input, "result": header.result,
            "error": header.error}


class _Stores:
    """Workflows of one or more stores, by host id."""

    def stores(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def workflows(self, query: str = "") -> dict:
        from hosts.history import HistoryError  # hosts build on actors; only stores need it
        counts: Counter[str] = Counter()
        matches, damaged = [], []
        for host, store in self.stores():
            try:
                headers = store.headers(on_corrupt=lambda error: damaged.append(error.message))
            except HistoryError as error:
                damaged.append(error.message)
                continue
            for header in headers:
                counts[header.status] += 1
                if _matches(header, query):
                    matches.append(_header(header, host))
        matches.sort(key=lambda h: h["updated_ns"], reverse=True)
        return {"counts": dict(counts), "total": len(matches), "matches": matches[:TABLE_ROWS], "damaged": damaged}

    def workflow(self, workflow_id: str) -> dict | None:
        """A workflow's current run with its history, or None if no store has it."""
        from hosts.history import CorruptRecordError, HistoryError
        for host, store in self.stores():
            try:
                header = store.header(workflow_id)
            except CorruptRecordError as error:
                return {"id": workflow_id, "host": host, "header": None, "events": [], "damaged": error.message}
            if header is None:
                continue
            events, damaged = [], None
            try:
                for seq, event in store.run_events(header):
                    events.append({"seq": seq, **event})
            except HistoryError as error:
                damaged = error.message
            return {"id": workflow_id, "host": host, "header": _header(header, host), "events": events,
                    "damaged": damaged}
        return None


class NodeView(_Stores):
    """A running node, read at each request (and each tick of a live page)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    @property
    def title(self) -> str:
        return f"node {self.node.name}"

    def stores(self) -> list[tuple[str, Any]]:
        return [(host.id, host.store) for host in workflow_hosts(self.node) if host.store is not None]

    def hosts(self) -> list[dict]:
        rows = []
        for host in worker_hosts(self.node):
            stats = host.stats()
            rows.append({"id": host.id, "kind": getattr(host, "kind", ""), "alive": stats["alive"],
                         "spawned": stats["spawned"], "delivered": stats["delivered"],
                         "reductions": stats["reductions"], "slices": stats["slices"], "depth_max": stats["depth_max"],
                         "failed": stats["failed"]})
        return rows

    def services(self) -> list[dict]:
        now_trio, now_wall = trio.current_time(), time.time()
        return [{"id": s.id, "kind": s.kind, "state": str(s.state), "attempts": s.attempts, "starts": s.starts,
                 "last_error": s.last_error, "pid": s.pid, "supervisor": s.supervisor,
                 "next_restart": None if s.next_restart is None else now_wall + (s.next_restart - now_trio)}
                for s in service_statuses(self.node)]

    def processes(self, sort: str = "mailbox") -> dict:
        sort = sort if sort in SORT_KEYS else "mailbox"
        total, rows = 0, []
        for host in worker_hosts(self.node):
            snapshot = host.snapshot(limit=TABLE_ROWS, sort=sort)
            total += snapshot["total"]
            rows += [{**row, "host": host.id} for row in snapshot["processes"]]
        if sort == "pid":
            rows.sort(key=lambda row: row["pid"])
        else:
            rows.sort(key=lambda row: (-row[sort], row["pid"]))
        return {"total": total, "sort": sort, "rows": rows[:TABLE_ROWS]}

    def process(self, pid: str) -> dict | None:
        for host in worker_hosts(self.node):
            if pid.startswith(pid_prefix(self.node.name, host.id)):
                rows = host.snapshot(pid=pid)["processes"]
                return {**rows[0], "host": host.id} if rows else None
        return None

    # -- actions (only with observer actions on) -------------------------------------

    async def restart_service(self, service_id: str) -> None:
        from supervision import services
        await services(self.node).restart(service_id)

    async def terminate(self, pid: str) -> None:
        await self.node.terminate(pid)

    async def terminate_workflow(self, workflow_id: str) -> None:
        found = self.workflow(workflow_id)
        if found is None:
            raise ActorError("NotFound", f"no workflow {workflow_id!r}")
        await self.node.terminate(f"{pid_prefix(self.node.name, found['host'])}{workflow_id}}}")

    async def send(self, dest: str, topic: str, payload: Any) -> None:
        await self.node.send(dest, topic, payload)


class StoreView(_Stores):
    """One workflow store opened read-only: workflows only, nothing to act on."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def title(self) -> str:
        return f"store {self.store.path}"

    def stores(self) -> list[tuple[str, Any]]:
        return [(str(self.store.path), self.store)]

    def hosts(self) -> list[dict]:
        return []

    def services(self) -> list[dict]:
        return []

    def processes(self, sort: str = "mailbox") -> dict:
        return {"total": 0, "sort": sort, "rows": []}

    def process(self, pid: str) -> dict | None:
        return None
