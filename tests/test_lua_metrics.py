"""The Lua `metrics` module: each function, its errors, and hostile inputs.

Values are read back from the node (`node.metrics()`), as a scrape reads them.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from actors import Node


def values(node: Node, name: str) -> dict[tuple, float]:
    """The samples named `name`, by their sorted label pairs."""
    return {tuple(sorted(s.labels.items())): s.value for s in node.metrics() if s.name == name}


@asynccontextmanager
async def probed(app, body: str):
    """A node whose process, which requires `metrics`, ran `body`: (node, what it returned)."""
    app.body("probe", body, modules=["metrics"], required=["metrics"])
    async with Node.open(app.root) as node:
        yield node, await node.exec("test:probe", app.host)


async def test_counter_inc_and_add_with_labels(app):
    async with probed(app, """
            local a = { metrics.counter_inc("jobs_total", { queue = "emails" }) }
            metrics.counter_inc("jobs_total", { queue = "emails" })
            metrics.counter_inc("jobs_total", { queue = "sms" })
            local b = { metrics.counter_add("bytes_total", 1024, { direction = "out" }) }
            metrics.counter_add("bytes_total", 0.5, { direction = "out" })
            metrics.counter_inc("plain")
            return { a = a, b = b }
        """) as (node, result):
        assert result == {"a": [True], "b": [True]}
        assert values(node, "jobs_total") == {(("queue", "emails"),): 2, (("queue", "sms"),): 1}
        assert values(node, "bytes_total") == {(("direction", "out"),): 1024.5}
        assert values(node, "plain_total") == {(): 1}


async def test_gauges_set_inc_dec(app):
    async with probed(app, """
            assert(metrics.gauge_set("queue_depth", 42, { queue = "emails" }))
            assert(metrics.gauge_inc("connections", { pool = "db" }))
            assert(metrics.gauge_inc("connections", { pool = "db" }))
            assert(metrics.gauge_dec("connections", { pool = "db" }))
            assert(metrics.gauge_dec("below", nil))
            assert(metrics.gauge_set("queue_depth", 7, { queue = "emails" }))
            return metrics.gauge_inc("queue_depth", { queue = "emails" })
        """) as (node, result):
        assert result is True
        assert values(node, "queue_depth") == {(("queue", "emails"),): 8}
        assert values(node, "connections") == {(("pool", "db"),): 1}
        assert values(node, "below") == {(): -1}


async def test_histogram_buckets_sum_and_count(app):
    async with probed(app, """
            for _, v in ipairs({ 0.001, 0.123, 0.123, 3, 100 }) do
              assert(metrics.histogram("duration_seconds", v, { method = "GET" }))
            end
            return true
        """) as (node, result):
        assert result is True
        buckets = {dict(k)["le"]: v for k, v in values(node, "duration_seconds_bucket").items()}
        assert buckets["0.005"] == 1 and buckets["0.25"] == 3 and buckets["5.0"] == 4 and buckets["+Inf"] == 5
        assert values(node, "duration_seconds_count") == {(("method", "GET"),): 5}
        assert values(node, "duration_seconds_sum")[(("method", "GET"),)] == pytest.approx(103.247)


async def test_values_from_many_processes_and_slices_add_up(app):
    app.body("bump", """
        local n = ...
        for i = 1, n do metrics.counter_inc("hits", { who = "all" }); coroutine.yield() end
    """, modules=["metrics"], required=["metrics"])
    app.body("many", """
        local host = ...
        for i = 1, 20 do process.spawn("test:bump", host, 50) end
        local time = require("time")
        time.sleep("50ms")
    """, modules=["time"])
    async with Node.open(app.root) as node:
        await node.exec("test:many", app.host, app.host)
        assert values(node, "hits_total") == {(("who", "all"),): 1000}


BAD_CALLS = {
    "a name that is not a string": ("metrics.counter_inc(42)", "Invalid", "name must be a string, got 42"),
    "an empty name": ("metrics.counter_inc('')", "Invalid", "is not a metric name"),
    "a name with spaces": ("metrics.gauge_set('queue depth', 1)", "Invalid", "'queue depth' is not a metric name"),
    "the runtime's prefix": ("metrics.counter_inc('luactor_processes')", "Invalid", "reserved"),
    "NaN": ("metrics.gauge_set('g', 0/0)", "Invalid", "must be a finite number"),
    "infinity": ("metrics.histogram('h', math.huge)", "Invalid", "must be a finite number, got inf"),
    "a string value": ("metrics.counter_add('c', '5')", "Invalid", "value must be a number, got '5'"),
    "a negative counter add": ("metrics.counter_add('c', -1)", "Invalid", "must not be negative"),
    "labels not a table": ("metrics.counter_inc('c', 'x=1')", "Invalid", "labels must be a table, got 'x=1'"),
    "a number label value": ("metrics.counter_inc('c', { code = 200 })", "Invalid", "label code must be a string, got 200"),
    "a table label value": ("metrics.counter_inc('c', { code = {} })", "Invalid", "label code must be a string, got a table"),
    "a non-string label name": ("metrics.counter_inc('c', { 'positional' })", "Invalid", "label name 1 is not a label name"),
    "a reserved label name": ("metrics.counter_inc('c', { __name = 'x' })", "Invalid", "label name '__name'"),
    "a long label value": ("metrics.counter_inc('c', { v = string.rep('x', 300) })", "Invalid", "longer than 256 bytes"),
    "too many labels": ("local t = {} for i = 1, 17 do t['l' .. i] = 'v' end return metrics.counter_inc('c', t)",
                        "Invalid", "more than 16 labels"),
}


@pytest.mark.parametrize("call, kind, message", BAD_CALLS.values(), ids=BAD_CALLS.keys())
async def test_bad_input_is_false_and_invalid_never_a_raise(app, call, kind, message):
    statement = call if call.startswith("local") else f"return {call}"
    async with probed(app, f"""
            local ok, e = pcall(function() {statement} end)
            if not ok then return {{ raised = tostring(ok) .. tostring(e) }} end
            local r = {{ pcall(function() {statement} end) }}
            return {{ first = r[2], kind = r[3] and r[3]:kind(), message = r[3] and r[3]:message() }}
        """) as (_, result):
        assert "raised" not in result
        assert result["first"] is False and result["kind"] == kind
        assert message in result["message"]


async def test_a_metric_keeps_its_kind_and_label_names(app):
    async with probed(app, """
            assert(metrics.counter_inc("jobs", { queue = "a" }))
            local _, kind_error = metrics.gauge_set("jobs", 1, { queue = "a" })
            local _, labels_error = metrics.counter_inc("jobs", { topic = "a" })
            return { kind = kind_error:message(), labels = labels_error:message() }
        """) as (node, result):
        assert result["kind"] == "metrics.gauge_set: metric 'jobs' is a counter, not a gauge"
        assert result["labels"] == "metrics.counter_inc: metric 'jobs' has the labels {queue}, got {topic}"
        assert values(node, "jobs_total") == {(("queue", "a"),): 1}


async def test_labels_with_a_metatable_are_refused_without_running_it(app):
    async with probed(app, """
            local touched = false
            local labels = setmetatable({ queue = "a" }, {
              __index = function() touched = true; return "x" end,
              __pairs = function() touched = true; return next, {}, nil end,
            })
            local ok, e = metrics.counter_inc("jobs", labels)
            return { ok = ok, message = e:message(), touched = touched }
        """) as (_, result):
        assert result == {"ok": False, "touched": False,
                          "message": "metrics.counter_inc: labels must be a plain table, not one with a metatable"}


async def test_unbounded_label_sets_are_capped_per_metric(app):
    async with probed(app, """
            local refused, first_error = 0, nil
            for i = 1, 1500 do
              local ok, e = metrics.counter_inc("per_user", { user = tostring(i) })
              if not ok then refused = refused + 1; first_error = first_error or e end
            end
            -- a series that exists keeps working past the cap
            local again = metrics.counter_inc("per_user", { user = "1" })
            return { refused = refused, kind = first_error:kind(), message = first_error:message(), again = again }
        """) as (node, result):
        assert result["refused"] == 500 and result["again"] is True
        assert result["kind"] == "RateLimited"
        assert "1000 label sets, the most one metric may have" in result["message"]
        series = values(node, "per_user_total")
        assert len(series) == 1000 and series[(("user", "1"),)] == 2


async def test_the_host_caps_series_across_metrics(app):
    async with probed(app, """
            local refused = 0
            for m = 1, 12 do
              for i = 1, 1000 do
                if not metrics.gauge_set("g" .. m, i, { i = tostring(i) }) then refused = refused + 1 end
              end
            end
            return refused
        """) as (node, result):
        assert result == 2000
        assert sum(1 for s in node.metrics() if s.name.startswith("g") and s.name[1:].isdigit()) == 10000


async def test_metrics_needs_listing_in_modules(app):
    app.body("unlisted", "return require('metrics')")
    async with Node.open(app.root) as node:
        with pytest.raises(Exception, match="module 'metrics' is not in the imports or modules of test:unlisted"):
            await node.exec("test:unlisted", app.host)


async def test_a_flood_of_observations_adds_up(app):
    async with probed(app, """
            for i = 1, 50000 do metrics.histogram("flood", i % 7) end
            return true
        """) as (node, _):
        assert values(node, "flood_count") == {(): 50000}
        assert values(node, "flood_sum") == {(): sum(i % 7 for i in range(1, 50001))}
