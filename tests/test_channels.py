"""Channels, ``channel.select`` and coroutines inside a process.

Channels are Go-style: ``channel.new(size)`` (0 = unbuffered), ``send``,
``receive`` returning ``value, ok``, ``close``, ``case_send`` /
``case_receive`` for ``channel.select`` (with ``default``).
``coroutine.spawn(fn)`` runs ``fn`` concurrently in the same process;
ordinary Lua coroutines (``coroutine.wrap``/``resume``) may block on
channels inside them and still compose with the scheduler.
"""

from __future__ import annotations

import pytest
import trio

from actors import ActorError, Node


def proc(app, name: str, body: str, *, modules=("time",), **fields) -> str:
    return app.body(name, body, modules=modules, **fields)


async def run(app, body: str, *args, modules=("time",)):
    """Run ``body`` as a process's main function and return its result."""
    proc(app, "main", body, modules=modules)
    proc(app, "alive", 'return "alive"')
    async with Node.open(app.root) as node:
        with trio.fail_after(60):
            result = await node.exec("test:main", app.host, *args)
        assert await node.exec("test:alive", app.host) == "alive"
        return result


async def run_error(app, body: str, *args) -> ActorError:
    proc(app, "main", body)
    proc(app, "alive", 'return "alive"')
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            with trio.fail_after(60):
                await node.exec("test:main", app.host, *args)
        assert await node.exec("test:alive", app.host) == "alive"
        return info.value


# -- basics ------------------------------------------------------------------------


async def test_buffered_channel_holds_values_in_order(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(3)
        ch:send("a"); ch:send("b"); ch:send("c")    -- none of these blocks
        local got = {}
        for i = 1, 3 do
          local v, ok = ch:receive()
          got[i] = { v, ok }
        end
        return got
    """)
    assert out == [["a", True], ["b", True], ["c", True]]


async def test_send_on_a_full_buffer_blocks_until_a_receive(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(1)
        local log = {}
        coroutine.spawn(function()
          ch:send(1); log[#log + 1] = "sent 1"
          ch:send(2); log[#log + 1] = "sent 2"    -- blocks: buffer full
        end)
        coroutine.yield()                          -- let the sender run
        local snapshot = table.concat(log, ",")
        local v = ch:receive()
        coroutine.yield()
        return { before = snapshot, first = v, after = table.concat(log, ","), second = ch:receive() }
    """)
    assert out == {"before": "sent 1", "first": 1, "after": "sent 1,sent 2", "second": 2}


