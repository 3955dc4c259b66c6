"""Durable workflows on a workflow.host: recording, replay, recovery after SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from actors import ActorError, Node
from hosts.history import HistoryStore

ORDER = """
local funcs = require("funcs")
local time = require("time")
local uuid = require("uuid")

local function run(order, observer)
  -- values that must replay to the same thing
  local seen = { id = uuid.v4(), roll = math.random(1, 1000000), started = time.now():unix_nano() }
  local receipt, err = funcs.call("py:charge", order.amount)
  if err then return nil, err end
  if observer then process.send(observer, "charged", seen) end
  time.sleep("2s")
  local approval = process.listen("approve"):receive()
  seen.receipt, seen.approved_by = receipt, approval
  seen.slept = (time.now():unix_nano() - seen.started) >= 2000000000
  return seen
end

return { run = run }
"""


def build(app, store):
    app.entry(name="workflows", kind="workflow.host", store=str(store))
    app.lua("order", ORDER, method="run", kind="workflow.lua", modules=["funcs", "time", "uuid"])


class Ledger:
    """An idempotent Python side effect: counts charges by idempotency key."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def charge(self, amount, ctx):
        self.calls.append(ctx["idempotency_key"])
        return f"charged {amount}"


async def test_a_workflow_calls_sleeps_receives_and_completes(app, tmp_path, autojump_clock):
    build(app, tmp_path / "store")
    ledger = Ledger()
    async with Node.open(app.root, functions={"py:charge": ledger.charge}) as node, node.mailbox() as me:
        pid = await node.spawn("test:order", "test:workflows", {"amount": 5}, name="order-5")
        assert pid.endswith("|order-5}")
        me.monitor(pid)
        await node.send(pid, "approve", "alice")  # returns once stored
        exit_message = await me.receive()
    result = exit_message.payload["result"]["value"]
    assert result["receipt"] == "charged 5" and result["approved_by"] == "alice" and result["slept"]
    assert ledger.calls == ["order-5/call/1"]
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        header = store.header("order-5")
        assert header.status == "completed" and header.result == result
        events = [event for _, event in store.events("order-5")]
    # one call, one timer, the stored message, and batches of results
    assert [e["fn"] for e in events if e["type"] == "call"] == ["py:charge"]
    assert len([e for e in events if e["type"] == "timer"]) == 1
    assert [(e["topic"], e["payload"]) for e in events if e["type"] == "signal"] == [("approve", "alice")]
    applied = [x["kind"] for e in events if e["type"] == "batch" for x in e["events"]]
    assert sorted(applied) == ["message", "result", "timer"]


async def test_a_started_workflow_id_is_started_once(app, tmp_path, autojump_clock):
    """A name is an idempotent start: again, it gives the PID of the workflow that has it
    (``use_existing``, the default), or with ``fail`` ALREADY_EXISTS."""
    build(app, tmp_path / "store")
    async with Node.open(app.root, functions={"py:charge": Ledger().charge}) as node:
        pid = await node.spawn("test:order", "test:workflows", {"amount": 1}, name="once")
        assert await node.spawn("test:order", "test:workflows", {"amount": 2}, name="once") == pid
        with pytest.raises(ActorError) as failure:
            await node.spawn("test:order", "test:workflows", {"amount": 1}, name="once",
                             options={"workflow.id_conflict_policy": "fail"})
        assert failure.value.kind == "AlreadyExists"
        assert runs_of(node, "once") == [(1, "running", 1)]


CRASHING_NODE = """
import os, sys, trio
from actors import Node

async def main(app, observer_log):
    charge = lambda amount, ctx: (open(observer_log, "a").write(ctx["idempotency_key"] + "\\n"), f"charged {amount}")[1]
    async with Node.open(app, functions={"py:charge": charge}) as node, node.mailbox() as me:
        pid = await node.spawn("test:order", "test:workflows", {"amount": 9}, me.pid, name="order-9")
        seen = await me.receive()                 # sent by the workflow after the charge
        open(observer_log, "a").write(repr(seen.payload) + "\\n")
        await node.send(pid, "approve", "bob")     # stored before send returns
        print("stored", flush=True)
        await trio.sleep_forever()                 # killed here, mid-sleep

trio.run(main, sys.argv[1], sys.argv[2])
"""


