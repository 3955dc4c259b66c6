"""OpenTelemetry spans: function calls, spawns and workflow steps, their parents carried in ctx."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors import ActorError, Node

PROGRAM = """
local funcs = require("funcs")
local ctx = require("ctx")

local function parent(host)
  process.spawn("test:child", host)
  local doubled = funcs.call("test:double", 21)
  local from_python = funcs.call("py:triple", 2)
  return { doubled = doubled, from_python = from_python, traceparent = ctx.get("traceparent") }
end

local function child() return true end
local function double(x) return 2 * x end
local function broken() error("no luck") end

return { parent = parent, child = child, double = double, broken = broken }
"""


def build(app) -> None:
    app.lua("program", PROGRAM, method="parent", modules=["funcs", "ctx"])
    app.entry(name="child", kind="process.lua", source="file://program.lua", method="child", modules=["funcs", "ctx"])
    for name in ("double", "broken"):
        app.entry(name=name, kind="function.lua", source="file://program.lua", method=name, modules=["funcs", "ctx"])


def by_name(exporter: InMemorySpanExporter) -> dict:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_calls_and_spawns_nest_below_their_caller(app):
    build(app)
    exporter = InMemorySpanExporter()
    triple_ctx = {}

    def triple(x, ctx):
        triple_ctx.update(ctx)
        return 3 * x

    async with Node.open(app.root, tracing=exporter, functions={"py:triple": triple}) as node:
        result = await node.exec("test:program", app.host, app.host)
    spans = by_name(exporter)
    assert result["doubled"] == 42 and result["from_python"] == 6
    parent, child, double, py = spans["test:program"], spans["test:child"], spans["test:double"], spans["py:triple"]
    trace_id = parent.context.trace_id
    assert {s.context.trace_id for s in (child, double, py)} == {trace_id}
    for span in (child, double, py):
        assert span.parent.span_id == parent.context.span_id
    # the context the process saw (and passed on) carries its own span
    assert result["traceparent"] == f"00-{trace_id:032x}-{parent.context.span_id:016x}-01"
    assert triple_ctx["traceparent"].split("-")[2] == f"{py.context.span_id:016x}"
    assert parent.attributes["process.pid"].startswith("{luactor@test:host|")
    assert parent.attributes["luactor.entry"] == "test:program"
    assert double.attributes["frame.id"] == parent.attributes["process.pid"]
    assert parent.start_time < double.start_time <= double.end_time < parent.end_time


async def test_a_python_span_is_the_parent_of_what_the_node_calls(app):
    build(app)
    exporter = InMemorySpanExporter()
    async with Node.open(app.root, tracing=exporter) as node:
        tracer = node.observability.tracing.tracer
        with tracer.start_as_current_span("request") as request:
            assert await node.call("test:double", 4) == 8
            with pytest.raises(ActorError, match="no luck"):
                await node.call("test:broken")
    spans = by_name(exporter)
    assert spans["test:double"].parent.span_id == request.get_span_context().span_id
    assert spans["test:broken"].status.status_code is StatusCode.ERROR
    assert "no luck" in spans["test:broken"].status.description


WORKFLOW = """
local funcs = require("funcs")
local time = require("time")
local function run(n)
  local total = 0
  for i = 1, n do
    total = total + funcs.call("test:double", i)
    time.sleep("1ms")
  end
  return total
end
return { run = run }
"""


async def test_workflow_steps_are_spans_of_the_workflow(app, tmp_path):
    build(app)
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("order", WORKFLOW, kind="workflow.lua", method="run", modules=["funcs", "time"])
    exporter = InMemorySpanExporter()
    async with Node.open(app.root, tracing=exporter) as node:
        assert await node.exec("test:order", "test:workflows", 3) == 12
    spans = exporter.get_finished_spans()
    workflow = next(s for s in spans if s.name == "test:order")
    steps = [s for s in spans if s.name == "test:double"]
    assert workflow.attributes["workflow.id"]
    assert len(steps) == 3
    assert all(step.parent.span_id == workflow.context.span_id for step in steps)


async def test_tracing_is_off_unless_asked(app, monkeypatch):
    build(app)
    monkeypatch.delenv("LUACTOR_TRACING", raising=False)
    async with Node.open(app.root, functions={"py:triple": lambda x: 3 * x}) as node:
        result = await node.exec("test:program", app.host, app.host)
    assert node.observability.tracing is None
    assert "traceparent" not in result
