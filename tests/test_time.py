"""SPEC §3: the ``time`` module.

``now()`` gives a Time, ``sleep(d)`` blocks the calling coroutine only,
``after(d)`` is a channel, ``timer(d)`` can be stopped and reset,
``ticker(d)`` ticks until stopped. Durations are Go-style strings, numbers
of nanoseconds or Duration values. Every test runs on trio's MockClock
(``autojump_clock``): the runtime's timers follow trio's clock, so virtual
time is asserted exactly and nothing waits on the wall clock.
"""

from __future__ import annotations

import re

import pytest
import trio

from actors import ActorError, Node


def proc(app, name: str, body: str, *, modules=("time",), **fields) -> str:
    return app.body(name, body, modules=modules, required=("time",), **fields)


async def run(app, body: str, *args):
    """Run ``body`` as a process; return (result, virtual seconds it took)."""
    proc(app, "main", body)
    async with Node.open(app.root) as node:
        start = trio.current_time()
        with trio.fail_after(100_000):
            result = await node.exec("test:main", app.host, *args)
        return result, trio.current_time() - start


async def run_error(app, body: str) -> ActorError:
    proc(app, "main", body)
    proc(app, "alive", 'return "alive"')
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:main", app.host)
        assert await node.exec("test:alive", app.host) == "alive"
        return info.value


# -- sleep ------------------------------------------------------------------------------


@pytest.mark.parametrize("duration, seconds", [
    ('"1s"', 1.0),
    ('"250ms"', 0.25),
    ('"1h30m"', 5400.0),
    ('"1.5s"', 1.5),
    ("2000000000", 2.0),              # a number is nanoseconds
    ('time.parse_duration("3s")', 3.0),
    ("time.SECOND", 1.0),
    ("time.MILLISECOND", 0.001),
])
async def test_sleep_takes_the_given_duration(app, autojump_clock, duration, seconds):
    result, elapsed = await run(app, f"""
        local ok = time.sleep({duration})
        return ok
    """)
    assert result is True
    assert elapsed == pytest.approx(seconds, abs=1e-6)


async def test_sleep_of_zero_returns_at_once(app, autojump_clock):
    result, elapsed = await run(app, """
        time.sleep(0); time.sleep("0s")
        return "done"
    """)
    assert result == "done" and elapsed == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("bad", ['"soon"', '"10"', "{}", "true", '"1x"'])
async def test_bad_duration_is_invalid(app, autojump_clock, bad):
    err = await run_error(app, f"time.sleep({bad})")
    assert err.kind == "Invalid"


async def test_sleeps_in_coroutines_run_concurrently(app, autojump_clock):
    result, elapsed = await run(app, """
        local done = channel.new(3)
        for i = 1, 3 do
          coroutine.spawn(function() time.sleep(i .. "s"); done:send(i) end)
        end
        return { (done:receive()), (done:receive()), (done:receive()) }
    """)
    assert result == [1, 2, 3]
    assert elapsed == pytest.approx(3.0, abs=1e-6)


async def test_a_sleeping_process_does_not_hold_up_others(app, autojump_clock):
    proc(app, "sleeper", 'time.sleep("1h"); return "slept"')
    proc(app, "quick", 'return "quick"')
    async with Node.open(app.root) as node, node.mailbox() as me:
        start = trio.current_time()
        pid = await node.spawn("test:sleeper", app.host)
        me.monitor(pid)
        assert await node.exec("test:quick", app.host) == "quick"
        assert trio.current_time() - start < 1
        with trio.fail_after(10_000):
            ev = await me.receive()
        assert ev.payload["result"]["value"] == "slept"
        assert trio.current_time() - start == pytest.approx(3600, abs=1e-3)


async def test_many_sleepers_wake_in_deadline_order(app, autojump_clock):
    result, elapsed = await run(app, """
        local order = channel.new(10)
        local delays = { 5, 1, 4, 2, 3 }
        for _, d in ipairs(delays) do
          coroutine.spawn(function() time.sleep(d * 100000000); order:send(d) end)
        end
        local got = {}
        for i = 1, #delays do got[i] = order:receive() end
        return got
    """)
    assert result == [1, 2, 3, 4, 5]
    assert elapsed == pytest.approx(0.5, abs=1e-6)


# -- now and Time values -----------------------------------------------------------------


async def test_now_follows_the_clock(app, autojump_clock):
    result, _ = await run(app, """
        local t0 = time.now()
        time.sleep("1500ms")
        local t1 = time.now()
        local d = t1:sub(t0)
        return {
          seconds = d:seconds(), ms = d:milliseconds(),
          before = t0:before(t1), after = t1:after(t0), equal = t0:equal(t0),
          not_equal = t0:equal(t1),
          unix_type = math.type(t0:unix()), nano_delta = t1:unix_nano() - t0:unix_nano(),
        }
    """)
    assert result == {"seconds": 1.5, "ms": 1500, "before": True, "after": True, "equal": True,
                      "not_equal": False, "unix_type": "integer", "nano_delta": 1_500_000_000}


