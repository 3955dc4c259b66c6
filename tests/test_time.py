"""The ``time`` module in processes: the documented examples, scheduling
(sleep, after, timer, ticker), errors, isolation between processes.

Every test runs on trio's MockClock (``autojump_clock``): the runtime's
timers follow trio's clock, so virtual time is asserted exactly and nothing
waits on the wall clock. The values themselves (calendar, layouts, zones,
durations) are tested in depth in test_time_values.py.
"""

from __future__ import annotations

import re
import time as pytime

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


async def result_of(app, body: str, *args):
    return (await run(app, body, *args))[0]


async def run_error(app, body: str) -> ActorError:
    """The error ``body`` raises; the node must carry on."""
    proc(app, "main", body)
    proc(app, "alive", 'return "alive"')
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:main", app.host)
        assert await node.exec("test:alive", app.host) == "alive"
        return info.value


@pytest.fixture
def new_york_is_local(monkeypatch):
    """The node's local zone is America/New_York for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    pytime.tzset()
    yield
    monkeypatch.undo()
    pytime.tzset()


# -- the documented examples -------------------------------------------------------------------


async def test_now_and_elapsed_time(app, autojump_clock):
    result, _ = await run(app, """
        local t = time.now()
        local start = time.now()
        time.sleep("1500ms")
        local elapsed = time.now():sub(start)
        return { rfc = t:format_rfc3339(), took = "Took " .. elapsed:milliseconds() .. "ms",
                 unix = t:unix(), loc = t:location():string() }
    """)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", result["rfc"])
    assert result["took"] == "Took 1500ms"
    assert abs(result["unix"] - pytime.time()) < 24 * 3600
    assert result["loc"] == "Local"


async def test_creating_time_values(app, autojump_clock):
    result = await result_of(app, """
        local t = time.date(2024, time.DECEMBER, 25, 10, 30, 0, 0, time.utc)
        local ny, _ = time.load_location("America/New_York")
        local meeting = time.date(2024, time.JANUARY, 15, 14, 0, 0, 0, ny)
        local default = time.date(2024, 1, 15, 12, 0, 0, 0)
        local u = time.unix(1703862245, 0)
        local half = time.unix(1703862245, 500000000)
        local js_timestamp = 1703862245000
        local js = time.unix(js_timestamp // 1000, (js_timestamp % 1000) * 1000000)
        local p1, e1 = time.parse(time.RFC3339, "2024-12-29T15:04:05Z")
        local p2 = time.parse("2006-01-02", "2024-12-29")
        local p3 = time.parse("15:04:05", "14:30:00")
        local p4 = time.parse("2006-01-02 15:04:05 MST", "2024-12-29 14:30:00 EST")
        local p5 = time.parse("2006-01-02 15:04", "2024-12-29 14:30", ny)
        return {
          t = t:format_rfc3339(), meeting = meeting:utc():format_rfc3339(), default = default:location():string(),
          u = u:utc():format_rfc3339(), half = half:nanosecond(), js = js:equal(u),
          p1 = p1:format_rfc3339(), e1 = e1 == nil, p2 = p2:format(time.DATE_TIME), p3 = p3:format(time.TIME_ONLY),
          p4 = tostring(p4), p5 = p5:utc():format_rfc3339(),
        }
    """)
    assert result == {
        "t": "2024-12-25T10:30:00Z", "meeting": "2024-01-15T19:00:00Z", "default": "Local",
        "u": "2023-12-29T15:04:05Z", "half": 500_000_000, "js": True,
        "p1": "2024-12-29T15:04:05Z", "e1": True, "p2": "2024-12-29 00:00:00", "p3": "14:30:00",
        # EST is not the local zone here (UTC): Go keeps the name with a zero offset
        "p4": "2024-12-29 14:30:00 +0000 EST", "p5": "2024-12-29T19:30:00Z",
    }


async def test_time_methods(app, autojump_clock):
    result = await result_of(app, """
        local t = time.date(2024, 12, 29, 15, 4, 5, 0, time.utc)
        local tomorrow = t:add("24h")
        local later = t:add(5 * time.MINUTE)
        local d, _ = time.parse_duration("1h30m")
        local future = t:add(d)
        local diff = tomorrow:sub(t)
        local t1 = time.date(2024, 1, 1, 0, 0, 0, 0, time.utc)
        local t2 = time.date(2024, 1, 2, 0, 0, 0, 0, time.utc)
        local year, month, day = t:date()
        local hour, min, sec = t:clock()
        return {
          later = later:format(time.TIME_ONLY), future = future:format(time.TIME_ONLY), hours = diff:hours(),
          next_month = t:add_date(0, 1, 0):format(time.DATE_ONLY), next_year = t:add_date(1, 0, 0):format(time.DATE_ONLY),
          last_week = t:add_date(0, 0, -7):format(time.DATE_ONLY),
          cmp = { t1:before(t2), t2:after(t1), t1:equal(t1) },
          formats = { t:format_rfc3339(), t:format(time.DATE_ONLY), t:format(time.TIME_ONLY), t:format("Mon Jan 2, 2006") },
          unix = { t:unix(), t:unix_nano() },
          parts = { year, month, day, hour, min, sec, t:year(), t:month(), t:day(), t:hour(), t:minute(), t:second(),
                    t:nanosecond(), t:weekday(), t:year_day() },
          zero = { t:is_zero(), time.date(1, 1, 1, 0, 0, 0, 0, time.utc):is_zero() },
        }
    """)
    assert result == {
        "later": "15:09:05", "future": "16:34:05", "hours": 24.0,
        "next_month": "2025-01-29", "next_year": "2025-12-29", "last_week": "2024-12-22",
        "cmp": [True, True, True],
        "formats": ["2024-12-29T15:04:05Z", "2024-12-29", "15:04:05", "Sun Dec 29, 2024"],
        "unix": [1735484645, 1735484645 * 10**9],
        "parts": [2024, 12, 29, 15, 4, 5, 2024, 12, 29, 15, 4, 5, 0, 0, 364],
        "zero": [False, True],
    }


async def test_timezones_and_rounding(app, autojump_clock):
    result = await result_of(app, """
        local ny, err = time.load_location("America/New_York")
        local tokyo, _ = time.load_location("Asia/Tokyo")
        local london, _ = time.load_location("Europe/London")
        local t = time.unix(1703862245, 0):utc()
        local ist = time.fixed_zone("IST", 5*3600 + 30*60)
        local pst = time.fixed_zone("PST", -8*3600)
        local at_noon = time.date(2024, 1, 15, 12, 0, 0, 0, ist)
        local hour_duration, _ = time.parse_duration("1h")
        local minute_duration, _ = time.parse_duration("15m")
        local r = time.date(2024, 12, 29, 15, 34, 5, 0, time.utc)
        return {
          err = err == nil, utc = t:format(time.TIME_ONLY), ny = t:in_location(ny):format(time.TIME_ONLY),
          tokyo = t:in_location(tokyo):format(time.TIME_ONLY), london = t:in_location(london):format("15:04 MST"),
          names = { t:utc():location():string(), t:in_local():location():string(), t:in_location(ny):location():string(),
                    time.utc:string(), time.localtz:string() },
          ist = at_noon:format(time.RFC1123Z), pst = at_noon:in_location(pst):format(time.RFC822),
          round = r:round(hour_duration):format(time.TIME_ONLY), truncate = r:truncate(minute_duration):format(time.TIME_ONLY),
        }
    """)
    assert result == {
        "err": True, "utc": "15:04:05", "ny": "10:04:05", "tokyo": "00:04:05", "london": "15:04 GMT",
        "names": ["UTC", "Local", "America/New_York", "UTC", "Local"],
        "ist": "Mon, 15 Jan 2024 12:00:00 +0530", "pst": "14 Jan 24 22:30 PST",
        "round": "16:00:00", "truncate": "15:30:00",
    }


async def test_durations(app, autojump_clock):
    result = await result_of(app, """
        local a = time.parse_duration("1h30m45s")
        local b = time.parse_duration("500ms")
        local c = time.parse_duration("2h30m45s500ms")
        local s = time.parse_duration(time.SECOND)
        local m = time.parse_duration(5 * time.MINUTE)
        local d, _ = time.parse_duration("1h30m45s500ms")
        return {
          strings = { tostring(a), tostring(b), tostring(c), tostring(s), tostring(m) },
          methods = { d:hours(), d:minutes(), d:seconds(), d:milliseconds(), d:microseconds(), d:nanoseconds() },
          constants = { time.NANOSECOND, time.MICROSECOND, time.MILLISECOND, time.SECOND, time.MINUTE, time.HOUR },
          arithmetic = { 5 * time.SECOND, tostring(time.SECOND), d + time.SECOND, d < time.HOUR * 2 },
        }
    """)
    assert result == {
        "strings": ["1h30m45s", "500ms", "2h30m45.5s", "1s", "5m0s"],
        "methods": [5445.5 / 3600, 5445.5 / 60, 5445.5, 5445500, 5445500000, 5445500000000],
        "constants": [1, 1000, 10**6, 10**9, 60 * 10**9, 3600 * 10**9],
        "arithmetic": [5 * 10**9, "1000000000", 5446500000000, True],
    }


async def test_documented_errors(app, autojump_clock):
    result = await result_of(app, """
        local t, err = time.parse(time.RFC3339, "invalid")
        local loc, lerr = time.load_location("Unknown/Zone")
        local empty, eerr = time.load_location("")
        local d, derr = time.parse_duration("soon")
        local timer, terr = time.timer(0)
        local ticker, kerr = time.ticker(-1)
        return {
          parse = { t == nil, errors.is(err, errors.INVALID), err:message() },
          zone = { loc == nil, errors.is(lerr, errors.NOT_FOUND), lerr:message() },
          empty = { empty == nil, eerr:kind() }, duration = { d == nil, derr:kind() },
          timer = { timer == nil, terr:kind(), terr:message() }, ticker = { ticker == nil, kerr:kind() },
        }
    """)
    assert result == {
        "parse": [True, True, 'parsing time "invalid" as "2006-01-02T15:04:05Z07:00": cannot parse "invalid" as "2006"'],
        "zone": [True, True, 'time.load_location: unknown time zone "Unknown/Zone"'],
        "empty": [True, "Invalid"], "duration": [True, "Invalid"],
        "timer": [True, "Invalid", "time.timer: duration must be above zero"], "ticker": [True, "Invalid"],
    }


async def test_the_local_zone_is_the_nodes(app, autojump_clock, new_york_is_local):
    result = await result_of(app, """
        local t = time.date(2024, 1, 15, 12, 0, 0, 0)
        local summer = time.date(2024, 7, 15, 12, 0, 0, 0, time.localtz)
        local parsed = time.parse("2006-01-02 15:04 MST", "2024-07-04 09:00 EDT")
        return { t:format(time.RFC1123Z), summer:format("15:04 MST -07:00"), t:utc():in_local():format("15:04 MST"),
                 time.unix(0, 0):format(time.RFC3339), parsed:utc():format_rfc3339(), parsed:location():string() }
    """)
    assert result == ["Mon, 15 Jan 2024 12:00:00 -0500", "12:00 EDT -04:00", "12:00 EST",
                      "1969-12-31T19:00:00-05:00", "2024-07-04T13:00:00Z", "Local"]


# -- sleep ------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration, seconds", [
    ('"1s"', 1.0),
    ('"250ms"', 0.25),
    ('"1h30m"', 5400.0),
    ('"1.5s"', 1.5),
    ("2000000000", 2.0),              # a number is nanoseconds
    ("2.5e9", 2.5),
    ('time.parse_duration("3s")', 3.0),
    ("time.SECOND", 1.0),
    ("5 * time.SECOND", 5.0),
    ("500 * time.MILLISECOND", 0.5),
    ('tostring(2) .. "s"', 2.0),
])
async def test_sleep_takes_the_given_duration(app, autojump_clock, duration, seconds):
    result, elapsed = await run(app, f"""
        local ok = time.sleep({duration})
        return ok
    """)
    assert result is True
    assert elapsed == pytest.approx(seconds, abs=1e-6)


async def test_sleep_of_zero_or_less_returns_at_once(app, autojump_clock):
    result, elapsed = await run(app, """
        time.sleep(0); time.sleep("0s"); time.sleep(-5 * time.SECOND)
        return "done"
    """)
    assert result == "done" and elapsed == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("bad", ['"soon"', '"10"', "{}", "true", '"1x"', "0/0", "math.huge", "nil",
                                 "setmetatable({}, { __index = function() error('boom') end })"])
async def test_bad_durations_are_invalid(app, autojump_clock, bad):
    result = await result_of(app, f"""
        local out = {{}}
        for _, f in ipairs({{ time.sleep, time.after, time.timer, time.ticker, time.parse_duration }}) do
          local value, err = f({bad})
          out[#out + 1] = {{ value == nil, err:kind() }}
        end
        return out
    """)
    assert result == [[True, "Invalid"]] * 5


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
          coroutine.spawn(function() time.sleep(d * 100 * time.MILLISECOND); order:send(d) end)
        end
        local got = {}
        for i = 1, #delays do got[i] = order:receive() end
        return got
    """)
    assert result == [1, 2, 3, 4, 5]
    assert elapsed == pytest.approx(0.5, abs=1e-6)


async def test_backoff_pattern(app, autojump_clock):
    result, elapsed = await run(app, """
        local tries = 0
        local function try_operation() tries = tries + 1; return tries == 3 end
        for attempt = 1, 3 do
          local ok = try_operation()
          if ok then break end
          time.sleep(tostring(attempt) .. "s")
        end
        return tries
    """)
    assert result == 3 and elapsed == pytest.approx(3.0, abs=1e-6)


# -- now ----------------------------------------------------------------------------------------


async def test_now_follows_the_clock(app, autojump_clock):
    result = await result_of(app, """
        local t0 = time.now()
        time.sleep("1500ms")
        local t1 = time.now()
        local d = t1:sub(t0)
        return {
          seconds = d:seconds(), ms = d:milliseconds(),
          before = t0:before(t1), after = t1:after(t0), equal = t0:equal(t0), not_equal = t0:equal(t1),
          unix_type = math.type(t0:unix()), nano_delta = t1:unix_nano() - t0:unix_nano(),
        }
    """)
    assert result == {"seconds": 1.5, "ms": 1500, "before": True, "after": True, "equal": True,
                      "not_equal": False, "unix_type": "integer", "nano_delta": 1_500_000_000}


async def test_tostring_of_values(app, autojump_clock):
    result = await result_of(app, """
        local t = time.now()
        return { tostring(t), tostring(time.parse_duration("90m")), tostring(time.SECOND) }
    """)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+", result[0])
    assert result[1:] == ["1h30m0s", "1000000000"]


# -- after ---------------------------------------------------------------------------------------


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
        local function make_request() return channel.new() end
        local function request()
          local response_ch = make_request()
          local timeout_ch = time.after(30 * time.SECOND)
          local result = channel.select{
              response_ch:case_receive(),
              timeout_ch:case_receive()
          }
          if result.channel == timeout_ch then
              return nil, errors.new({message = "Request timed out", kind = errors.TIMEOUT})
          end
          return result.value
        end
        local value, err = request()
        return { value == nil, err:kind() }
    """)
    assert result == [True, "Timeout"]
    assert elapsed == pytest.approx(30.0, abs=1e-6)


async def test_after_a_negative_duration_fires_at_once(app, autojump_clock):
    result, elapsed = await run(app, """
        local v = time.after(-time.SECOND):receive()
        return v ~= nil
    """)
    assert result is True and elapsed == pytest.approx(0, abs=1e-6)


# -- timer ----------------------------------------------------------------------------------------


async def test_timer_fires_after_its_duration(app, autojump_clock):
    result, elapsed = await run(app, """
        local t0 = time.now()
        local timer, err = time.timer("5s")
        local v = timer:response():receive()
        return { err = err == nil, waited = v:sub(t0):seconds(), same = timer:channel() == timer:response(),
                 stop_after_fire = timer:stop() }
    """)
    assert result == {"err": True, "waited": 5.0, "same": True, "stop_after_fire": False}
    assert elapsed == pytest.approx(5.0, abs=1e-6)


async def test_stopped_timer_never_fires(app, autojump_clock):
    result, elapsed = await run(app, """
        local timer = time.timer(time.SECOND)
        local stopped = timer:stop()
        local stopped_again = timer:stop()
        local r = channel.select { timer:response():case_receive(), time.after("10s"):case_receive() }
        return { stopped = stopped, again = stopped_again, fired = r.channel == timer:response() }
    """)
    assert result == {"stopped": True, "again": False, "fired": False}
    assert elapsed == pytest.approx(10.0, abs=1e-6)


async def test_timer_reset_moves_the_deadline(app, autojump_clock):
    result = await result_of(app, """
        local t0 = time.now()
        local timer = time.timer("1s")
        time.sleep("500ms")
        local was_active = timer:reset(2 * time.SECOND)      -- now due at 2.5s
        local v = timer:response():receive()
        local nothing = channel.select { timer:response():case_receive(), time.after("5s"):case_receive() }
        return { was_active = was_active, fired_at = v:sub(t0):seconds(),
                 fired_twice = nothing.channel == timer:response() }
    """)
    assert result == {"was_active": True, "fired_at": 2.5, "fired_twice": False}


async def test_reset_of_a_fired_or_stopped_timer_rearms_it(app, autojump_clock):
    result = await result_of(app, """
        local t0 = time.now()
        local timer = time.timer("1s")
        timer:response():receive()
        local was_active = timer:reset("3s")
        local second = timer:response():receive():sub(t0):seconds()
        timer:stop()
        timer:reset(time.parse_duration("2s"))
        local third = timer:response():receive():sub(t0):seconds()
        return { was_active = was_active, second = second, third = third }
    """)
    assert result == {"was_active": False, "second": 4.0, "third": 6.0}


async def test_idle_timer_example(app, autojump_clock):
    result, elapsed = await run(app, """
        local user_activity = channel.new(10)
        coroutine.spawn(function()
          for _ = 1, 3 do time.sleep("4m"); user_activity:send("click") end
        end)
        local logged_out = false
        local idle_timer = time.timer("5m")
        while true do
            local r = channel.select{
                user_activity:case_receive(),
                idle_timer:response():case_receive()
            }
            if r.channel == idle_timer:response() then
                logged_out = true
                break
            end
            idle_timer:reset("5m")
        end
        return logged_out
    """)
    assert result is True
    assert elapsed == pytest.approx(17 * 60, abs=1e-6)  # three clicks 4 minutes apart, then 5 idle minutes


async def test_timer_reset_and_methods_check_their_arguments(app, autojump_clock):
    result = await result_of(app, """
        local timer = time.timer("1s")
        local a, e1 = timer:reset(0)
        local b, e2 = timer:reset("soon")
        local c, e3 = timer.stop({})
        local ticker = time.ticker("1s")
        local d, e4 = ticker.response(timer)
        local e, e5 = timer.response(ticker)
        ticker:stop()
        return { a == nil and e1:kind(), b == nil and e2:kind(), c == nil and e3:message(),
                 d == nil and e4:message(), e == nil and e5:kind(), timer:stop() }
    """)
    assert result == ["Invalid", "Invalid", "Timer:stop: called on a table, not a Timer",
                      "Ticker:response: called on a table, not a Ticker", "Invalid", True]


# -- ticker ----------------------------------------------------------------------------------------


async def test_ticker_ticks_at_its_interval(app, autojump_clock):
    result, elapsed = await run(app, """
        local t0 = time.now()
        local ticker, err = time.ticker("100ms")
        local at = {}
        for i = 1, 5 do at[i] = ticker:channel():receive():sub(t0):milliseconds() end
        ticker:stop()
        return { err = err == nil, at = at, same = ticker:channel() == ticker:response() }
    """)
    assert result == {"err": True, "at": [100, 200, 300, 400, 500], "same": True}
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
    result = await result_of(app, """
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


async def test_ticker_rate_limiting_example(app, autojump_clock):
    result, elapsed = await run(app, """
        local items, done = { "a", "b", "c", "d" }, {}
        local ticker = time.ticker("100ms")
        for _, item in ipairs(items) do
            ticker:response():receive()
            done[#done + 1] = item
        end
        ticker:stop()
        return done
    """)
    assert result == ["a", "b", "c", "d"]
    assert elapsed == pytest.approx(0.4, abs=1e-6)


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


# -- the module, isolation, hostile values ---------------------------------------------------------


async def test_time_module_needs_declaring(app, autojump_clock):
    app.lua("undeclared", "return { main = function() return require('time') end }")
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:undeclared", app.host)
        assert "time" in info.value.message and "test:undeclared" in info.value.message


async def test_one_process_cannot_change_time_for_another(app, autojump_clock):
    proc(app, "tamper", """
        local london = time.load_location("Europe/London")
        local attacks = {
          function() time.SECOND = 5 end,
          function() rawset(time, "SECOND", 5) end,
          function() time.now = function() return "evil" end end,
          function() rawset(time, "sleep", nil) end,
          function() time.utc.string = function() return "evil" end end,
          function() rawset(time.utc, "string", function() return "evil" end) end,
          function() rawset(london, "string", function() return "evil" end) end,
          function() setmetatable(time.localtz, {}) end,
          function() getmetatable(time.now()).__index = {} end,
          function() table.insert(time.utc, "x") end,
          function() rawset(time.now(), "year", function() return 0 end) end,  -- its own value only
        }
        local refused = 0
        for _, attack in ipairs(attacks) do
          if not pcall(attack) then refused = refused + 1 end
        end
        return refused
    """)
    proc(app, "check", """
        local london = time.load_location("Europe/London")
        return { time.SECOND, type(time.now()), time.utc:string(), london:string(), time.localtz:string(),
                 type(time.sleep), time.now():year() > 2000, time.unix(0, 0):utc():format(time.RFC3339) }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:tamper", app.host) == 10
        assert await node.exec("test:check", app.host) == [
            10**9, "table", "UTC", "Europe/London", "Local", "function", True, "1970-01-01T00:00:00Z"]


async def test_hostile_arguments_fail_only_the_call(app, autojump_clock):
    result, elapsed = await run(app, """
        local hostile = setmetatable({}, {
          __index = function() error("boom") end, __tostring = function() while true do end end,
          __eq = function() error("boom") end, __len = function() error("boom") end,
          __call = function() error("boom") end, __name = "evil",
        })
        local t = time.now()
        local calls = {
          function() return time.date(1e18, 1, 1, 0, 0, 0, 0) end,
          function() return time.date(2024, hostile, 1, 0, 0, 0, 0) end,
          function() return time.date(2024, 1, 1, 0, 0, 0, 0, hostile) end,
          function() return t:add_date(1e15, 0, 0) end,
          function() return t:add(hostile) end,
          function() return t:format(string.rep("2006", 1 << 18)) end,
          function() return time.parse(string.rep("x", 1 << 20), "x") end,
          function() return time.parse("2006", hostile) end,
          function() return time.sleep(0/0) end,
          function() return time.after(hostile) end,
          function() return time.load_location(hostile) end,
          function() return time.load_location("\\xff\\xfe/\\0") end,
          function() return time.load_location(string.rep("a/", 1 << 19)) end,
          function() return time.fixed_zone("X", 0/0) end,
          function() return time.unix(hostile, 0) end,
          function() return t:sub(hostile) end,
          function() return t:in_location(hostile) end,
          function() return t:round(hostile) end,
          function() return t.year(hostile) end,
          function() return time.parse_duration(string.rep("1s", 1 << 19)) end,
        }
        local kinds = {}
        for i, call in ipairs(calls) do
          local ok, value, err = pcall(call)
          kinds[i] = ok and value == nil and err:kind() or ("raised or returned: " .. tostring(value))
        end
        return kinds
    """)
    assert result == ["Invalid"] * 11 + ["NotFound", "NotFound"] + ["Invalid"] * 7
    assert elapsed < 1


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


async def test_operators_on_values_raise_in_the_caller_only(app, autojump_clock):
    err = await run_error(app, "return time.parse_duration('1s') + {}")
    assert err.kind == "Invalid" and "attempt to add a Duration and a table" in err.message


# -- workflows --------------------------------------------------------------------------------------


async def test_in_a_workflow_now_is_recorded_time_and_timers_are_durable(app, tmp_path, autojump_clock):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("flow", """
        local time = require("time")
        local function run()
          local t0 = time.now()
          time.sleep(2 * time.SECOND)
          local timer = time.timer("1s")
          timer:response():receive()
          local ticker = time.ticker(time.parse_duration("500ms"))
          ticker:response():receive()
          ticker:stop()
          local day = time.date(2024, 2, 28, 0, 0, 0, 0, time.utc):add_date(0, 0, 1)
          return { time.now():sub(t0):milliseconds(), day:format(time.DATE_ONLY), t0:location():string() }
        end
        return { run = run }
    """, method="run", kind="workflow.lua", modules=["time"])
    async with Node.open(app.root) as node, node.mailbox() as me:
        me.monitor(await node.spawn("test:flow", "test:workflows"))
        with trio.fail_after(1000):
            exit_message = await me.receive()
    assert exit_message.payload["result"]["value"] == [3500, "2024-02-29", "Local"]
