"""The copy of a flat payload table (plain values under string and number
keys, no metatable) takes a short path; anything else a flat-looking table
can hide must still meet the full copy's rules."""

from __future__ import annotations

import pytest
from conftest import LuaLibrary

MAX_VALUES = 10


@pytest.fixture(scope="module")
def copy_in():
    """`copy_in(expr)`: copy the Lua value `expr` and describe the outcome:
    "ok|<sorted key=value pairs>|<whether the copy is a new table>" or "err|<kind>|<message>"."""
    library = LuaLibrary()
    payload = library.load("payload", errors=library.errors)
    copy = library.load("copy", errors=library.errors, Payload=payload["Payload"],
                        payload_data=payload["data_of"], max_depth=100, max_values=MAX_VALUES)
    describe = library.rt.eval("""function(copy, code)
      local v = assert(load("return " .. code, "=value", "t"))()
      local out, e = copy(v)
      if e then return "err|" .. e:kind() .. "|" .. e:message() end
      local keys = {}
      for k, x in next, out do keys[#keys + 1] = tostring(k) .. "=" .. tostring(x) end
      table.sort(keys)
      return "ok|" .. table.concat(keys, ",") .. "|" .. tostring(type(out) == "table" and out ~= v)
    end""")
    return lambda code: describe(copy, code)


def test_a_flat_table_is_copied_whole_into_a_new_table(copy_in):
    assert copy_in("{ seq = 1, name = 'x', [2] = true, [0.5] = -1 }") == "ok|0.5=-1,2=true,name=x,seq=1|true"
    assert copy_in("{}") == "ok||true"


def test_a_nested_table_after_flat_values_is_copied_by_the_full_copy(copy_in):
    assert copy_in("{ a = 1, b = { c = 2 } }").startswith("ok|a=1,b=table: ")


def test_a_boolean_key_beside_its_numeric_twin_is_refused(copy_in):
    assert copy_in("{ [true] = 'yes', [1] = 'one' }") == "err|Invalid|payload cannot hold both keys true and 1"
    assert copy_in("{ [true] = 'yes' }") == "ok|true=yes|true"


def test_a_flat_table_past_max_values_is_refused(copy_in):
    assert copy_in(f"{{ {', '.join(['1'] * MAX_VALUES)} }}").startswith("ok|")
    assert copy_in(f"{{ {', '.join(['1'] * (MAX_VALUES + 1))} }}") == \
        f"err|Invalid|payload cannot hold more than {MAX_VALUES} values"


@pytest.mark.parametrize("code", [
    "setmetatable({ a = 1 }, { __pairs = function() error('ran') end, __index = function() error('ran') end })",
    "setmetatable({ a = 1 }, { __metatable = false })",
])
def test_a_flat_table_with_a_metatable_is_refused_without_running_it(copy_in, code):
    assert copy_in(code) == "err|Invalid|payload cannot hold a table with a metatable"


def test_a_function_value_or_key_is_refused_with_its_place(copy_in):
    assert copy_in("{ a = 1, f = print }") == "err|Invalid|payload cannot hold a function (at .f)"
    assert copy_in("{ [print] = 1 }") == "err|Invalid|payload cannot hold a function key"