async def test_a_workflow_survives_sigkill_and_replays_to_the_same_values(app, tmp_path):
    build(app, tmp_path / "store")
    script = tmp_path / "node.py"
    script.write_text(textwrap.dedent(CRASHING_NODE))
    log = tmp_path / "observed.log"
    # blocking is harmless here: no node runs in this process yet
    node_process = subprocess.Popen([sys.executable, str(script), str(app.root), str(log)],  # noqa: ASYNC220
                                    stdout=subprocess.PIPE, text=True)
    try:
        assert node_process.stdout.readline().strip() == "stored"
    finally:
        node_process.kill()  # SIGKILL
        node_process.wait()
    charged_before, seen_before = log.read_text().splitlines()

    ledger = Ledger()
    async with Node.open(app.root, functions={"py:charge": ledger.charge}) as node, node.mailbox() as me:
        pid = "{luactor@test:workflows|order-9}"
        me.monitor(pid)
        with trio.fail_after(30):
            exit_message = await me.receive()
    result = exit_message.payload["result"]["value"]
    assert result["approved_by"] == "bob" and result["receipt"] == "charged 9" and result["slept"]
    # the charge's result was stored: it did not run again
    assert charged_before == "order-9/call/1" and ledger.calls == []
    # uuid, math.random and time.now replayed to what the first run saw
    before = eval(seen_before)
    assert {k: result[k] for k in ("id", "roll", "started")} == before


async def test_replay_of_changed_code_fails_naming_the_step_and_both_operations(app, tmp_path, autojump_clock):
    build(app, tmp_path / "store")
    async with Node.open(app.root, functions={"py:charge": Ledger().charge}) as node:
        await node.spawn("test:order", "test:workflows", {"amount": 3}, name="drift")
        await trio.sleep(1)  # charged, now sleeping: history holds the call
    # the code changes under the stored history: a different function first
    (app.root / "order.lua").write_text(ORDER.replace('funcs.call("py:charge"', 'funcs.call("py:refund"'))
    async with Node.open(app.root, functions={"py:refund": Ledger().charge}):
        await trio.sleep(1)  # recovery replays it at once
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        header = store.header("drift")
    assert header.status == "failed"
    message = header.error["message"]
    assert "not deterministic" in message and "step 1" in message
    assert "call py:charge" in message and "call py:refund" in message


STARTER = """
local function main(id)
  local first, e1 = process.with_options({}):with_name(id):spawn("test:order", "test:workflows", { amount = 2 })
  local again, e2 = process.with_options({}):with_name(id):spawn("test:order", "test:workflows", { amount = 2 })
  return { first = first, again = again, kind = e2 and e2:kind() }
end
return { main = main }
"""


async def test_with_name_from_lua_is_an_idempotent_start(app, tmp_path, autojump_clock):
    build(app, tmp_path / "store")
    app.lua("starter", STARTER, kind="process.lua")
    async with Node.open(app.root, functions={"py:charge": Ledger().charge}) as node:
        out = await node.exec("test:starter", app.host, "from-lua")
    assert out["first"] == "{luactor@test:workflows|from-lua}"
    assert out["again"] == out["first"] and out.get("kind") is None


async def test_a_corrupt_record_fails_only_its_workflow_naming_the_record(app, tmp_path, autojump_clock):
    import lmdb

    from hosts.history import event_key

    build(app, tmp_path / "store")
    functions = {"py:charge": Ledger().charge}
    async with Node.open(app.root, functions=functions) as node:
        for name in ("damaged", "healthy"):
            await node.spawn("test:order", "test:workflows", {"amount": 1}, name=name)
        await trio.sleep(1)
    env = lmdb.open(str(tmp_path / "store"), max_dbs=8)
    with env.begin(write=True) as txn:
        txn.put(event_key("damaged", 0), b"\xc1 not msgpack", db=env.open_db(b"events", txn=txn))
    env.close()
    async with Node.open(app.root, functions=functions) as node, node.mailbox() as me:
        healthy = "{luactor@test:workflows|healthy}"
        me.monitor(healthy)
        await node.send(healthy, "approve", "carol")
        exit_message = await me.receive()
    assert exit_message.payload["result"]["value"]["approved_by"] == "carol"
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        damaged = store.header("damaged")
    assert damaged.status == "failed"
    assert "corrupt record" in damaged.error["message"] and "seq 0" in damaged.error["message"]


