"""A workflow whose recovery or run fails in any way fails alone.

Each test keeps one bad workflow among good ones in a real store: the node
opens it, the good ones finish, the bad one is stored as failed with its
error, and a later start leaves it so. A poison never takes the node, the
store or the other workflows down, once or at every start.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import msgpack
import pytest
import trio
from conftest import LuaLibrary, edit_stored, luactor

from actors import Node
from hosts.history import Batch, HistoryStore, event_key
from hosts.workflow_host import WorkflowHost

STEPPER = """
local funcs = require("funcs")
local time = require("time")

local function run(name)
  funcs.call("py:step", name)                   -- a durable step
  time.sleep("10s")
  local order = process.listen("go"):receive()
  return "done " .. name .. (order == "nothing" and "" or " " .. tostring(order))
end

return { run = run }
"""

GOOD = ("good-1", "good-2")
BAD = "bad"
FUNCTIONS = {"py:step": lambda name: name}


def build(app) -> None:
    """The stepper on a workflow host whose store is ``app.root / "store"``."""
    app.entry(name="workflows", kind="workflow.host", store="store")
    app.lua("stepper", STEPPER, method="run", kind="workflow.lua", modules=["funcs", "time"])


def pid(workflow_id: str) -> str:
    return f"{{luactor@test:workflows|{workflow_id}}}"


async def start_all(app) -> None:
    """The good ones and the bad one made a step and sleep, and the node stops."""
    async with Node.open(app.root, functions=FUNCTIONS) as node:
        for name in (*GOOD, BAD):
            await node.spawn("test:stepper", "test:workflows", name, name=name)
        await trio.sleep(1)


async def finish_all(app) -> dict:
    """A node on the store: every workflow is told to go on; returns every header once they settled."""
    async with Node.open(app.root, functions=FUNCTIONS) as node:
        await trio.sleep(20)                            # recovered, their timers fired
        for name in (*GOOD, BAD):
            await node.send(pid(name), "go", "nothing")   # (to a failed one: dropped)
        await trio.sleep(1)
        assert node.process_count("test:workflows") == 0
    with HistoryStore.open(app.root / "store", readonly=True) as store:
        return {header.id: header for header in store.headers()}


def assert_bad_failed_alone(headers: dict, *says: str) -> None:
    for name in GOOD:
        assert (headers[name].status, headers[name].result) == ("completed", f"done {name}")
    bad = headers[BAD]
    assert bad.status == "failed", bad
    for text in says:
        assert text in bad.error["message"], bad.error


def with_event(seq: int, kind: str, change):
    """Change the bad workflow's event ``seq`` (of type ``kind``) as stored."""
    def edit(app):
        def apply(event):
            assert event["type"] == kind
            change(event)
            return event
        edit_stored(app.root / "store", "events", event_key(BAD, seq), apply)
    return edit


def with_header(change):
    def edit(app):
        edit_stored(app.root / "store", "workflows", BAD.encode(), lambda header: change(header) or header)
    return edit


# Each: a way the stored history of the bad workflow breaks its recovery, and what its error says.
# Its events are [0] call, [1] batch (the call's result), [2] timer.
DAMAGE = {
    "a header of an unknown shape": (
        lambda app: edit_stored(app.root / "store", "workflows", BAD.encode(), lambda _: msgpack.packb([1, 2, 3])),
        ("being recovered", "a header is a map, not list")),
    "an input that does not convert": (
        with_header(lambda h: h.update(input=[msgpack.Timestamp(0)])),
        ("being recovered", "Timestamp")),
    "watchers that are not a list of PIDs": (
        with_header(lambda h: h["meta"].update(monitors=5)),
        ("being recovered",)),
    "a batch of a shape replay cannot use": (
        with_event(1, "batch", lambda e: e.update(events="not a list")),
        ("replaying its history",)),
    "a timer whose deadline is not a number": (
        with_event(2, "timer", lambda e: e.update(deadline="soon")),
        ("going on after its history",)),
}


@pytest.mark.parametrize("damage", DAMAGE)
async def test_a_stored_history_that_breaks_recovery_fails_its_workflow_alone(app, tmp_path, autojump_clock,
                                                                                 caplog, damage):
    build(app)
    await start_all(app)
    edit, says = DAMAGE[damage]
    edit(app)
    first = await finish_all(app)
    assert_bad_failed_alone(first, *says)
    assert first[BAD].error["message"] in caplog.text
    again = await finish_all(app)      # stays failed: not recovered, not changed
    assert again[BAD] == first[BAD]


async def test_a_header_that_does_not_decode_is_failed_with_its_bytes_kept(app, tmp_path, autojump_clock):
    build(app)
    await start_all(app)
    garbage = b"\x93\x01\x02"
    edit_stored(app.root / "store", "workflows", BAD.encode(), lambda _: garbage)
    headers = await finish_all(app)
    assert_bad_failed_alone(headers, "being recovered", "corrupt record")
    assert headers[BAD].meta["unreadable_header"] == garbage
    assert [event["type"] for _, event in HistoryStore.open(app.root / "store", readonly=True).events(BAD)] == [
        "call", "batch", "timer"]   # its events are where they were


