"""The values of the ``time`` module, loaded on their own: Durations, Times,
Locations and Go layouts (actors/lua/timevalue.lua and timelayout.lua).

The modules are loaded the way the kernel loads them, with Python's zoneinfo
(actors/zones.py) for named zones, and checked against Go's documented
behaviour and, over random inputs, against Python's datetime.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lupa import lua54

import actors
from actors import zones

LUA_DIR = Path(actors.__file__).parent / "lua"

LOADER = """
local STANDARD = {
  "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
  "rawequal", "rawget", "rawlen", "rawset", "select", "setmetatable",
  "tonumber", "tostring", "type", "xpcall", "_VERSION",
  "coroutine", "math", "string", "table", "utf8", "debug",
}
return function(name, text, deps)
  local env = {}
  for _, key in ipairs(STANDARD) do env[key] = _G[key] end
  local chunk = assert(load(text, "=luactor/" .. name .. ".lua", "t", env))
  return chunk()(deps)
end
"""

# The sandbox's read-only proxy, as far as Locations need it.
READONLY = """
return function(t)
  local view = {}
  for k, v in pairs(t) do view[k] = v end
  return setmetatable({}, { __index = view, __newindex = function() error("read-only", 2) end, __metatable = false })
end
"""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SECOND, MINUTE, HOUR = 10**9, 60 * 10**9, 3600 * 10**9
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns",
         "Pacific/Chatham", "Africa/Casablanca"]


class Lua:
    """A Lua state with the time module's values as the global `time`."""

    def __init__(self):
        self.rt = lua54.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True)
        load = self.rt.execute(LOADER)

        def module(name, **deps):
            return load(name, (LUA_DIR / f"{name}.lua").read_text(), self.rt.table_from(deps))

        values = module("timevalue", errors=module("errors"), layout=module("timelayout"),
                        readonly=self.rt.execute(READONLY),
                        zone=lambda name, sec, wall: zones.lookup(name.encode(), sec, wall))
        self.rt.globals().time = values["api"]
        self.rt.globals().to_ns = values["to_ns"]

    def run(self, code, *args):
        return self.rt.execute(code, *args)

    def eval(self, expression, *args):
        return self.rt.execute("return " + expression, *args)

    def failure(self, expression, *args):
        """(kind, message) of the error that `expression` returns after nil."""
        value, kind, message = self.run(f"""
            local value, err = {expression}
            return value, err and err:kind(), err and err:message()
        """, *args)
        assert value is None, value
        return kind, message


@pytest.fixture(scope="module")
def lua():
    return Lua()


# -- durations -------------------------------------------------------------------------------


def test_duration_constants_are_integers_of_nanoseconds(lua):
    assert lua.run("""
        return time.NANOSECOND, time.MICROSECOND, time.MILLISECOND, time.SECOND, time.MINUTE, time.HOUR,
               math.type(time.SECOND), 5 * time.SECOND, tostring(time.SECOND), 1.5 * time.SECOND
    """) == (1, 1000, 10**6, SECOND, MINUTE, HOUR, "integer", 5 * SECOND, "1000000000", 1.5e9)


# Go's own ParseDuration test cases.
@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("5s", 5 * SECOND), ("30s", 30 * SECOND), ("1478s", 1478 * SECOND),
    ("-5s", -5 * SECOND), ("+5s", 5 * SECOND), ("-0", 0), ("+0", 0),
    ("5.0s", 5 * SECOND), ("5.6s", 5600 * 10**6), ("5.s", 5 * SECOND), (".5s", 500 * 10**6),
    ("1.0s", SECOND), ("1.00s", SECOND), ("1.004s", 1004 * 10**6), ("1.0040s", 1004 * 10**6),
    ("100.00100s", 100001 * 10**6), ("10ns", 10), ("11us", 11000), ("12µs", 12000),
    ("12μs", 12000), ("13ms", 13 * 10**6), ("14s", 14 * SECOND), ("15m", 15 * MINUTE),
    ("16h", 16 * HOUR), ("3h30m", 3 * HOUR + 30 * MINUTE),
    ("10.5s4m", 4 * MINUTE + 10500 * 10**6), ("-2m3.4s", -(2 * MINUTE + 3400 * 10**6)),
    ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4 * 10**6 + 5000 + 6),
    ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14425 * 10**6),
    ("52763797000ns", 52763797000), ("0.3333333333333333333h", 20 * MINUTE),
    ("9007199254740993ns", 9007199254740993), ("9223372036854775807ns", INT64_MAX),
    ("9223372036854775.807us", INT64_MAX), ("9223372036s854ms775us807ns", INT64_MAX),
    ("-9223372036854775807ns", -INT64_MAX),
    ("0.100000000000000000000h", 6 * MINUTE),
    ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827),
])
def test_parse_duration(lua, text, ns):
    assert lua.eval("time.parse_duration(...):nanoseconds()", text) == ns
    assert lua.eval("to_ns(..., 'here')", text) == ns


@pytest.mark.parametrize("text, fragment", [
    ("", 'invalid duration ""'), ("3", 'missing unit in duration "3"'),
    ("-", "invalid duration"), ("s", "invalid duration"), (".", "invalid duration"),
    ("-.", "invalid duration"), (".s", "invalid duration"), ("+.s", "invalid duration"),
    ("1d", 'unknown unit "d" in duration "1d"'), ("1h-2m", 'unknown unit "h-"'),
    ("1 s", 'unknown unit " s"'), ("9223372036854775808ns", "invalid duration"),
    ("9223372036854775.808us", "invalid duration"),
    ("9223372036854ms775us808ns", "invalid duration"),
    ("100000000000000000000ns", "invalid duration"),
    ("-9223372036854775808ns", "invalid duration"),  # Go accepts this one
    ("1s" * 3000, "duration too long"),
])
def test_parse_duration_rejects(lua, text, fragment):
    kind, message = lua.failure("time.parse_duration(...)", text)
    assert kind == "Invalid"
    assert message.startswith("time.parse_duration: ") and fragment in message