async def test_a_terminated_workflow_is_stored_as_terminated_and_not_recovered(app, tmp_path, autojump_clock):
    build(app, tmp_path / "store")
    functions = {"py:charge": Ledger().charge}
    async with Node.open(app.root, functions=functions) as node, node.mailbox() as me:
        pid = await node.spawn("test:order", "test:workflows", {"amount": 4}, name="stopped")
        me.monitor(pid)
        await node.terminate(pid)
        event = (await me.receive()).payload
    assert event["result"]["error"]["kind"] == "Canceled"
    async with Node.open(app.root, functions=functions) as node:
        assert node.process_count("test:workflows") == 0
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        assert store.header("stopped").status == "terminated"


PARENT = """
local workflow = require("workflow")
local function run(n)
  local doubled, err = workflow.exec("test:child", n)
  if err then return nil, err end
  return doubled + 1
end
return { run = run }
"""

CHILD = """
local time = require("time")
local function run(n)
  time.sleep("5s")
  if n < 0 then return nil, errors.new({ kind = errors.INVALID, message = "negative" }) end
  return n * 2
end
return { run = run }
"""


def build_family(app, store):
    app.entry(name="workflows", kind="workflow.host", store=str(store))
    app.lua("parent", PARENT, method="run", kind="workflow.lua", modules=["workflow"])
    app.lua("child", CHILD, method="run", kind="workflow.lua", modules=["time"])


async def test_workflow_exec_runs_a_child_workflow_and_returns_its_result(app, tmp_path, autojump_clock):
    build_family(app, tmp_path / "store")
    async with Node.open(app.root) as node:
        assert await node.exec("test:parent", "test:workflows", 20) == 41
        with pytest.raises(ActorError) as failure:
            await node.exec("test:parent", "test:workflows", -1)
        assert failure.value.kind == "Invalid" and "negative" in failure.value.message


async def test_workflow_exec_waits_across_a_restart(app, tmp_path, autojump_clock):
    build_family(app, tmp_path / "store")
    async with Node.open(app.root) as node:
        await node.spawn("test:parent", "test:workflows", 5, name="family")
        await trio.sleep(1)  # the child sleeps; the parent waits for it
    async with Node.open(app.root) as node, node.mailbox() as me:
        me.monitor("{luactor@test:workflows|family}")
        event = (await me.receive()).payload
    assert event["result"]["value"] == 11
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        assert store.header("family/1").result == 10 and store.header("family").result == 11


POLICIES = """
local function main(policy, amount, prefix)
  prefix = prefix or ""
  local spawner = process.with_options({ [prefix .. "workflow.id"] = "policy-test",
                                         [prefix .. "workflow.id_conflict_policy"] = policy })
  local pid, err = spawner:spawn("test:order", "test:workflows", { amount = amount })
  return { pid = pid, kind = err and err:kind(), message = err and err:message() }
end
return { main = main }
"""


def runs_of(store, workflow_id):
    """(run, status, amount) of every run of ``workflow_id``, the current one last.

    ``store`` is a node (read through its own handle: one process opens a
    store once) or the path of a store no node holds.
    """
    if isinstance(store, Node):
        return _runs(store.router.hosts["test:workflows"].store, workflow_id)
    with HistoryStore.open(store, readonly=True) as history:
        return _runs(history, workflow_id)


def _runs(store, workflow_id):
    headers = [*store.runs(workflow_id), store.header(workflow_id)]
    return [(h.run, h.status, h.input[0]["amount"]) for h in headers]


