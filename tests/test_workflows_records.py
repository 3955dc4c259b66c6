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


@pytest.fixture()
def recording():
    """A durable runtime whose outbox is a plain list, and a live workflow to record for."""
    lua = lua54.LuaRuntime(encoding=None, register_eval=False)
    outbox = []
    bridge = lua.table_from({b"emit": outbox.append, b"last": lambda: outbox[-1] if outbox else None})
    factory = lua.execute((resources.files("actors") / "lua" / "durable.lua").read_bytes())
    durable = factory(lua.table_from({b"sched": lua.table(), b"errors": lua.table(), b"bridge": bridge,
                                      b"encode_records": True}))
    workflow = lua.eval("function(id) return { id = id, step = 0, replaying = false } end")
    return lua, durable, outbox, workflow


def test_consecutive_records_leave_as_one_run_in_order(recording):
    lua, durable, outbox, workflow = recording
    a, b = workflow(b"a"), workflow(b"b")
    durable[b"command"](a, lua.eval("{ type = 'call', id = 1, fn = 'app:f' }"))
    durable[b"command"](b, lua.eval("{ type = 'timer', id = 1, deadline = 5 }"))
    outbox.append(lua.eval("{ 'wf_done' }"))          # another command ends the run
    durable[b"command"](a, lua.eval("{ type = 'batch', ts = 7, events = {} }"))
    durable[b"seal"]()
    runs = [cmd for cmd in outbox if cmd[1] == b"history"]
    assert len(runs) == 2
    first, second = (msgpack.unpackb(run[2]) for run in runs)
    # each record is stored as the kernel encoded it: bin holding its msgpack
    unpacked = [msgpack.unpackb(item) if isinstance(item, bytes) else item for item in first + second]
    assert unpacked == ["a", None, {"type": "call", "id": 1, "fn": "app:f"},
                        "b", None, {"type": "timer", "id": 1, "deadline": 5},
                        "a", 7, {"type": "batch", "ts": 7, "events": {}}]
    assert len(first) == 6 and len(second) == 3


def test_a_run_with_a_record_that_cannot_be_stored_names_it_and_keeps_the_other_workflows(recording):
    lua, durable, outbox, workflow = recording
    a, b = workflow(b"a"), workflow(b"b")
    durable[b"command"](a, lua.eval("{ type = 'call', id = 1, fn = 'app:f' }"))
    durable[b"command"](b, lua.eval("{ type = 'effect', result = print }"))
    durable[b"command"](b, lua.eval("{ type = 'call', id = 1, fn = 'app:g' }"))   # after its bad one: dropped
    durable[b"command"](a, lua.eval("{ type = 'call', id = 2, fn = 'app:h' }"))
    durable[b"seal"]()
    run = outbox[0]
    kept = msgpack.unpackb(run[2])
    assert [(kept[i], msgpack.unpackb(kept[i + 2])["fn"]) for i in range(0, len(kept), 3)] == [("a", "app:f"),
                                                                                                ("a", "app:h")]
    assert from_lua(run[3]) == {"b": "a effect record cannot be stored: a function cannot be stored"}


@pytest.mark.parametrize("size", [200, 300, 70000])
def test_records_of_any_size_keep_their_bytes_in_a_run(recording, size):
    lua, durable, outbox, workflow = recording
    record = to_lua(lua, {"type": "batch", "ts": 1, "events": [{"kind": "message", "payload": "x" * size}]})
    durable[b"command"](workflow(b"a"), record)
    durable[b"seal"]()
    assert msgpack.unpackb(outbox[0][2]) == ["a", 1, msgpack.packb(from_lua(record))]
