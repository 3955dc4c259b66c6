"""Plain data across the Lua/Python boundary (actors/codec.py)."""

from __future__ import annotations

import pytest
from lupa import lua54

from actors.codec import PayloadError, from_lua, to_lua


@pytest.fixture(scope="module")
def lua():
    return lua54.LuaRuntime(encoding=None, register_eval=False)


def test_plain_data_goes_to_lua_and_back(lua):
    value = {"list": [1, 2.5, True], "bytes": b"\xff\x00", "text": "é", "nested": {"k": [{"x": 1}]}}
    assert from_lua(to_lua(lua, value)) == value


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
