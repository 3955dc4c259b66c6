"""Standard Lua libraries page: the globals, ``table``, ``string``, ``math``,
``coroutine`` (with ``coroutine.spawn``) and ``errors`` every process has
without ``require``, and the features kept out for security.
"""

from __future__ import annotations

import math

import pytest

from actors import ActorError

# -- global functions ------------------------------------------------------------------


async def test_type_and_conversion(lua, autojump_clock):
    out = await lua.run("""
        local mt = { __tostring = function() return "custom" end }
        return {
            types = { type(nil), type(1), type("s"), type(true), type({}), type(print), type(coroutine.create(function() end)) },
            tonumber = { tonumber("42"), tonumber("ff", 16), tonumber("101", 2), tonumber("z", 36), tonumber("x") == nil },
            tostring = { tostring(12), tostring(setmetatable({}, mt)) },
        }
    """, modules=())
    assert out == {
        "types": ["nil", "number", "string", "boolean", "table", "function", "thread"],
        "tonumber": [42, 255, 5, 35, True],
        "tostring": ["12", "custom"],
    }


async def test_assertions_and_errors(lua, autojump_clock):
    out = await lua.run("""
        local a = assert(7, "unused")
        local ok1, e1 = pcall(assert, false, "it was false")
        local ok2, e2 = pcall(assert, nil)
        local function level2() error("at the caller", 2) end
        local ok3, e3 = pcall(function() level2() end)
        local ok4, r4 = pcall(function(x) return x * 2 end, 21)
        local ok5, r5 = xpcall(function() error("boom") end, function(m) return "handled: " .. m end)
        return { a, ok1, e1, ok2, type(e2), ok3, e3:match("main.lua:%d+: at the caller") ~= nil, ok4, r4, ok5,
                 r5:match("^handled: .*boom$") ~= nil }
    """, modules=())
    assert out == [7, False, "it was false", False, "string", False, True, True, 42, False, True]


async def test_error_with_level_zero_and_a_table(lua, autojump_clock):
    out = await lua.run("""
        local ok, e = pcall(error, "bare", 0)
        local ok2, e2 = pcall(error, { code = 7 })
        return { ok, e, ok2, e2.code }
    """, modules=())
    assert out == [False, "bare", False, 7]


async def test_table_iteration(lua, autojump_clock):
    out = await lua.run("""
        local t = { 10, 20, 30, x = "y" }
        local n = 0
        for _ in pairs(t) do n = n + 1 end
        local seq = {}
        for i, v in ipairs(t) do seq[i] = v end
        local k, v = next({ only = 1 })
        return { n, seq, k, v, next({}) == nil }
    """, modules=())
    assert out == [4, [10, 20, 30], "only", 1, True]


async def test_metatables(lua, autojump_clock):
    out = await lua.run("""
        local t = {}
        local same = setmetatable(t, { __index = function(_, k) return k .. "!" end })
        local protected = setmetatable({}, { __metatable = "locked" })
        return { same == t, t.hey, getmetatable(protected), getmetatable({}) == nil }
    """, modules=())
    assert out == [True, "hey!", "locked", True]


async def test_raw_table_access(lua, autojump_clock):
    out = await lua.run("""
        local log = {}
        local t = setmetatable({}, {
            __index = function() return "default" end,
            __newindex = function(_, k) log[#log + 1] = k end,
            __eq = function() return true end,
        })
        t.a = 1                 -- goes to __newindex
        rawset(t, "b", 2)       -- does not
        local other = setmetatable({}, getmetatable(t))
        return { t.a, rawget(t, "a") == nil, rawget(t, "b"), log, t == other, rawequal(t, other), rawequal(t, t) }
    """, modules=())
    assert out == ["default", True, 2, ["a"], True, False, True]


async def test_utilities(lua, autojump_clock):
    out = await lua.run("""
        return { select(2, "a", "b", "c"), select("#", 1, nil, 3, nil), { unpack({ 1, 2, 3, 4 }, 2, 3) } }
    """, modules=())
    assert out == ["b", 4, [2, 3]]


async def test_print_uses_the_node_log(lua, autojump_clock, node_log):
    await lua.run('print("hello from", 42, true); return true', modules=())
    assert any("hello from\t42\ttrue" in text for _, text in node_log())


async def test_global_variables(lua, autojump_clock):
    out = await lua.run("""
        shared_name = "set as a global"
        return { _G.shared_name, _G._G == _G, type(_VERSION), _G.print == print }
    """, modules=())
    assert out[0] == "set as a global"
    assert out[1] is True
    assert out[2] == "string"
    assert out[3] is True


async def test_version_names_lua(lua, autojump_clock):
    assert (await lua.run("return _VERSION", modules=())).startswith("Lua 5.")


