"""Any Lua value, on every path a value takes out of a process: one rule.

Hypothesis writes Lua expressions (scalars at their edges, NaN, huge and
non-UTF-8 strings, functions, coroutines, channels, error objects, payloads,
tables nested thousands deep, cyclic or shared into exponential size, and
metatables whose metamethods raise, loop or yield); a process builds each
value and sends it every way a value leaves a process: returned, raised,
sent (here, to another host, to Python), as spawn arguments and startup
messages, a function's result or error (call and future), in EXIT to a
monitor and LINK_DOWN to a link, through a Python function, as context, as
a cancel reason and as log fields.

Every path ends at once, with the value or with an error of one of Wippy's
kinds; a value crosses every data path alike (the same plain data, or the
same refusal), an error reads the same wherever it is seen; and the node is
whole afterwards (the hostile harness). One node per batch of values: the
first batch is a catalogue of known hostile values, the next are random.
"""

from __future__ import annotations

import re

from conftest import AppBuilder
from hostile import Inbox, attack, build_hostile_app
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors.errors import KINDS

BATCH = 16

CATALOGUE = [
    "deep(2000, {})",
    "deep(99, {})",
    "deep(100, {})",
    "cyclic({ 1 })",
    "shared(30, 'leaf')",
    "{ [true] = 'yes', [1] = 'one' }",
    "{ [0/0] = 1 }",
    "0/0",
    "string.rep('\\xff', 1e6)",
    "setmetatable({}, { __index = function() while true do end end, __eq = function() return true end })",
    "setmetatable({}, setmetatable({}, { __index = function() error('boom') end }))",
    "errors.new({ message = 'm', kind = errors.INVALID, details = { f = print } })",
    "errors.new({ message = 'm', details = { deep(200, {}) } })",
    "payload.new({ coroutine.running() })",
    "{ math.mininteger, math.maxinteger, -0.0, 1/0, 5e-324, '\\0' }",
    "setmetatable({}, { __tostring = function() coroutine.yield() end, __name = {} })",
]
assert len(CATALOGUE) == BATCH

SCALARS = st.sampled_from([
    "nil", "true", "false", "0", "-1", "math.maxinteger", "math.mininteger", "0.5", "-0.0", "1/0", "-1/0", "0/0",
    "1e308", "5e-324", '""', '"text"', '"\\xff\\xfe"', '"\\0"', '"\\u{10FFFF}"', "string.rep('x', 1e6)",
])
OPAQUE = st.sampled_from([
    "print", "function() end", "coroutine.create(function() end)", "coroutine.running()", "channel.new(1)",
    "process.inbox()", "time.now()", "funcs.new()", "errors.new('plain')", "errors.wrap(errors.new('in'), 'out')",
])
KEYS = st.sampled_from([
    '"k"', '"\\xff"', "1", "2", "-1", "0", "0.5", "math.maxinteger", "true", "false", "{}", "print", "0/0",
])
HANDLERS = st.sampled_from([
    "function() error('boom') end", "function() error(setmetatable({}, { __tostring = print })) end",
    "function() while true do end end", "function() while true do pcall(error) end end",
    "function() coroutine.yield() end", "function() return {} end", "function() return true end", "print", "{}",
    "'text'",
])
METAMETHODS = st.sampled_from([
    "__index", "__newindex", "__eq", "__tostring", "__len", "__pairs", "__lt", "__le", "__concat", "__close",
    "__call", "__name", "__metatable", "__mode", "__unm",
])
LEVELS = st.sampled_from([1, 98, 99, 100, 101, 2000, 100_000])


