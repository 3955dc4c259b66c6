"""Where a node shows itself: the ``node.observe`` entry kind and the addresses it names.

``Node.open(metrics=, observe=, observe_actions=, tracing=)`` and ``luactor run``'s
flags override the entry field by field. Addresses are ``HOST:PORT``; a bare
``PORT`` or ``:PORT`` binds 127.0.0.1, so nothing listens beyond this machine
unless a host is named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from actors.errors import ActorError
from actors.registry.schema import Boolean, Field, KindSpec, String, ValueType, show

__all__ = ["KINDS", "TRACING_EXPORTERS", "Address", "ObserveSettings", "parse_address"]

#: Exporters ``tracing`` may name; anything else is a SpanExporter passed from Python.
TRACING_EXPORTERS = ("console", "otlp", "none")

DEFAULT_HOST = "127.0.0.1"


def parse_address(value: Any, what: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``, ``:PORT`` or ``PORT``; ActorError naming the value otherwise."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    host, _, port = (text or "").rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    if text is None or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ActorError("Invalid", f"{what} address must be HOST:PORT (a port from 0 to 65535), got {show(value)}")
    return host, int(port)


class Address(ValueType):
    """A listening address, checked as :func:`parse_address` reads it."""

    def problems(self, value, context):
        try:
            parse_address(value, "the")
        except ActorError as error:
            yield "", error.message


KINDS = {
    "node.observe": KindSpec((
        Field("metrics", Address()),                   # serve /metrics (Prometheus) here
        Field("observer", Address()),                  # serve the web observer here
        Field("observer_actions", Boolean(), default=False),
        Field("tracing", String(TRACING_EXPORTERS)),   # where spans go (off when absent)
    )),
}


@dataclass(frozen=True)
class ObserveSettings:
    """What one node exposes: addresses as (host, port), the tracing exporter."""

    metrics: tuple[str, int] | None = None
    observer: tuple[str, int] | None = None
    actions: bool = False
    tracing: Any = None     # None (off), "console", "otlp", or a SpanExporter

    @classmethod
    def resolve(cls, registry: Any, *, metrics: Any = None, observe: Any = None, observe_actions: bool | None = None,
                tracing: Any = None) -> ObserveSettings:
        """Arguments first, then the app's ``node.observe`` entry, then ``LUACTOR_TRACING``
        for tracing (``OTEL_SDK_DISABLED=true`` turns tracing off whatever says otherwise)."""
        entries = registry.of_kind("node.observe")
        if len(entries) > 1:
            raise ActorError("Invalid", "an app has at most one node.observe entry, found "
                                        + ", ".join(entry.id for entry in entries))
        entry = entries[0] if entries else None

        def field(value: Any, name: str) -> Any:
            return value if value is not None else (entry.get(name, None) if entry else None)

        metrics, observe = field(metrics, "metrics"), field(observe, "observer")
        tracing = field(tracing, "tracing") or os.environ.get("LUACTOR_TRACING") or None
        if tracing == "none" or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
            tracing = None
        if isinstance(tracing, str) and tracing not in TRACING_EXPORTERS:
            raise ActorError("Invalid", f"tracing must be one of {', '.join(TRACING_EXPORTERS)} or a SpanExporter, "
                                        f"got {tracing!r}")
        return cls(
            metrics=parse_address(metrics, "metrics") if metrics is not None else None,
            observer=parse_address(observe, "observer") if observe is not None else None,
            actions=bool(field(observe_actions, "observer_actions")),
            tracing=tracing,
        )
