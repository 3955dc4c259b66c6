"""The node's metrics registry: what Lua code records and the runtime's own, for
Prometheus (``/metrics``) and for Python (``node.metrics()``)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.samples import Sample

from .app_metrics import AppMetrics
from .runtime_metrics import RuntimeCollector

__all__ = ["NodeMetrics"]


class NodeMetrics:
    def __init__(self, node: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.app = AppMetrics()
        self.runtime = RuntimeCollector(node, self.registry)
        self.registry.register(self.app)
        self.registry.register(self.runtime)

    def samples(self) -> list[Sample]:
        """Every sample now (name, labels, value, ...), as a scrape would read them."""
        return [sample for family in self.registry.collect() for sample in family.samples]

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
