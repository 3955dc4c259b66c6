"""The `uuid` module: generation (v1, v3, v4, v5, v7), inspection and
formatting, its errors, and ids that replay in workflows."""

import os
import re
import uuid as pyuuid

import pytest
import trio
from conftest import LuaLibrary
from hypothesis import given
from hypothesis import strategies as st

from actors import Node, lua_support

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NOW_NS = 1_700_000_000_123_456_789
NAMESPACES = [pyuuid.NAMESPACE_DNS, pyuuid.NAMESPACE_URL, pyuuid.NAMESPACE_OID, pyuuid.NAMESPACE_X500]
VARIANTS = {pyuuid.RESERVED_NCS: "NCS", pyuuid.RFC_4122: "RFC4122",
            pyuuid.RESERVED_MICROSOFT: "Microsoft", pyuuid.RESERVED_FUTURE: "Future"}


class UuidLua(LuaLibrary):
    """`uuid` (fed by os.urandom and a clock the test sets) as a global."""

    def __init__(self):
        super().__init__()
        self.clock = [NOW_NS]
        # this state hands Python str, which cannot hold the namespace's raw
        # bytes: they cross in hex
        self.digest = self.rt.eval("""function(digest_hex)
          return function(algorithm, data)
            return digest_hex(algorithm, (data:gsub(".", function(c) return string.format("%02x", c:byte()) end)))
          end
        end""")(lambda algorithm, hex_data: lua_support.digest(algorithm.encode(), bytes.fromhex(hex_data)))
        self.uuid = self.make()
        self.rt.globals().uuid = self.uuid

    def make(self, random_bytes=os.urandom, now_ns=None):
        return self.load("uuid", errors=self.errors, digest=self.digest, random_bytes=random_bytes,
                         now_ns=now_ns or (lambda: self.clock[0]))

    def outcome(self, function, *args):
        """What `function(...)` returns: value, and the kind and message of its error."""
        return self.rt.eval("""function(f, ...)
          local value, err = f(...)
          return value, err and err:kind(), err and err:message()
        end""")(function, *args)

    def failure(self, call, *args):
        """(kind, message) of the error `call` returns, checking it returned nil first."""
        return self.run(f"""
            local value, err = uuid.{call}
            assert(value == nil, "expected nil, got " .. tostring(value))
            return err:kind(), err:message()
        """, *args)


@pytest.fixture(scope="module")
def lua():
    return UuidLua()


def uuids():
    return st.integers(0, 2**128 - 1).map(lambda i: pyuuid.UUID(int=i))


# --------------------------------------------------------------------------
# v4 and v7


def test_v4_format_version_and_variant(lua):
    values = [lua.uuid.v4() for _ in range(200)]
    assert len(set(values)) == len(values)
    for value in values:
        assert UUID_RE.match(value)
        parsed = pyuuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == pyuuid.RFC_4122


def test_v7_layout(lua):
    value = lua.uuid.v7()
    assert UUID_RE.match(value)
    parsed = pyuuid.UUID(value)
    assert parsed.version == 7 and parsed.variant == pyuuid.RFC_4122
    assert parsed.int >> 80 == NOW_NS // 1_000_000


def make_v7(lua, clock_ms):
    return lua.make(now_ns=lambda: clock_ms[0] * 1_000_000).v7


def test_v7_increases_within_a_millisecond_and_across_counter_overflow(lua):
    clock = [1_800_000_000_000]
    v7 = make_v7(lua, clock)
    values = [v7() for _ in range(5000)]
    assert values == sorted(values) and len(set(values)) == len(values)
    timestamps = [pyuuid.UUID(v).int >> 80 for v in values]
    assert timestamps[0] == clock[0]
    assert timestamps[-1] > clock[0]  # 5000 > 4096 - 0x7ff: borrowed from the next ms


def test_v7_increases_when_the_clock_goes_back(lua):
    clock = [1_800_000_000_000]
    v7 = make_v7(lua, clock)
    values = []
    for now in [5, 5, 3, 9, 0, 9, 10]:
        clock[0] = 1_800_000_000_000 + now
        values.append(v7())
    assert values == sorted(values) and len(set(values)) == len(values)
    assert pyuuid.UUID(values[-1]).int >> 80 == 1_800_000_000_010