async def test_workflow_id_conflict_policies(app, tmp_path, autojump_clock):
    build(app, tmp_path / "store")
    app.lua("policies", POLICIES, kind="process.lua")
    ledger = Ledger()
    store = tmp_path / "store"
    async with Node.open(app.root, functions={"py:charge": ledger.charge}) as node, node.mailbox() as me:
        first = await node.spawn("test:order", "test:workflows", {"amount": 1},
                                 options={"temporal.workflow.id": "policy-test"})
        assert first == "{luactor@test:workflows|policy-test}"
        me.monitor(first)

        # use_existing and fail, from Python and from Lua, plain and prefixed keys
        same = await node.spawn("test:order", "test:workflows", {"amount": 9},
                                options={"workflow.id": "policy-test", "workflow.id_conflict_policy": "use_existing"})
        assert same == first
        assert (await node.exec("test:policies", app.host, "use_existing", 9, "temporal."))["pid"] == first
        with pytest.raises(ActorError) as failure:
            await node.spawn("test:order", "test:workflows", {"amount": 9}, options={
                "workflow.id": "policy-test", "workflow.id_conflict_policy": "fail"})
        assert failure.value.kind == "AlreadyExists" and "policy-test" in failure.value.message
        failed = await node.exec("test:policies", app.host, "fail", 9)
        assert failed["kind"] == "AlreadyExists" and "policy-test" in failed["message"]
        assert runs_of(node, "policy-test") == [(1, "running", 1)]

        # terminate_existing from Python: the running one ends as terminated, its monitor
        # hears it, and a new run starts under the same id (and PID)
        second = await node.spawn("test:order", "test:workflows", {"amount": 2}, options={
            "temporal.workflow.id": "policy-test", "temporal.workflow.id_conflict_policy": "terminate_existing"})
        assert second == first
        ended = (await me.receive()).payload
        assert ended["kind"] == "EXIT" and ended["result"]["error"]["kind"] == "Canceled"
        assert "terminate_existing" in ended["result"]["error"]["message"]
        assert runs_of(node, "policy-test") == [(1, "terminated", 1), (2, "running", 2)]

        # and from Lua: run 2 gives way to run 3
        third = await node.exec("test:policies", app.host, "terminate_existing", 3)
        assert third["pid"] == first and third.get("kind") is None
        assert runs_of(node, "policy-test") == [(1, "terminated", 1), (2, "terminated", 2), (3, "running", 3)]

        bad = await node.exec("test:policies", app.host, "sometimes", 9)
        assert bad["kind"] == "Invalid" and "sometimes" in bad["message"]
        await trio.sleep(5)   # run 3 charged and slept; it waits for approval

    # after a restart only the current run is recovered, from its own events
    async with Node.open(app.root, functions={"py:charge": ledger.charge}) as node, node.mailbox() as me:
        me.monitor(first)
        await node.send(first, "approve", "dora")
        result = (await me.receive()).payload["result"]["value"]
        assert result["receipt"] == "charged 3" and result["approved_by"] == "dora"
        # a completed workflow is replaced too, by a run that starts afresh
        fourth = await node.spawn("test:order", "test:workflows", {"amount": 4}, options={
            "workflow.id": "policy-test", "workflow.id_conflict_policy": "terminate_existing"})
        assert fourth == first
    assert runs_of(store, "policy-test") == [
        (1, "terminated", 1), (2, "terminated", 2), (3, "completed", 3), (4, "running", 4)]
    # each run's calls have their own idempotency keys
    assert ledger.calls[0] == "policy-test/call/1" and "policy-test/call/1/run/3" in ledger.calls
    assert len(ledger.calls) == len(set(ledger.calls))


async def test_a_workflow_cannot_replace_itself(app, tmp_path, autojump_clock):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("selfish", """
    local function run()
      local me = require("workflow").info().workflow_id
      local _, err = process.with_options({ ["workflow.id"] = me, ["workflow.id_conflict_policy"] = "terminate_existing" })
        :spawn("test:selfish", "test:workflows")
      return { kind = err:kind(), message = err:message() }
    end
    return { run = run }
    """, method="run", kind="workflow.lua", modules=["workflow"])
    async with Node.open(app.root) as node:
        out = await node.exec("test:selfish", "test:workflows")
    assert out["kind"] == "Invalid" and "cannot replace itself" in out["message"]


