"""OpenTelemetry spans of a node: processes and function calls (Lua and Python), spawns, workflows.

The trace context travels in the call context (``ctx``) as a W3C
``traceparent``: a Lua process's span is a child of the ``traceparent`` its
context holds, and its own context then carries its span, so what it calls
or spawns nests below it, on any host, and a workflow's calls nest below the
workflow. Lua kernels time their processes and hand the ended spans over
once per slice (``actors/lua/observe.lua``); here they become SDK spans with
the ids the kernel gave them (through :class:`_PresetIds`), so that children
that ended first still point at them. Calls of Python functions and the
node's own spawns and calls are spanned here, and carry the current span
(if any) into the ``ctx`` they pass on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from actors.errors import ActorError

__all__ = ["Tracing"]

log = logging.getLogger("luactor")

_PROPAGATOR = TraceContextTextMapPropagator()


class _PresetIds(IdGenerator):
    """Random ids, except for the span being made from a kernel's record, whose ids it set."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self.span_id: int | None = None
        self.trace_id: int | None = None

    def generate_span_id(self) -> int:
        return self.span_id if self.span_id is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return self.trace_id if self.trace_id is not None else self._random.generate_trace_id()


def _exporter(choice: Any) -> SpanExporter:
    if isinstance(choice, SpanExporter):
        return choice
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ActorError("Unavailable", "tracing 'otlp' needs opentelemetry-exporter-otlp-proto-http: "
                                            "pip install 'luactor[tracing]'") from None
        return OTLPSpanExporter()   # endpoint and headers from the OTEL_EXPORTER_OTLP_* variables
    raise ActorError("Invalid", f"tracing exporter must be console, otlp or a SpanExporter, got {choice!r}")


class Tracing:
    """The node's tracer provider and the spans it makes."""

    def __init__(self, exporter: Any, node_name: str) -> None:
        self._ids = _PresetIds()
        self.provider = TracerProvider(id_generator=self._ids,
                                       resource=Resource.create({"service.name": node_name}))
        self.provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
        self.tracer = self.provider.get_tracer("luactor")

    def shutdown(self) -> None:
        """Export what is left and stop."""
        self.provider.shutdown()

    # -- Lua kernels' spans ------------------------------------------------------

    def record(self, host_id: str, spans: list[dict]) -> None:
        """Make SDK spans of the spans a kernel's processes ended with (see observe.lua)."""
        for record in spans:
            try:
                self._record(host_id, record)
            except (KeyError, ValueError, TypeError) as error:
                log.warning("tracing: a span of %s could not be made (%s): %r", host_id, error, record)

    def _record(self, host_id: str, record: dict) -> None:
        trace_id, span_id = int(record["trace"], 16), int(record["id"], 16)
        parent = record.get("parent")
        context = None
        if parent:
            remote = SpanContext(trace_id, int(parent, 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        attributes = {"process.pid": record["pid"], "luactor.entry": record["entry"], "luactor.kind": record["kind"],
                      "luactor.host": host_id}
        if record.get("frame"):
            attributes["frame.id"] = record["frame"]
        if record.get("workflow"):
            attributes["workflow.id"] = record["workflow"]
        self._ids.trace_id, self._ids.span_id = trace_id, span_id
        try:
            span = self.tracer.start_span(record["name"], context=context, start_time=record["start"],
                                          attributes=attributes, kind=SpanKind.INTERNAL)
        finally:
            self._ids.trace_id = self._ids.span_id = None
        if record.get("error"):
            span.set_status(Status(StatusCode.ERROR, record["error"]))
        span.end(end_time=record["finish"])

    # -- spans made in Python ------------------------------------------------------

    def current_context(self, ctx: dict | None) -> dict | None:
        """``ctx`` carrying the current span as its traceparent (as it is when no span is current)."""
        if not trace.get_current_span().get_span_context().is_valid:
            return ctx
        carried = dict(ctx or {})
        _PROPAGATOR.inject(carried)
        return carried

    async def call(self, fn_id: str, ctx: dict, call: Callable[[dict], Awaitable[Any]]) -> Any:
        """``await call(ctx)`` in a span named ``fn_id``, a child of ``ctx``'s traceparent,
        with ``ctx`` carrying the new span on."""
        parent = _PROPAGATOR.extract({k: v for k, v in ctx.items() if isinstance(v, str)})
        # (the SDK records an exception leaving the block and marks the span failed)
        with self.tracer.start_as_current_span(fn_id, context=parent, kind=SpanKind.INTERNAL,
                                               attributes={"luactor.function": fn_id}):
            return await call(self.current_context(ctx) or {})
