"""Monitors, links, cancel, terminate, names, spawner
builders and ``process.exec`` — from Lua and from Python.

Lifecycle events reach a Lua process on ``process.events()`` as
``{kind, from, result={value, error}, reason}``; they reach a Python mailbox
as messages whose topic is ``@exit``, ``@link_down`` or ``@cancel`` and whose
payload is the event. Links follow Erlang: only an abnormal exit travels
along a link, and it kills the receiver unless the receiver traps links.
"""

from __future__ import annotations

import pytest
import trio

from actors import ActorError, Node

HOST = "test:host"


def proc(app, name: str, body: str, *, modules=("time", "ctx"), **fields) -> str:
    return app.body(name, body, modules=modules, required=("time", "ctx"), **fields)


def common(app) -> None:
    """Small processes most tests use."""
    proc(app, "idle", "process.inbox():receive(); return 'released'")
    proc(app, "returns", "local v = ...; return v")
    proc(app, "fails", "local why = ...; error(why or 'failed on purpose')")
    proc(app, "fails_later", "process.inbox():receive(); error('failed when told')")
    proc(app, "ctx_dump", "return ctx.all()")
    proc(app, "alive", "return 'alive'")


async def recv(me, timeout: float = 60):
    with trio.fail_after(timeout):
        return await me.receive()


async def nothing_arrives(me, wait: float = 10) -> None:
    with trio.move_on_after(wait):
        msg = await me.receive()
        pytest.fail(f"unexpected message {msg!r}")


async def run(app, body: str, *args, context=None):
    proc(app, "main", body)
    common(app)
    async with Node.open(app.root) as node:
        with trio.fail_after(10_000):
            result = await node.exec("test:main", HOST, *args, context=context)
        assert await node.exec("test:alive", HOST) == "alive"
        return result


# Lua helper: wait for one event, or nil after a timeout.
NEXT_EVENT = """
local function next_event(timeout)
  local r = channel.select { process.events():case_receive(), time.after(timeout or "10s"):case_receive() }
  if r.channel == process.events() then return r.value end
  return nil
end
"""


# -- monitors ---------------------------------------------------------------------------------


async def test_spawn_monitored_gets_exit_with_the_value(app, autojump_clock):
    out = await run(app, """
        local pid = process.spawn_monitored("test:returns", "test:host", { x = 1 })
        local ev = process.events():receive()
        return { kind = ev.kind, is_exit = ev.kind == process.event.EXIT, from = ev.from == pid,
                 value = ev.result.value, no_error = ev.result.error == nil }
    """)
    assert out == {"kind": "EXIT", "is_exit": True, "from": True, "value": {"x": 1}, "no_error": True}


async def test_monitor_gets_exit_with_the_error(app, autojump_clock):
    out = await run(app, """
        local pid = process.spawn_monitored("test:fails", "test:host", "disk full")
        local ev = process.events():receive()
        local e = ev.result.error
        return { kind = ev.kind, value_nil = ev.result.value == nil, message = tostring(e),
                 is_error = errors.is(e, e:kind()), has_stack = type(e:stack()) == "string" }
    """)
    assert out["kind"] == "EXIT" and out["value_nil"] is True
    assert "disk full" in out["message"] and out["is_error"] is True and out["has_stack"] is True


async def test_monitor_of_a_running_process(app, autojump_clock):
    out = await run(app, """
        local pid = process.spawn("test:idle", "test:host")
        local ok = process.monitor(pid)
        process.send(pid, "go", true)
        local ev = process.events():receive()
        return { ok = ok, from = ev.from == pid, value = ev.result.value }
    """)
    assert out == {"ok": True, "from": True, "value": "released"}


async def test_unmonitor_stops_the_exit(app, autojump_clock):
    out = await run(app, NEXT_EVENT + """
        local pid = process.spawn_monitored("test:idle", "test:host")
        local ok = process.unmonitor(pid)
        process.send(pid, "go", true)
        return { ok = ok, event = next_event("10s") }
    """)
    assert out == {"ok": True}


async def test_monitor_of_a_dead_or_unknown_pid_is_an_immediate_exit(app, autojump_clock):
    out = await run(app, NEXT_EVENT + """
        local pid = process.spawn_monitored("test:returns", "test:host", 1)
        process.events():receive()
        local results = {}
        for i, target in ipairs({ pid, "{luactor@test:host|999999}", "{luactor@test:nohost|1}" }) do
          local ok = process.monitor(target)
          local ev = next_event("1s")
          results[i] = { ok = ok, kind = ev and ev.kind, from = ev and ev.from == target,
                         error = ev and ev.result.error ~= nil, value_nil = ev and ev.result.value == nil }
        end
        return results
    """)
    for result in out:
        assert result == {"ok": True, "kind": "EXIT", "from": True, "error": True, "value_nil": True}