PATIENT = """
local funcs = require("funcs")
local function run()
  local value, err = funcs.new():with_options({ timeout = 500 }):call("py:slow")
  local quick = funcs.new():with_options({ timeout = 500 }):call("py:quick")
  return { kind = err and err:kind(), value = value, quick = quick }
end
return { run = run }
"""


async def test_a_call_timeout_in_a_workflow_is_a_durable_timer(app, tmp_path, autojump_clock):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("patient", PATIENT, method="run", kind="workflow.lua", modules=["funcs"])

    async def slow():
        await trio.sleep(3600)

    functions = {"py:slow": slow, "py:quick": lambda: "fast"}
    async with Node.open(app.root, functions=functions) as node:
        out = await node.exec("test:patient", "test:workflows")
    assert out == {"kind": "Timeout", "quick": "fast"}
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        events = [e for _, e in store.events(store.headers()[0].id)]
    assert [e["type"] for e in events if e["type"] != "batch"] == ["call", "timer", "call", "timer"]


CANCELED_AT_ONCE = """
local funcs = require("funcs")
local function run()
  local future = funcs.async("py:effect", 1)
  future:cancel()
  local second = funcs.call("py:effect", 2)
  return { kind = future:error():kind(), second = second }
end
return { run = run }
"""


async def test_a_call_canceled_in_the_turn_that_made_it_never_runs(app, tmp_path, autojump_clock):
    """A workflow's call runs once its task's turn is over: one canceled
    before then has the cancel as its recorded outcome and is never run."""
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("hasty", CANCELED_AT_ONCE, method="run", kind="workflow.lua", modules=["funcs"])
    ran = []
    async with Node.open(app.root, functions={"py:effect": ran.append}) as node:
        out = await node.exec("test:hasty", "test:workflows")
    assert out == {"kind": "Canceled"}
    assert ran == [2]
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        events = [e for _, e in store.events(store.headers()[0].id)]
    results = [ev for e in events if e["type"] == "batch" for ev in e["events"] if ev["kind"] == "result"]
    assert [(r["id"], r.get("error", {}).get("kind")) for r in results] == [(1, "Canceled"), (2, None)]


async def test_a_mailbox_send_to_a_workflow_returns_once_stored(app, tmp_path, autojump_clock):
    build(app, tmp_path / "store")
    async with Node.open(app.root, functions={"py:charge": Ledger().charge}) as node, node.mailbox() as me:
        pid = await node.spawn("test:order", "test:workflows", {"amount": 6}, name="mailed")
        store = node.router.hosts["test:workflows"].store  # the node's own handle on its store
        # repeated: whether the host commits before a non-waiting send came
        # back is up to trio's scheduling, so one try could pass by luck
        for n in range(10):
            await me.send(pid, "note", n)
            stored = [e["payload"] for _, e in store.events("mailed") if e["type"] == "signal"]
            assert stored == list(range(n + 1)), (n, stored)


WATCHER = """
local function run(observer)
  process.set_options({ trap_links = true })
  local monitored = process.spawn_monitored("test:waiter", "test:workflows", "monitored", observer)
  local linked = process.spawn_linked("test:waiter", "test:workflows", "linked", observer)
  process.send(observer, "children", { monitored = monitored, linked = linked })
  local heard, events = {}, process.events()
  while #heard < 2 do
    local e = events:receive()
    heard[#heard + 1] = { kind = e.kind, from = e.from, value = e.result and e.result.value,
                          reason = e.reason }
  end
  return heard
end
return { run = run }
"""

WAITER = """
local function run(name, observer)
  local roll = math.random(1, 1000000)   -- seeded per workflow: replays to the same value
  if observer then process.send(observer, "rolled", { name = name, roll = roll }) end
  local order = process.listen("finish"):receive()
  if order.fail then return nil, errors.new({ kind = errors.INVALID, message = name .. " gave up" }) end
  return { name = name, roll = roll }
end
return { run = run }
"""