async def test_unbuffered_channel_is_a_rendezvous(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        local log = {}
        coroutine.spawn(function()
          log[#log + 1] = "sending"
          ch:send("hello")
          log[#log + 1] = "sent"
        end)
        for _ = 1, 5 do coroutine.yield() end
        local before = table.concat(log, ",")
        local v, ok = ch:receive()
        for _ = 1, 5 do coroutine.yield() end
        return { before = before, v = v, ok = ok, after = table.concat(log, ",") }
    """)
    assert out == {"before": "sending", "v": "hello", "ok": True, "after": "sending,sent"}


async def test_receiver_waits_for_a_sender(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(0)
        local got = {}
        coroutine.spawn(function()
          local v, ok = ch:receive()
          got[#got + 1] = { v, ok }
        end)
        coroutine.yield()
        local empty = #got
        ch:send({ x = 1 })
        coroutine.yield()
        return { empty = empty, got = got }
    """)
    assert out == {"empty": 0, "got": [[{"x": 1}, True]]}


async def test_nil_and_false_are_values(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(2)
        ch:send(nil); ch:send(false)
        local a, aok = ch:receive()
        local b, bok = ch:receive()
        return { a_nil = a == nil, aok = aok, b = b, bok = bok }
    """)
    assert out == {"a_nil": True, "aok": True, "b": False, "bok": True}


async def test_channels_carry_any_lua_value_by_reference(app, autojump_clock):
    # Inside one process nothing is copied: channels may carry functions,
    # channels and the very same table.
    out = await run(app, """
        local ch = channel.new(3)
        local t, inner = {}, channel.new(1)
        ch:send(t); ch:send(function() return 7 end); ch:send(inner)
        local t2 = ch:receive()
        local f = ch:receive()
        local c = ch:receive()
        c:send("via inner")
        return { same = rawequal(t, t2), f = f(), inner = inner:receive() }
    """)
    assert out == {"same": True, "f": 7, "inner": "via inner"}


async def test_close_drains_then_reports_not_ok(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(2)
        ch:send(1); ch:send(2)
        ch:close()
        local r = {}
        for i = 1, 4 do
          local v, ok = ch:receive()
          r[i] = { v = v, ok = ok }
        end
        return r
    """)
    assert out == [{"v": 1, "ok": True}, {"v": 2, "ok": True}, {"ok": False}, {"ok": False}]


async def test_close_wakes_waiting_receivers(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        local results = {}
        for i = 1, 3 do
          coroutine.spawn(function()
            local v, ok = ch:receive()
            results[#results + 1] = ok
          end)
        end
        coroutine.yield()
        ch:close()
        coroutine.yield()
        return results
    """)
    assert out == [False, False, False]


async def test_send_on_a_closed_channel_is_an_error_and_closing_again_is_not(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(1)
        ch:close()
        local ok, err = pcall(ch.send, ch, 1)
        local ok2, again = pcall(ch.close, ch)
        return { ok = ok, kind = err:kind(), message = err:message(), ok2 = ok2, again = again }
    """)
    assert out["ok"] is False and out["kind"] == "Invalid" and "closed" in out["message"]
    assert out["ok2"] is True and out["again"] is True


async def test_close_fails_a_blocked_sender(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        local outcome
        coroutine.spawn(function()
          local ok, err = pcall(ch.send, ch, "x")
          outcome = { ok = ok, kind = err and err:kind() }
        end)
        coroutine.yield()
        ch:close()
        coroutine.yield(); coroutine.yield()
        return outcome
    """)
    assert out == {"ok": False, "kind": "Invalid"}


@pytest.mark.parametrize("size", ["-1", "'big'", "1.5", "{}"])
async def test_bad_channel_size_is_invalid(app, autojump_clock, size):
    out = await run(app, f"""
        local ok, err = pcall(channel.new, {size})
        return {{ ok = ok, kind = err:kind() }}
    """)
    assert out == {"ok": False, "kind": "Invalid"}


# -- select ---------------------------------------------------------------------------


async def test_select_with_default_does_not_block(app, autojump_clock):
    out = await run(app, """
        local a, b = channel.new(1), channel.new(1)
        local r = channel.select { a:case_receive(), b:case_receive(), default = true }
        return { default = r.default, has_channel = r.channel ~= nil }
    """)
    assert out == {"default": True, "has_channel": False}


async def test_select_picks_the_ready_receive(app, autojump_clock):
    out = await run(app, """
        local a, b = channel.new(1), channel.new(1)
        b:send("from b")
        local r = channel.select { a:case_receive(), b:case_receive(), default = true }
        return { which = r.channel == b and "b" or "a", value = r.value, ok = r.ok, default = r.default }
    """)
    assert out == {"which": "b", "value": "from b", "ok": True}


async def test_select_blocks_until_a_case_is_ready(app, autojump_clock):
    out = await run(app, """
        local a, b = channel.new(), channel.new()
        coroutine.spawn(function()
          for _ = 1, 3 do coroutine.yield() end
          a:send("late")
        end)
        local r = channel.select { a:case_receive(), b:case_receive() }
        return { which = r.channel == a and "a" or "b", value = r.value, ok = r.ok }
    """)
    assert out == {"which": "a", "value": "late", "ok": True}


async def test_select_case_send(app, autojump_clock):
    out = await run(app, """
        local full, room = channel.new(1), channel.new(1)
        full:send("occupied")
        local r = channel.select { full:case_send("x"), room:case_send("y") }
        local got = room:receive()
        -- nothing ready and a default: no send happens
        local r2 = channel.select { full:case_send("z"), default = true }
        return { which = r.channel == room and "room" or "full", got = got, r2 = r2.default,
                 full_still = full:receive() }
    """)
    assert out == {"which": "room", "got": "y", "r2": True, "full_still": "occupied"}


async def test_select_send_waits_for_a_receiver(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        local got
        coroutine.spawn(function()
          coroutine.yield()
          got = ch:receive()
        end)
        local r = channel.select { ch:case_send("handed over") }
        coroutine.yield()
        return { sent = r.channel == ch, got = got }
    """)
    assert out == {"sent": True, "got": "handed over"}


async def test_select_sees_a_closed_channel(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        ch:close()
        local r = channel.select { ch:case_receive() }
        local blocked = channel.new()
        coroutine.spawn(function() coroutine.yield(); blocked:close() end)
        local r2 = channel.select { blocked:case_receive() }
        return { ok = r.ok, value_nil = r.value == nil, ok2 = r2.ok }
    """)
    assert out == {"ok": False, "value_nil": True, "ok2": False}


async def test_select_only_takes_one_value(app, autojump_clock):
    out = await run(app, """
        local a, b = channel.new(), channel.new()
        local sent = 0
        coroutine.spawn(function() a:send(1); sent = sent + 1 end)
        coroutine.spawn(function() b:send(2); sent = sent + 1 end)
        coroutine.yield()
        local r = channel.select { a:case_receive(), b:case_receive() }
        coroutine.yield()
        local other = r.channel == a and b or a
        local left = other:receive()
        coroutine.yield()
        return { total = r.value + left, sent = sent }
    """)
    assert out == {"total": 3, "sent": 2}


async def test_select_does_not_starve_a_case(app, autojump_clock):
    out = await run(app, """
        local a, b = channel.new(1), channel.new(1)
        local counts = { a = 0, b = 0 }
        for _ = 1, 100 do
          channel.select { a:case_send(1), default = true }
          channel.select { b:case_send(2), default = true }
          local r = channel.select { a:case_receive(), b:case_receive() }
          if r.channel == a then counts.a = counts.a + 1 else counts.b = counts.b + 1 end
        end
        return counts
    """)
    assert out["a"] + out["b"] == 100
    assert out["a"] > 0 and out["b"] > 0


async def test_select_on_the_inbox_and_a_timer(app, autojump_clock):
    proc(app, "selector", """
        local time = require("time")
        local inbox, timeout = process.inbox(), time.after("10s")
        local got = {}
        while true do
          local r = channel.select { inbox:case_receive(), timeout:case_receive() }
          if r.channel == timeout then break end
          got[#got + 1] = r.value:payload():data()
        end
        return got
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:selector", app.host)
        me.monitor(pid)
        await node.send(pid, "n", 1)
        await node.send(pid, "n", 2)
        with trio.fail_after(60):
            ev = await me.receive()
        assert ev.payload["result"]["value"] == [1, 2]


async def test_select_rejects_bad_cases(app, autojump_clock):
    out = await run(app, """
        local ok1, e1 = pcall(channel.select, {})
        local ok2, e2 = pcall(channel.select, { "not a case" })
        local ok3, e3 = pcall(channel.select, { { ch = {} } })
        return { ok1, e1:kind(), ok2, e2:kind(), ok3, e3:kind() }
    """)
    assert out == [False, "Invalid", False, "Invalid", False, "Invalid"]


# -- coroutine.spawn -------------------------------------------------------------------


async def test_coroutine_spawn_shares_the_process_state(app, autojump_clock):
    out = await run(app, """
        counter = 0                           -- a process global
        local local_count = 0
        local done = channel.new(3)
        for i = 1, 3 do
          coroutine.spawn(function()
            counter = counter + i
            local_count = local_count + 1
            done:send(process.pid())
          end)
        end
        local pids = {}
        for i = 1, 3 do pids[i] = done:receive() end
        return { counter = counter, local_count = local_count,
                 same_pid = pids[1] == process.pid() and pids[2] == pids[3] and pids[1] == pids[2] }
    """)
    assert out == {"counter": 6, "local_count": 3, "same_pid": True}


async def test_coroutine_spawn_blocks_only_itself(app, autojump_clock):
    out = await run(app, """
        local never = channel.new()
        local progress = 0
        coroutine.spawn(function() never:receive(); progress = -1000 end)
        for i = 1, 10 do progress = progress + 1; coroutine.yield() end
        return progress
    """)
    assert out == 10


async def test_coroutine_spawn_receives_messages_too(app, autojump_clock):
    proc(app, "split", """
        local to = ...
        local jobs = process.listen("job")
        coroutine.spawn(function()
          while true do
            local job = jobs:receive()
            process.send(to, "done", job * 10)
          end
        end)
        local msg = process.inbox():receive()
        return msg:topic()
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:split", app.host, me.pid)
        await node.send(pid, "job", 1)
        await node.send(pid, "job", 2)
        with trio.fail_after(60):
            assert [(await me.receive()).payload for _ in range(2)] == [10, 20]
        me.monitor(pid)
        await node.send(pid, "stop")
        with trio.fail_after(60):
            ev = await me.receive()
        assert ev.topic == "@exit" and ev.payload["result"]["value"] == "stop"


async def test_process_ends_when_main_returns_even_with_coroutines_blocked(app, autojump_clock):
    proc(app, "leaves_coroutines", """
        local never = channel.new()
        for i = 1, 5 do coroutine.spawn(function() never:receive() end) end
        coroutine.yield()
        return "main done"
    """)
    async with Node.open(app.root) as node:
        with trio.fail_after(60):
            assert await node.exec("test:leaves_coroutines", app.host) == "main done"
        assert node.process_count(app.host) == 0


async def test_an_error_in_a_spawned_coroutine_fails_the_process(app, autojump_clock):
    err = await run_error(app, """
        local never = channel.new()
        coroutine.spawn(function() error("coroutine blew up") end)
        never:receive()
    """)
    assert "coroutine blew up" in err.message


async def test_coroutine_spawn_needs_a_function(app, autojump_clock):
    out = await run(app, """
        local ok, err = pcall(coroutine.spawn, 42)
        return { ok = ok, kind = err:kind() }
    """)
    assert out == {"ok": False, "kind": "Invalid"}


async def test_ping_pong_between_coroutines(app, autojump_clock):
    out = await run(app, """
        local ping, pong = channel.new(), channel.new()
        coroutine.spawn(function()
          while true do
            local v, ok = ping:receive()
            if not ok then return end
            pong:send(v + 1)
          end
        end)
        local v = 0
        for _ = 1, 1000 do
          ping:send(v)
          v = pong:receive()
        end
        ping:close()
        return v
    """)
    assert out == 1000


# -- user coroutines that block ------------------------------------------------------


async def test_wrapped_generator_receives_from_a_channel(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        coroutine.spawn(function()
          for i = 1, 3 do ch:send(i) end
          ch:close()
        end)
        local gen = coroutine.wrap(function()
          while true do
            local v, ok = ch:receive()          -- blocks inside a user coroutine
            if not ok then return nil end
            coroutine.yield(v * 2)
          end
        end)
        local got = {}
        for v in gen do got[#got + 1] = v end
        return got
    """)
    assert out == [2, 4, 6]


async def test_resume_loop_with_a_coroutine_that_blocks(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        coroutine.spawn(function() coroutine.yield(); ch:send("one"); coroutine.yield(); ch:send("two") end)
        local co = coroutine.create(function(start)
          local a = ch:receive()
          local resumed_with = coroutine.yield(start .. ":" .. a)
          local b = ch:receive()
          return resumed_with .. ":" .. b
        end)
        local ok1, r1 = coroutine.resume(co, "start")
        local status_between = coroutine.status(co)
        local ok2, r2 = coroutine.resume(co, "again")
        return { ok1 = ok1, r1 = r1, between = status_between, ok2 = ok2, r2 = r2,
                 status = coroutine.status(co) }
    """)
    assert out == {"ok1": True, "r1": "start:one", "between": "suspended", "ok2": True,
                   "r2": "again:two", "status": "dead"}


async def test_nested_user_coroutines_block_and_yield(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new(0)
        coroutine.spawn(function() for i = 1, 4 do ch:send(i) end end)
        local outer = coroutine.wrap(function()
          local inner = coroutine.wrap(function()
            coroutine.yield(ch:receive())
            coroutine.yield(ch:receive())
          end)
          coroutine.yield(inner() + 100)
          coroutine.yield(inner() + 100)
          coroutine.yield(ch:receive())
        end)
        return { outer(), outer(), outer(), (ch:receive()) }
    """)
    assert out == [101, 102, 3, 4]


async def test_select_inside_a_user_coroutine(app, autojump_clock):
    out = await run(app, """
        local a, b = channel.new(), channel.new()
        coroutine.spawn(function() coroutine.yield(); b:send("b!") end)
        local co = coroutine.wrap(function()
          local r = channel.select { a:case_receive(), b:case_receive() }
          return r.value
        end)
        return co()
    """)
    assert out == "b!"


async def test_errors_in_user_coroutines_stay_catchable(app, autojump_clock):
    out = await run(app, """
        local ch = channel.new()
        coroutine.spawn(function() ch:send("x") end)
        local co = coroutine.create(function()
          ch:receive()
          error("inside")
        end)
        local ok, err = coroutine.resume(co)
        local w = coroutine.wrap(function() error("wrapped") end)
        local wok, werr = pcall(w)
        return { ok = ok, err = tostring(err), wok = wok, werr = tostring(werr), status = coroutine.status(co) }
    """)
    assert out["ok"] is False and "inside" in out["err"]
    assert out["wok"] is False and "wrapped" in out["werr"]
    assert out["status"] == "dead"


async def test_sleep_inside_a_user_coroutine(app, autojump_clock):
    out = await run(app, """
        local time = require("time")
        local t0 = time.now()
        local gen = coroutine.wrap(function()
          for i = 1, 3 do time.sleep("1s"); coroutine.yield(i) end
        end)
        local got = { gen(), gen(), gen() }
        return { got = got, elapsed = time.now():sub(t0):seconds() }
    """)
    assert out["got"] == [1, 2, 3]
    assert out["elapsed"] == pytest.approx(3.0, abs=0.01)


async def test_message_receive_inside_a_user_coroutine(app, autojump_clock):
    proc(app, "co_inbox", """
        local to = ...
        local reader = coroutine.wrap(function()
          while true do coroutine.yield(process.inbox():receive():payload():data()) end
        end)
        process.send(to, "ready", true)
        return { reader(), reader() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:co_inbox", app.host, me.pid)
        with trio.fail_after(60):
            assert (await me.receive()).topic == "ready"
        me.monitor(pid)
        await node.send(pid, "x", "first")
        await node.send(pid, "x", "second")
        with trio.fail_after(60):
            ev = await me.receive()
        assert ev.payload["result"]["value"] == ["first", "second"]


async def test_other_processes_run_while_one_blocks_in_a_user_coroutine(app, autojump_clock):
    proc(app, "blocked", """
        local to = ...
        local co = coroutine.wrap(function() return process.inbox():receive():payload():data() end)
        return co()
    """)
    proc(app, "quick", 'return "quick"')
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:blocked", app.host)
        with trio.fail_after(60):
            assert await node.exec("test:quick", app.host) == "quick"
        me.monitor(pid)
        await node.send(pid, "x", "released")
        with trio.fail_after(60):
            ev = await me.receive()
        assert ev.payload["result"]["value"] == "released"
