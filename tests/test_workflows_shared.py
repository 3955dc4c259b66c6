"""The same workflow tests on both durable hosts: the embedded LMDB
``workflow.host`` and a ``temporal.worker`` on a real Temporal dev server.

Temporal runs on real time, so these tests use short real durations instead
of a MockClock; every wait is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import uuid

import pytest
import trio

from actors import ActorError, Node

WAIT = 60  # seconds any one test may take on a slow machine

HOSTS = ["workflow.host", "temporal.worker"]


@pytest.fixture(params=HOSTS)
def durable(request, app, tmp_path):
    """``app`` with a durable host ``test:wf`` of the parametrized kind."""
    if request.param == "workflow.host":
        app.entry(name="wf", kind="workflow.host", store=str(tmp_path / "store"))
    else:
        server = request.getfixturevalue("temporal_server")
        app.entry(name="temporal", kind="temporal.client", address=server.address)
        app.entry(name="wf", kind="temporal.worker", client="test:temporal", task_queue=f"q-{uuid.uuid4()}")
    app.kind = request.param
    return app


def workflow(app, name, source, **fields):
    fields.setdefault("modules", ["funcs", "time", "uuid", "workflow"])
    return app.lua(name, source, method="run", kind="workflow.lua", **fields)


class Ledger:
    """A Python side effect that records the idempotency key of each call."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def charge(self, amount, ctx):
        self.keys.append(ctx["idempotency_key"])
        if amount < 0:
            raise ActorError("Invalid", f"cannot charge {amount}")
        return f"receipt for {amount}"


async def test_calls_timers_and_the_result(durable):
    workflow(durable, "order", """
        local funcs = require("funcs")
        local time = require("time")
        local function run(amount)
          local receipt = assert(funcs.call("py:charge", amount))
          local before = time.now()
          time.sleep("200ms")
          local slept = time.now():sub(before):milliseconds()
          local second = assert(funcs.call("py:charge", amount + 1))
          return { receipt, second, slept >= 200 }
        end
        return { run = run }
    """)
    ledger = Ledger()
    with trio.fail_after(WAIT):
        async with Node.open(durable.root, functions={"py:charge": ledger.charge}) as node:
            result = await node.exec("test:order", "test:wf", 7)
    assert result == ["receipt for 7", "receipt for 8", True]
    assert len(ledger.keys) == 2 and ledger.keys[0].endswith("/call/1") and ledger.keys[1].endswith("/call/2")