async def test_globals_are_per_process(lua, autojump_clock):
    lua.process("setter", 'leaked = "yes"; return true', modules=())
    out = await lua.run("""
        local ok = process.exec("test:setter", "test:host")
        return { ok, leaked == nil, _G.leaked == nil }
    """, modules=())
    assert out == [True, True, True]


# -- table ------------------------------------------------------------------------------


async def test_table_manipulation_example(lua, autojump_clock):
    out = await lua.run("""
        local items = {"a", "b", "c"}
        local steps = {}
        table.insert(items, "d")
        steps[1] = table.concat(items, "")
        table.insert(items, 2, "x")
        steps[2] = table.concat(items, "")
        local removed = table.remove(items, 2)
        steps[3] = table.concat(items, "")
        local csv = table.concat(items, ",")
        table.sort(items, function(a, b)
            return a > b  -- Descending order
        end)
        local last = table.remove(items)
        return { steps, removed, csv, items, last, { table.unpack({ 1, 2, 3 }, 2) }, table.concat({ 1, 2, 3, 4 }, "-", 2, 3) }
    """, modules=())
    assert out == [["abcd", "axbcd", "abcd"], "x", "a,b,c,d", ["d", "c", "b"], "a", [2, 3], "2-3"]


async def test_table_sort_default_order(lua, autojump_clock):
    assert await lua.run("local t = { 3, 1, 2 }; table.sort(t); return t", modules=()) == [1, 2, 3]


# -- string -----------------------------------------------------------------------------


async def test_string_operations_example(lua, autojump_clock):
    out = await lua.run("""
        local s = "Hello, World!"
        local start, stop = string.find(s, "World")
        local word = string.match(s, "%w+")
        local new = string.gsub(s, "World", "Wippy")
        local upper = s:upper()
        local part = s:sub(1, 5)
        return { start, stop, word, new, upper, part }
    """, modules=())
    assert out == [8, 12, "Hello", "Hello, Wippy!", "HELLO, WORLD!", "Hello"]


async def test_pattern_matching_functions(lua, autojump_clock):
    out = await lua.run("""
        local words = {}
        for w in string.gmatch("one two three", "%a+") do words[#words + 1] = w end
        local replaced, count = string.gsub("a-b-c", "-", "+")
        local limited = string.gsub("a-b-c", "-", "+", 1)
        local s, e, cap = string.find("key=value", "(%w+)=")
        return { words, replaced, count, limited, s, e, cap, string.find("a.b", ".", 1, true), string.match("x=1", "x=(%d)", 1) }
    """, modules=())
    assert out == [["one", "two", "three"], "a+b+c", 2, "a+b-c", 1, 4, "key", 2, "1"]


async def test_case_and_substrings(lua, autojump_clock):
    out = await lua.run("""
        return {
            string.upper("abc"), string.lower("ABC"), string.sub("Hello", -3), string.sub("Hello", 2, 3),
            string.len("four"), #"four", { string.byte("AB", 1, 2) }, string.char(72, 105),
            string.rep("ab", 3), string.reverse("abc"), ("x"):rep(2),
        }
    """, modules=())
    assert out == ["ABC", "abc", "llo", "el", 4, 4, [65, 66], "Hi", "ababab", "cba", "xx"]


async def test_format_specifiers(lua, autojump_clock):
    out = await lua.run("""
        return {
            string.format("%d", 42), string.format("%.2f", 3.14159), string.format("%s", "s"),
            string.format("%q", 'a "q"'), string.format("%x", 255), string.format("%o", 8),
            string.format("%e", 12345.678), string.format("%d%%", 50),
        }
    """, modules=())
    assert out == ["42", "3.14", "s", '"a \\"q\\""', "ff", "10", "1.234568e+04", "50%"]


@pytest.mark.parametrize(("pattern", "subject", "expected"), [
    (".", "xy", "x"),
    ("%a+", "12abc3", "abc"),
    ("%d+", "ab123c", "123"),
    ("%w+", "--ab1--", "ab1"),
    ("%s+", "a \t b", " \t "),
    ("%p+", "ab!?c", "!?"),
    ("%c", "a\nb", "\n"),
    ("%x+", "zz1fz", "1f"),
    ("%z", "a\0b", "\0"),
    ("[bc]+", "abcd", "bc"),
    ("[^a]+", "aabba", "bb"),
    ("a*", "aaab", "aaa"),
    ("a+", "baa", "aa"),
    ("a-b", "aaab", "aaab"),
    ("ab?c", "ac", "ac"),
    ("^h", "hh", "h"),
    ("o$", "foo", "o"),
    ("%b()", "f(a(b)c)d", "(a(b)c)"),
    ("(%d)(%d)", "x12", "1"),
    ("%A+", "ab12cd", "12"),
    ("%D+", "12ab34", "ab"),
])
async def test_patterns(lua, autojump_clock, pattern, subject, expected):
    assert await lua.run("local p, s = ...; return (string.match(s, p))", pattern, subject, modules=()) == expected


