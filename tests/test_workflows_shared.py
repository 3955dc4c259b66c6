"""The same workflow tests on both durable hosts: the embedded LMDB
``workflow.host`` and a ``temporal.worker`` on a real Temporal dev server.

Temporal runs on real time, so these tests use short real durations instead
of a MockClock; every wait is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import uuid

import pytest
import trio
from temporal_dev import SEARCH_ATTRIBUTES

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


#: A workflow that waits for a message that never comes: it ends only from outside.
STUCK = """
    local function run() process.listen("never"):receive() end
    return { run = run }
"""


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
    workflow(durable, "stuck", STUCK)
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
          local again = named:with_options({ ["workflow.id_conflict_policy"] = "fail" })
          local _, taken = again:spawn("test:greet", host, "again")
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


async def stored_attrs(node, pid):
    """The search attributes and memo a durable host keeps for workflow ``pid``."""
    host = node.router.hosts["test:wf"]
    workflow_id = pid[pid.rindex("|") + 1:-1]
    if host.kind == "workflow.host":
        meta = host.store.header(workflow_id).meta
        return meta.get("search"), meta.get("memo")
    description = await host._loop.run(host.client.get_workflow_handle(workflow_id).describe())
    search = {pair.key.name: pair.value for pair in description.typed_search_attributes
              if pair.key.name in SEARCH_ATTRIBUTES}   # (not Temporal's own, BuildIds)
    memo = {key: await description.memo_value(key) for key in (await description.memo())}
    return search, memo


async def test_workflow_info_gives_every_documented_field(durable):
    workflow(durable, "inspect", """
        local funcs = require("funcs")
        local workflow = require("workflow")
        local function run()
          local first = workflow.info()
          funcs.call("py:noop")
          local length, size = workflow.history_length(), workflow.history_size()
          return { info = first, length = length, size = size }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root, functions={"py:noop": lambda: None}) as node:
            wid = f"inspect-{uuid.uuid4().hex[:8]}"
            async with node.mailbox() as me:
                await node.spawn("test:inspect", "test:wf", options={"workflow.id": wid}, monitor_by=me.pid)
                result = (await me.receive()).payload["result"]["value"]
    info = result["info"]
    assert info["workflow_id"] == wid and info["workflow_type"] == "test:inspect" and info["attempt"] == 1
    assert isinstance(info["run_id"], str) and len(info["run_id"]) == 36
    assert isinstance(info["task_queue"], str) and info["namespace"] == "default"
    assert info["pid"].endswith(f"|{wid}}}") and info["replaying"] is False
    assert isinstance(info["history_length"], int) and isinstance(info["history_size"], int)
    assert result["length"] > info["history_length"] and result["size"] > info["history_size"]


