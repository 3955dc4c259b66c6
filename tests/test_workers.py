"""A process host of several workers (``host.workers``): each worker is a Lua
state of its own, and everything a process does works whichever workers the
two ends are on.

Most tests run twice (the ``slices`` fixture): under a MockClock, where every
slice runs in the trio thread, and under the real clock, where each worker's
slices run in an OS thread of its own.
"""

from __future__ import annotations

import logging
import os
import threading

import pytest
import trio
import trio.testing
from hostile import attack, build_hostile_app

from actors import ActorError, Node
from actors.observe.introspect import worker_stats
from actors.registry import RegistryError, load_app
from actors.worker import Worker

HOST = "test:host"

# Lua: the worker (from 1) a PID of a host of `n` workers lives on.
WORKER_OF = """
local function worker_of(pid, n) return tonumber(pid:match("|(%d+)}$")) % n + 1 end
"""

# Lua: a process that is never idle (it sends itself a message for each it receives).
BUSY = """
    local me = process.pid()
    process.send(me, "again", 1)
    local inbox = process.inbox()
    while true do inbox:receive(); process.send(me, "again", 1) end
"""


@pytest.fixture(params=["inline", "threads"])
def slices(request):
    """Slices in the trio thread under a MockClock, or in worker threads under the real clock."""
    if request.param == "inline":
        return trio.testing.MockClock(autojump_threshold=0)
    return "threads"


def workers(app, n: int, **host) -> None:
    app.entries[0]["host"] = {"workers": n, **host}
    app._write()


def body(app, name: str, source: str, **fields) -> str:
    return app.body(name, WORKER_OF + source, modules=("time", "funcs"), required=("time", "funcs"), **fields)


async def run(app, source: str, *args, timeout: float = 60):
    body(app, "main", source)
    async with Node.open(app.root) as node:
        with trio.fail_after(timeout):
            return await node.exec("test:main", HOST, *args)


# -- placement ------------------------------------------------------------------------------


async def test_the_worker_option_pins_a_spawn_and_the_pid_names_its_worker(app, slices):
    workers(app, 3)
    body(app, "echo", "local m = process.inbox():receive(); process.send(m:from(), 'back', process.pid())")
    out = await run(app, """
        local me, got = process.pid(), {}
        local back = process.listen("back")
        for k = 1, 3 do
          local pid = assert(process.with_options({ worker = k }):spawn("test:echo", "test:host"))
          process.send(pid, "hi", true)
          local answer = back:receive()
          got[k] = { pinned = worker_of(pid, 3), answered = answer == pid }
        end
        return { got = got, me = worker_of(me, 3) }
    """)
    assert out["got"] == [{"pinned": k, "answered": True} for k in (1, 2, 3)]


@pytest.mark.parametrize("value, shown", [(0, "0"), (4, "4"), (1.5, "1.5"), ("'two'", "string")])
async def test_a_worker_option_out_of_range_is_invalid_naming_the_option(app, slices, value, shown):
    workers(app, 3)
    body(app, "idle", "return true")
    out = await run(app, f"""
        local pid, err = process.with_options({{ worker = {value} }}):spawn("test:idle", "test:host")
        local result, exec_err = process.with_options({{ worker = {value} }}):exec("test:idle", "test:host")
        return {{ pid = pid, kind = err:kind(), message = err:message(), exec_kind = exec_err:kind() }}
    """)
    assert "pid" not in out  # (nil)
    assert out["kind"] == out["exec_kind"] == "Invalid"
    assert out["message"] == f"spawn option 'worker' must be an integer from 1 to 3 (the host's workers), got {shown}"


async def test_python_spawns_go_to_the_least_loaded_worker_or_the_pinned_one(app, slices):
    workers(app, 2)
    body(app, "echo", "local m = process.inbox():receive(); process.send(m:from(), 'back', (m:payload():data()))")
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = [await node.spawn("test:echo", HOST) for _ in range(4)]
        pinned = await node.spawn("test:echo", HOST, options={"worker": 2})
        with pytest.raises(ActorError, match="spawn option 'worker' must be an integer from 1 to 2") as bad:
            await node.spawn("test:echo", HOST, options={"worker": 3})
        assert bad.value.kind == "Invalid"
        for i, pid in enumerate([*pids, pinned]):
            await me.send(pid, "hi", i)
            with trio.fail_after(30):
                assert (await me.receive()).payload == i
    ids = [int(pid.rsplit("|", 1)[1][:-1]) for pid in pids]
    assert {i % 2 for i in ids} == {0, 1}
    assert int(pinned.rsplit("|", 1)[1][:-1]) % 2 == 1