async def test_a_failing_call_reaches_the_workflow_with_kind_and_message(durable):
    workflow(durable, "order", """
        local funcs = require("funcs")
        local function run(amount)
          local receipt, err = funcs.call("py:charge", amount)
          return { receipt = receipt, kind = err:kind(), message = err:message() }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root, functions={"py:charge": Ledger().charge}) as node:
            result = await node.exec("test:order", "test:wf", -3)
    assert result == {"kind": "Invalid", "message": "cannot charge -3"}


async def test_messages_arrive_once_each_in_the_order_sent(durable):
    workflow(durable, "collector", """
        local function run(count)
          local inbox = process.listen("item")
          local got = {}
          for i = 1, count do got[i] = inbox:receive() end
          return got
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            pid = await node.spawn("test:collector", "test:wf", 4, monitor_by=me.pid,
                                   messages=[("item", "first")])
            for item in ("a", "b", "c"):
                await node.send(pid, "item", item)  # returns once stored
            exit_message = await me.receive()
    assert exit_message.topic == "@exit"
    assert exit_message.payload["result"]["value"] == ["first", "a", "b", "c"]


async def test_workflow_exec_runs_a_child_workflow(durable):
    workflow(durable, "child", """
        local function run(n) return n * 10 end
        return { run = run }
    """)
    workflow(durable, "parent", """
        local workflow = require("workflow")
        local function run(n)
          local a = assert(workflow.exec("test:child", n))
          local b = assert(workflow.exec("test:child", n + 1))
          return a + b
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            assert await node.exec("test:parent", "test:wf", 2) == 50


async def test_a_monitored_child_gives_exit_with_its_result(durable):
    workflow(durable, "child", """
        local function run(n) return n + 1 end
        return { run = run }
    """)
    workflow(durable, "parent", """
        local function run(n)
          local pid = assert(process.spawn_monitored("test:child", "test:wf", n))
          local event = process.events():receive()
          return { kind = event.kind, from_child = event.from == pid, value = event.result.value }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:parent", "test:wf", 41)
    assert result == {"kind": "EXIT", "from_child": True, "value": 42}


async def test_a_workflow_sends_to_a_python_mailbox_and_to_another_workflow(durable):
    workflow(durable, "echo", """
        local function run()
          local msg = process.listen("ping"):receive()
          return "echo " .. msg
        end
        return { run = run }
    """)
    workflow(durable, "sender", """
        local function run(observer, echo)
          assert(process.send(observer, "hello", "from a workflow"))
          assert(process.send(echo, "ping", "pong"))
          return true
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            echo = await node.spawn("test:echo", "test:wf", monitor_by=me.pid)
            assert await node.exec("test:sender", "test:wf", me.pid, echo) is True
            got = [await me.receive(), await me.receive()]
    by_topic = {m.topic: m.payload for m in got}
    assert by_topic["hello"] == "from a workflow"
    assert by_topic["@exit"]["result"]["value"] == "echo pong"


async def test_cancel_reaches_the_workflow_which_decides_how_to_end(durable):
    workflow(durable, "patient", """
        local function run()
          local event = process.events():receive()
          return "ended on " .. event.kind
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            pid = await node.spawn("test:patient", "test:wf", monitor_by=me.pid)
            await node.cancel(pid)
            exit_message = await me.receive()
    assert exit_message.payload["result"]["value"] == "ended on CANCEL"


async def test_terminate_ends_the_workflow_and_monitors_get_an_error(durable):
    workflow(durable, "stuck", """
        local function run() process.listen("never"):receive() end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            pid = await node.spawn("test:stuck", "test:wf", monitor_by=me.pid)
            await node.terminate(pid)
            exit_message = await me.receive()
    assert exit_message.payload["result"]["error"] is not None


@pytest.mark.parametrize("prefix", ["", "temporal."])
async def test_workflow_id_and_conflict_policies(durable, prefix):
    workflow(durable, "waiter", """
        local function run() return process.listen("go"):receive() end
        return { run = run }
    """)
    wid = f"order-{uuid.uuid4().hex[:8]}"

    def options(policy):
        return {f"{prefix}workflow.id": wid, f"{prefix}workflow.id_conflict_policy": policy}

    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            pid = await node.spawn("test:waiter", "test:wf", options=options("fail"), monitor_by=me.pid)
            assert pid.endswith(f"|{wid}}}")
            with pytest.raises(ActorError) as refused:
                await node.spawn("test:waiter", "test:wf", options=options("fail"))
            assert refused.value.kind == "AlreadyExists"
            assert await node.spawn("test:waiter", "test:wf", options=options("use_existing")) == pid
            with pytest.raises(ActorError) as bad:
                await node.spawn("test:waiter", "test:wf", options=options("replace"))
            assert bad.value.kind == "Invalid" and "replace" in bad.value.message
            # terminate_existing: the running one ends (its monitor hears), a new run takes the id
            assert await node.spawn("test:waiter", "test:wf", options=options("terminate_existing")) == pid
            assert (await me.receive()).payload["result"]["error"] is not None
            me.monitor(pid)
            await node.send(pid, "go", "now")
            assert (await me.receive()).payload["result"]["value"] == "now"


async def test_uuid_time_and_random_are_stable_across_a_restart_of_the_node(durable, tmp_path):
    workflow(durable, "stable", """
        local funcs = require("funcs")
        local time = require("time")
        local uuid = require("uuid")
        local function run()
          local before = { uuid.v4(), time.now():unix_nano(), math.random(1, 1000000000) }
          funcs.call("py:record", before)
          local reply = process.listen("go"):receive()
          return { before = before, reply = reply }
        end
        return { run = run }
    """)
    recorded, called = [], trio.Event()

    def record(values):
        recorded.append(values)
        called.set()

    data = tmp_path / "data"
    with trio.fail_after(WAIT):
        async with Node.open(durable.root, data, functions={"py:record": record}) as node:
            pid = await node.spawn("test:stable", "test:wf", name=f"stable-{uuid.uuid4().hex[:8]}")
            await called.wait()  # the workflow now waits for "go"
        # a new node: the workflow is replayed from its history and continues
        async with Node.open(durable.root, data, functions={"py:record": record}) as node, \
                node.mailbox() as me:
            me.monitor(pid)
            await node.send(pid, "go", "after restart")
            exit_message = await me.receive()
    result = exit_message.payload["result"]["value"]
    assert result["reply"] == "after restart"
    assert recorded == [result["before"]]  # same values after replay, and the call ran once


async def test_a_spawned_child_workflow_outlives_its_parent(durable):
    workflow(durable, "child", """
        local function run() return "child got " .. process.listen("go"):receive() end
        return { run = run }
    """)
    workflow(durable, "parent", """
        local function run() return assert(process.spawn("test:child", "test:wf")) end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            child = await node.exec("test:parent", "test:wf")  # the parent has ended
            me.monitor(child)
            await node.send(child, "go", "on")
            exit_message = await me.receive()
    assert exit_message.payload["result"]["value"] == "child got on"


async def test_a_workflow_monitors_a_process_on_another_host_and_messages_keep_their_order(durable):
    durable.lua("worker", """
        local function main() return "done after " .. process.listen("go"):receive() end
        return { main = main }
    """)
    workflow(durable, "watcher", """
        local function run(worker, observer)
          process.monitor(worker)
          for i = 1, 5 do process.send(observer, "n", i) end
          process.send(worker, "go", "five messages")
          local event = process.events():receive()
          return { kind = event.kind, value = event.result.value }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            worker = await node.spawn("test:worker", "test:host")
            result = await node.exec("test:watcher", "test:wf", worker, me.pid)
            numbers = [(await me.receive()).payload for _ in range(5)]
    assert result == {"kind": "EXIT", "value": "done after five messages"}
    assert numbers == [1, 2, 3, 4, 5]


async def test_a_process_on_another_host_starts_workflows_and_hears_their_end(durable):
    workflow(durable, "greet", """
        local function run(name) return "hello " .. name end
        return { run = run }
    """)
    durable.lua("starter", """
        local function main(host, wid)
          local named = process.with_options({ ["workflow.id"] = wid })
          local pid = assert(named:spawn_monitored("test:greet", host, "there"))
          local event = process.events():receive()
          local _, taken = named:spawn("test:greet", host, "again")
          local _, missing = process.spawn("test:nothing", host)
          return { pid = pid, value = event.result.value, taken = taken:kind(), missing = missing:kind() }
        end
        return { main = main }
    """)
    wid = f"greet-{uuid.uuid4().hex[:8]}"
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:starter", "test:host", "test:wf", wid)
    assert result["pid"].endswith(f"|{wid}}}") and result["value"] == "hello there"
    assert (result["taken"], result["missing"]) == ("AlreadyExists", "NotFound")
