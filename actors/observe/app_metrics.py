"""The metrics Lua code records with the ``metrics`` module, merged across hosts.

Each worker checks and aggregates calls itself (``actors/lua/metrics.lua``) and
hands over one list of updates per scheduler slice; here they are added up
and exposed through prometheus-client's metric families. A metric's kind and
label names are fixed by the first host that uses it: an update from another
host that disagrees is dropped, with one warning per host and metric.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

__all__ = ["BUCKETS", "AppMetrics"]

log = logging.getLogger("luactor")

#: Upper bounds of the histograms' buckets (prometheus-client's defaults, +Inf left implicit).
BUCKETS: tuple[float, ...] = tuple(b for b in Histogram.DEFAULT_BUCKETS if b != math.inf)

_HELP = "recorded by Lua code with the metrics module"


@dataclass
class _Metric:
    kind: str
    labels: tuple[str, ...]
    #: label values -> a counter's or gauge's value, or a histogram's [counts per bucket, sum]
    series: dict[tuple[str, ...], Any] = field(default_factory=dict)


class AppMetrics:
    """Every metric the node's Lua code recorded; a prometheus-client collector."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._warned: set[tuple[str, str]] = set()

    def apply(self, host_id: str, updates: list[dict]) -> None:
        """Add one slice's updates from ``host_id`` (see ``metrics.lua``'s ``take``)."""
        for update in updates:
            name, kind = update["name"], update["kind"]
            labels = tuple(update.get("labels") or ())
            metric = self._metrics.get(name)
            if metric is None:
                metric = self._metrics[name] = _Metric(kind, labels)
            elif metric.kind != kind or metric.labels != labels:
                self._conflict(host_id, name, metric, kind, labels)
                continue
            key = tuple(update.get("values") or ())
            if kind == "histogram":
                counts, total = metric.series.get(key) or ([0] * (len(BUCKETS) + 1), 0.0)
                metric.series[key] = ([a + b for a, b in zip(counts, update["counts"])], total + update["sum"])
            elif "set" in update:
                metric.series[key] = update["set"] + update.get("add", 0)
            else:
                metric.series[key] = metric.series.get(key, 0) + update.get("add", 0)

    def _conflict(self, host_id: str, name: str, metric: _Metric, kind: str, labels: tuple[str, ...]) -> None:
        if (host_id, name) not in self._warned:
            self._warned.add((host_id, name))
            log.warning("metrics: %s records %r as a %s with labels %s, but another host made it a %s with "
                        "labels %s: its updates are dropped", host_id, name, kind, list(labels),
                        metric.kind, list(metric.labels))

    def collect(self) -> Iterator[Metric]:
        for name, metric in sorted(self._metrics.items()):
            if metric.kind == "counter":
                family: Metric = CounterMetricFamily(name, _HELP, labels=metric.labels)
                for values, value in metric.series.items():
                    family.add_metric(values, value)
            elif metric.kind == "gauge":
                family = GaugeMetricFamily(name, _HELP, labels=metric.labels)
                for values, value in metric.series.items():
                    family.add_metric(values, value)
            else:
                family = HistogramMetricFamily(name, _HELP, labels=metric.labels)
                for values, (counts, total) in metric.series.items():
                    family.add_metric(values, _cumulative(counts), total)
            yield family


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    """Prometheus buckets (``le``, count at or below it) from per-bucket counts."""
    buckets, running = [], 0
    for bound, count in zip([*BUCKETS, math.inf], counts):
        running += count
        buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
    return buckets