def _containers(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    items = st.lists(inner, max_size=4)
    return st.one_of(
        items.map(lambda xs: "{ " + ", ".join(xs) + " }"),
        st.lists(st.tuples(KEYS, inner), max_size=3).map(
            lambda kvs: "{ " + ", ".join(f"[{k}] = {v}" for k, v in kvs) + " }"),
        st.tuples(items, st.lists(st.tuples(METAMETHODS, HANDLERS), min_size=1, max_size=3)).map(
            lambda t: "setmetatable({ " + ", ".join(t[0]) + " }, { " + ", ".join(f"{m} = {h}" for m, h in t[1]) + " })"),
        st.tuples(items, HANDLERS).map(
            lambda t: "setmetatable({ " + ", ".join(t[0]) + " }, setmetatable({}, { __index = " + t[1] + " }))"),
        items.map(lambda xs: "errors.new({ message = 'm', kind = errors.CONFLICT, details = { " + ", ".join(xs) + " } })"),
        inner.map(lambda x: f"payload.new({x})"),
        st.tuples(LEVELS, inner).map(lambda t: f"deep({t[0]}, {t[1]})"),
        inner.map(lambda x: f"cyclic({x})"),
        st.tuples(st.sampled_from([4, 10, 21, 64]), inner).map(lambda t: f"shared({t[0]}, {t[1]})"),
    )


RANDOM_VALUES = st.recursive(SCALARS | OPAQUE, _containers, max_leaves=8)


def _value(i: int) -> st.SearchStrategy[str]:
    """Value `i` of a batch: its simplest form is catalogue entry `i`, so the first batch is the catalogue."""
    return st.sampled_from(CATALOGUE[i:] + CATALOGUE[:i]) | RANDOM_VALUES


VALUES_LIBRARY = """
local time, funcs = require("time"), require("funcs")
local function deep(n, leaf) local t = leaf for _ = 1, n do t = { t } end return t end
local function cyclic(v) local t = { v } t.self = t return t end
local function shared(n, v) local t = { v } for _ = 1, n do t = { t, t } end return t end
local values = {
%s
}
--- Raise value `i`: from here, so that a string raised reads the same from any process.
function values.raise(i) error(values[i](), 1) end
return values
"""

# One process or function runs one value through one path: `op, i` are its arguments.
VALUE_PROCESS = """
local values = require("values")
local op, i = ...
if op == "return" then return values[i]() end
if op == "error" then values.raise(i) end
if op == "return_error" then return nil, values[i]() end
if op == "ctx" then return ctx.get("k") end
if op == "message" then return process.inbox():receive():payload():data() end
if op == "cancel" then return process.events():receive().reason end
if op == "linked" then
  process.set_options({ trap_links = true })
  process.spawn_linked("test:value", "test:host", "error", i)
  return process.events():receive().reason
end
"""

DRIVER = """
local mailbox, n = ...
local values = require("values")
local logger = require("logger")
local HOST, OTHER = "test:host", "test:other"
local bouncer = process.spawn("test:bouncer", OTHER)
local events = process.events()

-- plain data compared as it crossed: NaN equals NaN; an error's stack says where it was made
local function same(a, b)
  if a ~= a and b ~= b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return rawequal(a, b) end
  for k, v in next, a do
    if k ~= "stack" and not same(v, rawget(b, k)) then return false end
  end
  for k in next, b do
    if rawget(a, k) == nil then return false end
  end
  return true
end

local function exit_of(pid)
  while true do
    local event = events:receive()
    if event.from == pid then return event end
  end
end

local function ended(pid)
  local result = exit_of(pid).result
  if result.error then return nil, result.error end
  return result.value
end

-- the paths a value takes as data: each gives the value back as it crossed, or nil and the error
local DATA = {
  return_here = function(i) return process.exec("test:value", HOST, "return", i) end,
  return_there = function(i) return process.exec("test:value", OTHER, "return", i) end,
  call = function(i) return funcs.call("test:value_fn", "return", i) end,
  future = function(i)
    local future = funcs.async("test:value_fn", "return", i)
    local got = future:response():receive()
    if got == nil then return nil, (future:error()) end
    return got:data()
  end,
  monitor = function(i) return ended(process.spawn_monitored("test:value", HOST, "return", i)) end,
}
-- the same, for a value the driver builds itself
local SENT = {
  send_here = function(v)
    local ok, e = process.send(process.pid(), "self", v)
    if not ok then return nil, e end
    return (process.inbox():receive():payload():data())
  end,
  send_there = function(v)
    local ok, e = process.send(bouncer, "bounce", v)
    if not ok then return nil, e end
    return (process.inbox():receive():payload():data())
  end,
  spawn_here = function(v) return process.exec("test:returns", HOST, v) end,
  spawn_there = function(v) return process.exec("test:returns", OTHER, v) end,
  python = function(v) return funcs.call("py:echo", v) end,
  message = function(v)
    local spawner, e = process.with_context({}):with_message("m", v)
    if not spawner then return nil, e end
    return spawner:exec("test:value", HOST, "message")
  end,
  cancel = function(v)
    local pid = process.spawn_monitored("test:value", HOST, "cancel")
    local ok, e = process.cancel(pid, v)
    if not ok then process.terminate(pid) exit_of(pid) return nil, e end
    return ended(pid)
  end,
}
-- paths that only say whether the value went
local WENT = {
  to_python = function(v) return process.send(mailbox, "value", v) end,
  log = function(v) return logger:info("a value", v) end,
  ctx = function(v)
    local spawner, e = process.with_context({ k = v })
    if not spawner then return nil, e end
    return spawner:exec("test:value", HOST, "ctx")
  end,
  ctx_call = function(v)
    local executor, e = funcs.new():with_context({ k = v })
    if not executor then return nil, e end
    return executor:call("test:value_fn", "ctx")
  end,
}
-- the ways an error is seen: each gives its text
local FAILED = {
  raised_here = function(i) return select(2, process.exec("test:value", HOST, "error", i)) end,
  raised_there = function(i) return select(2, process.exec("test:value", OTHER, "error", i)) end,
  returned = function(i) return select(2, process.exec("test:value", HOST, "return_error", i)) end,
  call = function(i) return select(2, funcs.call("test:value_fn", "error", i)) end,
  future = function(i)
    local future = funcs.async("test:value_fn", "error", i)
    future:response():receive()
    return (future:error())
  end,
  monitor = function(i) return select(2, ended(process.spawn_monitored("test:value", HOST, "error", i))) end,
  link = function(i) return process.exec("test:value", HOST, "linked", i) end,
}

--- What a path's error says: "Kind: message" (or what the driver saw instead of an error).
local function text(e)
  if getmetatable(e) ~= "luactor.error" then return "not an error: " .. type(e) end
  return e:kind() .. ": " .. e:message()
end

-- (every path in a slice of its own: copying a large value takes a good part of a turn, and a
-- slice hands the node back to Python only when nothing is ready or after many turns)
local function run(path, arg)
  time.sleep("1ms")
  return pcall(path, arg)
end

local report = {}
for i = 1, n do
  local data, went, failed = {}, {}, {}
  local reference
  local function note(name, ok, value, e)
    if not ok then data[name] = "raised: " .. tostring(value) return end
    if e ~= nil then data[name] = text(e) return end
    if reference == nil then reference = { value } end
    data[name] = same(reference[1], value) and "ok" or "differs"
  end
  for name, path in next, DATA do note(name, run(path, i)) end
  local built, v = pcall(values[i])
  for name, path in next, SENT do
    if built then note(name, run(path, v)) else data[name] = "Internal: " .. tostring(v) end
  end
  for name, path in next, WENT do
    if built then
      local ok, value, e = run(path, v)
      went[name] = not ok and ("raised: " .. tostring(value)) or e ~= nil and text(e) or "ok"
    else
      went[name] = "Internal: " .. tostring(v)
    end
  end
  for name, path in next, FAILED do
    local ok, e = run(path, i)
    -- as a user sees it (LINK_DOWN's reason is that text), and its kind
    failed[name] = not ok and { text = "raised: " .. tostring(e) }
      or type(e) == "string" and { text = e }
      or { text = tostring(e), kind = getmetatable(e) == "luactor.error" and e:kind() or "not an error" }
  end
  report[i] = { data = data, went = went, failed = failed }
end
return report
"""

ENTRY_ID = re.compile(r"test:value(_fn)?\b")


def text(outcome: str | bytes) -> str:
    """An outcome as text (a message may hold the bytes of a string raised)."""
    return outcome.decode(errors="replace") if isinstance(outcome, bytes) else outcome


def core(outcome: str) -> str:
    """What an outcome says of the value: a refusal is one whatever it found
    first (a value may hold several things no payload can, found in an order
    that differs between copies: a table key's hash is its address)."""
    if "payload cannot hold" in outcome:
        return outcome[:outcome.index("payload cannot hold")].partition(": ")[0] + ": refused"
    return outcome


def is_error(outcome: str) -> bool:
    return outcome.partition(": ")[0] in KINDS


def check(source: str, outcome: dict) -> None:
    """The rule, for one value: see the module's docstring. (Running out of the
    host's memory may end any path first: a memory error is a clear error too.)"""
    data = {name: text(result) for name, result in outcome["data"].items()}
    went = {name: text(result) for name, result in outcome["went"].items()}
    failed = {name: {**seen, "text": text(seen["text"])} for name, seen in outcome["failed"].items()}
    cores = {core(result) for result in data.values() if not result.startswith("RateLimited")}
    assert cores <= {"ok"} or (len(cores) == 1 and is_error(cores.pop())), (source, data)
    assert all(result == "ok" or is_error(result) for result in went.values()), (source, went)
    texts = {core(ENTRY_ID.sub("ENTRY", seen["text"])) for name, seen in failed.items()
             if name != "returned" and "RateLimited" not in seen["text"]}
    assert len(texts) <= 1, (source, failed)
    returned = failed["returned"]
    assert returned["kind"] in KINDS or returned["text"] == "nil", (source, returned)  # (`return nil, nil` is no failure)
    assert all(seen["kind"] in KINDS for name, seen in failed.items() if "kind" in seen and name != "returned"), \
        (source, failed)


def _app(tmp_path_factory, sources: list[str]) -> AppBuilder:
    app = build_hostile_app(AppBuilder(tmp_path_factory.mktemp("values") / "app"))
    lines = ",\n".join(f"  function() return {source} end" for source in sources)
    app.lua("values", VALUES_LIBRARY % lines, kind="library.lua", modules=["time", "funcs"])
    imports = {"values": "test:values"}
    app.body("value", VALUE_PROCESS, modules=["ctx"], required=["ctx"], imports=imports)
    app.body("value_fn", VALUE_PROCESS, kind="function.lua", modules=["ctx"], required=["ctx"], imports=imports)
    app.body("returns", "return ...")
    app.body("driver", DRIVER, modules=["time", "funcs", "logger"], required=["time", "funcs"], imports=imports)
    app.body("bouncer", """
        while true do
          local message = process.inbox():receive()
          local data = message:payload():data()
          process.send(message:from(), "back", data)
        end
    """)
    return app


# (no shrinking: every example is a node, and a failure names the value it failed on)
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sources=st.tuples(*(_value(i) for i in range(BATCH))).map(list))
async def test_any_value_on_any_path_crosses_alike_or_fails_clearly(tmp_path_factory, sources):
    app = _app(tmp_path_factory, sources)

    async def setup(node):
        node.register_function("py:echo", lambda value=None: value)
        return (*(await inbox.setup(node)), len(sources))

    async with Inbox() as inbox:
        outcome = await attack(app, 'return process.exec("test:driver", "test:host", ...)', setup=setup, timeout=240)
        sent = inbox.received()
    assert outcome.error is None, outcome.error
    for source, result in zip(sources, outcome.value):
        check(source, result)
    assert len(sent) == sum(result["went"]["to_python"] == "ok" for result in outcome.value)