async def test_workflow_attrs_are_kept_with_the_workflow(durable):
    workflow(durable, "tagged", """
        local workflow = require("workflow")
        local function run(order)
          assert(workflow.attrs({
            search = { status = "processing", customer_id = order.customer_id, order_total = order.total },
            memo = { notes = "Priority customer", source = "web" },
          }))
          local _, bad = workflow.attrs({ search = { status = function() end } })
          local _, unknown = workflow.attrs({ tags = {} })
          return { bad = bad:kind(), unknown = unknown:kind(), done = process.listen("go"):receive() }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            pid = await node.spawn("test:tagged", "test:wf", {"customer_id": "cust-1", "total": 250},
                                   monitor_by=me.pid, options={"workflow.memo": {"channel": "api"},
                                                              "workflow.search_attributes": {"priority": True}})
            await node.send(pid, "go", "now")
            result = (await me.receive()).payload["result"]["value"]
            search, memo = await stored_attrs(node, pid)
    assert result == {"bad": "Invalid", "unknown": "Invalid", "done": "now"}
    assert search == {"status": "processing", "customer_id": "cust-1", "order_total": 250, "priority": True}
    assert memo == {"notes": "Priority customer", "source": "web", "channel": "api"}


async def test_a_name_starts_a_workflow_once_and_later_spawns_get_its_pid_and_deliver_their_messages(durable):
    """The counter of "Startup Messages": a second spawn with the name gets the running
    workflow's PID (its input ignored) and its startup messages are delivered."""
    workflow(durable, "counter", """
        -- one inbox, read in the order the messages were stored (a select over two
        -- channels may take a finish that is ready together with an increment first)
        local function run(input)
          local counter = input.initial
          local inbox = process.inbox()
          while true do
            local message = inbox:receive()
            if message:topic() == "finish" then return { final_counter = counter } end
            counter = counter + message:payload():data().amount
          end
        end
        return { run = run }
    """)
    durable.lua("starter", """
        local function main(host, name)
          local first = process.with_options({}):with_name(name)
            :with_message("increment", { amount = 3 }):with_message("increment", { amount = 1 })
          local pid = assert(first:spawn_monitored("test:counter", host, { initial = 0 }))
          local second = process.with_options({}):with_name(name):with_message("increment", { amount = 2 })
          local pid2 = assert(second:spawn("test:counter", host, { initial = 999 }))
          local strict = process.with_options({ ["temporal.workflow.execution_error_when_already_started"] = true })
            :with_name(name)
          local _, refused = strict:spawn("test:counter", host, { initial = 5 })
          -- from a process, a send to a workflow returns once it is stored: the increments came first
          process.send(pid, "finish", true)
          local event = process.events():receive()
          return { same = pid == pid2, refused = refused and refused:kind(), value = event.result.value }
        end
        return { main = main }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:starter", "test:host", "test:wf", f"counter-{uuid.uuid4().hex[:8]}")
    assert result == {"same": True, "refused": "AlreadyExists", "value": {"final_counter": 6}}


async def test_context_reaches_the_workflow_and_its_activities(durable):
    workflow(durable, "contextual", """
        local funcs = require("funcs")
        local ctx = require("ctx")
        local function run()
          local seen = assert(funcs.call("py:whoami"))
          local traced = assert(funcs.new():with_context({ trace_id = "abc-123" }):call("py:whoami"))
          return { user = ctx.get("user_id"), all = ctx.all(), activity = seen, traced = traced }
        end
        return { run = run }
    """, modules=["funcs", "ctx"])
    durable.lua("spawner", """
        local function main(host)
          local spawner = process.with_context({ user_id = "user-1", tenant = "tenant-1" })
          assert(spawner:spawn_monitored("test:contextual", host))
          return process.events():receive().result.value
        end
        return { main = main }
    """)

    def whoami(ctx):
        return {key: ctx.get(key) for key in ("user_id", "tenant", "trace_id")}

    with trio.fail_after(WAIT):
        async with Node.open(durable.root, functions={"py:whoami": whoami}) as node:
            result = await node.exec("test:spawner", "test:host", "test:wf")
    assert result["user"] == "user-1" and result["all"] == {"user_id": "user-1", "tenant": "tenant-1"}
    assert result["activity"] == {"user_id": "user-1", "tenant": "tenant-1"}
    assert result["traced"] == {"user_id": "user-1", "tenant": "tenant-1", "trace_id": "abc-123"}


BAD_START_OPTIONS = [  # (option, value, the name the error gives)
    ("temporal.workflow.execution_timeout", "soon", "workflow.execution_timeout"),
    ("workflow.id_reuse_policy", "sometimes", "workflow.id_reuse_policy"),
    ("workflow.retry_policy", {"backoff_coefficient": 0.5}, "workflow.retry_policy.backoff_coefficient"),
    ("workflow.retry_policy", {"initial_interval": 5000, "maximum_interval": 1000},
     "workflow.retry_policy.maximum_interval"),
    ("workflow.cron_schedule", "every day", "workflow.cron_schedule"),
    ("workflow.memo", "notes", "workflow.memo"),
    ("workflow.parent_close_policy", "orphan", "workflow.parent_close_policy"),
    ("workflow.colour", "blue", "workflow.colour"),
]


async def test_a_bad_start_option_is_invalid_naming_it(durable):
    # one node for every case: a temporal.worker that has run no workflow can take 10 s to stop
    workflow(durable, "noop", """
        local function run() return true end
        return { run = run }
    """)
    refused = {}
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            for option, value, _ in BAD_START_OPTIONS:
                with pytest.raises(ActorError) as bad:
                    await node.spawn("test:noop", "test:wf", options={option: value})
                refused[option, str(value)] = (bad.value.kind, bad.value.message)
    for option, value, named in BAD_START_OPTIONS:
        kind, message = refused[option, str(value)]
        assert kind == "Invalid" and named in message, (option, value, message)


async def test_what_users_hit_loads_and_runs(durable):
    """An activity imported by a test entry, a workflow file that returns its function,
    sleeps in time.MILLISECOND units, errors without listing it, os.time in a library."""
    durable.lua("clock", """
        return { now = function() return os.time() end }
    """, kind="library.lua")
    durable.lua("activity", """
        local function main(n) return n + 1 end
        return { main = main }
    """, kind="function.lua")
    (durable.root / "plain.lua").write_text(
        'local time = require("time")\n'
        'local function main(n)\n'
        '  time.sleep(100 * time.MILLISECOND)\n'
        '  local e = errors.new({ kind = errors.INVALID, message = "x" })\n'
        '  local ok, err = pcall(require("clock").now)\n'
        '  return { n = n, kind = require("errors").new({ kind = "NotFound", message = "y" }):kind(),\n'
        '           clock = not ok and err:kind(), first = e:kind() }\n'
        'end\n'
        'return main\n')
    durable.entry(name="plain", kind="workflow.lua", source="file://plain.lua", method="main",
                  modules=["time"], imports={"clock": "test:clock"})
    durable.lua("tester", """
        local activity = require("activity")
        local function main(host) return process.exec("test:plain", host, 1) end
        return { main = main }
    """, imports={"activity": "test:activity"})
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:tester", "test:host", "test:wf")
    assert result == {"n": 1, "kind": "NotFound", "clock": "Invalid", "first": "Invalid"}


async def test_a_failed_run_is_retried_as_a_new_run_by_its_retry_policy(durable):
    workflow(durable, "flaky", """
        local workflow = require("workflow")
        local function run(needed)
          local attempt = workflow.info().attempt
          if attempt < needed then return nil, errors.new({ kind = errors.UNAVAILABLE, message = "try again" }) end
          return attempt
        end
        return { run = run }
    """)
    policy = {"initial_interval": 100, "backoff_coefficient": 2.0, "maximum_attempts": 5}
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            await node.spawn("test:flaky", "test:wf", 3, monitor_by=me.pid,
                             options={"temporal.workflow.retry_policy": policy})
            retried = (await me.receive()).payload["result"]     # one EXIT: the last run's
            await node.spawn("test:flaky", "test:wf", 3, monitor_by=me.pid,
                             options={"workflow.retry_policy": {**policy, "maximum_attempts": 2}})
            exhausted = (await me.receive()).payload["result"]
            await node.spawn("test:flaky", "test:wf", 3, monitor_by=me.pid, options={
                "workflow.retry_policy": {**policy, "non_retryable_error_types": ["Unavailable"]}})
            not_retried = (await me.receive()).payload["result"]
    assert retried["value"] == 3
    assert exhausted["error"]["kind"] == "Unavailable" and not_retried["error"]["kind"] == "Unavailable"


async def test_run_timeout_ends_the_run_with_timeout(durable):
    workflow(durable, "stuck", STUCK)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            await node.spawn("test:stuck", "test:wf", monitor_by=me.pid,
                             options={"temporal.workflow.run_timeout": "1s"})
            result = (await me.receive()).payload["result"]
    assert result["error"]["kind"] == "Timeout"


async def test_start_delay_starts_later_and_keeps_what_is_sent_meanwhile(durable):
    workflow(durable, "late", """
        local time = require("time")
        local function run(started)
          return { waited = time.now():unix_nano() - started >= 500000000, msg = process.listen("hello"):receive() }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            now = node.router.wall_ns()
            pid = await node.spawn("test:late", "test:wf", now, monitor_by=me.pid,
                                   options={"workflow.start_delay": 500})
            await node.send(pid, "hello", "while waiting")
            result = (await me.receive()).payload["result"]
    assert result["value"] == {"waited": True, "msg": "while waiting"}


@pytest.mark.parametrize("policy", ["terminate", "request_cancel", "abandon"])
async def test_parent_close_policy_decides_what_happens_to_a_child(durable, policy):
    workflow(durable, "child", """
        local function run()
          local r = channel.select({ process.listen("go"):case_receive(), process.events():case_receive() })
          return "child ended on " .. (r.value.kind or r.value)
        end
        return { run = run }
    """)
    workflow(durable, "parent", """
        local function run(policy)
          return assert(process.with_options({ ["workflow.parent_close_policy"] = policy })
            :spawn("test:child", "test:wf"))
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            child = await node.exec("test:parent", "test:wf", policy)
            me.monitor(child)
            if policy == "abandon":
                await node.send(child, "go", "go")
            result = (await me.receive()).payload["result"]
    if policy == "terminate":
        assert result["error"] is not None
    elif policy == "request_cancel":
        assert result["value"] == "child ended on CANCEL"
    else:
        assert result["value"] == "child ended on go"


class Flaky:
    """A Python activity that fails with ``kind`` until its ``succeed_at``-th attempt."""

    def __init__(self, succeed_at: int, kind: str = "Unavailable") -> None:
        self.keys: list[str] = []
        self.succeed_at, self.kind = succeed_at, kind

    def __call__(self, ctx):
        self.keys.append(ctx["idempotency_key"])
        if len(self.keys) < self.succeed_at:
            raise ActorError(self.kind, f"attempt {len(self.keys)} fails")
        return len(self.keys)


RELIABLE = """
    local funcs = require("funcs")
    local function run(policy, timeout)
      local options = { ["activity.retry_policy"] = policy }
      if timeout then options["activity.start_to_close_timeout"] = timeout end
      local value, err = funcs.new():with_options(options):call(%s)
      if err then return { kind = err:kind() } end
      return { value = value }
    end
    return { run = run }
"""


@pytest.mark.parametrize(("kind", "policy", "expected", "calls"), [
    ("Unavailable", {"initial_interval": 100, "maximum_attempts": 5}, {"value": 3}, 3),
    ("Unavailable", {"initial_interval": 100, "maximum_attempts": 2}, {"kind": "Unavailable"}, 2),
    ("PermissionDenied", {"initial_interval": 100}, {"kind": "PermissionDenied"}, 1),
    ("Unavailable", {"initial_interval": 100, "non_retryable_error_types": ["Unavailable"]},
     {"kind": "Unavailable"}, 1),
])
async def test_an_activity_is_retried_by_its_retry_policy_with_one_idempotency_key(
        durable, kind, policy, expected, calls):
    flaky = Flaky(3, kind)
    workflow(durable, "reliable", RELIABLE % '"py:flaky"')
    with trio.fail_after(WAIT):
        async with Node.open(durable.root, functions={"py:flaky": flaky}) as node:
            result = await node.exec("test:reliable", "test:wf", policy)
    assert result == expected
    assert len(flaky.keys) == calls and len(set(flaky.keys)) == 1 and flaky.keys[0].endswith("/call/1")


async def test_activity_failure_modes(durable):
    """Activity Failure Modes: a missing activity is NotFound, a timeout Timeout."""
    durable.lua("slow", """
        local time = require("time")
        local function main() time.sleep("5s") return "too late" end
        return { main = main }
    """, kind="function.lua", modules=["time"])
    workflow(durable, "missing", RELIABLE % '"test:missing_activity"')
    workflow(durable, "late", RELIABLE % '"py:slow"')
    workflow(durable, "bad_options", """
        local funcs = require("funcs")
        local function run()
          local kinds = {}
          for _, options in ipairs({
            { ["activity.start_to_close_timeout"] = "soon" },
            { ["activity.retry_policy"] = { backoff_coefficient = 0.5 } },
            { ["activity.retry_policy"] = { initial_interval = 5000, maximum_interval = 10 } },
            { ["activity.colour"] = "blue" },
          }) do
            local _, err = funcs.new():with_options(options)
            kinds[#kinds + 1] = err:kind() .. " " .. err:message()
          end
          return kinds
        end
        return { run = run }
    """)

    async def slow():
        await trio.sleep(5)
        return "too late"

    with trio.fail_after(WAIT):
        async with Node.open(durable.root, functions={"py:slow": slow}) as node:
            missing = await node.exec("test:missing", "test:wf", {"maximum_attempts": 1})
            late = await node.exec("test:late", "test:wf", {"maximum_attempts": 1}, "300ms")
            bad = await node.exec("test:bad_options", "test:wf")
    assert missing == {"kind": "NotFound"}
    assert late["kind"] == "Timeout"
    assert [line.split(" ")[0] for line in bad] == ["Invalid"] * 4
    for line, named in zip(bad, ["activity.start_to_close_timeout", "backoff_coefficient", "maximum_interval",
                                 "activity.colour"]):
        assert named in line


async def test_entries_registered_as_activities_run_by_their_entry_id(durable):
    """A function.lua and a process.lua entry with meta.temporal.activity (process activities run
    to their end); on Temporal each is an activity named by its entry id on its worker's queue."""
    worker = {"temporal": {"activity": {"worker": "test:wf"}}}
    durable.lua("charge_payment", """
        local ctx = require("ctx")
        local function charge(input) return { id = "ch-" .. input.amount, tenant = ctx.get("tenant") } end
        return { charge = charge }
    """, kind="function.lua", method="charge", modules=["ctx"], meta=worker)
    durable.lua("long_task", """
        local function main(n) return n * 2 end
        return { main = main }
    """, meta={"temporal": {"activity": {"worker": "test:wf", "local": True}}})
    workflow(durable, "order_workflow", """
        local funcs = require("funcs")
        local function run(order)
          local payment = assert(funcs.call("test:charge_payment", { amount = order.total }))
          local doubled = assert(funcs.call("test:long_task", order.total))
          return { payment = payment, doubled = doubled }
        end
        return { run = run }
    """, meta={"temporal": {"workflow": {"worker": "test:wf"}}})
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:order_workflow", "test:wf", {"total": 21}, context={"tenant": "t-1"})
    assert result == {"payment": {"id": "ch-21", "tenant": "t-1"}, "doubled": 42}


def test_luactor_check_names_an_activity_or_workflow_whose_worker_is_missing(app):
    from actors.registry import check_app

    app.lua("charge", "return { main = function() end }", kind="function.lua",
            meta={"temporal": {"activity": {"worker": "test:nowhere", "local": "yes"}}})
    app.lua("flow", "return { run = function() end }", kind="workflow.lua", method="run",
            meta={"temporal": {"workflow": {"worker": "test:host"}}})
    assert [str(problem) for problem in check_app(app.root)] == [
        "app/app.yaml: test:charge: field 'meta.temporal.activity.worker': "
        "'test:nowhere' is not a temporal.worker (or workflow.host) entry",
        "app/app.yaml: test:charge: field 'meta.temporal.activity.local': must be true or false",
        "app/app.yaml: test:flow: field 'meta.temporal.workflow.worker': "
        "'test:host' is not a temporal.worker (or workflow.host) entry",
    ]


# -- the examples of temporal/workflows.md ------------------------------------------------


async def test_multiple_signal_handlers_acknowledge_each_request(durable):
    """"Multiple Signal Handlers": coroutines listen to a topic each and answer the sender."""
    workflow(durable, "counter", """
        local function run(input)
          local counter = input.initial or 0
          local done = false
          coroutine.spawn(function()
            local ch = process.listen("increment", { message = true })
            while not done do
              local msg, ok = ch:receive()
              if not ok then break end
              local data = msg:payload():data()
              if type(data) ~= "table" or type(data.amount) ~= "number" then
                process.send(msg:from(), "nak", "amount must be a number")
              else
                counter = counter + data.amount
                process.send(msg:from(), "ok", { value = counter })
              end
            end
          end)
          coroutine.spawn(function()
            local ch = process.listen("decrement", { message = true })
            while not done do
              local msg, ok = ch:receive()
              if not ok then break end
              local data = msg:payload():data()
              if counter - data.amount < 0 then
                process.send(msg:from(), "nak", "would result in negative value")
              else
                counter = counter - data.amount
                process.send(msg:from(), "ok", { value = counter })
              end
            end
          end)
          local msg = process.listen("finish", { message = true }):receive()
          process.send(msg:from(), "ok", { message = "finishing" })
          done = true
          return { final_counter = counter }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            pid = await node.spawn("test:counter", "test:wf", {"initial": 1}, monitor_by=me.pid)
            replies = []
            for topic, data in [("increment", {"amount": 5}), ("increment", {"amount": "x"}),
                                ("decrement", {"amount": 10}), ("decrement", {"amount": 2}), ("finish", {})]:
                await me.send(pid, topic, data)
                reply = await me.receive()
                replies.append((reply.topic, reply.payload))
            exit_message = await me.receive()
    assert replies == [("ok", {"value": 6}), ("nak", "amount must be a number"),
                       ("nak", "would result in negative value"), ("ok", {"value": 4}),
                       ("ok", {"message": "finishing"})]
    assert exit_message.payload["result"]["value"] == {"final_counter": 4}


async def test_concurrent_work_and_timers(durable):
    """"Concurrent Work" and "Timers": workers over channels, sleeps in every form."""
    workflow(durable, "pool", """
        local time = require("time")
        local function run(input)
          local work_queue, results = channel.new(10), channel.new(10)
          for w = 1, input.workers do
            coroutine.spawn(function()
              while true do
                local job, ok = work_queue:receive()
                if not ok then break end
                time.sleep(10 * time.MILLISECOND)
                results:send({ worker = w, job = job, result = job * 2 })
              end
            end)
          end
          for j = 1, input.jobs do work_queue:send(j) end
          work_queue:close()
          local total = 0
          for _ = 1, input.jobs do total = total + results:receive().result end
          local start = time.now()
          time.sleep("100ms")
          time.sleep(50 * time.MILLISECOND)
          return { total = total, elapsed = time.now():sub(start):milliseconds() >= 150 }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:pool", "test:wf", {"workers": 3, "jobs": 6})
    assert result == {"total": 42, "elapsed": True}


async def test_children_errors_exec_and_cross_workflow_signals(durable):
    """Child errors in EXIT events and from process.exec; a workflow signals another by PID."""
    workflow(durable, "error_child", """
        local function run() return nil, errors.new({ kind = errors.NOT_FOUND, message = "no such order" }) end
        return { run = run }
    """)
    workflow(durable, "hello", """
        local function run(input) return "hello " .. input.name end
        return { run = run }
    """)
    workflow(durable, "pong", """
        local function run()
          local msg = process.listen("cross_host_ping", { message = true }):receive()
          process.send(msg:from(), "cross_host_pong", msg:payload():data().data .. " back")
        end
        return { run = run }
    """)
    workflow(durable, "parent", """
        local function run(target)
          local events = process.events()
          assert(process.spawn_monitored("test:error_child", "test:wf"))
          local event = events:receive()
          local child_err = event.result.error
          local greeting = assert(process.exec("test:hello", "test:wf", { name = "world" }))
          local _, exec_err = process.exec("test:error_child", "test:wf")
          assert(process.send(target, "cross_host_ping", { data = "hello" }))
          local response = process.listen("cross_host_pong"):receive()
          return { kind = child_err:kind(), retryable = child_err:retryable(), message = child_err:message(),
                   greeting = greeting, exec_kind = exec_err:kind(), response = response }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            target = await node.spawn("test:pong", "test:wf")
            result = await node.exec("test:parent", "test:wf", target)
    assert result["kind"] == "NotFound" and "no such order" in result["message"]
    assert result["greeting"] == "hello world" and result["exec_kind"] == "NotFound"
    assert result["response"] == "hello back"


async def test_post_start_monitor_link_unmonitor_and_unlink(durable):
    """"Monitoring and Linking": monitor and link after the start, LINK_DOWN when the linked
    workflow is terminated (trap_links), nothing more after unmonitor/unlink."""
    workflow(durable, "long", """
        local function run() return process.listen("finish"):receive() end
        return { run = run }
    """)
    workflow(durable, "watcher", """
        local time = require("time")
        local function run()
          assert(process.set_options({ trap_links = true }))
          local events = process.events()
          local linked = assert(process.spawn("test:long", "test:wf"))
          time.sleep("200ms")
          assert(process.link(linked))
          process.terminate(linked)
          local down = events:receive()
          local watched = assert(process.spawn("test:long", "test:wf"))
          assert(process.monitor(watched))
          process.send(watched, "finish", "done")
          local exit = events:receive()
          local quiet = assert(process.spawn("test:long", "test:wf"))
          assert(process.monitor(quiet))
          assert(process.link(quiet))
          assert(process.unmonitor(quiet))
          assert(process.unlink(quiet))
          process.terminate(quiet)
          local r = channel.select({ events:case_receive(), time.after("500ms"):case_receive() })
          return { down = down.kind, down_from = down.from == linked, exit = exit.kind,
                   value = exit.result.value, quiet = r.channel ~= events }
        end
        return { run = run }
    """)
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node:
            result = await node.exec("test:watcher", "test:wf")
    assert result == {"down": "LINK_DOWN", "down_from": True, "exit": "EXIT", "value": "done", "quiet": True}


@pytest.mark.parametrize(("reuse", "again"), [
    (None, "first"), ("reject_duplicate", "first"), ("allow_duplicate_failed_only", "first"),
    ("allow_duplicate", "second"),
])
async def test_id_reuse_policy_decides_whether_a_closed_id_starts_again(durable, reuse, again):
    workflow(durable, "echo", """
        local function run(word) return word end
        return { run = run }
    """)
    wid = f"reuse-{uuid.uuid4().hex[:8]}"
    options = {"workflow.id": wid}
    with trio.fail_after(WAIT):
        async with Node.open(durable.root) as node, node.mailbox() as me:
            first = await node.spawn("test:echo", "test:wf", "first", options=options, monitor_by=me.pid)
            assert (await me.receive()).payload["result"]["value"] == "first"
            if reuse:
                options["temporal.workflow.id_reuse_policy"] = reuse
            second = await node.spawn("test:echo", "test:wf", "second", options=options, monitor_by=me.pid)
            result = (await me.receive()).payload["result"]["value"]
            if again == "first":   # the id stays taken: with fail, that is an error
                with pytest.raises(ActorError) as taken:
                    await node.spawn("test:echo", "test:wf", "third",
                                     options={**options, "workflow.id_conflict_policy": "fail"})
                assert taken.value.kind == "AlreadyExists"
    assert second == first and result == again