async def test_now_is_wall_clock_time(app, autojump_clock):
    import time as pytime
    result, _ = await run(app, "return time.now():unix()")
    assert abs(result - pytime.time()) < 24 * 3600


async def test_time_add_and_format(app, autojump_clock):
    result, _ = await run(app, """
        local t = time.now()
        local later = t:add("1h")
        local later2 = t:add(time.HOUR)
        return {
          diff = later:sub(t):hours(), same = later:equal(later2),
          rfc = t:format_rfc3339(), str = tostring(t),
          date = t:format("2006-01-02"), clock = t:format("15:04:05"),
        }
    """)
    assert result["diff"] == 1.0 and result["same"] is True
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", result["rfc"])
    assert result["str"] == result["rfc"]
    assert re.match(r"^\d{4}-\d\d-\d\d$", result["date"])
    assert result["rfc"].startswith(result["date"] + "T" + result["clock"])


async def test_time_values_are_read_only(app, autojump_clock):
    result, _ = await run(app, """
        local t = time.now()
        local ok = pcall(function() t.x = 1 end)
        local dok = pcall(function() time.SECOND.x = 1 end)
        return { ok, dok }
    """)
    assert result == [False, False]


# -- after ---------------------------------------------------------------------------------


async def test_after_delivers_once_after_the_delay(app, autojump_clock):
    result, elapsed = await run(app, """
        local t0 = time.now()
        local ch = time.after("2s")
        local early = channel.select { ch:case_receive(), default = true }
        local v, ok = ch:receive()
        local again = channel.select { ch:case_receive(), default = true }
        return { early = early.default, ok = ok, waited = v:sub(t0):seconds(), again = again.default }
    """)
    assert result == {"early": True, "ok": True, "waited": 2.0, "again": True}
    assert elapsed == pytest.approx(2.0, abs=1e-6)


async def test_after_as_a_timeout_in_select(app, autojump_clock):
    result, elapsed = await run(app, """
        local never = channel.new()
        local r = channel.select { never:case_receive(), time.after("750ms"):case_receive() }
        return { timed_out = r.channel ~= never }
    """)
    assert result == {"timed_out": True}
    assert elapsed == pytest.approx(0.75, abs=1e-6)


# -- timer -----------------------------------------------------------------------------------


async def test_timer_fires_after_its_duration(app, autojump_clock):
    result, elapsed = await run(app, """
        local t0 = time.now()
        local timer = time.timer("5s")
        local v = timer:response():receive()
        return { waited = v:sub(t0):seconds(), same = timer:channel() == timer:response(),
                 stop_after_fire = timer:stop() }
    """)
    assert result == {"waited": 5.0, "same": True, "stop_after_fire": False}
    assert elapsed == pytest.approx(5.0, abs=1e-6)


async def test_stopped_timer_never_fires(app, autojump_clock):
    result, elapsed = await run(app, """
        local timer = time.timer("1s")
        local stopped = timer:stop()
        local stopped_again = timer:stop()
        local r = channel.select { timer:response():case_receive(), time.after("10s"):case_receive() }
        return { stopped = stopped, again = stopped_again, fired = r.channel == timer:response() }
    """)
    assert result == {"stopped": True, "again": False, "fired": False}
    assert elapsed == pytest.approx(10.0, abs=1e-6)


async def test_timer_reset_moves_the_deadline(app, autojump_clock):
    result, _ = await run(app, """
        local t0 = time.now()
        local timer = time.timer("1s")
        time.sleep("500ms")
        local was_active = timer:reset("2s")      -- now due at 2.5s
        local v = timer:response():receive()
        local nothing = channel.select { timer:response():case_receive(), time.after("5s"):case_receive() }
        return { was_active = was_active, fired_at = v:sub(t0):seconds(),
                 fired_twice = nothing.channel == timer:response() }
    """)
    assert result == {"was_active": True, "fired_at": 2.5, "fired_twice": False}


async def test_reset_of_a_fired_timer_rearms_it(app, autojump_clock):
    result, _ = await run(app, """
        local t0 = time.now()
        local timer = time.timer("1s")
        timer:response():receive()
        local was_active = timer:reset("3s")
        local v = timer:response():receive()
        return { was_active = was_active, second = v:sub(t0):seconds() }
    """)
    assert result == {"was_active": False, "second": 4.0}


async def test_reset_of_a_stopped_timer_rearms_it(app, autojump_clock):
    result, _ = await run(app, """
        local t0 = time.now()
        local timer = time.timer("1s")
        timer:stop()
        timer:reset("2s")
        local v = timer:response():receive()
        return v:sub(t0):seconds()
    """)
    assert result == 2.0


# -- ticker -----------------------------------------------------------------------------------