# -- math -------------------------------------------------------------------------------


async def test_math_constants(lua, autojump_clock):
    out = await lua.run("""
        return { math.pi, math.huge == 1/0, math.mininteger, math.maxinteger }
    """, modules=())
    assert out == [math.pi, True, -(2**63), 2**63 - 1]


async def test_math_functions(lua, autojump_clock):
    out = await lua.run("""
        local i, f = math.modf(3.75)
        return {
            abs = math.abs(-3), min = math.min(4, 2, 8), max = math.max(4, 2, 8),
            floor = math.floor(2.7), ceil = math.ceil(2.1), modf = { i, f }, fmod = math.fmod(7, 3),
            sqrt = math.sqrt(16), pow = math.pow(2, 10), exp = math.exp(0), log = math.log(1),
            log10 = math.log10(1000), sin = math.sin(0), cos = math.cos(0), tan = math.tan(0),
            asin = math.asin(1), acos = math.acos(1), atan = math.atan(1), atan2 = math.atan2(1, -1),
            sinh = math.sinh(1), cosh = math.cosh(1), tanh = math.tanh(1), tanh_big = math.tanh(1000),
            deg = math.deg(math.pi), rad = math.rad(180),
            tointeger = { math.tointeger(3.0), math.tointeger(3.5) == nil },
            mtype = { math.type(1), math.type(1.0), math.type("1") == nil },
            ult = { math.ult(1, -1), math.ult(-1, 1) },
        }
    """, modules=())
    approx = pytest.approx
    assert out["abs"] == 3 and out["min"] == 2 and out["max"] == 8
    assert out["floor"] == 2 and out["ceil"] == 3 and out["modf"] == [3, 0.75] and out["fmod"] == 1
    assert out["sqrt"] == 4 and out["pow"] == 1024 and out["exp"] == 1 and out["log"] == 0
    assert out["log10"] == approx(3)
    assert out["sin"] == 0 and out["cos"] == 1 and out["tan"] == 0
    assert out["asin"] == approx(math.pi / 2) and out["acos"] == 0 and out["atan"] == approx(math.pi / 4)
    assert out["atan2"] == approx(math.atan2(1, -1))
    assert out["sinh"] == approx(math.sinh(1)) and out["cosh"] == approx(math.cosh(1))
    assert out["tanh"] == approx(math.tanh(1)) and out["tanh_big"] == 1
    assert out["deg"] == approx(180) and out["rad"] == approx(math.pi)
    assert out["tointeger"] == [3, True]
    assert out["mtype"] == ["integer", "float", True]
    assert out["ult"] == [True, False]


async def test_math_random(lua, autojump_clock):
    out = await lua.run("""
        math.randomseed(42)
        local ok = true
        for _ = 1, 200 do
            local f, n, mn = math.random(), math.random(6), math.random(-2, 2)
            ok = ok and f >= 0 and f < 1 and n >= 1 and n <= 6 and mn >= -2 and mn <= 2
            ok = ok and math.type(n) == "integer"
        end
        math.randomseed(7); local a = math.random(1000000)
        math.randomseed(7); local b = math.random(1000000)
        return { ok, a == b }
    """, modules=())
    assert out == [True, True]


# -- coroutines -------------------------------------------------------------------------


async def test_coroutine_create_resume_yield_status(lua, autojump_clock):
    out = await lua.run("""
        local seen = {}
        local co
        co = coroutine.create(function(a, b)
            seen[#seen + 1] = coroutine.status(co)
            local c = coroutine.yield(a + b)
            return c * 2
        end)
        seen[#seen + 1] = coroutine.status(co)
        local ok1, r1 = coroutine.resume(co, 1, 2)
        seen[#seen + 1] = coroutine.status(co)
        local ok2, r2 = coroutine.resume(co, 10)
        seen[#seen + 1] = coroutine.status(co)
        local ok3, e3 = coroutine.resume(co)
        return { seen, ok1, r1, ok2, r2, ok3, type(e3) }
    """, modules=())
    assert out == [["suspended", "running", "suspended", "dead"], True, 3, True, 20, False, "string"]


async def test_coroutine_normal_status_and_running(lua, autojump_clock):
    out = await lua.run("""
        local outer
        local inner_saw
        outer = coroutine.create(function()
            local inner = coroutine.create(function() inner_saw = coroutine.status(outer) end)
            coroutine.resume(inner)
            local me = coroutine.running()
            return me == outer
        end)
        local _, same = coroutine.resume(outer)
        return { inner_saw, same }
    """, modules=())
    assert out == ["normal", True]