def raising_for_bad(cls, name: str, workflow_of):
    """``cls.name`` raising RuntimeError for the bad workflow (``workflow_of(args)`` is its id), as it runs for the others."""
    original = getattr(cls, name)

    def patched(self, *args):
        if workflow_of(args) == BAD:
            raise RuntimeError(f"{name} is broken for this one")
        return original(self, *args)
    return patched


# The host's per-workflow Python code, raising for the bad workflow only; and what its error says.
BROKEN = {
    "recovery": (WorkflowHost, "_launch", lambda args: args[0].id, "being recovered"),
    "storing its history": (Batch, "append_packed", lambda args: args[0], "storing its history"),
    "storing a message to it": (WorkflowHost, "_queue_signal", lambda args: args[1], "storing a message to it"),
    "storing its end": (WorkflowHost, "_on_done", lambda args: args[0].workflow, "storing its end"),
}


@pytest.mark.parametrize("broken", BROKEN)
async def test_an_exception_in_the_hosts_code_for_one_workflow_fails_it_alone(app, tmp_path, autojump_clock,
                                                                               monkeypatch, broken):
    build(app)
    await start_all(app)
    cls, name, workflow_of, says = BROKEN[broken]
    with monkeypatch.context() as patch:
        patch.setattr(cls, name, raising_for_bad(cls, name, workflow_of))
        first = await finish_all(app)
    assert_bad_failed_alone(first, says, f"RuntimeError: {name} is broken for this one")
    assert (await finish_all(app))[BAD] == first[BAD]


# -- a node that crashed with the poison in its store: SIGKILL, then every later start -----------

CRASHED_NODE = """
import sys, trio
from actors import Node

async def main(app):
    async with Node.open(app, functions={"py:step": lambda name: name}) as node:
        for name, entry in (("good-1", "test:stepper"), ("good-2", "test:stepper"), ("bad", "test:doomed")):
            await node.spawn(entry, "test:workflows", name, name=name)
        await trio.sleep(1)
        print("stepped", flush=True)
        await trio.sleep_forever()                 # the node dies here

trio.run(main, sys.argv[1])
"""


async def test_a_workflow_whose_entry_left_the_app_after_a_crash_fails_alone_at_every_start(app, tmp_path, autojump_clock):
    """The node was SIGKILLed mid-flight; the app it comes back with has no entry for
    one of the stored workflows (every start used to fail on it, so that only deleting
    the store helped). The store opens, the good ones finish, the bad one is failed with
    its error and stays so; ``luactor workflows`` shows it."""
    build(app)
    app.lua("doomed", STEPPER, method="run", kind="workflow.lua", modules=["funcs", "time"])
    script = tmp_path / "node.py"
    script.write_text(textwrap.dedent(CRASHED_NODE))
    # blocking is harmless here: no node runs in this process yet
    node_process = subprocess.Popen([sys.executable, str(script), str(app.root)],  # noqa: ASYNC220
                                    stdout=subprocess.PIPE, text=True)
    try:
        assert node_process.stdout.readline().strip() == "stepped"
    finally:
        node_process.kill()  # SIGKILL
        node_process.wait()
    app.entries = [entry for entry in app.entries if entry["name"] != "doomed"]
    app._write()

    first = await finish_all(app)
    assert_bad_failed_alone(first, "failed while being recovered", "no workflow.lua entry 'test:doomed'")
    assert first[BAD].error["kind"] == "NotFound"
    assert (await finish_all(app))[BAD] == first[BAD]

    listed = luactor("workflows", "list", app.root / "store")
    assert listed.returncode == 0
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert (rows[BAD][1], rows[BAD][2]) == ("test:doomed", "failed") and rows["good-1"][2] == "completed"
    shown = luactor("workflows", "show", app.root / "store", BAD)
    assert shown.returncode == 0
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines() if not line.startswith(" "))
    assert fields["status"] == "failed"
    assert fields["error"] == f"NotFound: {first[BAD].error['message']}"


def test_events_that_raise_when_applied_fail_their_workflow_not_the_worker():
    """The kernel applies committed events outside the workflow's coroutines (K.committed):
    what raises there ends that workflow, and the call returns to the host as usual."""
    lua = LuaLibrary()
    killed = []
    outbox = []
    durable = lua.load("durable", sched=lua.rt.table(), errors=lua.errors, wall_ns=lambda: 1,
                       bridge=lua.rt.table_from({"emit": outbox.append, "last": lambda: outbox[-1] if outbox else None}),
                       kill=lambda proc, error: killed.append(lua.errors.message_of(error)))
    proc = lua.rt.table_from({"tasks": lua.rt.table()})
    workflow = durable.attach(proc, "w", 1, 0, 1, None, None, None)
    workflow.timers[1] = lua.run("return { fire = function() error('boom', 0) end }")
    durable.event(workflow, lua.rt.table_from({"kind": "timer", "id": 1}))
    durable.after_slice()                 # the timer's event is recorded as a batch ...
    assert workflow.awaiting is not None
    durable.committed()                   # ... and applied once committed: it raises
    assert killed == ["workflow 'w' failed while applying its events: boom"]
    assert workflow.done and durable.workflows.w is None