async def test_a_busy_worker_places_new_spawns_on_an_idle_one(app, slices):
    # skynet: a tree of 1,111 processes, none pinned; the sum is right and the tree spread
    workers(app, 2)
    body(app, "node", """
        local parent, num, size = ...
        if size == 1 then process.send(parent, "sum", { num, worker_of(process.pid(), 2) }) return end
        local sums, me = process.listen("sum"), process.pid()
        size = size // 10
        for i = 0, 9 do process.spawn("test:node", "test:host", me, num + i * size, size) end
        local total, seen = 0, {}
        for _ = 1, 10 do
          local r = sums:receive()
          total = total + r[1]
          for w in pairs(r[2] and { [r[2]] = true } or r[3]) do seen[w] = true end
        end
        seen[worker_of(me, 2)] = true
        process.send(parent, "sum", { total, nil, seen })
    """)
    out = await run(app, """
        local sums = process.listen("sum")
        process.spawn("test:node", "test:host", process.pid(), 0, 1000)
        local r = sums:receive()
        local workers = 0
        for _ in pairs(r[3]) do workers = workers + 1 end
        return { sum = r[1], workers = workers }
    """)
    assert out == {"sum": 1000 * 999 // 2, "workers": 2}


# -- messages, names, relationships -------------------------------------------------------


async def test_each_sender_s_order_holds_under_concurrent_senders_on_other_workers(app, slices):
    workers(app, 3)
    body(app, "sender", """
        local to, id, n = ...
        for seq = 1, n do process.send(to, "m", { id = id, seq = seq }) end
    """)
    out = await run(app, """
        local inbox, me, n = process.inbox(), process.pid(), 2000
        for id = 1, 6 do
          assert(process.with_options({ worker = (id - 1) % 3 + 1 }):spawn("test:sender", "test:host", me, id, n))
        end
        local last, out_of_order = {}, 0
        for _ = 1, 6 * n do
          local m = inbox:receive():payload():data()
          if m.seq ~= (last[m.id] or 0) + 1 then out_of_order = out_of_order + 1 end
          last[m.id] = m.seq
        end
        return { out_of_order = out_of_order, last = last }
    """)
    assert out == {"out_of_order": 0, "last": [2000] * 6}


async def test_a_name_registered_on_one_worker_resolves_on_another(app, slices):
    workers(app, 2)
    body(app, "service", """
        assert(process.registry.register("svc"))
        local m = process.inbox():receive()
        process.send(m:payload():data(), "reply", { from = process.pid(), worker = worker_of(process.pid(), 2) })
    """)
    out = await run(app, """
        local svc = assert(process.with_options({ worker = 2 }):spawn_monitored("test:service", "test:host"))
        local pid
        repeat pid = process.registry.lookup("svc"); if not pid then time.sleep("1ms") end until pid
        assert(process.send("svc", "ask", process.pid()))
        local reply = process.listen("reply"):receive()
        process.events():receive()
        local gone, err = process.registry.lookup("svc")
        return { same = pid == svc, from = reply.from == svc, worker = reply.worker, here = worker_of(process.pid(), 2),
                 released = gone == nil and err:kind() }
    """)
    assert out == {"same": True, "from": True, "worker": 2, "here": 1, "released": "NotFound"}


async def test_a_name_taken_on_another_worker_is_refused_to_a_spawn(app, slices):
    workers(app, 2)
    body(app, "idle", "process.inbox():receive()")
    out = await run(app, """
        local there = process.with_options({ worker = 2 })
        assert(there:with_name("taken"):spawn("test:idle", "test:host"))
        local pid, err = there:with_name("taken"):spawn("test:idle", "test:host")
        local pid2, err2 = process.with_options({ worker = 1 }):with_name("taken"):spawn("test:idle", "test:host")
        return { err:kind(), err2:kind() }
    """)
    assert out == ["AlreadyExists", "AlreadyExists"]


async def test_a_link_cascade_crosses_workers_and_monitors_hear_it(app, slices):
    workers(app, 3)
    body(app, "link", """
        local next_worker, depth, top = ...
        if depth == 0 then
          process.send(top, "bottom", process.pid())
          process.inbox():receive()
          error("the bottom failed")
        end
        assert(process.with_options({ worker = next_worker % 3 + 1 })
          :spawn_linked("test:link", "test:host", next_worker % 3 + 1, depth - 1, top))
        process.send(top, "up", process.pid())
        process.inbox():receive()
    """)
    out = await run(app, """
        local me = process.pid()
        local events, up = process.events(), process.listen("up")
        local first = assert(process.with_options({ worker = 2 }):spawn_monitored("test:link", "test:host", 2, 6, me))
        local chain = {}
        for i = 1, 6 do local pid = up:receive(); chain[pid] = true; process.monitor(pid) end
        local bottom = process.listen("bottom"):receive()
        process.send(bottom, "fail", true)
        local canceled = 0
        for _ = 1, 6 do
          local ev = events:receive()
          if ev.kind == process.event.EXIT and ev.result.error and ev.result.error:kind() == errors.CANCELED then
            canceled = canceled + 1
          end
        end
        return { canceled = canceled, first = chain[first] == true }
    """)
    assert out == {"canceled": 6, "first": True}


async def test_monitors_and_links_to_dead_or_unknown_pids_on_other_workers(app, slices):
    workers(app, 2)
    body(app, "returns", "return 'done'")
    out = await run(app, """
        local events = process.events()
        local pid = assert(process.with_options({ worker = 2 }):spawn_monitored("test:returns", "test:host"))
        local ended = events:receive()
        process.set_options({ trap_links = true })
        process.monitor(pid)
        local noproc = events:receive()
        process.link(pid)
        local down = events:receive()
        return { value = ended.result.value, noproc = noproc.result.error:kind(), down = down.kind,
                 down_kind = down.result.error:kind() }
    """)
    assert out == {"value": "done", "noproc": "NotFound", "down": "LINK_DOWN", "down_kind": "NotFound"}


async def test_terminate_and_cancel_reach_another_worker(app, slices):
    workers(app, 2)
    body(app, "idle", "process.inbox():receive()")
    body(app, "polite", """
        local ev = process.events():receive()
        process.send(ev.from, "bye", ev.reason)
        return "canceled"
    """)
    out = await run(app, """
        local events = process.events()
        local idle = assert(process.with_options({ worker = 2 }):spawn_monitored("test:idle", "test:host"))
        assert(process.terminate(idle))
        local ended = events:receive()
        local polite = assert(process.with_options({ worker = 2 }):spawn_monitored("test:polite", "test:host"))
        time.sleep("10ms")
        assert(process.cancel(polite, "please"))
        local bye = process.listen("bye"):receive()
        local done = events:receive()
        return { terminated = ended.result.error:kind(), bye = bye, value = done.result.value }
    """)
    assert out == {"terminated": "Canceled", "bye": "please", "value": "canceled"}


async def test_exec_and_funcs_call_work_across_workers(app, slices):
    workers(app, 2)
    body(app, "double", "local x = ...; return { x = x * 2, worker = worker_of(process.pid(), 2) }")
    app.body("triple", "local x = ...; return x * 3", kind="function.lua")
    body(app, "caller", "local x = ...; return funcs.call('test:triple', x)")
    out = await run(app, """
        local pinned = assert(process.with_options({ worker = 2 }):exec("test:double", "test:host", 21))
        local here = assert(process.exec("test:double", "test:host", 4))
        local via = assert(process.with_options({ worker = 2 }):exec("test:caller", "test:host", 5))
        return { pinned = pinned, here = here, call = assert(funcs.call("test:triple", 7)), via = via }
    """)
    assert out == {"pinned": {"x": 42, "worker": 2}, "here": {"x": 8, "worker": 1}, "call": 21, "via": 15}


async def test_python_endpoints_and_node_calls_work_with_any_worker(app, slices):
    workers(app, 3)
    body(app, "echo", """
        local inbox = process.inbox()
        while true do
          local m = inbox:receive()
          process.send(m:from(), "echo", (m:payload():data()))
        end
    """)
    app.body("triple", "local x = ...; return x * 3", kind="function.lua")
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = [await node.spawn("test:echo", HOST, options={"worker": k}) for k in (1, 2, 3)]
        for pid in pids:
            me.monitor(pid)
        for round_ in range(50):
            for pid in pids:
                await me.send(pid, "hi", {"round": round_})
        got = [await me.receive() for _ in range(150)]
        assert [m.payload["round"] for m in got if m.sender == pids[2]] == list(range(50))
        assert await node.call("test:triple", 14) == 42
        await node.terminate(pids[1])
        with trio.fail_after(30):
            exit_ = await me.receive()
        assert (exit_.topic, exit_.payload["from"]) == ("@exit", pids[1])
        assert node.process_count(HOST) == 2


async def test_the_host_counts_max_processes_over_all_its_workers(app, slices):
    workers(app, 2, max_processes=3)
    body(app, "idle", "process.inbox():receive()")
    out = await run(app, """
        local a = assert(process.with_options({ worker = 2 }):spawn("test:idle", "test:host"))
        local b = assert(process.spawn("test:idle", "test:host"))
        local c, err = process.with_options({ worker = 2 }):spawn("test:idle", "test:host")
        local d, err2 = process.spawn("test:idle", "test:host")
        process.terminate(a)
        time.sleep("50ms")
        local e = process.with_options({ worker = 2 }):spawn("test:idle", "test:host")
        return { err:kind(), err2:kind(), e ~= nil }
    """)
    assert out == ["Unavailable", "Unavailable", True]


# -- faults, the guard, shutdown ----------------------------------------------------------


async def test_a_runaway_on_one_worker_while_another_keeps_serving(app):
    workers(app, 2)
    body(app, "spin", "while true do end")
    body(app, "echo", """
        local inbox = process.inbox()
        while true do local m = inbox:receive(); process.send(m:from(), "echo", (m:payload():data())) end
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        echo = await node.spawn("test:echo", HOST, options={"worker": 2})
        spin = await node.spawn("test:spin", HOST, options={"worker": 1}, monitor_by=me.pid)
        longest = 0.0
        while True:
            start = trio.current_time()
            await me.send(echo, "ping", 1)
            with trio.fail_after(30):
                msg = await me.receive()
            if msg.topic == "@exit":
                break
            longest = max(longest, trio.current_time() - start)
        assert msg.payload["from"] == spin
        assert msg.payload["result"]["error"]["kind"] == "RateLimited"
        assert longest < 1.0  # the spinning worker's thread never held the other's


async def test_shutdown_stops_busy_workers_within_the_stop_timeout(app):
    workers(app, 2)
    app.entries[0]["lifecycle"]["stop_timeout"] = "1s"
    app._write()
    body(app, "busy", BUSY)
    body(app, "stubborn", """
        process.events()
        while true do local x = 0 for i = 1, 100000 do x = x + i end time.sleep("1ms") end
    """)
    start = trio.current_time()
    with trio.fail_after(20):
        async with Node.open(app.root) as node:
            for k in (1, 2):
                for _ in range(20):
                    await node.spawn("test:busy", HOST, options={"worker": k})
                await node.spawn("test:stubborn", HOST, options={"worker": k})
            await trio.sleep(0.2)
            assert node.process_count(HOST) == 42
            start = trio.current_time()
    assert trio.current_time() - start < 5


async def test_a_reader_gets_the_state_of_a_worker_that_is_never_idle(app):
    """The worker's thread lets a caller from outside take the state between two
    slices: a lock alone is not fair, and a thread that always has work would
    take it back slice after slice (the node's stop once waited on it for ever)."""
    workers(app, 2)
    body(app, "busy", BUSY)

    async with Node.open(app.root) as node:
        for _ in range(20):
            await node.spawn("test:busy", HOST, options={"worker": 1})
        worker = node.router.host(HOST).workers.workers[0]
        counts: list[int] = []
        reader = threading.Thread(target=lambda: counts.extend(worker.count() for _ in range(300)), daemon=True)
        reader.start()
        reader.join(30)  # (a reader starved of the lock would still be waiting)
        assert not reader.is_alive() and counts == [20] * 300


async def test_an_idle_worker_sleeps_until_a_message_or_its_timer_without_polling(app):
    workers(app, 2)
    body(app, "sleeper", """
        local python = ...
        process.send(python, "sleeping", 1)
        time.sleep("300ms")
        process.send(python, "woke", 1)
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        worker = node.router.host(HOST).workers.workers[1]
        await node.spawn("test:sleeper", HOST, me.pid, options={"worker": 2})
        with trio.fail_after(10):
            assert (await me.receive()).topic == "sleeping"
            before = worker_stats(worker)["slices"]
            assert (await me.receive()).topic == "woke"
        # the slice that sent "sleeping" may end after the read; then the timer's
        assert worker_stats(worker)["slices"] - before <= 2


async def test_a_hostile_attack_on_a_host_of_several_workers(app):
    build_hostile_app(app)
    app.entries[0]["host"]["workers"] = 2
    app._write()
    outcome = await attack(app, "local t = {} while true do t[#t + 1] = ('x'):rep(1000) .. #t end")
    assert outcome.error.kind == "RateLimited"


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, problem", [
    (0, "must be at least 1, got 0"),
    (-2, "must be at least 1, got -2"),
    ("two", "must be an integer, got 'two'"),
    (2.5, "must be an integer, got 2.5"),
])
def test_bad_host_workers_are_refused_naming_entry_and_field(app, value, problem):
    workers(app, value)
    with pytest.raises(RegistryError) as caught:
        load_app(app.root)
    assert [(p.entry, p.field, p.message) for p in caught.value.problems] == [(HOST, "host.workers", problem)]


async def test_workers_far_above_the_cpus_are_warned_about(app, caplog, slices):
    cpus = len(os.sched_getaffinity(0))
    workers(app, 4 * cpus + 1)
    body(app, "hello", "return 'hello'")
    with caplog.at_level(logging.WARNING, logger="luactor"):
        async with Node.open(app.root) as node:
            assert await node.exec("test:hello", HOST) == "hello"
    assert f"test:host: field host.workers: {4 * cpus + 1} workers on {cpus} CPUs" in caplog.text


def test_the_default_comes_from_luactor_workers_else_the_cpus(monkeypatch):
    from actors.workers import default_workers
    monkeypatch.setenv("LUACTOR_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.delenv("LUACTOR_WORKERS")
    assert default_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("LUACTOR_WORKERS", "none")
    with pytest.raises(ActorError, match="LUACTOR_WORKERS must be a whole number of at least 1, got 'none'"):
        default_workers()


async def test_a_worker_that_fails_takes_the_node_down_with_a_clear_error(app, slices, monkeypatch):
    workers(app, 2)
    body(app, "talk", "print('boom')")
    original = Worker._on_log

    def broken(self, cmd):
        if "boom" in str(cmd.message):
            raise RuntimeError("a bug in the runtime")
        original(self, cmd)
    monkeypatch.setattr(Worker, "_on_log", broken)
    with trio.fail_after(30), pytest.raises(ActorError) as caught:
        async with Node.open(app.root) as node:
            await node.spawn("test:talk", HOST, options={"worker": 2})
            await trio.sleep_forever()
    assert caught.value.kind == "Internal"
    assert caught.value.message == "host test:host: worker 2 of 2 failed: RuntimeError('a bug in the runtime')"


async def test_hostile_payloads_cross_workers_as_plain_copies(app, slices):
    workers(app, 2)
    body(app, "receiver", """
        local inbox, got = process.inbox(), {}
        for i = 1, 2 do got[i] = inbox:receive():payload():data() end
        local sparse, depth, t = got[1], 0, got[2]
        while type(t) == "table" do depth, t = depth + 1, t[1] end
        return { sparse = sparse[1] == "x" and sparse[3] == "y" and sparse[-1] == true and sparse[2.5] == false
                   and sparse[2] == nil and getmetatable(sparse) == nil, depth = depth }
    """)
    out = await run(app, """
        local events = process.events()
        local to = assert(process.with_options({ worker = 2 }):spawn_monitored("test:receiver", "test:host"))
        local trap = setmetatable({ a = 1 }, {
          __index = function() error("ran __index") end, __pairs = function() error("ran __pairs") end,
          __len = function() error("ran __len") end, __eq = function() error("ran __eq") end })
        local refused, err = process.send(to, "m", trap)
        assert(process.send(to, "m", { [1] = "x", [3] = "y", [-1] = true, [2.5] = false }))
        local deep = {}
        local t = deep
        for _ = 1, 90 do t[1] = {}; t = t[1] end
        assert(process.send(to, "m", deep))
        return { refused = refused == nil and err:kind(), received = events:receive().result.value }
    """)
    assert out == {"refused": "Invalid", "received": {"sparse": True, "depth": 91}}