def test_parse_duration_takes_numbers_and_durations(lua):
    assert lua.run("""
        local a = time.parse_duration(time.SECOND)
        local b = time.parse_duration(5 * time.MINUTE)
        local c = time.parse_duration(a)
        local d = time.parse_duration(2.9)
        return a:nanoseconds(), b:seconds(), c:nanoseconds(), rawequal(a, c), d:nanoseconds()
    """) == (SECOND, 300.0, SECOND, False, 2)


@pytest.mark.parametrize("expression, fragment", [
    ("0/0", "duration -?nan ns is out of range"),
    ("math.huge", "duration inf ns is out of range"),
    ("2^63", "ns is out of range"),
    ("{}", "duration must be a number of nanoseconds, a string or a Duration, got table"),
    ("true", "got boolean"),
    ("nil", "got nil"),
    ("setmetatable({}, { __index = function() error('boom') end, __tostring = function() error('boom') end })",
     "got table"),
])
def test_duration_arguments_are_checked(lua, expression, fragment):
    kind, message = lua.failure(f"time.parse_duration({expression})")
    assert kind == "Invalid" and re.search(fragment, message), message


# Go's own Duration.String test cases, plus negatives.
@pytest.mark.parametrize("text, ns", [
    ("0s", 0), ("1ns", 1), ("1.1µs", 1100), ("2.2ms", 2200 * 10**3),
    ("3.3s", 3300 * 10**6), ("4m5s", 4 * MINUTE + 5 * SECOND),
    ("4m5.001s", 4 * MINUTE + 5001 * 10**6), ("5h6m7.001s", 5 * HOUR + 6 * MINUTE + 7001 * 10**6),
    ("8m0.000000001s", 8 * MINUTE + 1), ("2562047h47m16.854775807s", INT64_MAX),
    ("-2562047h47m16.854775808s", INT64_MIN), ("1h0m0s", HOUR), ("-1ns", -1),
    ("-1.5s", -1500 * 10**6), ("-1m0.5s", -(MINUTE + SECOND // 2)), ("999ns", 999),
    ("1µs", 1000), ("999.999µs", 999999), ("1ms", 10**6), ("1s", SECOND),
])
def test_duration_tostring(lua, text, ns):
    assert lua.eval("tostring(time.parse_duration(...))", ns) == text


@given(st.integers(-INT64_MAX, INT64_MAX))
def test_duration_text_round_trip(lua, ns):
    text = lua.eval("tostring(time.parse_duration(...))", ns)
    assert lua.eval("time.parse_duration(...):nanoseconds()", text) == ns


def truncated(ns, unit):
    return -(-ns // unit) if ns < 0 else ns // unit


@given(st.integers(INT64_MIN, INT64_MAX))
def test_duration_unit_accessors(lua, ns):
    hours, minutes, seconds, ms, us, n = lua.run("""
        local d = time.parse_duration(...)
        return d:hours(), d:minutes(), d:seconds(), d:milliseconds(), d:microseconds(), d:nanoseconds()
    """, ns)
    assert (ms, us, n) == (truncated(ns, 10**6), truncated(ns, 1000), ns)
    assert seconds == pytest.approx(ns / SECOND, rel=1e-15, abs=1e-15)
    assert minutes == pytest.approx(ns / MINUTE, rel=1e-15, abs=1e-15)
    assert hours == pytest.approx(ns / HOUR, rel=1e-15, abs=1e-15)


def test_documented_duration_methods(lua):
    assert lua.run("""
        local d = time.parse_duration("1h30m45s500ms")
        return d:hours(), d:minutes(), d:seconds(), d:milliseconds(), d:microseconds(), d:nanoseconds(),
               math.type(d:milliseconds())
    """) == (5445.5 / 3600, 5445.5 / 60, 5445.5, 5445500, 5445500000, 5445500000000, "integer")


def test_duration_arithmetic_gives_nanoseconds(lua):
    assert lua.run("""
        local s = time.parse_duration("1s")
        local ms = time.parse_duration("1ms")
        return s + ms, ms - s, s * 2, 3 * s, s / 4, s // 3, s % 7, -s, s + time.SECOND,
               s == time.parse_duration(1e9), s == ms, s == time.SECOND, ms < s, s <= ms, s < 2e9,
               1 < s, "took " .. s, s .. "!"
    """) == (SECOND + 10**6, 10**6 - SECOND, 2 * SECOND, 3 * SECOND, 2.5e8, SECOND // 3, SECOND % 7,
             -SECOND, 2 * SECOND, True, False, False, True, False, True, True, "took 1s", "1s!")


@pytest.mark.parametrize("expression", [
    "d + {}", "{} - d", "d < 'x'", "d * true", "d .. {}",
    "d + setmetatable({}, { __add = function() return 1 end, __index = function() error('x') end })",
])
def test_duration_arithmetic_with_other_values_raises(lua, expression):
    ok, err = lua.run(f"local d = time.parse_duration('1s'); return pcall(function() return {expression} end)")
    assert ok is False
    assert lua.eval("(...):kind()", err) == "Invalid"


def test_durations_are_read_only_and_their_methods_check_self(lua):
    assert lua.run("""
        local d = time.parse_duration("1s")
        local wrote = pcall(function() d.x = 1 end)
        local hours = d.hours
        local v, err = hours({})
        return wrote, getmetatable(d), v, err:kind(), d:seconds()
    """) == (False, False, None, "Invalid", 1.0)


# -- making times ----------------------------------------------------------------------------


def go_offset(offset: int, colon: str, *, seconds: bool = False) -> str:
    """An offset as Go writes it for -07:00 (colon ":") or -0700 (colon "")."""
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    text = f"{sign}{offset // 3600:02d}{colon}{offset % 3600 // 60:02d}"
    return text + f"{colon}{offset % 60:02d}" if seconds else text


def python_rfc3339(dt: datetime.datetime) -> str:
    offset = dt.utcoffset()
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def test_documented_constructors(lua):
    assert lua.run("""
        local t = time.date(2024, time.DECEMBER, 25, 10, 30, 0, 0, time.utc)
        local u = time.unix(1703862245, 0)
        local js_timestamp = 1703862245000
        local js = time.unix(js_timestamp // 1000, (js_timestamp % 1000) * 1000000)
        local half = time.unix(1703862245, 500000000)
        return t:format_rfc3339(), u:utc():format_rfc3339(), u:location():string(), js:equal(u),
               half:sub(u):milliseconds()
    """) == ("2024-12-25T10:30:00Z", "2023-12-29T15:04:05Z", "Local", True, 500)


@given(st.integers(1, 9999), st.integers(-30, 30), st.integers(-400, 400), st.integers(-50, 50),
       st.integers(-200, 200), st.integers(-5000, 5000), st.integers(-3 * 10**9, 3 * 10**9))
@settings(max_examples=300)
def test_date_normalises_out_of_range_values_as_go(lua, year, month, day, hour, minute, second, nsec):
    # Go: months carry into years, then everything else is added as time.
    y, m = year + (month - 1) // 12, (month - 1) % 12 + 1
    assume(1 <= y <= 9999)
    first = (datetime.datetime(y, m, 1, tzinfo=UTC) - EPOCH) // datetime.timedelta(seconds=1)
    total_ns = (first + (day - 1) * 86400 + hour * 3600 + minute * 60 + second) * SECOND + nsec
    got = lua.run("""
        local t = time.date(...)
        return t:unix(), t:nanosecond()
    """, year, month, day, hour, minute, second, nsec, lua.eval("time.utc"))
    assert got == divmod(total_ns, SECOND)


@given(st.integers(-(2**40), 2**40), st.integers(0, SECOND - 1))
def test_calendar_fields_match_python(lua, sec, nsec):
    got = lua.run("""
        local t = time.unix(...):utc()
        local y, mo, d = t:date()
        local h, mi, s = t:clock()
        return { y, mo, d, h, mi, s, t:nanosecond(), t:weekday(), t:year_day(), t:year(), t:month(), t:day(),
                 t:hour(), t:minute(), t:second(), t:unix() }
    """, sec, nsec)
    got = list(got.values())
    days, rest = divmod(sec, 86400)
    # Python's proleptic calendar covers years 1..9999; beyond, shift by 400-year cycles.
    cycles, days_in_cycle = divmod(days + 719162, 146097)  # days since 0001-01-01
    date = datetime.date.fromordinal(days_in_cycle + 1)
    year = date.year + 400 * cycles
    expected = [year, date.month, date.day, rest // 3600, rest % 3600 // 60, rest % 60, nsec,
                (date.weekday() + 1) % 7, date.timetuple().tm_yday, year, date.month, date.day,
                rest // 3600, rest % 3600 // 60, rest % 60, sec]
    assert got == expected


@given(st.integers(-(2**35), 2**35), st.sampled_from(ZONES))
@settings(max_examples=200)
def test_zone_conversion_matches_zoneinfo(lua, sec, name):
    zone = zoneinfo.ZoneInfo(name)
    if not -62135596800 + 2 * 86400 < sec < 253402300799 - 2 * 86400:
        return
    expected = datetime.datetime.fromtimestamp(sec, zone)
    got = lua.run("""
        local loc = time.load_location(select(2, ...))
        local t = time.unix(..., 0):in_location(loc)
        return t:format("2006-01-02 15:04:05 -07:00:00 MST"), t:location():string()
    """, sec, name)
    offset = expected.utcoffset() // datetime.timedelta(seconds=1)
    assert got == (f"{expected.year:04d}-" + expected.strftime("%m-%d %H:%M:%S ")
                   + go_offset(offset, ":", seconds=True) + " " + expected.tzname(), name)


@given(st.integers(1900, 2100), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
       st.sampled_from(ZONES))
@settings(max_examples=200)
def test_date_in_a_zone_matches_zoneinfo_away_from_changes(lua, year, month, day, hour, minute, name):
    zone = zoneinfo.ZoneInfo(name)
    wall = datetime.datetime(year, month, day, hour, minute, tzinfo=zone)
    earlier, later = wall.replace(fold=0), wall.replace(fold=1)
    if earlier.utcoffset() != later.utcoffset():
        return  # a reading a change repeats or skips: see the named cases below
    sec = int(wall.timestamp())
    got = lua.run("""
        local y, mo, d, h, mi, name = ...
        return time.date(y, mo, d, h, mi, 0, 0, time.load_location(name)):unix()
    """, year, month, day, hour, minute, name)
    assert got == sec


@pytest.mark.parametrize("name, wall, expected", [
    # skipped readings: Go applies the offset after the change and lands before it
    ("America/New_York", (2024, 3, 10, 2, 30), "2024-03-10T01:30:00-05:00"),
    ("Europe/London", (2024, 3, 31, 1, 30), "2024-03-31T02:30:00+01:00"),
    # repeated readings: the zone in effect at the reading taken as UTC decides
    ("America/New_York", (2024, 11, 3, 1, 30), "2024-11-03T01:30:00-04:00"),
    ("Europe/Berlin", (2024, 10, 27, 2, 30), "2024-10-27T02:30:00+01:00"),
])
def test_date_on_a_clock_change_resolves_as_go(lua, name, wall, expected):
    assert lua.run("""
        local y, mo, d, h, mi, name = ...
        return time.date(y, mo, d, h, mi, 0, 0, time.load_location(name)):format_rfc3339()
    """, *wall, name) == expected


def test_fixed_zones(lua):
    assert lua.run("""
        local ist = time.fixed_zone("IST", 5*3600 + 30*60)
        local pst = time.fixed_zone("PST", -8*3600)
        local t = time.date(2024, 1, 15, 12, 0, 0, 0, ist)
        return t:format_rfc3339(), t:utc():format_rfc3339(), t:in_location(pst):format(time.RFC1123Z),
               t:format(time.RFC822), ist:string(), tostring(time.fixed_zone("", 3600) ~= nil),
               time.date(2024, 1, 15, 12, 0, 0, 0, time.fixed_zone("", -5400)):format("MST Z07:00")
    """) == ("2024-01-15T12:00:00+05:30", "2024-01-15T06:30:00Z", "Sun, 14 Jan 2024 22:30:00 -0800",
             "15 Jan 24 12:00 IST", "IST", "true", "-0130 -01:30")


def test_load_location(lua):
    assert lua.run("""
        local ny, err = time.load_location("America/New_York")
        local again = time.load_location("America/New_York")
        return ny:string(), err, rawequal(ny, again), rawequal(time.load_location("UTC"), time.utc),
               rawequal(time.load_location("Local"), time.localtz), time.utc:string(), time.localtz:string()
    """) == ("America/New_York", None, True, True, True, "UTC", "Local")


@pytest.mark.parametrize("expression, kind, fragment", [
    ("''", "Invalid", "name is empty"),
    ("nil", "Invalid", "name must be a string, got nil"),
    ("{}", "Invalid", "got table"),
    ("'Unknown/Zone'", "NotFound", 'unknown time zone "Unknown/Zone"'),
    ("'America'", "NotFound", "unknown time zone"),
    ("'../../etc/passwd'", "NotFound", "unknown time zone"),
    ("'/etc/localtime'", "NotFound", "unknown time zone"),
    ("'America/New_York\\0'", "NotFound", "unknown time zone"),
    ("string.rep('a', 1 << 20)", "NotFound", "unknown time zone"),
])
def test_load_location_rejects(lua, expression, kind, fragment):
    got_kind, message = lua.failure(f"time.load_location({expression})")
    assert got_kind == kind and fragment in message


# -- formatting ------------------------------------------------------------------------------


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@given(st.integers(-62135596800 + 86400, 253402300799 - 86400), st.integers(0, SECOND - 1),
       st.sampled_from(["UTC", *ZONES]))
@settings(max_examples=300)
def test_format_layout_matches_python(lua, sec, fraction, name):
    t = datetime.datetime.fromtimestamp(sec, zoneinfo.ZoneInfo(name))
    hour12 = t.hour % 12 or 12
    nine = f"{fraction:09d}"
    layout = ("2006 06 January Jan 01 1 Monday Mon 02 _2 2 002 __2 15 03 3 04 4 05 5 PM pm "
              "MST Z07:00 -07:00 -0700 .000 ,000000 .999999999 .9")
    offset = t.utcoffset() // datetime.timedelta(seconds=1)
    expected = " ".join([
        f"{t.year:04d}", f"{t.year % 100:02d}", MONTHS[t.month - 1], MONTHS[t.month - 1][:3],
        f"{t.month:02d}", str(t.month), WEEKDAYS[t.weekday()], WEEKDAYS[t.weekday()][:3],
        f"{t.day:02d}", f"{t.day:2d}", str(t.day), f"{t.timetuple().tm_yday:03d}",
        f"{t.timetuple().tm_yday:3d}", f"{t.hour:02d}", f"{hour12:02d}", str(hour12),
        f"{t.minute:02d}", str(t.minute), f"{t.second:02d}", str(t.second),
        "PM" if t.hour >= 12 else "AM", "pm" if t.hour >= 12 else "am",
        t.tzname(), "Z" if offset == 0 else go_offset(offset, ":"), go_offset(offset, ":"),
        go_offset(offset, ""), "." + nine[:3], "," + nine[:6],
    ])
    trimmed9 = nine.rstrip("0")
    trimmed1 = nine[:1].rstrip("0")
    expected += (" ." + trimmed9 if trimmed9 else " ") + (" ." + trimmed1 if trimmed1 else " ")
    got = lua.run("""
        local sec, fraction, name, layout = ...
        return time.unix(sec, fraction):in_location(time.load_location(name)):format(layout)
    """, sec, fraction, name, layout)
    assert got == expected


REFERENCE = (1257894245, 12_000)  # Go's playground time, 2009-11-10 23:04:05.000012 UTC


@pytest.mark.parametrize("layout, text", [
    ("2006-01-02T15:04:05Z07:00", "2009-11-10T23:04:05Z"),
    ("Mon, 02 Jan 2006 15:04:05 MST", "Tue, 10 Nov 2009 23:04:05 UTC"),
    ("3:04PM", "11:04PM"),
    ("Month Janet Monsoon", "Month Janet Monsoon"),  # lowercase after Jan/Mon: literal text
    ("_2006", "_2009"),
    ("05.000000 05.999 05,9", "05.000012 05 05"),
    ("05.0009", "05.0009"),  # a run of zeros followed by a digit is not a fraction
    (".0000000000000", ".000012000"),  # at most nine digits
    ("day 002 of 2006", "day 314 of 2009"),
    ("Z0700 Z07 -07 -070000 -07:00:00 Z070000 Z07:00:00", "Z Z +00 +000000 +00:00:00 Z Z"),
    ("héllo 15h", "héllo 23h"),
    ("", ""),
])
def test_format_layout_examples(lua, layout, text):
    assert lua.eval("time.unix(...):utc():format(select(3, ...))", *REFERENCE, layout) == text


@pytest.mark.parametrize("name, text", [
    ("RFC3339", "2009-11-10T23:04:05Z"),
    ("RFC3339NANO", "2009-11-10T23:04:05.000012Z"),
    ("RFC822", "10 Nov 09 23:04 UTC"),
    ("RFC822Z", "10 Nov 09 23:04 +0000"),
    ("RFC850", "Tuesday, 10-Nov-09 23:04:05 UTC"),
    ("RFC1123", "Tue, 10 Nov 2009 23:04:05 UTC"),
    ("RFC1123Z", "Tue, 10 Nov 2009 23:04:05 +0000"),
    ("DATE_TIME", "2009-11-10 23:04:05"),
    ("DATE_ONLY", "2009-11-10"),
    ("TIME_ONLY", "23:04:05"),
    ("KITCHEN", "11:04PM"),
    ("STAMP", "Nov 10 23:04:05"),
    ("STAMP_MILLI", "Nov 10 23:04:05.000"),
    ("STAMP_MICRO", "Nov 10 23:04:05.000012"),
    ("STAMP_NANO", "Nov 10 23:04:05.000012000"),
])
def test_layout_constants(lua, name, text):
    assert lua.eval(f"time.unix(...):utc():format(time.{name})", *REFERENCE) == text


def test_month_and_weekday_constants(lua):
    months = lua.eval("{ time.JANUARY, time.FEBRUARY, time.MARCH, time.APRIL, time.MAY, time.JUNE, time.JULY, "
                      "time.AUGUST, time.SEPTEMBER, time.OCTOBER, time.NOVEMBER, time.DECEMBER }")
    weekdays = lua.eval("{ time.SUNDAY, time.MONDAY, time.TUESDAY, time.WEDNESDAY, time.THURSDAY, time.FRIDAY, "
                        "time.SATURDAY }")
    assert list(months.values()) == list(range(1, 13))
    assert list(weekdays.values()) == list(range(7))


def test_tostring_of_a_time_is_gos_string(lua):
    assert lua.run("""
        local ny = time.load_location("America/New_York")
        return tostring(time.unix(1257894245, 12000):utc()), tostring(time.unix(1257894245, 0):in_location(ny)),
               tostring(time.date(-5, 1, 1, 0, 0, 0, 0, time.utc)), tostring(time.date(12345, 1, 1, 0, 0, 0, 0, time.utc))
    """) == ("2009-11-10 23:04:05.000012 +0000 UTC", "2009-11-10 18:04:05 -0500 EST",
             "-0005-01-01 00:00:00 +0000 UTC", "12345-01-01 00:00:00 +0000 UTC")


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout, value, rfc3339, zone", [
    ("RFC3339", "2024-12-29T15:04:05Z", "2024-12-29T15:04:05Z", "UTC"),
    ("RFC3339", "2010-02-04T21:00:57-08:00", "2010-02-04T21:00:57-08:00", ""),
    ("RFC3339NANO", "2010-02-04T21:00:57.012345678+05:30", "2010-02-04T21:00:57+05:30", ""),
    ("RFC1123", "Thu, 04 Feb 2010 21:00:57 PST", "2010-02-04T21:00:57Z", "PST"),  # unknown here: offset 0
    ("RFC1123Z", "Thu, 04 Feb 2010 21:00:57 -0800", "2010-02-04T21:00:57-08:00", ""),
    ("RFC850", "Thursday, 04-Feb-10 21:00:57 UTC", "2010-02-04T21:00:57Z", "UTC"),
    ("RFC822", "04 Feb 10 21:00 GMT+3", "2010-02-04T21:00:00+03:00", "GMT+3"),
    ("'2006-01-02'", "2024-12-29", "2024-12-29T00:00:00Z", "UTC"),
    ("'15:04:05'", "14:30:00", "0000-01-01T14:30:00Z", "UTC"),
    ("KITCHEN", "9:05am", None, None),  # "am" does not match "PM": an error
    ("KITCHEN", "9:05AM", "0000-01-01T09:05:00Z", "UTC"),
    ("KITCHEN", "12:05AM", "0000-01-01T00:05:00Z", "UTC"),
    ("KITCHEN", "12:05PM", "0000-01-01T12:05:00Z", "UTC"),
    ("'2006-01-02 15:04:05'", "2010-02-04 21:00:57.0123", "2010-02-04T21:00:57Z", "UTC"),
    ("STAMP", "Feb  4 21:00:57", "0000-02-04T21:00:57Z", "UTC"),
    ("'Jan _2 2006'", "feb 4 2010", "2010-02-04T00:00:00Z", "UTC"),  # names in any case
    ("'2006 002'", "2024 060", "2024-02-29T00:00:00Z", "UTC"),
    ("'2006 __2'", "2023  60", "2023-03-01T00:00:00Z", "UTC"),
    ("'02/01/06'", "31/12/68", "2068-12-31T00:00:00Z", "UTC"),
    ("'02/01/06'", "01/01/69", "1969-01-01T00:00:00Z", "UTC"),
    ("'2006-01-02  15:04'", "2024-01-02 15:04", "2024-01-02T15:04:00Z", "UTC"),  # runs of spaces match
    ("'Z07'", "+05", "0000-01-01T00:00:00+05:00", ""),
    ("'-070000'", "-013015", "0000-01-01T00:00:00-01:30", ""),
])
def test_parse(lua, layout, value, rfc3339, zone):
    got = lua.run(f"""
        local t, err = time.parse({layout if layout.startswith("'") else "time." + layout}, ...)
        if not t then return nil, err:kind() end
        return t:format_rfc3339(), t:location():string()
    """, value)
    if rfc3339 is None:
        assert got == (None, "Invalid")
    else:
        assert got == (rfc3339, zone)


def test_parse_keeps_fractions(lua):
    assert lua.run("""
        local t = time.parse(time.RFC3339NANO, "2010-02-04T21:00:57.012345678+05:30")
        local u = time.parse(time.RFC3339, "2010-02-04T21:00:57.5Z")
        local v = time.parse(time.STAMP_MILLI, "Feb  4 21:00:57.123")
        return t:nanosecond(), u:nanosecond(), v:nanosecond()
    """) == (12345678, 500000000, 123000000)


@pytest.mark.parametrize("layout, value, message", [
    ("RFC3339", "invalid", 'parsing time "invalid" as "2006-01-02T15:04:05Z07:00": cannot parse "invalid" as "2006"'),
    ("'2006-01-02'", "2024-13-01", 'parsing time "2024-13-01": month out of range'),
    ("'2006-01-02'", "2023-02-29", 'parsing time "2023-02-29": day out of range'),
    ("'2006-01-02'", "2024-01-02 junk", 'parsing time "2024-01-02 junk": extra text: " junk"'),
    ("'15:04'", "25:00", 'parsing time "25:00": hour out of range'),
    ("'15:04:05'", "10:61:00", 'parsing time "10:61:00": minute out of range'),
    ("'2006-01-02'", "2024/01/02", 'cannot parse "/01/02" as "-"'),
    ("'2006 002'", "2023 366", 'parsing time "2023 366": day-of-year out of range'),
    ("'2006-01 002'", "2024-02 100", "day-of-year does not match month"),
    ("'Mon 2006'", "Xyz 2006", 'cannot parse "Xyz 2006" as "Mon"'),
    ("'-07:00'", "+25:00", "time zone offset hour out of range"),
    ("'.000'", ".12", 'cannot parse ".12" as ".000"'),
    ("'2006'", "x" * 5000, "value is longer than 4096 bytes"),
])
def test_parse_failures(lua, layout, value, message):
    expression = layout if layout.startswith("'") else "time." + layout
    kind, got = lua.failure(f"time.parse({expression}, ...)", value)
    assert kind == "Invalid" and message in got, got


def test_parse_in_a_location(lua):
    assert lua.run("""
        local ny = time.load_location("America/New_York")
        local a = time.parse("2006-01-02 15:04", "2024-12-29 14:30", ny)
        local b = time.parse("2006-01-02 15:04 MST", "2024-07-04 09:00 EDT", ny)
        local c = time.parse("2006-01-02 15:04 MST", "2024-07-04 09:00 EST", ny)  -- EST is New York's too
        local d = time.parse(time.RFC3339, "2024-07-04T09:00:00-04:00", ny)
        local e = time.parse(time.RFC3339, "2024-07-04T09:00:00-07:00", ny)
        return a:format_rfc3339(), a:location():string(), b:format_rfc3339(), c:utc():format_rfc3339(),
               d:location():string(), e:location():string(), e:format("MST")
    """) == ("2024-12-29T14:30:00-05:00", "America/New_York", "2024-07-04T09:00:00-04:00",
             "2024-07-04T14:00:00Z", "America/New_York", "", "-0700")


@given(st.integers(-62135596800 + 86400, 253402300799 - 86400), st.integers(0, SECOND - 1),
       st.sampled_from(["RFC3339NANO", "RFC1123Z", "'2006-01-02 15:04:05.000000000 Z07:00:00'"]))
def test_format_then_parse_round_trips(lua, sec, nsec, layout):
    expression = layout if layout.startswith("'") else "time." + layout
    same, formatted = lua.run(f"""
        local t = time.unix(...):in_location(time.fixed_zone("", 19800))
        local text = t:format({expression})
        local back = time.parse({expression}, text)
        local precise = {expression} ~= time.RFC1123Z
        return back:equal(precise and t or time.unix(t:unix(), 0)), text
    """, sec, nsec)
    assert same is True, formatted


# -- arithmetic, comparison, rounding --------------------------------------------------------


def test_documented_arithmetic_and_comparisons(lua):
    assert lua.run("""
        local t = time.date(2024, 1, 31, 12, 0, 0, 0, time.utc)
        local tomorrow = t:add("24h")
        local later = t:add(5 * time.MINUTE)
        local d = time.parse_duration("1h30m")
        local future = t:add(d)
        local diff = tomorrow:sub(t)
        local t1 = time.date(2024, 1, 1, 0, 0, 0, 0, time.utc)
        local t2 = time.date(2024, 1, 2, 0, 0, 0, 0, time.utc)
        return later:format(time.TIME_ONLY), future:format(time.TIME_ONLY), diff:hours(),
               t:add_date(0, 1, 0):format(time.DATE_ONLY), t:add_date(1, 0, 0):format(time.DATE_ONLY),
               t:add_date(0, 0, -7):format(time.DATE_ONLY), t1:before(t2), t2:after(t1), t1:equal(t1),
               t1 < t2, t2 <= t1, t1 == time.unix(t1:unix(), 0)
    """) == ("12:05:00", "13:30:00", 24.0, "2024-03-02", "2025-01-31", "2024-01-24", True, True, True,
             True, False, True)


@given(st.integers(-(2**61), 2**61), st.integers(0, SECOND - 1), st.integers(-(2**61), 2**61),
       st.integers(0, SECOND - 1))
def test_sub_saturates_and_compares(lua, a_sec, a_ns, b_sec, b_ns):
    d, before, after, equal = lua.run("""
        local a, b = time.unix(select(1, ...), select(2, ...)), time.unix(select(3, ...), select(4, ...))
        return a:sub(b):nanoseconds(), a:before(b), a:after(b), a:equal(b)
    """, a_sec, a_ns, b_sec, b_ns)
    a, b = a_sec * SECOND + a_ns, b_sec * SECOND + b_ns
    assert d == max(INT64_MIN, min(INT64_MAX, a - b))
    assert (before, after, equal) == (a < b, a > b, a == b)


@given(st.integers(-(2**40), 2**40), st.integers(0, SECOND - 1), st.integers(INT64_MIN, INT64_MAX))
def test_add(lua, sec, nsec, delta):
    got = lua.run("""
        local t = time.unix(select(1, ...), select(2, ...))
        local later = t:add(select(3, ...))
        return later:unix(), later:nanosecond(), later:sub(t):nanoseconds()
    """, sec, nsec, delta)
    total = sec * SECOND + nsec + delta
    assert got == (total // SECOND, total % SECOND, delta)


def test_unix_and_unix_nano(lua):
    assert lua.run("""
        local t = time.unix(1703862245, 500000000)
        local far = time.date(2300, 1, 1, 0, 0, 0, 0, time.utc)
        local nano, err = far:unix_nano()
        return t:unix(), t:unix_nano(), time.unix(-1, 0):unix_nano(), far:unix(), nano, err:kind()
    """) == (1703862245, 1703862245500000000, -SECOND, 10413792000, None, "Invalid")


ZERO_UNIX = -62135596800  # 0001-01-01, Go's zero time, whence Round and Truncate count


@given(st.integers(-(2**50), 2**50), st.integers(0, SECOND - 1), st.integers(1, INT64_MAX))
def test_round_and_truncate_count_from_the_zero_time(lua, sec, nsec, d):
    rounded, truncated_ = lua.run("""
        local t, d = time.unix(select(1, ...), select(2, ...)), time.parse_duration(select(3, ...))
        local r, tr = t:round(d), t:truncate(d)
        return { r:unix(), r:nanosecond() }, { tr:unix(), tr:nanosecond() }
    """, sec, nsec, d)
    since_zero = (sec - ZERO_UNIX) * SECOND + nsec
    r = since_zero % d
    down = since_zero - r
    up = down + d if r + r >= d else down
    assert list(truncated_.values()) == list(divmod(down + ZERO_UNIX * SECOND, SECOND))
    assert list(rounded.values()) == list(divmod(up + ZERO_UNIX * SECOND, SECOND))


def test_documented_rounding(lua):
    assert lua.run("""
        local t = time.date(2024, 12, 29, 15, 34, 5, 0, time.utc)
        local hour_duration = time.parse_duration("1h")
        local minute_duration = time.parse_duration("15m")
        local r, bad = t:round(time.HOUR)
        return t:round(hour_duration):format(time.TIME_ONLY), t:truncate(minute_duration):format(time.TIME_ONLY),
               t:round(time.parse_duration(0)):equal(t), r, bad:kind()
    """) == ("16:00:00", "15:30:00", True, None, "Invalid")


def test_is_zero(lua):
    assert lua.run("""
        return time.date(1, 1, 1, 0, 0, 0, 0, time.utc):is_zero(),
               time.date(1, 1, 1, 0, 0, 0, 0, time.fixed_zone("X", 3600)):is_zero(),
               time.unix(0, 0):is_zero(), time.parse("2006", "0001"):is_zero()
    """) == (True, False, False, True)


def test_timezone_conversions(lua):
    assert lua.run("""
        local ny = time.load_location("America/New_York")
        local tokyo = time.load_location("Asia/Tokyo")
        local t = time.unix(1703862245, 0):utc()
        return t:format(time.TIME_ONLY), t:in_location(ny):format(time.TIME_ONLY),
               t:in_location(tokyo):format(time.TIME_ONLY), t:in_location(tokyo):location():string(),
               t:in_location(ny):utc():location():string(), t:in_local():location():string(),
               t:in_location(tokyo):equal(t)
    """) == ("15:04:05", "10:04:05", "00:04:05", "Asia/Tokyo", "UTC", "Local", True)


# -- hostile and out-of-range arguments ------------------------------------------------------


HOSTILE = ("setmetatable({}, { __index = function() error('boom') end, __eq = function() error('boom') end, "
           "__lt = function() while true do end end, __tostring = function() error('boom') end, "
           "__len = function() error('boom') end, __call = function() error('boom') end })")


@pytest.mark.parametrize("expression, fragment", [
    ("time.date(1e18, 1, 1, 0, 0, 0, 0, time.utc)", "time.date: year is out of range"),
    ("time.date(2024, 0/0, 1, 0, 0, 0, 0)", "time.date: month must be a whole number"),
    ("time.date(2024, 1, 1.5, 0, 0, 0, 0)", "time.date: day must be a whole number, got 1.5"),
    ("time.date(2024, 1, 1, math.huge, 0, 0, 0)", "time.date: hour must be a whole number"),
    ("time.date(2024, 1, 1, 0, '5', 0, 0)", "time.date: minute must be a number, got string"),
    ("time.date(2024, 1, 1, 0, 0, nil, 0)", "time.date: second must be a number, got nil"),
    ("time.date(2024, 1, 1, 0, 0, 0, HOSTILE)", "time.date: nanosecond must be a number, got table"),
    ("time.date(2024, 1, 1, 0, 0, 0, 0, HOSTILE)", "time.date: location must be a Location, got table"),
    ("time.date(2024, 1, 1, 0, 0, 0, 0, 'UTC')", "time.date: location must be a Location, got string"),
    ("time.date(9007199254740992, 1, 1, 0, 0, 0, 0, time.utc)", "out of the range of Time"),
    ("time.date(2024, 9007199254740992, 9007199254740992, 0, 0, 0, 0, time.utc)", "out of the range of Time"),
    ("time.unix(HOSTILE, 0)", "time.unix: sec must be a number, got table"),
    ("time.unix(0, 0/0)", "time.unix: nsec must be a whole number"),
    ("time.unix(math.maxinteger, 0)", "time.unix: sec is out of range"),
    ("time.parse(HOSTILE, '2024')", "time.parse: layout must be a string, got table"),
    ("time.parse('2006', HOSTILE)", "time.parse: value must be a string, got table"),
    ("time.parse('2006', '2024', HOSTILE)", "time.parse: location must be a Location, got table"),
    ("time.parse(string.rep('2006', 1 << 18), '2024')", "time.parse: layout is longer than 4096 bytes"),
    ("time.fixed_zone(HOSTILE, 0)", "time.fixed_zone: name must be a string, got table"),
    ("time.fixed_zone('X', 1e12)", "time.fixed_zone: offset is out of range"),
    ("time.fixed_zone('X', 0.5)", "time.fixed_zone: offset must be a whole number"),
    ("time.parse_duration(HOSTILE)", "time.parse_duration: duration must be"),
    ("T:add(HOSTILE)", "Time:add: duration must be"),
    ("time.unix((1 << 62) - 1, 0):add(time.SECOND)", "Time:add: the result is out of the range of Time"),
    ("time.unix(1 - (1 << 62), 0):add(-1)", "Time:add: the result is out of the range of Time"),
    ("T:add_date(1e15, 0, 0)", "Time:add_date: the result is out of the range of Time"),
    ("T:add_date(1e18, 0, 0)", "Time:add_date: years is out of range"),
    ("T:add_date(0, HOSTILE, 0)", "Time:add_date: months must be a number, got table"),
    ("T:add_date(0, 0, 0/0)", "Time:add_date: days must be a whole number"),
    ("T:sub(HOSTILE)", "Time:sub: time must be a Time, got table"),
    ("T:before(5)", "Time:before: time must be a Time, got number"),
    ("T:after(nil)", "Time:after: time must be a Time, got nil"),
    ("T:equal(HOSTILE)", "Time:equal: time must be a Time, got table"),
    ("T:format(HOSTILE)", "Time:format: layout must be a string, got table"),
    ("T:format(string.rep('x', 1 << 20))", "Time:format: layout is longer than 4096 bytes"),
    ("T:in_location(HOSTILE)", "Time:in_location: location must be a Location, got table"),
    ("T:round(HOSTILE)", "Time:round: duration must be a Duration (see time.parse_duration), got table"),
    ("T:round(time.HOUR)", "Time:round: duration must be a Duration (see time.parse_duration), got number"),
    ("T:truncate('1h')", "Time:truncate: duration must be a Duration (see time.parse_duration), got string"),
    ("T.year(HOSTILE)", "Time:year: called on a table, not a Time"),
    ("T.format(5, '2006')", "Time:format: called on a number, not a Time"),
    ("time.utc.string(HOSTILE)", "Location:string: called on a table, not a Location"),
])
def test_bad_arguments_return_invalid(lua, expression, fragment):
    kind, message = lua.failure(f"(function() local HOSTILE, T = {HOSTILE}, time.unix(0, 0); "
                                f"return {expression} end)()")
    assert kind == "Invalid" and fragment in message, message


def test_time_values_are_read_only(lua):
    assert lua.run(f"""
        local t = time.unix(0, 0)
        local wrote = pcall(function() t.x = 1 end)
        local compared = pcall(function() return t < {HOSTILE} end)
        return wrote, compared, getmetatable(t), getmetatable(time.utc), (pcall(function() time.utc.string = 1 end))
    """) == (False, False, False, False, False)


def test_a_megabyte_layout_of_tokens_is_refused_quickly(lua):
    kind, _ = lua.failure("time.unix(0, 0):format(string.rep('2006-01-02 ', 100000))")
    assert kind == "Invalid"
    # the longest accepted layout, all tokens, formats
    assert lua.eval("#time.unix(0, 0):utc():format(string.rep('Jan', 1365))") == 3 * 1365