async def test_ticker_ticks_at_its_interval(app, autojump_clock):
    result, elapsed = await run(app, """
        local t0 = time.now()
        local ticker = time.ticker("100ms")
        local at = {}
        for i = 1, 5 do at[i] = ticker:channel():receive():sub(t0):milliseconds() end
        ticker:stop()
        return { at = at, same = ticker:channel() == ticker:response() }
    """)
    assert result == {"at": [100, 200, 300, 400, 500], "same": True}
    assert elapsed == pytest.approx(0.5, abs=1e-6)


async def test_stopped_ticker_stops_ticking(app, autojump_clock):
    result, elapsed = await run(app, """
        local ticker = time.ticker("1s")
        ticker:response():receive()
        local first_stop = ticker:stop()
        local second_stop = ticker:stop()
        local r = channel.select { ticker:response():case_receive(), time.after("10s"):case_receive() }
        return { first_stop = first_stop, second_stop = second_stop, ticked = r.channel == ticker:response() }
    """)
    assert result == {"first_stop": True, "second_stop": False, "ticked": False}
    assert elapsed == pytest.approx(11.0, abs=1e-6)


async def test_ticker_drops_ticks_a_slow_reader_misses(app, autojump_clock):
    result, _ = await run(app, """
        local t0 = time.now()
        local ticker = time.ticker("1s")
        time.sleep("5500ms")                       -- five ticks come and go
        local first = ticker:response():receive():sub(t0):seconds()
        local second = ticker:response():receive():sub(t0):seconds()
        ticker:stop()
        return { first = first, second = second }
    """)
    assert result["first"] == 1.0          # the one buffered tick
    assert result["second"] == 6.0         # then the next on schedule


async def test_ticker_needs_a_positive_duration(app, autojump_clock):
    err = await run_error(app, 'time.ticker(0)')
    assert err.kind == "Invalid"


async def test_ticker_in_a_loop_with_select(app, autojump_clock):
    result, elapsed = await run(app, """
        local ticker = time.ticker("250ms")
        local stop = time.after("1100ms")
        local ticks = 0
        while true do
          local r = channel.select { ticker:channel():case_receive(), stop:case_receive() }
          if r.channel == stop then break end
          ticks = ticks + 1
        end
        ticker:stop()
        return ticks
    """)
    assert result == 4
    assert elapsed == pytest.approx(1.1, abs=1e-6)


# -- durations -------------------------------------------------------------------------------


async def test_parse_duration_and_its_methods(app, autojump_clock):
    result, _ = await run(app, """
        local d = time.parse_duration("1h30m")
        local ms = time.parse_duration("1500ms")
        return {
          hours = d:hours(), minutes = d:minutes(), seconds = d:seconds(),
          ms = ms:milliseconds(), us = ms:microseconds(), ns = ms:nanoseconds(),
          str = tostring(d), ms_str = tostring(ms),
        }
    """)
    assert result == {"hours": 1.5, "minutes": 90.0, "seconds": 5400.0, "ms": 1500,
                      "us": 1_500_000, "ns": 1_500_000_000, "str": "1h30m0s", "ms_str": "1.5s"}


async def test_parse_duration_of_garbage_returns_an_error(app, autojump_clock):
    result, _ = await run(app, """
        local d, err = time.parse_duration("whenever")
        return { d_nil = d == nil, kind = err:kind() }
    """)
    assert result == {"d_nil": True, "kind": "Invalid"}


async def test_duration_constants(app, autojump_clock):
    result, _ = await run(app, """
        return {
          ns = time.NANOSECOND:nanoseconds(), us = time.MICROSECOND:nanoseconds(),
          ms = time.MILLISECOND:nanoseconds(), s = time.SECOND:nanoseconds(),
          m = time.MINUTE:seconds(), h = time.HOUR:minutes(),
          sum = (time.SECOND + time.SECOND):seconds(),
          cmp = time.SECOND < time.MINUTE,
        }
    """)
    assert result == {"ns": 1, "us": 1000, "ms": 1_000_000, "s": 1_000_000_000,
                      "m": 60.0, "h": 60.0, "sum": 2.0, "cmp": True}


async def test_time_module_needs_declaring(app, autojump_clock):
    app.lua("undeclared", "return { main = function() return require('time') end }")
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:undeclared", app.host)
        assert "time" in info.value.message and "test:undeclared" in info.value.message


async def test_timers_of_an_exited_process_do_not_disturb_the_node(app, autojump_clock):
    proc(app, "leaves_timers", """
        time.after("1s"); time.timer("2s"); time.ticker("500ms")
        coroutine.spawn(function() time.sleep("3s") end)
        return "bye"
    """)
    proc(app, "alive", 'time.sleep("10s"); return "alive"')
    async with Node.open(app.root) as node:
        assert await node.exec("test:leaves_timers", app.host) == "bye"
        with trio.fail_after(100):
            assert await node.exec("test:alive", app.host) == "alive"
        assert node.process_count(app.host) == 0