def build_watchers(app, store):
    app.entry(name="workflows", kind="workflow.host", store=str(store))
    app.lua("watcher", WATCHER, method="run", kind="workflow.lua")
    app.lua("waiter", WAITER, method="run", kind="workflow.lua")


WATCHING_NODE = """
import sys, trio
from actors import Node

async def main(app):
    async with Node.open(app) as node, node.mailbox() as me:
        await node.spawn("test:watcher", "test:workflows", me.pid, name="watcher")
        seen = {}
        while len(seen) < 3:
            message = await me.receive()
            seen[message.topic if message.topic == "children" else message.payload["name"]] = message.payload
        print(repr(seen), flush=True)
        await trio.sleep_forever()                 # killed here: the children wait

trio.run(main, sys.argv[1])
"""


async def test_monitors_and_links_between_workflows_survive_sigkill(app, tmp_path):
    build_watchers(app, tmp_path / "store")
    script = tmp_path / "node.py"
    script.write_text(textwrap.dedent(WATCHING_NODE))
    # blocking is harmless here: no node runs in this process yet
    node_process = subprocess.Popen([sys.executable, str(script), str(app.root)],  # noqa: ASYNC220
                                    stdout=subprocess.PIPE, text=True)
    try:
        seen = eval(node_process.stdout.readline())
    finally:
        node_process.kill()  # SIGKILL
        node_process.wait()
    monitored, linked = seen["children"]["monitored"], seen["children"]["linked"]

    async with Node.open(app.root) as node, node.mailbox() as me:
        me.monitor("{luactor@test:workflows|watcher}")   # a Python monitor: set again after a restart
        await node.send(monitored, "finish", {"fail": False})
        await node.send(linked, "finish", {"fail": True})
        with trio.fail_after(30):
            heard = (await me.receive()).payload["result"]["value"]
    by_kind = {event["kind"]: event for event in heard}
    assert len(heard) == 2 and set(by_kind) == {"EXIT", "LINK_DOWN"}
    assert by_kind["EXIT"]["from"] == monitored
    # the child started from Lua replayed to the random value it had before the kill
    assert by_kind["EXIT"]["value"] == {"name": "monitored", "roll": seen["monitored"]["roll"]}
    assert by_kind["LINK_DOWN"]["from"] == linked and "linked gave up" in by_kind["LINK_DOWN"]["reason"]


async def test_a_watched_workflow_that_ended_unheard_is_heard_after_a_restart(app, tmp_path, autojump_clock):
    """The children's ends are stored but the watcher's record of them is not (the node
    died between the two commits): going live, it hears each end once."""
    build_watchers(app, tmp_path / "store")
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:watcher", "test:workflows", me.pid, name="watcher")
        children = (await me.receive()).payload
        await trio.sleep(1)
    with HistoryStore.open(tmp_path / "store") as store:
        batch = store.batch()
        for pid, status, result, error in (
                (children["monitored"], "completed", "fine", None),
                (children["linked"], "failed", None, {"kind": "Invalid", "message": "linked gave up"})):
            header = store.header(pid[pid.rindex("|") + 1:-1])
            header.status, header.result, header.error = status, result, error
            batch.put_header(header)
        store.commit(batch)

    async with Node.open(app.root) as node:
        await trio.sleep(1)   # recovery: the watcher replays, goes live, hears both ends and returns
        store = node.router.hosts["test:workflows"].store
        watcher = store.header("watcher")
        recorded = [x["event"]["kind"] for _, e in store.events("watcher") if e["type"] == "batch"
                    for x in e["events"] if x["kind"] == "lifecycle"]
    assert watcher.status == "completed", watcher.error
    heard = watcher.result
    assert sorted((e["kind"], e["from"]) for e in heard) == [
        ("EXIT", children["monitored"]), ("LINK_DOWN", children["linked"])]
    assert next(e for e in heard if e["kind"] == "EXIT")["value"] == "fine"
    assert sorted(recorded) == ["EXIT", "LINK_DOWN"]   # each heard once


