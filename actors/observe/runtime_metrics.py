"""The runtime's own metrics (``luactor_*``), read from the node when scraped.

Hosts, services and workflow stores are asked at collection time (counters
the kernels keep anyway, mailbox depths sampled then), so collecting costs
the scheduler nothing between scrapes. Only workflow commits are observed as
they happen, through the workflow hosts' ``commit_listeners``.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from actors.errors import ActorError

from .introspect import DEPTH_BUCKETS

__all__ = ["RuntimeCollector", "service_statuses", "worker_hosts", "workflow_hosts"]

log = logging.getLogger("luactor")


def worker_hosts(node: Any) -> list[Any]:
    """The started hosts that run a kernel the observer can read."""
    return [host for host in node.router.hosts.values() if hasattr(host, "snapshot")]


def workflow_hosts(node: Any) -> list[Any]:
    """The started hosts that keep a workflow store."""
    return [host for host in node.router.hosts.values() if getattr(host, "durable", False) and hasattr(host, "store")]


def service_statuses(node: Any) -> list[Any]:
    """Every service and supervisor's status, or [] without supervision."""
    from supervision import services  # the supervision package builds on actors, not the reverse
    try:
        return services(node).list()
    except ActorError:
        return []


class RuntimeCollector:
    """A prometheus-client collector of the node's hosts, services and workflows."""

    def __init__(self, node: Any, registry: CollectorRegistry) -> None:
        self.node = node
        self.commit_seconds = Histogram("luactor_workflow_commit_seconds", "time to commit one batch of workflow history",
                                        ["host"], registry=registry)
        self.commit_events = Histogram("luactor_workflow_commit_events", "history records in one commit", ["host"],
                                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000), registry=registry)
        self._steps: Counter[str] = Counter()

    def watch_commits(self, host: Any) -> None:
        """Observe every commit of workflow host ``host``."""
        seconds, events = self.commit_seconds.labels(host.id), self.commit_events.labels(host.id)

        def on_commit(count: int, elapsed: float) -> None:
            seconds.observe(elapsed)
            events.observe(count)
            self._steps[host.id] += count
        host.commit_listeners.append(on_commit)

    def collect(self) -> Iterator[Metric]:
        yield from self._hosts()
        yield from self._services()
        yield from self._workflows()

    def _hosts(self) -> Iterator[Metric]:
        families = {
            "alive": GaugeMetricFamily("luactor_processes_alive", "processes running now", labels=["host"]),
            "spawned": CounterMetricFamily("luactor_processes_spawned", "processes started", labels=["host"]),
            "exited": CounterMetricFamily("luactor_processes_exited", "processes ended, however", labels=["host"]),
            "failed": CounterMetricFamily("luactor_processes_failed", "processes ended with an error", labels=["host"]),
            "delivered": CounterMetricFamily("luactor_messages_delivered", "messages put into the host's mailboxes",
                                             labels=["host"]),
            "refused": CounterMetricFamily("luactor_messages_refused", "messages refused by full mailboxes "
                                           "(host.max_mailbox)", labels=["host"]),
            "reductions": CounterMetricFamily("luactor_reductions", "reductions (sends, receives, calls) used, "
                                              "sampled: every 64th turn counts for 64", labels=["host"]),
            "turns": CounterMetricFamily("luactor_scheduler_turns", "task turns run", labels=["host"]),
            "slices": CounterMetricFamily("luactor_scheduler_slices", "scheduler slices run", labels=["host"]),
            "depth_max": GaugeMetricFamily("luactor_mailbox_depth_max", "the deepest mailbox, sampled at the scrape",
                                           labels=["host"]),
        }
        kills = CounterMetricFamily("luactor_process_kills", "processes stopped by a guard", labels=["host", "reason"])
        depths = HistogramMetricFamily("luactor_mailbox_depth", "messages queued per process, sampled at the scrape",
                                       labels=["host"])
        busy = CounterMetricFamily("luactor_worker_busy_seconds", "wall seconds each worker spent running "
                                   "scheduler slices", labels=["host", "worker"])
        for host in worker_hosts(self.node):
            stats = host.stats()
            for key, family in families.items():
                family.add_metric([host.id], stats[key])
            kills.add_metric([host.id, "runaway"], stats["runaways"])
            kills.add_metric([host.id, "memory"], stats["out_of_memory"])
            counts, running, buckets = stats["depth_counts"], 0, []
            for bound, count in zip([*map(str, map(float, DEPTH_BUCKETS)), "+Inf"], counts):
                running += count
                buckets.append((bound, running))
            depths.add_metric([host.id], buckets, sum_value=None)
            for index, seconds in enumerate(host.busy_seconds(), start=1):
                busy.add_metric([host.id, str(index)], seconds)
        yield from families.values()
        yield kills
        yield depths
        yield busy

    def _services(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("luactor_service_state", "1 for the state each service or supervisor is in",
                                  labels=["service", "kind", "state"])
        restarts = CounterMetricFamily("luactor_service_restarts", "starts after the first, of each service or "
                                       "supervisor", labels=["service", "kind"])
        for status in service_statuses(self.node):
            state.add_metric([status.id, status.kind, str(status.state)], 1)
            restarts.add_metric([status.id, status.kind], max(status.starts - 1, 0))
        yield state
        yield restarts

    def _workflows(self) -> Iterator[Metric]:
        from hosts.history import STATUSES  # every status is exposed, even at 0
        by_status = GaugeMetricFamily("luactor_workflows", "workflows in the store, by status", labels=["host", "status"])
        steps = CounterMetricFamily("luactor_workflow_steps", "history records committed since the node started",
                                    labels=["host"])
        size = GaugeMetricFamily("luactor_workflow_store_bytes", "size of the store's data file", labels=["host"])
        for host in workflow_hosts(self.node):
            store = host.store
            if store is None:   # failed: its metrics stop with it
                continue
            counted = Counter(header.status for header in store.headers(on_corrupt=lambda error: None))
            for status in sorted({*STATUSES, *counted}):
                by_status.add_metric([host.id, status], counted[status])
            steps.add_metric([host.id], self._steps[host.id])
            try:
                size.add_metric([host.id], os.stat(store.path / "data.mdb").st_size)
            except OSError as error:
                log.debug("metrics: %s: no store size (%s)", host.id, error)
        yield by_status
        yield steps
        yield size