async def test_coroutine_wrap(lua, autojump_clock):
    out = await lua.run("""
        local gen = coroutine.wrap(function()
            for i = 1, 3 do coroutine.yield(i) end
        end)
        return { gen(), gen(), gen() }
    """, modules=())
    assert out == [1, 2, 3]


async def test_coroutine_spawn_runs_concurrently(lua, autojump_clock):
    # the page's example, with a bounded health check and a channel to observe it
    out = await lua.run("""
        local checks = channel.new(10)
        local function check_health() checks:send("ok") end
        -- Spawn background task
        coroutine.spawn(function()
            for _ = 1, 3 do
                check_health()
                time.sleep("30s")
            end
        end)
        -- Continue main execution immediately
        local before = checks:receive()
        local order = { "main continued", before }
        order[#order + 1] = checks:receive()
        order[#order + 1] = checks:receive()
        return order
    """, modules=("time",))
    assert out == ["main continued", "ok", "ok", "ok"]


async def test_coroutine_spawn_returns_immediately(lua, autojump_clock):
    out = await lua.run("""
        local log = {}
        coroutine.spawn(function() log[#log + 1] = "spawned" end)
        log[#log + 1] = "main"
        local ch = channel.new()
        coroutine.spawn(function() ch:send(true) end)
        ch:receive()
        return log
    """, modules=())
    assert out == ["main", "spawned"]


async def test_coroutine_spawn_needs_a_function(lua, autojump_clock):
    out = await lua.run("""
        local ok, e = pcall(coroutine.spawn, "not a function")
        return { ok, e:kind() }
    """, modules=())
    assert out == [False, "Invalid"]


# -- errors (summary on this page) -----------------------------------------------------


async def test_error_constants_and_functions(lua, autojump_clock):
    out = await lua.run("""
        local err = errors.new("something went wrong")
        local err2 = errors.new({
            message = "User not found",
            kind = errors.NOT_FOUND,
            retryable = false,
            details = {user_id = 123}
        })
        local wrapped = errors.wrap(err2, "failed to load profile")
        local stack = errors.call_stack(err2)
        return {
            kinds = { errors.UNKNOWN, errors.INVALID, errors.NOT_FOUND, errors.ALREADY_EXISTS, errors.PERMISSION_DENIED,
                      errors.TIMEOUT, errors.CANCELED, errors.UNAVAILABLE, errors.INTERNAL, errors.CONFLICT,
                      errors.RATE_LIMITED },
            first = { err:message(), err:kind(), err:retryable() == nil },
            is = errors.is(wrapped, errors.NOT_FOUND),
            methods = { wrapped:message(), wrapped:kind(), wrapped:retryable(), wrapped:details().user_id,
                        type(wrapped:stack()) },
            stack = type(stack) == "table" and type(stack.frames) == "table",
        }
    """, modules=())
    assert out["kinds"] == ["Unknown", "Invalid", "NotFound", "AlreadyExists", "PermissionDenied", "Timeout",
                            "Canceled", "Unavailable", "Internal", "Conflict", "RateLimited"]
    assert out["first"] == ["something went wrong", "Unknown", True]
    assert out["is"] is True
    assert out["methods"] == ["failed to load profile: User not found", "NotFound", False, 123, "string"]
    assert out["stack"] is True


# -- restricted features ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["load", "loadstring", "loadfile", "dofile", "collectgarbage", "io", "debug", "package"])
async def test_restricted_globals_are_absent(lua, autojump_clock, name):
    assert await lua.run("return _G[...] == nil", name, modules=()) is True


@pytest.mark.parametrize("name", ["execute", "exit", "remove", "rename", "tmpname", "getenv"])
async def test_restricted_os_functions_are_absent(lua, autojump_clock, name):
    assert await lua.run("return os[...] == nil", name, modules=()) is True


async def test_restricted_feature_cannot_be_reached_by_require(lua, autojump_clock):
    with pytest.raises(ActorError) as info:
        await lua.run('return require("io")', modules=())
    assert info.value.kind == "NotFound"


async def test_string_dump_is_absent(lua, autojump_clock):
    assert await lua.run("return string.dump == nil", modules=()) is True


async def test_standard_libraries_are_read_only(lua, autojump_clock):
    out = await lua.run("""
        local ok = pcall(function() math.pi = 3 end)
        local ok2 = pcall(function() string.upper = nil end)
        return { ok, ok2, math.pi > 3.14 }
    """, modules=())
    assert out == [False, False, True]