async def test_only_a_workflow_id_made_by_the_host_skips_the_look_in_the_store(app, tmp_path, autojump_clock,
                                                                               monkeypatch):
    """A generated id names no workflow yet; one given by the caller may name a stored one."""
    build(app, tmp_path / "store")
    looked_up = []
    header = HistoryStore.header
    monkeypatch.setattr(HistoryStore, "header", lambda store, wid: looked_up.append(wid) or header(store, wid))
    async with Node.open(app.root, functions={"py:charge": Ledger().charge}) as node:
        generated = await node.spawn("test:order", "test:workflows", {"amount": 1})
        await node.spawn("test:order", "test:workflows", {"amount": 2}, name="order-2")
    assert generated[generated.rindex("|") + 1:-1] not in looked_up and "order-2" in looked_up


async def test_spawn_then_calls_back_once_the_start_is_committed(app, tmp_path, autojump_clock):
    """How the spawns Lua asks for are answered: from the commit, with no task of their own."""
    build(app, tmp_path / "store")
    async with Node.open(app.root, functions={"py:charge": Ledger().charge}) as node:
        host = node.router.hosts["test:workflows"]
        stored = []
        host.spawn_then("test:order", [{"amount": 1}], {"name": "order-1"},
                        lambda pid: stored.append((pid, host.store.header("order-1"))))
        assert stored == []
        await wait_all_tasks_blocked()
        [(pid, header)] = stored
        assert pid.endswith("|order-1}") and header.status == "running"
        with pytest.raises(ActorError, match="'order-1' already exists"):
            host.spawn_then("test:order", [{"amount": 1}],
                            {"name": "order-1", "options": {"workflow.id_conflict_policy": "fail"}}, stored.append)


