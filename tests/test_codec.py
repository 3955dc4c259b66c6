"""Plain data across the Lua/Python boundary (actors/codec.py)."""

from __future__ import annotations

import enum
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lupa import lua54

from actors.codec import PayloadError, from_lua, to_lua


@pytest.fixture(scope="module")
def lua():
    return lua54.LuaRuntime(encoding=None, register_eval=False)


def test_plain_data_goes_to_lua_and_back(lua):
    value = {"list": [1, 2.5, True], "bytes": b"\xff\x00", "text": "é", "nested": {"k": [{"x": 1}]}}
    assert from_lua(to_lua(lua, value)) == value


_keys = st.one_of(st.text(max_size=8), st.integers(-2**63, 2**63 - 1))
_plain = st.none() | st.recursive(   # None only on its own: in a table it is no entry
    st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
              st.text(max_size=8), st.binary(max_size=8)),
    lambda inner: st.lists(inner, min_size=1, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=20)


def _as_it_comes_back(value):
    """What a value is after a round trip: bytes that are UTF-8 are text, and a dict
    of keys 1..n is a list (as the Lua table is)."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    if isinstance(value, list):
        return [_as_it_comes_back(item) for item in value]
    if isinstance(value, dict):
        items = {key: _as_it_comes_back(item) for key, item in value.items()}
        if items and set(items) == set(range(1, len(items) + 1)):
            return [items[i] for i in range(1, len(items) + 1)]
        return items
    return value


@given(_plain)
def test_any_plain_value_comes_back_as_it_went(value):
    lua = lua54.LuaRuntime(encoding=None, register_eval=False)
    assert from_lua(to_lua(lua, value)) == _as_it_comes_back(value)


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


def test_subclasses_tuples_and_buffers_cross_as_their_plain_kind(lua):
    value = OrderedDict([(Name("k"), (Level.HIGH, bytearray(b"ab"), memoryview(b"cd"))), ("n", Name("x"))])
    assert from_lua(to_lua(lua, value)) == {"k": [3, "ab", "cd"], "n": "x"}


@pytest.mark.parametrize("source, value", [
    ("{10, 20, 30}", [10, 20, 30]),
    ("(function() local t = {} t[3] = 'c' t[1] = 'a' t[2] = 'b' return t end)()", ["a", "b", "c"]),
    ("{[1] = 'a', [3] = 'c'}", {1: "a", 3: "c"}),
    ("{[2] = 'b'}", {2: "b"}),
    ("{[true] = 'yes'}", {True: "yes"}),
    ("{[1.5] = 'x', [1] = 'y'}", {1.5: "x", 1: "y"}),
    ("{'a', x = 1}", {1: "a", "x": 1}),
    ("{}", {}),
])
def test_a_table_is_a_list_exactly_when_its_keys_are_1_to_n(lua, source, value):
    assert from_lua(lua.eval(source)) == value
    assert type(from_lua(lua.eval(source))) is type(value)


def test_a_table_with_a_function_key_cannot_leave_lua(lua):
    with pytest.raises(PayloadError, match="a Lua function cannot leave Lua"):
        from_lua(lua.eval("{[print] = 1}"))


@pytest.mark.parametrize("value, message", [
    ({"a": [1, {"b": object()}]}, "args['a'][1]['b']: a object cannot cross into Lua"),
    ([1, 2, {3}], "args[2]: a set cannot cross into Lua"),
    ({(1, 2): 3}, "args: key (1, 2) of type tuple cannot cross into Lua"),
    ({"ok": 1, "f": print}, "args['f']: a builtin_function_or_method cannot cross into Lua"),
    (object(), "args: a object cannot cross into Lua"),
])
def test_what_cannot_cross_is_named_where_it_sits(lua, value, message):
    with pytest.raises(PayloadError) as refused:
        to_lua(lua, value, "args")
    assert str(refused.value).startswith(message)
