"""actors/lua/msgpack.lua: what Lua encodes, Python's msgpack reads, and back.

The codec's conversion is the reference: a value that leaves Lua through
msgpack.lua must read in Python exactly as the codec would have converted it,
and what Python packs must decode in Lua to what the codec would have made.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa import lua54

import actors
from actors.codec import from_lua, to_lua

INT64 = st.integers(-(2**63), 2**63 - 1)
KEYS = st.one_of(st.text(max_size=12), INT64, st.booleans(), st.binary(max_size=8))
SCALARS = st.one_of(st.none(), st.booleans(), INT64, st.floats(allow_nan=False), st.text(max_size=40),
                    st.binary(max_size=40))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(KEYS, inner, max_size=6),
                      max_leaves=30)


@pytest.fixture(scope="module")
def lua():
    runtime = lua54.LuaRuntime(encoding=None, register_eval=False, unpack_returned_tuples=True)
    source = (Path(actors.__file__).parent / "lua" / "msgpack.lua").read_bytes()
    module = runtime.eval(b"function(src) return assert(load(src, '=luactor/msgpack.lua', 't'))()() end")(source)
    return runtime, module


def lua_encode(lua, value):
    runtime, module = lua
    return module.encode(to_lua(runtime, value))


def lua_decode(lua, data: bytes):
    _runtime, module = lua
    return module.decode(data)


#: Converts the reference values: the codec's round trip is what msgpack.lua must match.
_RUNTIME = lua54.LuaRuntime(encoding=None)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_python_reads_what_lua_writes(lua, value):
    encoded, problem = lua_encode(lua, value)
    assert problem is None
    expected = from_lua(to_lua(_RUNTIME, value))
    assert msgpack.unpackb(encoded, raw=False, strict_map_key=False) == expected


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_lua_reads_what_python_writes(lua, value):
    ok, decoded, _after = lua_decode(lua, msgpack.packb(value, use_bin_type=True))
    assert ok is True
    assert from_lua(decoded) == from_lua(to_lua(_RUNTIME, value))


@pytest.mark.parametrize("number", [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1,
                                    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)])
def test_integers_take_their_smallest_form(lua, number):
    encoded, _ = lua_encode(lua, number)
    assert encoded == msgpack.packb(number)
    ok, decoded, after = lua_decode(lua, encoded)
    assert (ok, decoded, after) == (True, number, len(encoded) + 1)


def test_floats_stay_floats(lua):
    for number in (1.0, -0.0, 1e300, math.inf):
        encoded, _ = lua_encode(lua, number)
        ok, decoded, _ = lua_decode(lua, encoded)
        assert ok and isinstance(decoded, float) and decoded == number


def test_values_follow_each_other_in_one_string(lua):
    data = msgpack.packb("a") + msgpack.packb([1, 2]) + msgpack.packb(None)
    ok, first, pos = lua_decode(lua, data)
    _runtime, module = lua
    ok2, second, pos = module.decode(data, pos)
    ok3, third, pos = module.decode(data, pos)
    assert (ok, first, ok2, list(second.values()), ok3, third, pos) == (True, b"a", True, [1, 2], True, None, len(data) + 1)


@pytest.mark.parametrize("data, reason", [
    (b"", "truncated"),
    (b"\xa5ab", "truncated"),
    (b"\xdd\xff\xff\xff\xff", "truncated"),
    (b"\x91" * 300 + b"\x00", "nested deeper than 200"),
    (b"\xd4\x01\x02", "unknown tag 0xd4"),
    (b"\x81\xc0\x01", "a map key that Lua cannot hold"),
])
def test_bad_input_is_refused_with_a_reason(lua, data, reason):
    ok, problem = lua_decode(lua, data)[:2]
    assert ok is False and reason in problem.decode()


def test_what_cannot_be_encoded_is_refused(lua):
    runtime, module = lua
    cyclic = runtime.eval(b"(function() local t = {} t.t = t return t end)()")
    assert module.encode(cyclic) == (None, b"nested deeper than 200 tables (or cyclic)")
    assert module.encode(runtime.eval(b"print")) == (None, b"a function cannot be encoded")