def test_generated_workflow_ids_are_uuid7_in_start_order(monkeypatch):
    """Ids sort like their start times, so workflows started together keep their events together."""
    import itertools
    import uuid

    from hosts import workflow_host

    ms = itertools.count(1_700_000_000_000)
    monkeypatch.setattr(workflow_host.time, "time_ns", lambda: next(ms) * 1_000_000)
    ids = [workflow_host._new_workflow_id() for _ in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert {(uuid.UUID(i).version, uuid.UUID(i).variant) for i in ids} == {(7, uuid.RFC_4122)}
    assert all(str(uuid.UUID(i)) == i for i in ids)


def test_workflow_entropy_is_never_handed_out_twice():
    """Ids and seeds take their random bytes from a pool read ahead: each byte goes out once,
    across refills, and a forked child does not repeat what its parent hands out next."""
    from hosts.workflow_host import _Entropy

    entropy = _Entropy()
    taken = [entropy.take(10) for _ in range(3 * _Entropy.SIZE // 10)]   # three refills
    assert {len(t) for t in taken} == {10} and len(set(taken)) == len(taken)

    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(writer, entropy.take(16))
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    assert os.read(reader, 16) != entropy.take(16)
    os.close(reader)


OBSERVER = """
local function run(monitored, linked, observer)
  process.set_options({ trap_links = true })
  process.monitor(monitored)
  process.link(linked)
  process.send(observer, "watching", true)
  local heard, events = {}, process.events()
  while #heard < 2 do
    local e = events:receive()
    heard[#heard + 1] = { kind = e.kind, from = e.from, value = e.result and e.result.value, reason = e.reason }
  end
  return heard
end
return { run = run }
"""

OBSERVING_NODE = """
import sys, trio
from actors import Node

async def main(app):
    async with Node.open(app) as node, node.mailbox() as me:
        monitored = await node.spawn("test:waiter", "test:workflows", "monitored", name="monitored")
        linked = await node.spawn("test:waiter", "test:workflows", "linked", name="linked")
        await node.spawn("test:observer", "test:workflows", monitored, linked, me.pid, name="observer")
        await me.receive()                          # the observer monitors and links
        print("watching", flush=True)
        await trio.sleep_forever()                  # killed here

trio.run(main, sys.argv[1])
"""


def _kill_while_observing(app, tmp_path) -> None:
    """A node whose workflow "observer" monitors "monitored" and links to
    "linked" (workflows of the same host) is SIGKILLed while all three wait."""
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("observer", OBSERVER, method="run", kind="workflow.lua")
    app.lua("waiter", WAITER, method="run", kind="workflow.lua")
    script = tmp_path / "node.py"
    script.write_text(textwrap.dedent(OBSERVING_NODE))
    node_process = subprocess.Popen([sys.executable, str(script), str(app.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert node_process.stdout.readline().strip() == "watching"
    finally:
        node_process.kill()  # SIGKILL
        node_process.wait()


async def _finish_observed(app) -> tuple[list, list]:
    """Restart the node, end "monitored" normally and "linked" with an error;
    returns what the observer heard and its recorded relationship operations."""
    async with Node.open(app.root) as node, node.mailbox() as me:
        me.monitor("{luactor@test:workflows|observer}")
        await node.send("{luactor@test:workflows|monitored}", "finish", {"fail": False})
        await node.send("{luactor@test:workflows|linked}", "finish", {"fail": True})
        with trio.fail_after(30):
            heard = (await me.receive()).payload["result"]["value"]
        store = node.router.hosts["test:workflows"].store
        relates = [e["op"] for _, e in store.events("observer") if e["type"] == "relate"]
    assert sorted((e["kind"], e["from"]) for e in heard) == [
        ("EXIT", "{luactor@test:workflows|monitored}"), ("LINK_DOWN", "{luactor@test:workflows|linked}")]
    assert "linked gave up" in next(e for e in heard if e["kind"] == "LINK_DOWN")["reason"]
    return heard, relates


async def test_process_monitor_and_link_between_workflows_survive_sigkill(app, tmp_path):
    _kill_while_observing(app, tmp_path)
    _, relates = await _finish_observed(app)
    assert relates == ["monitor", "link"]   # recorded once, not again on replay


async def test_history_without_relationship_records_replays_the_monitor_and_link(app, tmp_path):
    """Stores written before monitor/link of a workflow were recorded hold no
    "relate" event for them, and no watchers in the watched workflow's header:
    replay monitors and links again, as the code did then."""
    import lmdb
    import msgpack

    _kill_while_observing(app, tmp_path)
    env = lmdb.open(str(tmp_path / "store"), max_dbs=8)
    with env.begin(write=True) as txn:
        events = env.open_db(b"events", txn=txn)
        removed = [key for key, value in txn.cursor(db=events)
                   if key.startswith(b"observer\0") and msgpack.unpackb(value)["type"] == "relate"]
        for key in removed:
            txn.delete(key, db=events)
        workflows = env.open_db(b"workflows", txn=txn)
        for watched in (b"monitored", b"linked"):
            header = msgpack.unpackb(txn.get(watched, db=workflows))
            header["meta"].pop("monitors", None)
            header["meta"].pop("links", None)
            txn.put(watched, msgpack.packb(header), db=workflows)
    env.close()
    assert len(removed) == 2

    _, relates = await _finish_observed(app)
    assert relates == []   # replay performed them again and recorded nothing new


CANCELLABLE = """
local time = require("time")
local function run()
  local event = process.events():receive()
  time.sleep("10s")            -- a restart here replays the CANCEL from the history
  return { kind = event.kind, reason = event.reason }
end
return { run = run }
"""


async def test_cancel_reaches_a_workflow_as_a_recorded_event(app, tmp_path, autojump_clock):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("cancellable", CANCELLABLE, method="run", kind="workflow.lua", modules=["time"])
    async with Node.open(app.root) as node:
        pid = await node.spawn("test:cancellable", "test:workflows", name="cancellable")
        await node.cancel(pid, "stop please")
        await trio.sleep(1)
    async with Node.open(app.root) as node:
        await trio.sleep(20)
        header = node.router.hosts["test:workflows"].store.header("cancellable")
    assert header.status == "completed" and header.result == {"kind": "CANCEL", "reason": "stop please"}
