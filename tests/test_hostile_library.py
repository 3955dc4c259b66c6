"""The C functions of string and table do bounded work in one call.

Each attack once held the whole node (one C call, which nothing can
interrupt); now it is refused up front with an Invalid error naming the
function and the limit, or runs where the runaway guard can stop it. Every
attack runs through the hostile harness, which also proves the node whole.
"""

import pytest
from hostile import attack, build_hostile_app

LIMIT = "over the limit"


async def test_repeating_the_empty_string_a_trillion_times_is_instant(app):
    outcome = await attack(build_hostile_app(app), 'return { #string.rep("", 1e12), #(""):rep(1e12, "") }')
    assert outcome.value == [0, 0]


@pytest.mark.parametrize("call", ['string.rep("x", 1e9)', '("ab"):rep(1e8)', 'string.rep("", 1e9, "ab")'])
async def test_a_string_over_the_size_limit_is_refused(app, call):
    outcome = await attack(build_hostile_app(app), f"return {call}")
    assert outcome.error.kind == "Invalid"
    assert outcome.error.message.startswith("string.rep: ")
    assert "over the limit of 67108864 bytes" in outcome.error.message


async def test_a_pack_format_asking_for_a_gigabyte_is_refused(app):
    outcome = await attack(build_hostile_app(app), 'return string.pack("c1000000000", "")')
    assert outcome.error.kind == "Invalid"
    assert outcome.error.message.startswith("string.pack: the format asks for up to")


@pytest.mark.parametrize("call", [
    "table.move({}, 1, 1e12, 2)",
    'table.concat(setmetatable({}, {__index = rawlen}), "", 1, 1e12)',
    'table.concat(setmetatable({}, {__len = function() return 1 << 40 end, __index = function() return "" end}))',
    "table.insert(setmetatable({}, {__len = function() return 1 << 40 end}), 1, true)",
    "table.remove(setmetatable({}, {__len = function() return 1 << 40 end}), 1)",
])
async def test_a_range_over_the_limit_is_refused(app, call):
    outcome = await attack(build_hostile_app(app), f"return {call}")
    assert outcome.error.kind == "Invalid"
    assert outcome.error.message.startswith("table.")
    assert "over the limit of 2000000 in one call" in outcome.error.message


async def test_a_length_that_changes_between_calls_is_asked_once(app):
    # C's insert and remove would ask __len again and shift a trillion elements
    outcome = await attack(build_hostile_app(app), """
        local function lying()
          local t = { asked = 0, "a", "b", "c" }
          return setmetatable(t, { __len = function()
            t.asked = t.asked + 1
            return t.asked % 2 == 1 and 3 or 1 << 40
          end })
        end
        local grown, shrunk = lying(), lying()
        table.insert(grown, 1, "z")
        local removed = table.remove(shrunk, 2)
        return { grown.asked, table.concat(grown, ",", 1, 4), shrunk.asked, removed, table.concat(shrunk, ",", 1, 2) }
    """)
    assert outcome.value == [1, "z,a,b,c", 1, "b", "a,c"]


async def test_unpack_and_char_of_a_million_values_end_quickly(app):
    outcome = await attack(build_hostile_app(app), """
        local ok, e = pcall(table.unpack, {}, 1, 1e8)
        local codes = {}
        for i = 1, 999000 do codes[i] = 65 + i % 26 end
        return { ok, e, #string.char(table.unpack(codes)), utf8.len(utf8.char(table.unpack(codes))) }
    """)
    assert outcome.value == [False, "too many results to unpack", 999000, 999000]


async def test_a_huge_format_width_is_lua_s_own_error(app):
    outcome = await attack(build_hostile_app(app), 'return string.format("%099999999d", 1)')
    assert outcome.error.message.endswith("invalid conversion specification: '%099999999d'")


@pytest.mark.parametrize("setup", [
    # a comparator in C, over a length C takes from __len: two billion elements
    "t, cmp = setmetatable({}, {__len = function() return (1 << 31) - 2 end}), getmetatable",
    # no comparator, but long strings: each comparison goes through 64 KB
    'local s = ("x"):rep(65536) t = {} for i = 1, 100000 do t[i] = s end',
])
async def test_a_sort_c_cannot_finish_in_time_is_stopped_by_the_guard(app, setup):
    outcome = await attack(build_hostile_app(app), f"local t, cmp {setup} table.sort(t, cmp)")
    assert outcome.error.kind == "RateLimited"
    assert "without yielding" in outcome.error.message


async def test_ordinary_uses_give_lua_s_results(app):
    outcome = await attack(build_hostile_app(app), """
        local sorted = { 5, 3, 9, 1 }
        table.sort(sorted)
        local by_length = { "ccc", "a", "bb" }
        table.sort(by_length, function(a, b) return #a < #b end)
        local many = {}
        for i = 1, 150000 do many[i] = 150000 - i end
        table.sort(many)  -- past the limit for C: compared through Lua
        local t = { 1, 2, 3 }
        table.insert(t, 2, 9)
        local removed = table.remove(t)
        local moved = table.move({ 1, 2, 3 }, 1, 3, 2, { 0 })
        return {
          string.rep("ab", 3, "-"), ("x"):rep(0), table.concat(sorted, " "), table.concat(by_length, ","),
          many[1], many[150000], table.concat(t, ","), removed, table.concat(moved, ","),
          (string.unpack("i4", string.pack("i4", 42))),
        }
    """)
    assert outcome.value == ["ab-ab-ab", "", "1 3 5 9", "a,bb,ccc", 0, 149999, "1,9,2", 3, "0,1,2,3", 42]
