"""The pure-Lua library modules in actors/lua: errors (the time module's
values are tested in test_time_values.py).

Each module is loaded the way the runtime loads it: the chunk is compiled
with `load(text, "=luactor/<name>.lua", "t", env)` in an environment holding
only the standard libraries a module may rely on (no os, io, load; debug for
the stacks errors carry),
and the factory it returns is called with the module's deps.
"""

from pathlib import Path

import pytest
from lupa import lua54

import actors

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

class Lua:
    """A Lua state with the errors module loaded and set as the global
    `errors`, for snippets run with `run`."""

    def __init__(self):
        self.rt = lua54.LuaRuntime(register_eval=False, register_builtins=False)
        self._load = self.rt.execute(LOADER)
        self.errors = self.load("errors")
        self.rt.globals().errors = self.errors

    def load(self, name, **deps):
        text = (LUA_DIR / f"{name}.lua").read_text()
        return self._load(name, text, self.rt.table_from(deps))

    def run(self, code, *args):
        return self.rt.execute(code, *args)

    def eval(self, expression, *args):
        return self.rt.execute("return " + expression, *args)


def from_lua(value):
    """Lua value -> Python, every table as a dict keyed as in Lua."""
    if lua54.lua_type(value) == "table":
        return {k: from_lua(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def lua():
    return Lua()



# --------------------------------------------------------------------------
# errors


def test_kinds_have_wippys_values(lua):
    kinds = {
        "NOT_FOUND": "NotFound", "ALREADY_EXISTS": "AlreadyExists", "INVALID": "Invalid",
        "PERMISSION_DENIED": "PermissionDenied", "UNAVAILABLE": "Unavailable", "INTERNAL": "Internal",
        "CANCELED": "Canceled", "CONFLICT": "Conflict", "TIMEOUT": "Timeout", "RATE_LIMITED": "RateLimited",
        "UNKNOWN": "Unknown",
    }
    for constant, kind in kinds.items():
        assert lua.errors[constant] == kind


def test_new_from_string(lua):
    assert lua.run("""
        local e = errors.new("boom")
        return e:kind(), e:message(), e:retryable(), e:details(), e:stack(), tostring(e)
    """) == ("Unknown", "boom", None, None, None, "boom")


def test_new_from_table(lua):
    assert lua.run("""
        local e = errors.new{message="gone", kind=errors.NOT_FOUND, retryable=true, details={id=7}}
        return e:kind(), e:message(), e:retryable(), e:details().id, tostring(e)
    """) == ("NotFound", "gone", True, 7, "NotFound: gone")


def test_new_defaults_and_passthrough(lua):
    assert lua.run("""
        local e = errors.new{message="x"}
        return e:kind(), e:retryable(), rawequal(errors.new(e), e)
    """) == ("Unknown", None, True)


@pytest.mark.parametrize("bad", ["nil", "true", "{kind=5}", "{message={}}", "{details='x'}", "{kind=''}",
                                 "{retryable='yes'}"])
def test_new_rejects_bad_arguments(lua, bad):
    with pytest.raises(lua54.LuaError, match="errors.new"):
        lua.run(f"return errors.new({bad})")


def test_error_objects_are_read_only(lua):
    with pytest.raises(lua54.LuaError, match="read-only"):
        lua.run('local e = errors.new("x"); e.kind = "other"')
    assert lua.eval('getmetatable(errors.new("x"))') == "luactor.error"
    with pytest.raises(lua54.LuaError, match="protected metatable"):
        lua.run('setmetatable(errors.new("x"), {})')


def test_concat_with_strings(lua):
    assert lua.eval('"failed: " .. errors.new{message="m", kind="Timeout"}') == "failed: Timeout: m"


def test_wrap_keeps_kind_retryable_and_cause(lua):
    assert lua.run("""
        local cause = errors.new{message="no route", kind=errors.UNAVAILABLE, retryable=true, details={n=1}}
        local outer = errors.wrap(errors.wrap(cause, "dial"), "fetch")
        return outer:message(), outer:kind(), outer:retryable(), outer:details().n,
               tostring(outer), rawequal(outer:unwrap():unwrap(), cause), cause:unwrap()
    """) == ("fetch: dial: no route", "Unavailable", True, 1,
             "Unavailable: fetch: dial: no route", True, None)


def test_wrap_a_string_and_without_message(lua):
    assert lua.run("""
        local a = errors.wrap("raw", "ctx")
        local b = errors.wrap(a)
        return a:message(), a:kind(), a:unwrap():message(), b:message()
    """) == ("ctx: raw", "Unknown", "raw", "ctx: raw")
    assert lua.run("""
        local w, e = errors.wrap(nil, 'x')
        local w2, e2 = errors.wrap("raw", 42)
        return w, e:kind(), w2, e2:kind()
    """) == (None, "Invalid", None, "Invalid")


def test_is_by_kind_and_identity_through_the_chain(lua):
    assert lua.run("""
        local root = errors.new{message="gone", kind=errors.NOT_FOUND}
        local twin = errors.new{message="gone", kind=errors.NOT_FOUND}
        local outer = errors.wrap(root, "load")
        return errors.is(outer, errors.NOT_FOUND), errors.is(outer, "Timeout"),
               errors.is(outer, root), errors.is(outer, twin), errors.is(root, outer),
               errors.is("NotFound", "NotFound"), errors.is(nil, root)
    """) == (True, False, True, False, False, False, False)


def test_is_error(lua):
    assert lua.run("""
        return errors.is_error(errors.new("x")), errors.is_error({}), errors.is_error("x"),
               errors.is_error(nil)
    """) == (True, False, False, False)


def test_from_lua_keeps_the_message_and_the_frames_it_was_raised_in(lua):
    message, kind, stack, text = lua.run("""
        local co = coroutine.create(load("local function boom() local t = nil; return t.x end\\nboom()",
                                         "@user.lua"))
        local ok, raw = coroutine.resume(co)
        local e = errors.from_lua(raw, co)
        return e:message(), e:kind(), e:stack(), tostring(e)
    """)
    assert "attempt to index" in message
    assert kind == "Internal"
    assert stack.splitlines() == ["stack traceback:", "\tuser.lua:1: in function 'boom'", "\tuser.lua:2: in main chunk"]
    assert text == "Internal: " + message


def test_from_lua_passes_error_objects_through(lua):
    assert lua.run("""
        local e = errors.new{message="m", kind="Conflict"}
        local ok, raw = pcall(error, e)
        return rawequal(errors.from_lua(raw), e), errors.from_lua(raw):stack()
    """) == (True, None)


def test_from_lua_non_string_values(lua):
    assert lua.run("""
        local shown = setmetatable({}, {__tostring = function() return "custom" end})
        return errors.from_lua(42):message(), errors.from_lua({}, nil, tostring):message(),
               errors.from_lua(nil):message(), errors.from_lua(true):message(),
               errors.from_lua(shown, nil, tostring):message(), errors.from_lua(shown):message(),
               errors.from_lua("x"):stack()
    """) == ("42", "(error object is a table value)", "(error object is a nil value)",
             "(error object is a boolean value)", "custom", "(error object is a table value)", None)


def test_plain_round_trip_through_python(lua):
    plain = from_lua(lua.run("""
        local root = errors.from_plain({ message = "x.lua:3: boom", kind = "Internal", retryable = false,
                                         stack = "trace" })
        return errors.to_plain(errors.wrap(root, "step"))
    """))
    assert plain == {
        "message": "step: x.lua:3: boom", "kind": "Internal", "retryable": False,
        "stack": "trace",
        "cause": {"message": "x.lua:3: boom", "kind": "Internal", "retryable": False,
                  "stack": "trace"},
    }
    rebuilt = lua.errors.from_plain(lua.rt.table_from(
        {**plain, "cause": lua.rt.table_from(plain["cause"])}))
    assert lua.run("""
        local e = ...
        return tostring(e), e:stack(), errors.is(e, "Internal"), e:unwrap():message()
    """, rebuilt) == ("Internal: step: x.lua:3: boom", "trace", True, "x.lua:3: boom")


def test_plain_round_trip_keeps_details_and_retryable(lua):
    assert lua.run("""
        local e = errors.from_plain(errors.to_plain(errors.new{
          message="slow", kind="RateLimited", retryable=true, details={after=5}}))
        return e:kind(), e:message(), e:retryable(), e:details().after, e:unwrap()
    """) == ("RateLimited", "slow", True, 5, None)


def test_from_plain_fills_defaults(lua):
    assert lua.run("""
        local e = errors.from_plain({})
        return e:kind(), e:message(), e:retryable()
    """) == ("Unknown", "", None)


def test_from_plain_reads_the_kinds_of_earlier_stores(lua):
    assert lua.run("""
        local e = errors.from_plain({ message = "gone", kind = "NOT_FOUND", cause = { kind = "INTERNAL" } })
        return e:kind(), e:unwrap():kind(), errors.is(e, errors.NOT_FOUND)
    """) == ("NotFound", "Internal", True)
