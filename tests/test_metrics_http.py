"""/metrics scraped with a real HTTP client after a known workload: the runtime's counters,
supervision, workflows, and what goes wrong with the address."""

from __future__ import annotations

import socket
from contextlib import nullcontext

import httpx
import pytest
import trio
from conftest import luactor
from prometheus_client.parser import text_string_to_metric_families

from actors import ActorError, Node

WORKLOAD = """
local function echo(n)            -- sends itself n messages, then takes them
  for i = 1, n do process.send(process.pid(), "self", i) end
  local inbox = process.inbox()
  for i = 1, n do inbox:receive() end
  return n
end

local function quick(fail)
  if fail then error("failing on purpose") end
  return true
end

local function idle() process.listen("never"):receive() end

local function spin() while true do end end

local function bomb()
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
end

return { echo = echo, quick = quick, idle = idle, spin = spin, bomb = bomb }
"""


def build(app, **host) -> None:
    app.entries[0]["host"] = {"max_instructions": 1_000_000, "max_memory": "32MB", **host}
    app.lua("work", WORKLOAD, method="echo")
    for method in ("quick", "idle", "spin", "bomb"):
        app.entry(name=method, kind="process.lua", source="file://work.lua", method=method)


async def scrape(node: Node) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by (name, sorted labels), read over HTTP."""
    async with httpx.AsyncClient() as client:
        response = await client.get(node.observability.urls["metrics"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


async def test_a_known_workload_shows_in_the_host_counters(app):
    build(app)
    host = (("host", app.host),)
    async with Node.open(app.root, metrics="127.0.0.1:0") as node:
        assert await node.exec("test:work", app.host, 100_000) == 100_000
        for fail in (False, True, False, True, True):
            with pytest.raises(ActorError) if fail else nullcontext():
                await node.exec("test:quick", app.host, fail)
        idle = await node.spawn("test:idle", app.host)
        for i in range(7):
            await node.send(idle, "other", i)
        for entry in ("test:spin", "test:bomb"):
            with pytest.raises(ActorError, match="RateLimited"):
                await node.exec(entry, app.host)
        samples = await scrape(node)
    assert samples[("luactor_messages_delivered_total", host)] == 100_000 + 7
    assert samples[("luactor_processes_spawned_total", host)] == 1 + 5 + 1 + 2
    assert samples[("luactor_processes_exited_total", host)] == 1 + 5 + 2
    assert samples[("luactor_processes_failed_total", host)] == 3 + 2
    assert samples[("luactor_processes_alive", host)] == 1
    assert samples[("luactor_process_kills_total", (*host, ("reason", "runaway")))] == 1
    assert samples[("luactor_process_kills_total", (*host, ("reason", "memory")))] == 1
    assert samples[("luactor_mailbox_depth_max", host)] == 7
    assert samples[("luactor_mailbox_depth_bucket", (*host, ("le", "10.0")))] == 1
    assert samples[("luactor_mailbox_depth_bucket", (*host, ("le", "1.0")))] == 0
    # 200,000 reductions in 100 turns, sampled on every 64th turn: that one counts for 64
    reductions = samples[("luactor_reductions_total", host)]
    assert reductions > 0 and reductions % 64 == 0
    assert samples[("luactor_scheduler_turns_total", host)] >= 100
    assert samples[("luactor_scheduler_slices_total", host)] >= 1
    assert samples[("luactor_worker_busy_seconds_total", (*host, ("worker", "1")))] > 0


async def test_each_worker_reports_its_busy_time(app):
    build(app, workers=2)
    async with Node.open(app.root) as node:
        idle = {s.labels["worker"]: s.value for s in node.metrics() if s.name == "luactor_worker_busy_seconds_total"}
        for _ in range(2):  # Python's spawns go to the least loaded worker, ties in turn: one on each
            assert await node.exec("test:work", app.host, 50_000) == 50_000
        busy = {s.labels["worker"]: s.value for s in node.metrics() if s.name == "luactor_worker_busy_seconds_total"}
    assert set(busy) == {"1", "2"}
    assert all(busy[w] > idle[w] for w in busy)


FLAKY = """
local funcs = require("funcs")
local function main()
  local attempt = funcs.call("py:attempt")
  if attempt < 3 then error("attempt " .. attempt .. " fails") end
  process.events():receive()  -- runs until the service is stopped (CANCEL)