async def test_every_monitor_gets_the_exit(app, autojump_clock):
    proc(app, "watch", """
        local target = ...
        process.monitor(target)
        return process.events():receive().result.value
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        target = await node.spawn("test:idle", HOST, monitor_by=me.pid)
        watchers = [await node.spawn("test:watch", HOST, target, monitor_by=me.pid) for _ in range(3)]
        me.monitor(target)          # a second monitor from Python is harmless
        await trio.sleep(1)
        await node.send(target, "go")
        exits = {}
        for _ in range(len(watchers) + 1):
            ev = await recv(me)
            assert ev.topic == "@exit"
            exits[ev.payload["from"]] = ev.payload["result"].get("value")
        assert exits[target] == "released"
        assert all(exits[w] == "released" for w in watchers)


async def test_python_mailbox_monitors_and_unmonitors(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        a = await node.spawn("test:idle", HOST)
        b = await node.spawn("test:idle", HOST)
        me.monitor(a)
        me.monitor(b)
        me.unmonitor(b)
        await node.send(b, "go")
        await node.send(a, "go")
        ev = await recv(me)
        assert (ev.topic, ev.sender, ev.payload["kind"], ev.payload["from"]) == ("@exit", a, "EXIT", a)
        assert ev.payload["result"]["value"] == "released"
        await nothing_arrives(me)


async def test_python_monitor_of_a_dead_pid(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        assert await node.exec("test:returns", HOST, 1) == 1
        me.monitor("{luactor@test:host|1}")
        ev = await recv(me)
        assert ev.topic == "@exit" and ev.payload["result"]["error"]["kind"] == "NotFound"


async def test_lua_monitors_a_python_mailbox(app, autojump_clock):
    proc(app, "watch_python", """
        local target = ...
        process.monitor(target)
        local ev = process.events():receive()
        return { kind = ev.kind, from = ev.from, error = ev.result.error ~= nil }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        async with node.mailbox() as target:
            watcher = await node.spawn("test:watch_python", HOST, target.pid, monitor_by=me.pid)
            await trio.sleep(1)
        ev = await recv(me)
        assert ev.payload["from"] == watcher
        assert ev.payload["result"]["value"] == {"kind": "EXIT", "from": target.pid, "error": False}


# -- links ---------------------------------------------------------------------------------------


async def test_a_linked_failure_kills_a_process_that_does_not_trap(app, autojump_clock):
    proc(app, "parent", """
        local to = ...
        local child = process.spawn_linked("test:fails", "test:host", "child broke")
        process.send(to, "child", child)
        time.sleep("1h")
        return "should not get here"
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        parent = await node.spawn("test:parent", HOST, me.pid, monitor_by=me.pid)
        child = (await recv(me)).payload
        ev = await recv(me, timeout=100)
        assert ev.topic == "@exit" and ev.payload["from"] == parent
        error = ev.payload["result"]["error"]
        assert error and ("child broke" in error["message"] or child in error["message"])
        assert node.process_count(HOST) == 0


async def test_trap_links_turns_a_linked_failure_into_an_event(app, autojump_clock):
    out = await run(app, """
        local before = process.get_options().trap_links
        process.set_options({ trap_links = true })
        local child = process.spawn_linked("test:fails", "test:host", "child broke")
        local ev = process.events():receive()
        return { before = before, after = process.get_options().trap_links, kind = ev.kind,
                 is_link_down = ev.kind == process.event.LINK_DOWN, from = ev.from == child,
                 reason = tostring(ev.reason) }
    """)
    assert out["before"] is False and out["after"] is True
    assert out["kind"] == "LINK_DOWN" and out["is_link_down"] is True and out["from"] is True
    assert "child broke" in out["reason"]


async def test_a_normal_exit_does_not_travel_along_a_link(app, autojump_clock):
    out = await run(app, NEXT_EVENT + """
        local child = process.spawn_linked("test:returns", "test:host", "fine")
        local trapped = next_event("5s")
        process.set_options({ trap_links = true })
        local child2 = process.spawn_linked("test:returns", "test:host", "fine")
        return { untrapped_alive = true, event = trapped, trapped_event = next_event("5s") }
    """)
    assert out == {"untrapped_alive": True}


async def test_links_work_in_both_directions(app, autojump_clock):
    proc(app, "doomed_parent", """
        local to = ...
        local child = process.spawn_linked("test:idle", "test:host")
        process.send(to, "child", child)
        process.inbox():receive()
        error("parent broke")
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        parent = await node.spawn("test:doomed_parent", HOST, me.pid, monitor_by=me.pid)
        child = (await recv(me)).payload
        me.monitor(child)
        await node.send(parent, "go")
        exits = {}
        for _ in range(2):
            ev = await recv(me)
            exits[ev.payload["from"]] = ev.payload["result"]
        assert "parent broke" in exits[parent]["error"]["message"]
        assert exits[child].get("error"), "the linked child died with an error"
        assert exits[child].get("value") is None


async def test_link_and_unlink_after_spawn(app, autojump_clock):
    out = await run(app, NEXT_EVENT + """
        process.set_options({ trap_links = true })
        local a = process.spawn("test:fails_later", "test:host")
        local b = process.spawn("test:fails_later", "test:host")
        local ok_link_a = process.link(a)
        local ok_link_b = process.link(b)
        local ok_unlink_b = process.unlink(b)
        process.send(b, "go", true)
        local none = next_event("5s")
        process.send(a, "go", true)
        local ev = next_event("5s")
        return { ok = { ok_link_a, ok_link_b, ok_unlink_b }, none = none == nil,
                 kind = ev and ev.kind, from_a = ev and ev.from == a }
    """)
    assert out == {"ok": [True, True, True], "none": True, "kind": "LINK_DOWN", "from_a": True}


async def test_unlink_of_something_never_linked_is_a_no_op(app, autojump_clock):
    out = await run(app, """
        local pid = process.spawn("test:idle", "test:host")
        local ok, err = process.unlink(pid)
        local ok2, err2 = process.unlink("{luactor@test:host|424242}")
        local ok3, err3 = process.unmonitor(pid)
        process.send(pid, "go", true)
        return { ok = ok, ok2 = ok2, ok3 = ok3 }
    """)
    assert out == {"ok": True, "ok2": True, "ok3": True}


async def test_link_to_a_dead_pid_delivers_link_down(app, autojump_clock):
    out = await run(app, NEXT_EVENT + """
        process.set_options({ trap_links = true })
        local pid = process.spawn_monitored("test:returns", "test:host", 1)
        process.events():receive()
        process.link(pid)
        local ev = next_event("5s")
        return { kind = ev and ev.kind, from = ev and ev.from == pid, reason = ev and tostring(ev.reason) }
    """)
    assert out["kind"] == "LINK_DOWN" and out["from"] is True and out["reason"]


async def test_link_to_a_dead_pid_kills_a_process_that_does_not_trap(app, autojump_clock):
    proc(app, "links_dead", """
        local dead = ...
        process.link(dead)
        time.sleep("1h")
        return "survived"
    """)
    common(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:returns", HOST, 1) == 1
        with pytest.raises(ActorError):
            await node.exec("test:links_dead", HOST, "{luactor@test:host|1}")


async def test_set_options_checks_its_argument(app, autojump_clock):
    out = await run(app, """
        local ok, err = process.set_options("trap")
        process.set_options({ trap_links = true })
        process.set_options({})                      -- leaves trap_links alone
        local kept = process.get_options().trap_links
        process.set_options({ trap_links = false })
        return { ok = ok == nil, kind = err:kind(), kept = kept, now = process.get_options().trap_links }
    """)
    assert out == {"ok": True, "kind": "Invalid", "kept": True, "now": False}


async def test_spawn_linked_monitored_gets_both_events(app, autojump_clock):
    out = await run(app, """
        process.set_options({ trap_links = true })
        local child = process.spawn_linked_monitored("test:fails", "test:host")
        local kinds = {}
        for i = 1, 2 do
          local ev = process.events():receive()
          assert(ev.from == child)
          kinds[#kinds + 1] = ev.kind
        end
        table.sort(kinds)
        return kinds
    """)
    assert out == ["EXIT", "LINK_DOWN"]


async def test_python_mailbox_link(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        good = await node.spawn("test:idle", HOST)
        bad = await node.spawn("test:fails_later", HOST)
        me.link(good)
        me.link(bad)
        await node.send(good, "go")
        await node.send(bad, "go")
        ev = await recv(me)
        assert (ev.topic, ev.payload["kind"], ev.payload["from"]) == ("@link_down", "LINK_DOWN", bad)
        assert "failed when told" in str(ev.payload.get("reason"))
        await nothing_arrives(me)


async def test_lua_links_to_a_python_mailbox(app, autojump_clock):
    proc(app, "links_python", """
        local target = ...
        process.link(target)
        process.inbox():receive()
        error("lua side broke")
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:links_python", HOST, me.pid)
        await nothing_arrives(me, wait=1)
        await node.send(pid, "go")
        ev = await recv(me)
        assert (ev.topic, ev.payload["from"]) == ("@link_down", pid)
        assert "lua side broke" in str(ev.payload.get("reason"))


async def test_python_mailbox_unlink(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        bad = await node.spawn("test:fails_later", HOST)
        me.link(bad)
        me.unlink(bad)
        await node.send(bad, "go")
        await nothing_arrives(me)


async def test_python_link_to_a_dead_pid(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        me.link("{luactor@test:host|31337}")
        ev = await recv(me)
        assert ev.topic == "@link_down" and ev.payload["from"] == "{luactor@test:host|31337}"


# -- cascades over three levels -------------------------------------------------------------------


def add_chain(app) -> None:
    """top -> middle -> bottom, each linked to the next; every pid reported to ``to``."""
    proc(app, "bottom", """
        local to = ...
        process.send(to, "pid", { "bottom", process.pid() })
        process.inbox():receive()
        error("bottom broke")
    """)
    proc(app, "middle", """
        local to, trap = ...
        if trap then process.set_options({ trap_links = true }) end
        process.spawn_linked("test:bottom", "test:host", to)
        process.send(to, "pid", { "middle", process.pid() })
        local ev = process.events():receive()
        process.send(to, "middle saw", { kind = ev.kind })
        process.inbox():receive()
        return "middle done"
    """)
    proc(app, "top", """
        local to, trap_top, trap_middle = ...
        if trap_top then process.set_options({ trap_links = true }) end
        process.spawn_linked("test:middle", "test:host", to, trap_middle)
        process.send(to, "pid", { "top", process.pid() })
        local r = channel.select { process.events():case_receive(), process.inbox():case_receive() }
        if r.channel == process.events() then
          process.send(to, "top saw", { kind = r.value.kind, from = r.value.from })
          process.inbox():receive()
        end
        return "top done"
    """)
    common(app)


async def start_chain(node, me, trap_top=False, trap_middle=False) -> dict[str, str]:
    top = await node.spawn("test:top", HOST, me.pid, trap_top, trap_middle)
    pids = {}
    while len(pids) < 3:
        msg = await recv(me)
        assert msg.topic == "pid"
        pids[msg.payload[0]] = msg.payload[1]
    assert pids["top"] == top
    for pid in pids.values():
        me.monitor(pid)
    return pids


async def test_a_failure_at_the_bottom_takes_down_the_whole_chain(app, autojump_clock):
    add_chain(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = await start_chain(node, me)
        await node.send(pids["bottom"], "go")
        exits = {}
        while len(exits) < 3:
            ev = await recv(me)
            assert ev.topic == "@exit", ev
            exits[ev.payload["from"]] = ev.payload["result"]
        for level in ("top", "middle", "bottom"):
            assert exits[pids[level]].get("error"), level
        assert "bottom broke" in exits[pids["bottom"]]["error"]["message"]
        assert node.process_count(HOST) == 0


async def test_a_trapping_middle_stops_the_cascade(app, autojump_clock):
    add_chain(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = await start_chain(node, me, trap_middle=True)
        await node.send(pids["bottom"], "go")
        ev = await recv(me)
        assert (ev.topic, ev.payload["from"]) == ("@exit", pids["bottom"])
        ev = await recv(me)
        assert (ev.topic, ev.payload) == ("middle saw", {"kind": "LINK_DOWN"})
        await nothing_arrives(me)                      # top and middle live on
        assert node.process_count(HOST) == 2
        await node.send(pids["middle"], "go")
        ev = await recv(me)
        assert ev.payload["from"] == pids["middle"] and ev.payload["result"]["value"] == "middle done"
        await nothing_arrives(me)                      # a normal exit does not reach top
        await node.send(pids["top"], "go")
        ev = await recv(me)
        assert ev.payload["from"] == pids["top"] and ev.payload["result"]["value"] == "top done"


async def test_a_trapping_top_hears_of_the_middle(app, autojump_clock):
    add_chain(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = await start_chain(node, me, trap_top=True)
        await node.send(pids["bottom"], "go")
        seen, exits = None, {}
        while seen is None or len(exits) < 2:
            ev = await recv(me)
            if ev.topic == "top saw":
                seen = ev.payload
            else:
                assert ev.topic == "@exit"
                exits[ev.payload["from"]] = ev.payload["result"]
        assert seen == {"kind": "LINK_DOWN", "from": pids["middle"]}
        assert set(exits) == {pids["middle"], pids["bottom"]}
        assert node.process_count(HOST) == 1


async def test_terminating_the_top_cascades_down(app, autojump_clock):
    add_chain(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = await start_chain(node, me)
        await node.terminate(pids["top"])
        exits = {}
        while len(exits) < 3:
            ev = await recv(me)
            assert ev.topic == "@exit"
            exits[ev.payload["from"]] = ev.payload["result"]
        assert all(result.get("error") for result in exits.values())
        assert node.process_count(HOST) == 0


# -- cancel -------------------------------------------------------------------------------------


async def test_cancel_delivers_cancel_with_the_reason(app, autojump_clock):
    proc(app, "cancellable", """
        local ev = process.events():receive()
        return { kind = ev.kind, is_cancel = ev.kind == process.event.CANCEL, from = ev.from, reason = ev.reason }
    """)
    proc(app, "canceller", """
        local pid = process.spawn_monitored("test:cancellable", "test:host")
        local ok = process.cancel(pid, "shutting down")
        local ev = process.events():receive()
        return { ok = ok, result = ev.result.value, me = process.pid() }
    """)
    common(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:canceller", HOST)
        assert out["ok"] is True
        assert out["result"] == {"kind": "CANCEL", "is_cancel": True, "from": out["me"], "reason": "shutting down"}


async def test_cancel_from_python(app, autojump_clock):
    proc(app, "cancellable", """
        local ev = process.events():receive()
        time.sleep("2s")          -- a graceful finish takes a while
        return { kind = ev.kind, reason = ev.reason, from = ev.from }
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:cancellable", HOST, monitor_by=me.pid)
        await node.cancel(pid, {"why": "maintenance"})
        ev = await recv(me)
        value = ev.payload["result"]["value"]
        assert value["kind"] == "CANCEL" and value["reason"] == {"why": "maintenance"}
        assert value["from"]


async def test_cancel_does_not_end_a_process_by_itself(app, autojump_clock):
    proc(app, "stubborn", """
        local ev = process.events():receive()
        local msg = process.inbox():receive()
        return { ev = ev.kind, then_got = msg:payload():data() }
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:stubborn", HOST, monitor_by=me.pid)
        await node.cancel(pid, "please")
        await nothing_arrives(me)
        await node.send(pid, "more", "work")
        ev = await recv(me)
        assert ev.payload["result"]["value"] == {"ev": "CANCEL", "then_got": "work"}


async def test_cancel_of_a_finished_process_is_harmless(app, autojump_clock):
    out = await run(app, """
        local pid = process.spawn_monitored("test:returns", "test:host", 1)
        process.events():receive()
        local ok, err = process.cancel(pid, "too late")
        local ok2, err2 = process.terminate(pid)
        return { ok = ok, ok2 = ok2 }
    """)
    assert out == {"ok": True, "ok2": True}
    async with Node.open(app.root) as node:
        assert await node.exec("test:returns", HOST, 5) == 5
        await node.cancel("{luactor@test:host|1}", "late")
        await node.terminate("{luactor@test:host|1}")
        assert await node.exec("test:alive", HOST) == "alive"


async def test_cancel_reason_must_be_plain_data(app, autojump_clock):
    out = await run(app, """
        local pid = process.spawn("test:idle", "test:host")
        local ok, err = process.cancel(pid, function() end)
        process.send(pid, "go", true)
        return { ok_nil = ok == nil, kind = err and err:kind() }
    """)
    assert out == {"ok_nil": True, "kind": "Invalid"}


async def test_lua_may_not_cancel_or_terminate_a_python_mailbox(app, autojump_clock):
    proc(app, "end_python", """
        local target = ...
        local outcome = {}
        for _, op in ipairs({ "cancel", "terminate" }) do
          local ok, err = process[op](target, "you are done")
          outcome[op] = { ok = ok, kind = err:kind() }
        end
        process.send(target, "still", "here")
        return outcome
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        denied = {"kind": "PermissionDenied"}
        assert await node.exec("test:end_python", HOST, me.pid) == {"cancel": denied, "terminate": denied}
        msg = await recv(me)
        assert (msg.topic, msg.payload) == ("still", "here")


# -- terminate ------------------------------------------------------------------------------------


async def test_terminate_ends_a_process_at_once(app, autojump_clock):
    proc(app, "sleeper", """
        local to = ...
        coroutine.spawn(function()
          while true do time.sleep("1s"); process.send(to, "tick", true) end
        end)
        time.sleep("1h")
        process.send(to, "woke", true)
        return "woke"
    """)
    proc(app, "terminator", """
        local victim = ...
        process.monitor(victim)
        local ok = process.terminate(victim)
        local ev = process.events():receive()
        return { ok = ok, kind = ev.kind, value_nil = ev.result.value == nil, error = tostring(ev.result.error),
                 error_kind = ev.result.error:kind() }
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        victim = await node.spawn("test:sleeper", HOST, me.pid)
        assert (await recv(me)).topic == "tick"
        out = await node.exec("test:terminator", HOST, victim)
        assert out["ok"] is True and out["kind"] == "EXIT" and out["value_nil"] is True
        assert out["error"] and out["error_kind"] in ("Canceled", "TERMINATED", "Internal", "Unknown")
        await nothing_arrives(me, wait=7200)           # neither its coroutine nor its main runs on
        assert node.process_count(HOST) == 0


async def test_terminate_from_python(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:idle", HOST, monitor_by=me.pid)
        linked = await node.spawn("test:idle", HOST)
        me.link(linked)
        await node.terminate(pid)
        await node.terminate(linked)
        events = {}
        for _ in range(2):
            ev = await recv(me)
            events[ev.topic] = ev.payload
        assert events["@exit"]["from"] == pid and events["@exit"]["result"]["error"]
        assert events["@link_down"]["from"] == linked
        assert node.process_count(HOST) == 0


async def test_a_process_can_terminate_itself(app, autojump_clock):
    proc(app, "suicide", """
        local to = ...
        process.send(to, "before", true)
        process.terminate(process.pid())
        process.send(to, "after", true)
        return "after"
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:suicide", HOST, me.pid, monitor_by=me.pid)
        assert (await recv(me)).topic == "before"
        ev = await recv(me)
        assert ev.topic == "@exit" and ev.payload["from"] == pid and ev.payload["result"].get("error")
        await nothing_arrives(me)


# -- names ---------------------------------------------------------------------------------------


async def test_register_lookup_and_send_by_name(app, autojump_clock):
    proc(app, "named", """
        local to = ...
        local ok = process.registry.register("svc")
        local found = process.registry.lookup("svc")
        process.send(to, "registered", { ok = ok, found = found == process.pid() })
        local msg = process.inbox():receive()
        return msg:payload():data()
    """)
    proc(app, "sends_by_name", 'return process.send("svc", "hello", "by name from lua")')
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:named", HOST, me.pid, monitor_by=me.pid)
        assert (await recv(me)).payload == {"ok": True, "found": True}
        assert node.lookup("svc") == pid
        assert await node.exec("test:sends_by_name", HOST) is True
        ev = await recv(me)
        assert ev.payload["result"]["value"] == "by name from lua"


async def test_python_sends_by_name(app, autojump_clock):
    proc(app, "named", """
        process.registry.register("echo")
        local msg = process.inbox():receive()
        return msg:payload():data()
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:named", HOST, monitor_by=me.pid)
        await trio.sleep(1)
        await me.send("echo", "t", "by name from python")
        assert (await recv(me)).payload["result"]["value"] == "by name from python"


async def test_a_taken_name_is_already_exists(app, autojump_clock):
    proc(app, "claims", """
        local ok, err = process.registry.register("taken")
        return { ok = ok, kind = err and err:kind(), message = err and err:message() }
    """)
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        holder = await node.spawn("test:idle", HOST, name="taken")
        out = await node.exec("test:claims", HOST)
        assert out["kind"] == "AlreadyExists" and "taken" in out["message"] and "ok" not in out
        with pytest.raises(ActorError) as info:
            node.register_name("taken", me.pid)
        assert info.value.kind == "AlreadyExists"
        with pytest.raises(ActorError) as info:
            await node.spawn("test:idle", HOST, name="taken")
        assert info.value.kind == "AlreadyExists"
        assert node.lookup("taken") == holder


async def test_lookup_of_an_unknown_name_is_not_found(app, autojump_clock):
    out = await run(app, """
        local pid, err = process.registry.lookup("nobody")
        return { pid_nil = pid == nil, kind = err:kind(), message = err:message() }
    """)
    assert out["pid_nil"] is True and out["kind"] == "NotFound" and "nobody" in out["message"]
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            node.lookup("nobody")
        assert info.value.kind == "NotFound"


async def test_unregister(app, autojump_clock):
    out = await run(app, """
        process.registry.register("temp")
        local removed = process.registry.unregister("temp")
        local pid, err = process.registry.lookup("temp")
        local again = process.registry.unregister("temp")
        local send_ok, send_err = process.send("temp", "t", 1)
        return { removed = removed, kind = err:kind(), again = again, send_kind = send_err:kind() }
    """)
    assert out == {"removed": True, "kind": "NotFound", "again": False, "send_kind": "NotFound"}


async def test_names_are_released_when_the_process_exits(app, autojump_clock):
    proc(app, "holds_names", """
        local how = ...
        process.registry.register("first-" .. how)
        process.registry.register("second-" .. how)
        process.inbox():receive()
        if how == "error" then error("bye") end
        return how
    """)
    proc(app, "reclaims", "local name = ...; return process.registry.register(name)")
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        for how in ("normal", "error", "terminate"):
            pid = await node.spawn("test:holds_names", HOST, how, monitor_by=me.pid)
            await trio.sleep(1)
            assert node.lookup(f"first-{how}") == pid == node.lookup(f"second-{how}")
            if how == "terminate":
                await node.terminate(pid)
            else:
                await node.send(pid, "go")
            assert (await recv(me)).topic == "@exit"
            for name in (f"first-{how}", f"second-{how}"):
                with pytest.raises(ActorError) as info:
                    node.lookup(name)
                assert info.value.kind == "NotFound", (how, name)
            assert await node.exec("test:reclaims", HOST, f"first-{how}") is True


async def test_register_a_name_for_another_process(app, autojump_clock):
    proc(app, "registrar", """
        local child = process.spawn_monitored("test:idle", "test:host")
        local ok = process.registry.register("the-child", child)
        local found = process.registry.lookup("the-child") == child
        process.send("the-child", "go", true)
        process.events():receive()
        local after, err = process.registry.lookup("the-child")
        local dead_ok, dead_err = process.registry.register("ghost", child)
        return { ok = ok, found = found, released = err and err:kind(), dead = dead_err and dead_err:kind() }
    """)
    common(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:registrar", HOST) == {
            "ok": True, "found": True, "released": "NotFound", "dead": "NotFound"}


@pytest.mark.parametrize("name", ["42", "{}", "true", '""', '"{luactor@test:host|1}"'])
async def test_names_must_be_non_empty_strings(app, autojump_clock, name):
    out = await run(app, f"""
        local ok, err = process.registry.register({name})
        return {{ ok = ok, kind = err and err:kind() }}
    """)
    assert out == {"kind": "Invalid"}


async def test_lookup_and_unregister_of_non_strings_are_invalid(app, autojump_clock):
    out = await run(app, """
        local a, e1 = process.registry.lookup(42)
        local b, e2 = process.registry.unregister({})
        return { e1:kind(), e2:kind() }
    """)
    assert out == ["Invalid", "Invalid"]


async def test_python_name_registry(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        with pytest.raises(ActorError) as info:
            node.register_name(42, me.pid)
        assert info.value.kind == "Invalid"
        with pytest.raises(ActorError) as info:
            node.register_name("", me.pid)
        assert info.value.kind == "Invalid"
        node.register_name("py-me", me.pid)
        assert node.lookup("py-me") == me.pid
        assert node.unregister_name("py-me") is True
        assert node.unregister_name("py-me") is False
        with pytest.raises(ActorError):
            node.lookup("py-me")


async def test_a_name_given_from_python_is_released_on_exit(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:idle", HOST, monitor_by=me.pid)
        node.register_name("given-by-python", pid)
        assert node.lookup("given-by-python") == pid
        await node.send("given-by-python", "go")
        assert (await recv(me)).topic == "@exit"
        with pytest.raises(ActorError) as info:
            node.lookup("given-by-python")
        assert info.value.kind == "NotFound"


async def test_named_python_mailbox_is_reachable_and_released(app, autojump_clock):
    proc(app, "to_python", 'return process.send("py-inbox", "hello", "from lua")')
    proc(app, "to_python_later", """
        local ok, err = process.send("py-inbox", "hello", "again")
        return err and err:kind()
    """)
    async with Node.open(app.root) as node:
        async with node.mailbox(name="py-inbox") as box:
            assert await node.exec("test:to_python", HOST) is True
            msg = await recv(box)
            assert (msg.topic, msg.payload) == ("hello", "from lua")
        assert await node.exec("test:to_python_later", HOST) == "NotFound"


async def test_relationship_calls_accept_names(app, autojump_clock):
    out = await run(app, """
        process.set_options({ trap_links = true })
        local a = process.spawn("test:fails_later", "test:host")
        process.registry.register("a", a)
        assert(process.monitor("a"))
        assert(process.link("a"))
        process.send("a", "go", true)
        local kinds = {}
        for i = 1, 2 do kinds[i] = process.events():receive().kind end
        table.sort(kinds)
        local b = process.spawn_monitored("test:idle", "test:host")
        process.registry.register("b", b)
        process.cancel("b", "by name")
        process.terminate("b")
        local ev = process.events():receive()
        local ok, err = process.monitor("no-such-name")
        local ok2, err2 = process.monitor(42)
        return { kinds = kinds, b_exit = ev.from == b and ev.result.error ~= nil,
                 unknown = err:kind(), bad = err2:kind() }
    """)
    assert out == {"kinds": ["EXIT", "LINK_DOWN"], "b_exit": True, "unknown": "NotFound", "bad": "Invalid"}


# -- spawner builders ----------------------------------------------------------------------------


async def test_with_name_registers_before_the_spawn_returns(app, autojump_clock):
    out = await run(app, """
        local pid = process.with_options({}):with_name("worker-1"):spawn("test:idle", "test:host")
        local found = process.registry.lookup("worker-1")
        local pid2, err = process.with_options({}):with_name("worker-1"):spawn("test:idle", "test:host")
        process.send("worker-1", "go", true)
        return { found = found == pid, dup_nil = pid2 == nil, kind = err and err:kind() }
    """)
    assert out == {"found": True, "dup_nil": True, "kind": "AlreadyExists"}


async def test_a_name_clash_starts_no_process(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node:
        await node.spawn("test:idle", HOST, name="only")
        assert node.process_count(HOST) == 1
        with pytest.raises(ActorError):
            await node.spawn("test:idle", HOST, name="only")
        assert node.process_count(HOST) == 1


async def test_startup_messages_arrive_first(app, autojump_clock):
    proc(app, "reads_three", """
        local inbox, got = process.inbox(), {}
        for i = 1, 3 do
          local msg = inbox:receive()
          got[i] = { msg:topic(), msg:payload():data(), msg:from() }
        end
        return got
    """)
    proc(app, "starter", """
        local spawner = process.with_context({}):with_message("first", 1):with_message("second", { n = 2 })
        local pid = spawner:spawn_monitored("test:reads_three", "test:host")
        process.send(pid, "third", 3)
        return { me = process.pid(), got = process.events():receive().result.value }
    """)
    async with Node.open(app.root) as node:
        out = await node.exec("test:starter", HOST)
        me = out["me"]
        assert out["got"] == [["first", 1, me], ["second", {"n": 2}, me], ["third", 3, me]]


async def test_startup_messages_from_python_arrive_first(app, autojump_clock):
    proc(app, "reads", """
        local inbox, got = process.inbox(), {}
        local n = ...
        for i = 1, n do got[i] = inbox:receive():topic() end
        return got
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:reads", HOST, 4, messages=[("a", 1), ("b", 2), ("c", 3)], monitor_by=me.pid)
        await node.send(pid, "d", 4)
        assert (await recv(me)).payload["result"]["value"] == ["a", "b", "c", "d"]


async def test_startup_messages_reach_a_listener(app, autojump_clock):
    proc(app, "listens_first", """
        local jobs = process.listen("job")
        return { (jobs:receive()), (jobs:receive()) }
    """)
    proc(app, "feeds", """
        local pid = process.with_options({}):with_message("job", "a"):with_message("job", "b")
            :spawn_monitored("test:listens_first", "test:host")
        return process.events():receive().result.value
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:feeds", HOST) == ["a", "b"]


async def test_with_context_reaches_the_child(app, autojump_clock):
    proc(app, "parent", """
        local base = process.with_context({ tenant = "acme" })
        local more = base:with_context({ user = "ada" })
        local a = base:spawn_monitored("test:ctx_dump", "test:host")
        local ra = process.events():receive().result.value
        local b = more:spawn_monitored("test:ctx_dump", "test:host")
        local rb = process.events():receive().result.value
        local c = process.spawn_monitored("test:ctx_dump", "test:host")    -- inherits the parent's
        local rc = process.events():receive().result.value
        return { base = ra, more = rb, inherited = rc, own = ctx.get("origin") }
    """)
    common(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:parent", HOST, context={"origin": "python"})
        assert out["base"]["tenant"] == "acme" and "user" not in out["base"]
        assert out["more"]["tenant"] == "acme" and out["more"]["user"] == "ada"
        assert out["inherited"] == {"origin": "python"}
        assert out["own"] == "python"


async def test_python_spawn_with_context_and_name(app, autojump_clock):
    proc(app, "ctx_and_name", """
        return { ctx = ctx.all(), named = process.registry.lookup("py-named") == process.pid() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:ctx_and_name", HOST, context={"k": "v"}, name="py-named", monitor_by=me.pid)
        assert (await recv(me)).payload["result"]["value"] == {"ctx": {"k": "v"}, "named": True}


async def test_builders_are_immutable(app, autojump_clock):
    proc(app, "count_inbox", """
        local n = 0
        while true do
          local r = channel.select { process.inbox():case_receive(), default = true }
          if r.default then break end
          n = n + 1
        end
        return n
    """)
    out = await run(app, """
        local base = process.with_context({}):with_message("m", 1)
        local more = base:with_message("m", 2):with_message("m", 3)
        local named = base:with_name("only-on-named")
        base:spawn_monitored("test:count_inbox", "test:host")
        local n_base = process.events():receive().result.value
        more:spawn_monitored("test:count_inbox", "test:host")
        local n_more = process.events():receive().result.value
        local _, lookup_err = process.registry.lookup("only-on-named")
        return { n_base = n_base, n_more = n_more, distinct = base ~= more and base ~= named,
                 name_free = lookup_err ~= nil }
    """)
    assert out["n_base"] == 1 and out["n_more"] == 3 and out["distinct"] is True
    assert out["name_free"] is True, "spawning from base registered no name"


async def test_builder_arguments_are_checked(app, autojump_clock):
    out = await run(app, """
        local results = {}
        local function try(f)
          local spawner, err = f()
          results[#results + 1] = spawner == nil and err:kind() or "ok"
        end
        try(function() return process.with_context("x") end)
        try(function() return process.with_context({ f = print }) end)
        try(function() return process.with_options(5) end)
        try(function() return process.with_options({}):with_name("") end)
        try(function() return process.with_options({}):with_name(42) end)
        try(function() return process.with_options({}):with_message("@exit", 1) end)
        try(function() return process.with_options({}):with_message("t", coroutine.create(print)) end)
        return results
    """)
    assert out == ["Invalid"] * 7


async def test_builder_spawn_variants(app, autojump_clock):
    out = await run(app, """
        process.set_options({ trap_links = true })
        local b = process.with_context({ k = 1 })
        local m = b:spawn_monitored("test:fails", "test:host")
        local ev1 = process.events():receive()
        local l = b:spawn_linked("test:fails", "test:host")
        local ev2 = process.events():receive()
        local lm = b:spawn_linked_monitored("test:fails", "test:host")
        local kinds = {}
        for i = 1, 2 do kinds[i] = process.events():receive().kind end
        table.sort(kinds)
        local v = b:exec("test:ctx_dump", "test:host")
        return { ev1.kind, ev1.from == m, ev2.kind, ev2.from == l, kinds, v }
    """)
    assert out == ["EXIT", True, "LINK_DOWN", True, ["EXIT", "LINK_DOWN"], {"k": 1}]


# -- exec --------------------------------------------------------------------------------------


async def test_process_exec_returns_result_and_error(app, autojump_clock):
    out = await run(app, """
        local v, err = process.exec("test:returns", "test:host", { deep = { 1, 2 } })
        local v2, err2 = process.exec("test:fails", "test:host", "exec failure")
        local v3, err3 = process.exec("test:nope", "test:host")
        local v4, err4 = process.exec("test:returns", "test:nohost", 1)
        return { v = v, err_nil = err == nil, v2_nil = v2 == nil, err2 = tostring(err2),
                 err3 = err3 and err3:kind(), err4 = err4 and err4:kind() }
    """)
    assert out["v"] == {"deep": [1, 2]} and out["err_nil"] is True
    assert out["v2_nil"] is True and "exec failure" in out["err2"]
    assert out["err3"] == "NotFound" and out["err4"] == "NotFound"


async def test_exec_blocks_only_the_calling_coroutine(app, autojump_clock):
    proc(app, "slow_result", 'time.sleep("10s"); return "slow"')
    out = await run(app, """
        local ticks = 0
        coroutine.spawn(function() for i = 1, 5 do time.sleep("1s"); ticks = ticks + 1 end end)
        local v = process.exec("test:slow_result", "test:host")
        return { v = v, ticks = ticks }
    """)
    assert out == {"v": "slow", "ticks": 5}


async def test_node_exec_with_context(app, autojump_clock):
    common(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:ctx_dump", HOST, context={"a": 1}) == {"a": 1}
        with pytest.raises(ActorError) as info:
            await node.exec("test:fails", HOST, "python exec failure")
        assert "python exec failure" in info.value.message
        with pytest.raises(ActorError) as info:
            await node.exec("test:missing", HOST)
        assert info.value.kind == "NotFound"


# -- across hosts -----------------------------------------------------------------------------------
# The same operations between processes of two different hosts (two Lua
# states, with the node routing between them) behave exactly as on one host.

HOST2 = "test:host2"


def two_hosts(app) -> None:
    app.entry(name="host2", kind="process.host", lifecycle={"auto_start": True})
    common(app)


async def run2(app, body: str, *args, context=None):
    proc(app, "main", body)
    two_hosts(app)
    async with Node.open(app.root) as node:
        with trio.fail_after(10_000):
            result = await node.exec("test:main", HOST, *args, context=context)
        assert await node.exec("test:alive", HOST2) == "alive"
        return result


async def test_spawn_and_messages_across_hosts(app, autojump_clock):
    proc(app, "echo", """
        local msg = process.inbox():receive()
        process.send(msg:from(), "echo", { got = msg:payload():data(), me = process.pid() })
    """)
    out = await run2(app, """
        local pid, err = process.spawn("test:echo", "test:host2")
        assert(pid, tostring(err))
        process.send(pid, "ping", { list = { 1, 2, 3 } })
        local msg = process.inbox():receive()
        return { host2 = pid:find("test:host2", 1, true) ~= nil, from = msg:from() == pid,
                 got = msg:payload():data().got, me = msg:payload():data().me == pid }
    """)
    assert out == {"host2": True, "from": True, "got": {"list": [1, 2, 3]}, "me": True}


async def test_order_across_hosts(app, autojump_clock):
    proc(app, "collect", """
        local n = ...
        local got = {}
        for i = 1, n do got[i] = process.inbox():receive():payload():data() end
        return got
    """)
    out = await run2(app, """
        local pid = process.spawn_monitored("test:collect", "test:host2", 500)
        for i = 1, 500 do process.send(pid, "n", i) end
        return process.events():receive().result.value
    """)
    assert out == list(range(1, 501))


async def test_monitor_across_hosts_gets_an_error_object(app, autojump_clock):
    out = await run2(app, """
        local ok_pid = process.spawn_monitored("test:returns", "test:host2", { v = 1 })
        local ev1 = process.events():receive()
        local bad_pid = process.spawn_monitored("test:fails", "test:host2", "remote failure")
        local ev2 = process.events():receive()
        local e = ev2.result.error
        return { v = ev1.result.value, from1 = ev1.from == ok_pid, from2 = ev2.from == bad_pid,
                 kind = select(2, pcall(function() return e:kind() end)),
                 message = tostring(select(2, pcall(function() return e:message() end))) }
    """)
    assert out["v"] == {"v": 1} and out["from1"] is True and out["from2"] is True
    assert out["kind"] in ("Internal", "Unknown"), "the error in a remote EXIT is an error object, as locally"
    assert "remote failure" in out["message"]


async def test_links_across_hosts(app, autojump_clock):
    out = await run2(app, """
        process.set_options({ trap_links = true })
        local child = process.spawn_linked("test:fails", "test:host2", "remote link failure")
        local ev = process.events():receive()
        return { kind = ev.kind, from = ev.from == child, reason = tostring(ev.reason) }
    """)
    assert out["kind"] == "LINK_DOWN" and out["from"] is True and "remote link failure" in out["reason"]


async def test_a_cascade_across_hosts(app, autojump_clock):
    proc(app, "remote_parent", """
        local to = ...
        local child = process.spawn_linked("test:fails_later", "test:host", to)
        process.send(to, "child", child)
        time.sleep("1h")
    """)
    two_hosts(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        parent = await node.spawn("test:remote_parent", HOST2, me.pid, monitor_by=me.pid)
        child = (await recv(me)).payload
        me.monitor(child)
        await node.send(child, "go")
        exits = {}
        for _ in range(2):
            ev = await recv(me)
            exits[ev.payload["from"]] = ev.payload["result"]
        assert exits[child]["error"] and exits[parent]["error"]
        assert node.process_count(HOST) == node.process_count(HOST2) == 0


async def test_terminate_and_cancel_across_hosts(app, autojump_clock):
    proc(app, "cancellable", """
        local ev = process.events():receive()
        return { kind = ev.kind, reason = ev.reason }
    """)
    out = await run2(app, """
        local a = process.spawn_monitored("test:cancellable", "test:host2")
        process.cancel(a, "remote cancel")
        local ev_a = process.events():receive()
        local b = process.spawn_monitored("test:idle", "test:host2")
        process.terminate(b)
        local ev_b = process.events():receive()
        return { a = ev_a.result.value, b_error = ev_b.result.error ~= nil, b_from = ev_b.from == b }
    """)
    assert out == {"a": {"kind": "CANCEL", "reason": "remote cancel"}, "b_error": True, "b_from": True}


async def test_exec_and_context_across_hosts(app, autojump_clock):
    out = await run2(app, """
        local v, err = process.with_context({ extra = 1 }):exec("test:ctx_dump", "test:host2")
        local v2, err2 = process.exec("test:fails", "test:host2", "remote exec failure")
        return { v = v, err2 = tostring(err2) }
    """, context={"origin": "py"})
    assert out["v"] == {"origin": "py", "extra": 1}
    assert "remote exec failure" in out["err2"]


async def test_startup_messages_and_names_across_hosts(app, autojump_clock):
    proc(app, "reads_inbox", """
        local got = {}
        for i = 1, 3 do
          local msg = process.inbox():receive()
          got[i] = { msg:topic(), msg:payload():data() == nil and "nil" or msg:payload():data() }
        end
        return { got = got, named = process.registry.lookup("remote-named") == process.pid() }
    """)
    out = await run2(app, """
        local pid, err = process.with_options({}):with_name("remote-named")
          :with_message("a", 1):with_message("b", nil)
          :spawn_monitored("test:reads_inbox", "test:host2")
        assert(pid, tostring(err))
        process.send("remote-named", "c", 3)
        return process.events():receive().result.value
    """)
    assert out == {"got": [["a", 1], ["b", "nil"], ["c", 3]], "named": True}
