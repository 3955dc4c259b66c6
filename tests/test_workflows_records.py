"""The durable kernel encodes its history records in Lua (actors/lua/durable.lua).

Promise: the bytes are exactly what the store made of the same data before,
converted to Python and packed with msgpack; so stores read the same and
nothing changes for a record when it is encoded on the Lua side.
"""

from __future__ import annotations

from importlib import resources

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa import lua54

from actors.codec import from_lua, to_lua


@pytest.fixture(scope="module")
def lua_encode():
    lua = lua54.LuaRuntime(encoding=None, register_eval=False)
    factory = lua.execute((resources.files("actors") / "lua" / "durable.lua").read_bytes())
    durable = factory(lua.table_from({b"sched": lua.table(), b"errors": lua.table(),
                                      b"bridge": lua.table_from({b"emit": lambda cmd: None})}))
    return lua, durable[b"encode"]


INT64 = st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1)
SCALARS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text(max_size=300) | st.binary(max_size=300)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=40) | INT64, inner, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_lua_encoding_is_what_msgpack_makes_of_the_converted_value(lua_encode, value):
    lua, encode = lua_encode
    in_lua = to_lua(lua, value)
    assert encode(in_lua) == msgpack.packb(from_lua(in_lua), use_bin_type=True)


@pytest.mark.parametrize("size", [31, 32, 255, 256, 65535, 65536])
def test_string_and_table_size_boundaries(lua_encode, size):
    lua, encode = lua_encode
    for value in ("x" * size, b"\xff" * size, list(range(min(size, 70000))), {f"k{i}": i for i in range(min(size, 300))}):
        in_lua = to_lua(lua, value)
        assert encode(in_lua) == msgpack.packb(from_lua(in_lua), use_bin_type=True)


def test_what_cannot_be_stored_is_named(lua_encode):
    lua, encode = lua_encode
    packed, why = encode(lua.eval("{ type = 'call', fn = print }"))
    assert packed is None and why == b"a function cannot be stored"
    cyclic = lua.eval("(function() local t = {} t.self = t return t end)()")
    packed, why = encode(cyclic)
    assert packed is None and b"nested deeper than 200 tables (or cyclic)" in why