end
return { main = main }
"""


async def test_services_show_their_state_and_restarts(app):
    app.lua("flaky", FLAKY, modules=["funcs"])
    app.entry(name="svc", kind="process.service", process="test:flaky", host=app.host,
              lifecycle={"auto_start": True, "restart": {"initial_delay": "10ms", "jitter": 0}})
    attempts = []
    third = trio.Event()

    def attempt() -> int:
        attempts.append(1)
        if len(attempts) == 3:
            third.set()
        return len(attempts)

    async with Node.open(app.root, metrics="127.0.0.1:0", functions={"py:attempt": attempt}) as node:
        await third.wait()    # the third attempt runs: the service is Running again
        samples = await scrape(node)
    assert samples[("luactor_service_state", (("kind", "process.service"), ("service", "test:svc"), ("state", "Running")))] == 1
    assert samples[("luactor_service_restarts_total", (("kind", "process.service"), ("service", "test:svc")))] == 2


ORDER = """
local funcs = require("funcs")
local function run(n)
  local total = 0
  for i = 1, n do total = total + funcs.call("test:double", i) end
  return total
end
return { run = run }
"""


async def test_workflows_by_status_steps_and_commits(app, tmp_path):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("order", ORDER, kind="workflow.lua", method="run", modules=["funcs"])
    app.lua("double", "return { double = function(x) return 2 * x end }", kind="function.lua", method="double")
    wf_host = (("host", "test:workflows"),)
    async with Node.open(app.root, metrics="127.0.0.1:0") as node:
        for n in (1, 2, 3):
            assert await node.exec("test:order", "test:workflows", n) == n * (n + 1)
        samples = await scrape(node)
    assert samples[("luactor_workflows", (*wf_host, ("status", "completed")))] == 3
    assert samples[("luactor_workflows", (*wf_host, ("status", "running")))] == 0
    assert samples[("luactor_workflow_steps_total", wf_host)] >= 6      # at least the six calls
    assert samples[("luactor_workflow_commit_seconds_count", wf_host)] >= 3
    steps = samples[("luactor_workflow_steps_total", wf_host)]
    assert samples[("luactor_workflow_commit_events_sum", wf_host)] == steps
    assert samples[("luactor_workflow_store_bytes", wf_host)] > 0


async def test_node_metrics_reads_the_same_without_http(app):
    build(app)
    async with Node.open(app.root) as node:
        await node.exec("test:work", app.host, 10)
        samples = {s.name: s.value for s in node.metrics() if s.labels.get("host") == app.host}
    assert samples["luactor_messages_delivered_total"] == 10
    assert node.observability.urls == {}


async def test_a_node_observe_entry_serves_metrics(app):
    build(app)
    app.entry(name="observe", kind="node.observe", metrics="127.0.0.1:0")
    async with Node.open(app.root) as node:
        await node.exec("test:work", app.host, 3)
        samples = await scrape(node)
    assert samples[("luactor_messages_delivered_total", (("host", app.host),))] == 3


def taken_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


async def test_a_taken_port_stops_the_open_before_any_host_runs(app):
    app.body("starts", "funcs.call('py:started') process.listen('never'):receive()",
             modules=["funcs"], required=["funcs"])
    app.entry(name="svc", kind="process.service", process="test:starts", host=app.host,
              lifecycle={"auto_start": True})
    started = []
    with taken_port() as sock:
        port = sock.getsockname()[1]
        with pytest.raises(ActorError) as failure:
            async with Node.open(app.root, metrics=f"127.0.0.1:{port}",
                                 functions={"py:started": lambda: started.append(1)}):
                pass
    assert failure.value.message == f"cannot serve metrics on 127.0.0.1:{port}: the address is already in use"
    assert started == []


def test_the_command_line_says_so_in_one_line(app):
    with taken_port() as sock:
        port = sock.getsockname()[1]
        done = luactor("run", app.root, "--metrics", f"127.0.0.1:{port}")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"error: cannot serve metrics on 127.0.0.1:{port}: the address is already in use"
    assert "node up" not in done.stderr


def test_a_bad_address_is_named(app):
    done = luactor("run", app.root, "--observe", "localhost:http")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "error: observer address must be HOST:PORT (a port from 0 to 65535), got 'localhost:http'"
