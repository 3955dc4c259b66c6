"""Pattern matching (string.find, match, gmatch, gsub) is bounded.

A pattern whose worst case on its subject is too costly for C runs in Lua
(patterns.lua), stepping through the same algorithm under a budget: it gives
Lua's results, and a catastrophic backtrack stops with a RateLimited error
instead of holding the node. Ordinary patterns, even on large subjects, stay
in C.
"""

import re

import pytest
from conftest import LuaLibrary
from hostile import attack, build_hostile_app
from hypothesis import given, settings
from hypothesis import strategies as st

STOPPED = "matching steps on a subject of"


@pytest.mark.parametrize("call", [
    'string.find(string.rep("a", 1e5), "(.-)*b")',
    '("a"):rep(200):find(".-.-.-.-b")',
    '("a"):rep(200):match("^(.-)(.-)(.-)(.-)b")',
    'select(2, ("a"):rep(300):gsub("a-a-a-a-b", "x"))',
    '("a"):rep(300):gmatch(".-.-.-.-b")()',
    '(" "):rep(1e5):find("%s+x")',
    '("("):rep(1e5):find("%b()")',
])
async def test_a_catastrophic_pattern_stops_with_rate_limited(app, call):
    outcome = await attack(build_hostile_app(app), f"return {call}")
    assert outcome.error.kind == "RateLimited"
    assert STOPPED in outcome.error.message


async def test_a_plain_search_for_a_long_needle_stops_too(app):
    # C's search compares the needle at every position: 100 KB times 100 KB
    outcome = await attack(build_hostile_app(app),
                           'return ("a"):rep(1e5):find(("a"):rep(1e5 - 1) .. "b", 1, true)')
    assert outcome.error.kind == "RateLimited"


async def test_the_budget_is_per_call_and_can_be_caught(app):
    outcome = await attack(build_hostile_app(app), """
        local ok, e = pcall(string.find, ("a"):rep(200), ".-.-.-.-b")
        return { ok, e:kind(), ("a"):rep(200):find("a+$") }
    """)
    assert outcome.value == [False, "RateLimited", 1, 200]


async def test_a_malformed_pattern_is_reported_at_the_caller_s_line(app):
    # the subject is large enough for Lua to match it: same message, same line
    outcome = await attack(build_hostile_app(app), 'local s = ("a"):rep(1e4)\nlocal found = s:find("a-[")\nreturn found')
    assert outcome.error.kind == "Internal"
    assert re.search(r"attack\.lua:6: malformed pattern \(missing '\]'\)", outcome.error.message)


async def test_ordinary_work_on_a_large_subject_is_right(app):
    outcome = await attack(build_hostile_app(app), """
        local text = ("key = value  \\n"):rep(50000)    -- 700 KB
        local squeezed, spaces = text:gsub("%s+", " ")
        local lines = 0
        for _ in text:gmatch("[^\\n]+") do lines = lines + 1 end
        -- these two run in Lua: C's worst case on such subjects is too slow
        local trimmed = ((" "):rep(3000) .. "middle" .. (" "):rep(3000)):match("^%s*(.-)%s*$")
        local k, v = (("k"):rep(100) .. " = " .. ("v"):rep(100) .. "  "):match("^(.-)%s*=%s*(.-)%s*$")
        return { #squeezed, spaces, lines, trimmed, #k, #v, text:find("value", 1, true) }
    """)
    assert outcome.value == [50000 * 12, 150000, 50000, "middle", 100, 100, 7, 11]


@pytest.mark.parametrize("pattern", ["%s+", "[^\n]+", "%d+", "(%a+)", "%.", "^#!", "[%c\"\\]", ".*", "(%S+)%s*"])
def test_ordinary_patterns_stay_in_c_on_a_megabyte(pattern, patterns):
    assert patterns.longest_in_c(pattern) >= 1_000_000


@pytest.mark.parametrize("pattern", [".-.-.-.-b", "(.-)*b", "%s+x", "%b()", "^%s*(.-)%s*$"])
def test_backtracking_patterns_have_a_longest_subject_for_c(pattern, patterns):
    assert 0 <= patterns.longest_in_c(pattern) < 10_000


@pytest.fixture(scope="module")
def library():
    return LuaLibrary()


@pytest.fixture(scope="module")
def patterns(library):
    limits = library.load("limits")
    return library.load("patterns", errors=library.errors, limits=limits)


@pytest.fixture(scope="module")
def compare(library):
    """`compare(name, *args)`: C's string.<name> and the Lua matcher's, each as
    "ok|results..." or "error|message" (without the line), for any input."""
    limits = library.load("limits")
    limits["pattern_steps_in_c"] = 0  # every call in Lua
    lua = library.load("patterns", errors=library.errors, limits=limits)
    run = library.rt.eval("""function(c, lua, name, s, p, extra, n)
      local function show(r)
        local out = {}
        for i = 1, r.n do out[i] = tostring(r[i]) end
        return (table.concat(out, "|"):gsub("^false|[^:]*:%d+: ", "false|"))
      end
      local function each(f)
        if name ~= "gmatch" then return show(table.pack(pcall(f, s, p, extra, n))) end
        local ok, it = pcall(f, s, p, extra)
        if not ok then return show(table.pack(ok, it)) end
        local rows = {}
        for _ = 1, 40 do
          local r = table.pack(pcall(it))
          rows[#rows + 1] = show(r)
          if not r[1] or r[2] == nil then break end
        end
        return table.concat(rows, ";")
      end
      return each(c[name]), each(lua[name])
    end""")
    return lambda name, s, p, extra=None, n=None: run(library.rt.globals().string, lua, name, s, p, extra, n)


ITEMS = st.sampled_from([".", "a", "b", " ", "%a", "%s", "%d", "[ab]", "[^a]", "%b()", "%f[%w]", "(", ")", "()",
                         "%1", "$", "^", "[%a-]", "%.", "x", "[", "%"])
PATTERNS = st.lists(st.tuples(ITEMS, st.sampled_from(["", "", "*", "+", "-", "?"])), max_size=6).map(
    lambda items: "".join(a + q for a, q in items))
SUBJECTS = st.text(alphabet="ab ().1-x", max_size=14)
INITS = st.sampled_from([None, 1, 2, -1, -4, 0, 30])


@settings(max_examples=500, deadline=None)
@given(s=SUBJECTS, p=PATTERNS, init=INITS)
def test_the_lua_matcher_agrees_with_c_on_find_match_and_gmatch(compare, s, p, init):
    for name in ("find", "match", "gmatch"):
        c, lua = compare(name, s, p, init)
        assert lua == c, (name, s, p, init)
    c, lua = compare("find", s, p, init, True)
    assert lua == c, ("plain find", s, p, init)


REPLACEMENTS = {
    "function": "function(...) return select('#', ...) > 1 and ... or false end",
    "table": "{ a = 'A', b = false, [' '] = {} }",
}


@settings(max_examples=500, deadline=None)
@given(s=SUBJECTS, p=PATTERNS, repl=st.sampled_from(["<%0>", "%1", "[%2]", "x%%", "%x", 7, "function", "table"]),
       n=st.sampled_from([None, 0, 1, 2]))
def test_the_lua_matcher_agrees_with_c_on_gsub(library, compare, s, p, repl, n):
    if repl in REPLACEMENTS:
        repl = library.rt.eval(REPLACEMENTS[repl])
    c, lua = compare("gsub", s, p, repl, n)
    assert lua == c, (s, p, repl, n)
