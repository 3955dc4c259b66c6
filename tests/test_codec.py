"""Plain data across the Lua/Python boundary (actors/codec.py)."""

from __future__ import annotations

import enum
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lupa import lua54

from actors import ActorError
from actors.codec import CROSSING_DEPTH, MAX_DEPTH, MAX_VALUES, PayloadError, from_lua, plain_copy, to_lua


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


# -- limits: no conversion recurses without bound, and every refusal is an Invalid ActorError ------


def _nested(levels: int) -> list:
    value: list = [0]
    for _ in range(levels - 1):
        value = [value]
    return value


def _cyclic() -> dict:
    loop: dict = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize("value, message", [
    (_nested(10_000), "payload[0][0]"),
    (_cyclic(), "payload['self']['self']"),
    (2**64, "payload: 18446744073709551616 is out of the range of a Lua integer"),
    ({float("nan"): 1}, "payload: key nan of type float cannot cross into Lua"),
    ("\ud800", "payload: text that is not valid Unicode"),
    ({"k": [1, "\udfff"]}, "payload['k'][1]: text that is not valid Unicode"),
])
def test_what_lua_cannot_hold_is_refused_as_invalid(lua, value, message):
    with pytest.raises(ActorError) as refused:
        to_lua(lua, value)
    assert isinstance(refused.value, PayloadError) and refused.value.kind == "Invalid"
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1])
def test_a_payload_nests_at_most_max_depth_levels(lua, levels):
    if levels <= MAX_DEPTH:
        assert from_lua(to_lua(lua, _nested(levels), depth=MAX_DEPTH)) == _nested(levels)
        assert plain_copy(_nested(levels)) == _nested(levels)
        return
    with pytest.raises(PayloadError, match=f"a payload may nest {MAX_DEPTH} levels"):
        to_lua(lua, _nested(levels), depth=MAX_DEPTH)
    with pytest.raises(PayloadError, match=f"nested deeper than {MAX_DEPTH} levels"):
        plain_copy(_nested(levels))


def test_plain_copy_refuses_more_than_max_values():
    assert len(plain_copy(list(range(MAX_VALUES)))) == MAX_VALUES
    with pytest.raises(PayloadError, match=f"more than {MAX_VALUES} values"):
        plain_copy([list(range(MAX_VALUES // 2)), list(range(MAX_VALUES // 2)), [0]])


def test_no_lua_table_leaves_deeper_than_the_crossing_depth(lua):
    deep = lua.eval(f"(function() local t = {{ 0 }} for _ = 1, {CROSSING_DEPTH} do t = {{ t }} end return t end)()")
    with pytest.raises(PayloadError, match=f"nested deeper than {CROSSING_DEPTH} levels"):
        from_lua(deep)
    assert from_lua(deep[1]) == _nested(CROSSING_DEPTH)


def test_a_lua_table_is_read_raw(lua):
    guarded = lua.eval("""setmetatable({ 1, 2 }, {
        __index = function() error("__index ran") end, __pairs = function() error("__pairs ran") end,
        __len = function() error("__len ran") end })""")
    assert from_lua(guarded) == [1, 2]


def test_a_table_key_cannot_leave_lua(lua):
    with pytest.raises(PayloadError, match="a Lua table cannot leave Lua"):
        from_lua(lua.eval("{ [{}] = 1 }"))