def test_v7_sorts_by_time(lua):
    clock = [0]
    v7 = make_v7(lua, clock)
    values = []
    for ms in [1, 2, 1000, 2**40, (2**63 - 1) // 1_000_000]:  # the last unix nanosecond a Lua integer holds
        clock[0] = ms
        values.append(v7())
        assert pyuuid.UUID(values[-1]).int >> 80 == ms
    assert values == sorted(values)


def test_a_float_clock_is_floored(lua):
    v7 = lua.make(now_ns=lambda: 1_800_000_000_000_999_999.0).v7
    assert pyuuid.UUID(v7()).int >> 80 == 1_800_000_000_000


# --------------------------------------------------------------------------
# v1


def test_v1_layout_time_and_node(lua):
    made = lua.make()
    first, second = made.v1(), made.v1()
    assert UUID_RE.match(first)
    a, b = pyuuid.UUID(first), pyuuid.UUID(second)
    assert (a.version, a.variant) == (1, pyuuid.RFC_4122)
    gregorian_ticks = NOW_NS // 100 + 0x01B21DD213814000
    assert a.time == gregorian_ticks
    assert b.time == gregorian_ticks + 1  # same clock reading: the next tick
    assert a.node == b.node and a.node >> 40 & 1  # random node ids carry the multicast bit
    assert a.clock_seq == b.clock_seq


def test_v1_increases_when_the_clock_goes_back(lua):
    clock = [NOW_NS]
    made = lua.make(now_ns=lambda: clock[0])
    times = []
    for step in [0, 500, 100, 0, 1000]:
        clock[0] = NOW_NS + step
        times.append(pyuuid.UUID(made.v1()).time)
    assert times == sorted(times) and len(set(times)) == len(times)


def test_v1_draws_randomness_only_at_its_first_call(lua):
    drawn = []

    def counting(n):
        drawn.append(n)
        return os.urandom(n)

    made = lua.make(random_bytes=counting)
    made.v4()
    made.v1()
    made.v1()
    assert drawn == [16, 8]


# --------------------------------------------------------------------------
# v3 and v5


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("name", ["", "example.com", "https://example.com/resource", "é😀", "a" * 1000])
def test_v3_and_v5_match_rfc_9562(lua, namespace, name):
    v3, v5 = lua.run("return uuid.v3(...), uuid.v5(...)", str(namespace), name)
    assert v3 == str(pyuuid.uuid3(namespace, name))
    assert v5 == str(pyuuid.uuid5(namespace, name))


@given(st.text())
def test_v5_of_any_name(lua, name):
    assert lua.uuid.v5(str(pyuuid.NAMESPACE_URL), name) == str(pyuuid.uuid5(pyuuid.NAMESPACE_URL, name))


def test_the_namespace_may_be_written_in_any_accepted_form(lua):
    ns = pyuuid.NAMESPACE_URL
    forms = [str(ns), str(ns).upper(), ns.hex, "{" + str(ns) + "}", ns.urn, ns.urn.upper()]
    assert {lua.uuid.v5(form, "x") for form in forms} == {str(pyuuid.uuid5(ns, "x"))}


def test_the_docs_example(lua):
    assert lua.run("""
        local NS_URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
        local id, err = uuid.v5(NS_URL, "https://example.com/resource")
        return id, err
    """) == ("1f70cc9d-a4b1-5e16-844a-32742876cc95", None)


# --------------------------------------------------------------------------
# validate, version, variant, parse, format


@pytest.mark.parametrize("value", [
    "00000000-0000-0000-0000-000000000000",
    "01234567-89ab-cdef-0123-456789abcdef",
    "01234567-89AB-CDEF-0123-456789ABCDEF",
    "0123456789abcdef0123456789abcdef",
    "{01234567-89ab-cdef-0123-456789abcdef}",
    "urn:uuid:01234567-89ab-cdef-0123-456789abcdef",
    "URN:UUID:01234567-89AB-CDEF-0123-456789ABCDEF",
    str(pyuuid.uuid4()),
    str(pyuuid.uuid1()).upper(),
])
def test_validate_accepts(lua, value):
    assert lua.uuid.validate(value) is True


@pytest.mark.parametrize("value", [
    "",
    "0123456789abcdef0123456789abcde",
    "{01234567-89ab-cdef-0123-456789abcdef",
    "(01234567-89ab-cdef-0123-456789abcdef)",
    "urn:uuid:0123456789abcdef0123456789abcdef",
    "uuid:01234567-89ab-cdef-0123-456789abcdef",
    "01234567-89ab-cdef-0123-456789abcdeg",
    "01234567-89ab-cdef-0123-456789abcde",
    "01234567-89ab-cdef-0123-456789abcdef0",
    "01234567-89ab-cdef-0123-456789abcdef\n",
    "0123456789-ab-cdef-0123-456789abcdef",
    "01234567_89ab_cdef_0123_456789abcdef",
    " 1234567-89ab-cdef-0123-456789abcdef",
    "0x23456789abcdef0123456789abcdef",
    42,
    None,
])
def test_validate_rejects(lua, value):
    assert lua.uuid.validate(value) is False


@given(uuids())
def test_version_and_variant_read_the_bits(lua, value):
    version, variant = lua.run("return uuid.version(...), uuid.variant(...)", str(value))
    assert version == value.int >> 76 & 0xF
    assert variant == VARIANTS[value.variant]


def test_parse_v1(lua):
    value = pyuuid.uuid1(node=0x0123456789AB, clock_seq=0x1234)
    info = lua.run("local info, err = uuid.parse(...); assert(not err); return info", str(value))
    assert dict(info) == {
        "version": 1, "variant": "RFC4122",
        "timestamp": (value.time - 0x01B21DD213814000) // 10**7, "node": "0123456789ab",
    }


def test_parse_v1_made_here(lua):
    info = lua.run("return uuid.parse(uuid.v1())")
    assert info.timestamp == NOW_NS // 10**9 and re.fullmatch("[0-9a-f]{12}", info.node)


def test_parse_v7(lua):
    info = lua.run("return uuid.parse(uuid.v7())")
    assert dict(info) == {"version": 7, "variant": "RFC4122", "timestamp": NOW_NS // 10**9}


@pytest.mark.parametrize("make", [pyuuid.uuid4, lambda: pyuuid.uuid5(pyuuid.NAMESPACE_DNS, "x")])
def test_parse_others_has_no_timestamp_or_node(lua, make):
    value = make()
    info = lua.run("return uuid.parse(...)", str(value).upper())
    assert dict(info) == {"version": value.version, "variant": "RFC4122"}


@pytest.mark.parametrize("form, expected", [
    (None, "6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
    ("standard", "6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
    ("simple", "6ba7b8119dad11d180b400c04fd430c8"),
    ("urn", "urn:uuid:6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
])
@pytest.mark.parametrize("written", [
    "6BA7B811-9DAD-11D1-80B4-00C04FD430C8", "{6ba7b811-9dad-11d1-80b4-00c04fd430c8}",
    "6ba7b8119dad11d180b400c04fd430c8", "urn:uuid:6ba7b811-9dad-11d1-80b4-00c04fd430c8",
])
def test_format(lua, written, form, expected):
    assert lua.uuid.format(written, form) == expected


# --------------------------------------------------------------------------
# errors: `nil, err` for bad input, never a raise


@pytest.mark.parametrize("call, args, message", [
    ("version(...)", ["nope"], "uuid.version: uuid is not a valid UUID"),
    ("version(...)", [None], "uuid.version: uuid must be a string, got nil"),
    ("variant(...)", [42], "uuid.variant: uuid must be a string, got number"),
    ("parse(...)", ["01234567-89ab-cdef-0123-456789abcde"], "uuid.parse: uuid is not a valid UUID"),
    ("format(...)", [True], "uuid.format: uuid must be a string, got boolean"),
    ("format(...)", [str(pyuuid.NAMESPACE_DNS), "braces"], "uuid.format: unsupported format"),
    ("format(...)", [str(pyuuid.NAMESPACE_DNS), 1], "uuid.format: format must be a string, got number"),
    ("v3(...)", ["not-a-uuid", "x"], "uuid.v3: namespace is not a valid UUID"),
    ("v5(...)", [str(pyuuid.NAMESPACE_DNS), None], "uuid.v5: name must be a string, got nil"),
    ("v5(...)", [str(pyuuid.NAMESPACE_DNS), 42], "uuid.v5: name must be a string, got number"),
    ("v5(...)", [None, "x"], "uuid.v5: namespace must be a string, got nil"),
])
def test_bad_input_is_an_invalid_error(lua, call, args, message):
    kind, text = lua.failure(call, *args)
    assert kind == "Invalid" and text.startswith(message)


HOSTILE = """
    local hostile = setmetatable({}, {
      __index = function() error("__index ran") end, __len = function() error("__len ran") end,
      __tostring = function() error("__tostring ran") end, __eq = function() error("__eq ran") end,
      __concat = function() error("__concat ran") end, __pairs = function() error("__pairs ran") end,
      __call = function() error("__call ran") end,
    })
"""


def test_hostile_tables_are_only_looked_at(lua):
    outcome = lua.run(HOSTILE + """
        local out = { validate = uuid.validate(hostile) }
        for _, name in ipairs({ "version", "variant", "parse", "format" }) do
          local value, err = uuid[name](hostile)
          out[name] = value == nil and err:kind()
        end
        local _, e3 = uuid.v3(hostile, "x")
        local _, e5 = uuid.v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", hostile)
        local _, ef = uuid.format("6ba7b811-9dad-11d1-80b4-00c04fd430c8", hostile)
        out.v3, out.v5, out.format_form = e3:kind(), e5:kind(), ef:kind()
        return out
    """)
    assert dict(outcome) == {"validate": False, "version": "Invalid", "variant": "Invalid", "parse": "Invalid",
                             "format": "Invalid", "v3": "Invalid", "v5": "Invalid", "format_form": "Invalid"}


def test_huge_strings_are_refused_at_once(lua):
    kind, _ = lua.failure("parse(string.rep('a', 50000000))")
    assert kind == "Invalid" and lua.uuid.validate("a" * 10_000_000) is False


@pytest.mark.parametrize("random_bytes", [lambda n: b"short", lambda n: None, lambda n: 42])
def test_a_failing_random_source_is_an_internal_error(lua, random_bytes):
    broken = lua.make(random_bytes=random_bytes)
    for generate in (broken.v4, broken.v7, broken.v1):
        value, kind, message = lua.outcome(generate)
        assert value is None and kind == "Internal" and "random source" in message


def test_a_clock_without_time_is_an_internal_error(lua):
    assert lua.outcome(lua.make(now_ns=lambda: float("nan")).v7) == (None, "Internal", "uuid.v7: the clock gave no time")


def test_a_failing_digest_is_an_internal_error(lua):
    broken = lua.load("uuid", errors=lua.errors, digest=lua.rt.eval("function() return 'short' end"))
    assert lua.outcome(broken.v5, str(pyuuid.NAMESPACE_DNS), "x") == (None, "Internal", "uuid.v5: hashing failed")


# --------------------------------------------------------------------------
# in processes and workflows


async def test_in_a_process(app):
    app.body("ids", """
        local ns = uuid.v4()
        local info = uuid.parse(uuid.v1())
        return { v5 = uuid.v5(ns, "name"), ns = ns, v3 = uuid.v3(ns, "name"), node = info.node,
                 version = uuid.version(uuid.v7()), urn = uuid.format(ns, "urn") }
    """, modules=["uuid"], required=["uuid"])
    async with Node.open(app.root) as node:
        out = await node.exec("test:ids", app.host)
    ns = pyuuid.UUID(out["ns"])
    assert out["v5"] == str(pyuuid.uuid5(ns, "name")) and out["v3"] == str(pyuuid.uuid3(ns, "name"))
    assert out["version"] == 7 and out["urn"] == ns.urn and re.fullmatch("[0-9a-f]{12}", out["node"])


WORKFLOW = """
local funcs = require("funcs")
local uuid = require("uuid")
local function run()
  local ids = { uuid.v1(), uuid.v4(), uuid.v7(), uuid.v1(), uuid.v7() }
  ids[6] = uuid.parse(ids[1]).node
  funcs.call("py:record", ids)
  process.listen("go"):receive()
  return ids
end
return { run = run }
"""


async def test_ids_replay_identically_in_a_workflow(app, tmp_path, autojump_clock):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("ids", WORKFLOW, method="run", kind="workflow.lua", modules=["funcs", "uuid"])
    recorded, called = [], trio.Event()

    def record(ids):
        recorded.append(ids)
        called.set()

    async with Node.open(app.root, functions={"py:record": record}) as node:
        pid = await node.spawn("test:ids", "test:workflows", name="ids")
        await called.wait()
    # a new node replays the workflow from its history, then lets it finish
    async with Node.open(app.root, functions={"py:record": record}) as node, node.mailbox() as me:
        me.monitor(pid)
        await node.send(pid, "go", True)
        exit_message = await me.receive()
    ids = exit_message.payload["result"]["value"]
    assert recorded == [ids]
    v1, v4, v7, v1_again, v7_again, node_id = ids
    assert [pyuuid.UUID(i).version for i in (v1, v4, v7, v1_again, v7_again)] == [1, 4, 7, 1, 7]
    assert pyuuid.UUID(v1).time < pyuuid.UUID(v1_again).time and v7 < v7_again
    assert node_id == f"{pyuuid.UUID(v1_again).node:012x}"
