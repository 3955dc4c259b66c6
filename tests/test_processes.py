"""Processes, messages, payloads and exit results.

Each test builds a small app with the ``app`` fixture, runs it on a node and
checks what a user of the spec is promised: how a process is started, how it
receives (inbox, ``listen`` in payload and message mode), what a Message and
a Payload object are, ordering and copying of payloads, what a process's
exit result is, and which inputs are refused with which error.
"""

from __future__ import annotations

import re

import pytest
import trio

from actors import ActorError, Node

PID_RE = re.compile(r"^\{[^@{}]+@[^|{}]+\|[^{}]+\}$")


def proc(app, name: str, body: str, *, modules=("time",), **fields) -> str:
    """A ``process.lua`` entry whose ``main(...)`` is ``body``."""
    return app.body(name, body, modules=modules, **fields)


async def recv(me, timeout: float = 30):
    """The next message of a Python mailbox (fails instead of hanging)."""
    with trio.fail_after(timeout):
        return await me.receive()


async def nothing_arrives(me, wait: float = 5) -> None:
    with trio.move_on_after(wait):
        msg = await me.receive()
        pytest.fail(f"unexpected message {msg!r}")


async def still_running(node, app) -> None:
    """The node keeps serving after a failure: a fresh process runs and answers."""
    assert await node.exec("test:alive", app.host) == "alive"


def add_alive(app) -> None:
    proc(app, "alive", 'return "alive"')


# -- spawning ------------------------------------------------------------------


async def test_spawn_returns_the_pid_the_process_sees_as_its_own(app, autojump_clock):
    proc(app, "who", """
        local reply_to = ...
        process.send(reply_to, "me", process.pid())
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:who", app.host, me.pid)
        assert PID_RE.match(pid), pid
        assert "test:host" in pid
        msg = await recv(me)
        assert msg.topic == "me"
        assert msg.payload == pid
        assert msg.sender == pid


async def test_each_spawn_gets_a_distinct_pid(app, autojump_clock):
    proc(app, "idle", 'process.inbox():receive()')
    async with Node.open(app.root) as node:
        pids = [await node.spawn("test:idle", app.host) for _ in range(5)]
        assert len(set(pids)) == 5
        assert node.process_count(app.host) == 5


async def test_spawn_arguments_reach_the_method(app, autojump_clock):
    proc(app, "args", """
        local a, b, t, n = ...
        return { a = a, b = b, nested = t.inner.value, count = select("#", ...), n = n }
    """)
    async with Node.open(app.root) as node:
        result = await node.exec("test:args", app.host, 7, "seven", {"inner": {"value": [1, 2]}}, 1.5)
        assert result == {"a": 7, "b": "seven", "nested": [1, 2], "count": 4, "n": 1.5}


async def test_lua_process_spawns_a_child_and_talks_to_it(app, autojump_clock):
    proc(app, "child", """
        local parent, greeting = ...
        local msg = process.inbox():receive()
        process.send(parent, "reply", greeting .. ", " .. msg:payload():data())
    """)
    proc(app, "parent", """
        local pid, err = process.spawn("test:child", "test:host", process.pid(), "hello")
        assert(pid, tostring(err))
        assert(process.send(pid, "name", "world") == true)
        local msg = process.inbox():receive()
        return { topic = msg:topic(), from_child = msg:from() == pid, data = msg:payload():data() }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:parent", app.host) == {
            "topic": "reply", "from_child": True, "data": "hello, world"}


async def test_spawn_from_lua_returns_nil_and_error(app, autojump_clock):
    proc(app, "fn_entry", "return 1")
    app.lua("a_function", "return { main = function() return 1 end }", kind="function.lua")
    proc(app, "spawner", """
        local out = {}
        local pid, err = process.spawn("test:nope", "test:host")
        out.unknown = { pid == nil, err:kind(), err:message() }
        pid, err = process.spawn("test:a_function", "test:host")
        out.function_entry = { pid == nil, err:kind(), err:message() }
        pid, err = process.spawn("test:fn_entry", "test:no_such_host")
        out.unknown_host = { pid == nil, err:kind(), err:message() }
        pid, err = process.spawn("test:fn_entry", "test:host", function() end)
        out.bad_arg = { pid == nil, err:kind() }
        return out
    """)
    async with Node.open(app.root) as node:
        out = await node.exec("test:spawner", app.host)
        assert out["unknown"][:2] == [True, "NotFound"]
        assert "test:nope" in out["unknown"][2]
        assert out["function_entry"][:2] == [True, "NotFound"]
        assert "test:a_function" in out["function_entry"][2]
        assert out["unknown_host"][:2] == [True, "NotFound"]
        assert "test:no_such_host" in out["unknown_host"][2]
        assert out["bad_arg"] == [True, "Invalid"]


async def test_spawn_of_unknown_entry_from_python_is_not_found(app, autojump_clock):
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.spawn("test:missing", app.host)
        assert info.value.kind == "NotFound"
        assert "test:missing" in info.value.message
        with pytest.raises(ActorError) as info:
            await node.spawn("test:alive", "test:nohost")
        assert info.value.kind == "NotFound"
        assert "test:nohost" in info.value.message
        await still_running(node, app)


async def test_host_max_processes_is_a_limit(app, autojump_clock):
    app.entries[0]["host"] = {"max_processes": 2}
    app._write()
    proc(app, "idle", "process.inbox():receive()")
    proc(app, "third", """
        local pid, err = process.spawn("test:idle", "test:host")
        return { pid_nil = pid == nil, kind = err and err:kind() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:idle", app.host)
        await node.spawn("test:third", app.host, monitor_by=me.pid)      # the second process
        ev = await recv(me)
        assert ev.payload["result"]["value"] == {"pid_nil": True, "kind": "Unavailable"}
        assert node.process_count(app.host) == 1
        await node.spawn("test:idle", app.host)
        with pytest.raises(ActorError) as info:
            await node.spawn("test:idle", app.host)
        assert info.value.kind == "Unavailable"
        assert node.process_count(app.host) == 2


# -- receiving -------------------------------------------------------------------


async def test_inbox_delivers_message_objects(app, autojump_clock):
    proc(app, "echo", """
        local msg = process.inbox():receive()
        local p = msg:payload()
        process.send(msg:from(), "echo", {
            topic = msg:topic(), from = msg:from(), data = p:data(),
        })
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:echo", app.host)
        await me.send(pid, "ping", {"n": 1, "list": [1, 2, 3]})
        msg = await recv(me)
        assert msg.topic == "echo"
        assert msg.sender == pid
        assert msg.payload == {"topic": "ping", "from": me.pid, "data": {"n": 1, "list": [1, 2, 3]}}


async def test_message_from_node_send_has_a_sender(app, autojump_clock):
    proc(app, "recv1", """
        local msg = process.inbox():receive()
        return { topic = msg:topic(), from = msg:from(), data = msg:payload():data() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:recv1", app.host)
        me.monitor(pid)
        await node.send(pid, "hi", "there")
        ev = await recv(me)
        assert ev.topic == "@exit"
        value = ev.payload["result"]["value"]
        assert value["topic"] == "hi" and value["data"] == "there"
        assert PID_RE.match(value["from"])


async def test_listen_delivers_payloads_of_its_topic_only(app, autojump_clock):
    proc(app, "listener", """
        local reply_to = ...
        local jobs = process.listen("job")
        process.send(reply_to, "ready", true)
        local got = {}
        got[#got + 1] = jobs:receive()          -- a payload, not a Message
        got[#got + 1] = jobs:receive()
        local other = process.inbox():receive()  -- topics nobody listens to
        return { jobs = got, other_topic = other:topic(), other = other:payload():data() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:listener", app.host, me.pid)
        me.monitor(pid)
        assert (await recv(me)).topic == "ready"
        await me.send(pid, "misc", "m")
        await me.send(pid, "job", {"id": 1})
        await me.send(pid, "job", {"id": 2})
        ev = await recv(me)
        assert ev.topic == "@exit"
        assert ev.payload["result"]["value"] == {
            "jobs": [{"id": 1}, {"id": 2}], "other_topic": "misc", "other": "m"}


async def test_listen_in_message_mode_delivers_message_objects(app, autojump_clock):
    proc(app, "mlistener", """
        local reply_to = ...
        local ch = process.listen("job", { message = true })
        process.send(reply_to, "ready", true)
        local msg = ch:receive()
        return { topic = msg:topic(), from = msg:from(), data = msg:payload():data() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:mlistener", app.host, me.pid)
        me.monitor(pid)
        assert (await recv(me)).topic == "ready"
        await me.send(pid, "job", [1, "two"])
        ev = await recv(me)
        assert ev.payload["result"]["value"] == {"topic": "job", "from": me.pid, "data": [1, "two"]}


async def test_unlisten_sends_the_topic_back_to_the_inbox(app, autojump_clock):
    proc(app, "unlistener", """
        local ch = process.listen("t")
        local ok = process.unlisten(ch)
        process.send(process.pid(), "t", "after")
        local msg = process.inbox():receive()
        return { ok = ok, topic = msg:topic(), data = msg:payload():data() }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:unlistener", app.host) == {"ok": True, "topic": "t", "data": "after"}


async def test_listen_twice_on_a_topic_is_an_error(app, autojump_clock):
    proc(app, "twice", """
        process.listen("t")
        local ok, err = pcall(process.listen, "t")
        return { ok = ok, kind = err:kind() }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:twice", app.host) == {"ok": False, "kind": "AlreadyExists"}


async def test_python_mailbox_gets_message_objects(app, autojump_clock):
    proc(app, "talker", """
        local to = ...
        process.send(to, "a", 1)
        process.send(to, "b", { x = "y" })
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:talker", app.host, me.pid)
        first, second = await recv(me), await recv(me)
        assert (first.topic, first.payload, first.sender) == ("a", 1, pid)
        assert (second.topic, second.payload, second.sender) == ("b", {"x": "y"}, pid)


async def test_python_mailboxes_can_talk_to_each_other(app, autojump_clock):
    async with Node.open(app.root) as node, node.mailbox() as a, node.mailbox() as b:
        assert a.pid != b.pid and PID_RE.match(a.pid)
        await a.send(b.pid, "hello", [1, 2])
        msg = await recv(b)
        assert (msg.topic, msg.payload, msg.sender) == ("hello", [1, 2], a.pid)


# -- Payload objects -----------------------------------------------------------


async def test_a_payload_object_sent_on_carries_its_data(app, autojump_clock):
    proc(app, "forwarder", """
        local to = ...
        local msg = process.inbox():receive()
        process.send(to, "forwarded", msg:payload())
        -- a payload nested in a table is data too
        process.send(to, "wrapped", { inner = msg:payload() })
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:forwarder", app.host, me.pid)
        await me.send(pid, "orig", {"k": [1, 2, {"deep": True}]})
        msg = await recv(me)
        assert (msg.topic, msg.payload) == ("forwarded", {"k": [1, 2, {"deep": True}]})
        msg = await recv(me)
        assert (msg.topic, msg.payload) == ("wrapped", {"inner": {"k": [1, 2, {"deep": True}]}})


async def test_payload_object_forwarded_between_lua_processes(app, autojump_clock):
    proc(app, "sink", """
        local msg = process.inbox():receive()
        local data = msg:payload():data()
        return { topic = msg:topic(), data = data, is_plain = getmetatable(data) == nil }
    """)
    proc(app, "relay", """
        local sink = process.spawn_monitored("test:sink", "test:host")
        local msg = process.inbox():receive()
        process.send(sink, "relayed", msg:payload())
        local ev = process.events():receive()
        return ev.result.value
    """)
    async with Node.open(app.root) as node:
        pid = await node.spawn("test:relay", app.host)
        async with node.mailbox() as me:
            me.monitor(pid)
            await node.send(pid, "in", {"a": [1, 2]})
            ev = await recv(me)
        assert ev.payload["result"]["value"] == {"topic": "relayed", "data": {"a": [1, 2]}, "is_plain": True}


# -- ordering ---------------------------------------------------------------------


async def test_messages_from_one_lua_sender_arrive_in_order(app, autojump_clock):
    proc(app, "counter", """
        local n = ...
        local inbox = process.inbox()
        for i = 1, n do
          local msg = inbox:receive()
          if msg:payload():data() ~= i then return { broken_at = i, got = msg:payload():data() } end
        end
        return { ok = n }
    """)
    proc(app, "sender", """
        local n = ...
        local pid = process.spawn_monitored("test:counter", "test:host", n)
        for i = 1, n do assert(process.send(pid, "n", i)) end
        return process.events():receive().result.value
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:sender", app.host, 5000) == {"ok": 5000}


async def test_messages_from_python_arrive_in_order(app, autojump_clock):
    proc(app, "collect", """
        local n = ...
        local inbox, got = process.inbox(), {}
        for i = 1, n do got[i] = inbox:receive():payload():data() end
        return got
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:collect", app.host, 300)
        me.monitor(pid)
        for i in range(1, 301):
            await me.send(pid, "n", i)
        ev = await recv(me)
        assert ev.payload["result"]["value"] == list(range(1, 301))


async def test_order_per_sender_with_several_senders(app, autojump_clock):
    proc(app, "many", """
        local to, tag, n = ...
        for i = 1, n do process.send(to, "n", { tag = tag, i = i }) end
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        for tag in ("a", "b", "c"):
            await node.spawn("test:many", app.host, me.pid, tag, 200)
        seen: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        for _ in range(600):
            msg = await recv(me)
            seen[msg.payload["tag"]].append(msg.payload["i"])
        for tag, values in seen.items():
            assert values == list(range(1, 201)), tag


async def test_lua_to_python_order(app, autojump_clock):
    proc(app, "burst", """
        local to = ...
        for i = 1, 1000 do process.send(to, "n", i) end
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:burst", app.host, me.pid)
        assert [(await recv(me)).payload for _ in range(1000)] == list(range(1, 1001))


# -- payload copying ------------------------------------------------------------------


async def test_receiver_mutating_a_payload_does_not_touch_the_sender(app, autojump_clock):
    proc(app, "mutator", """
        local msg = process.inbox():receive()
        local t = msg:payload():data()
        t.x = "changed"; t.list[1] = 99; t.list[4] = 4; t.nested.deep = nil
        process.send(msg:from(), "done", t)
    """)
    proc(app, "owner", """
        local t = { x = "original", list = { 1, 2, 3 }, nested = { deep = true } }
        local pid = process.spawn("test:mutator", "test:host")
        process.send(pid, "take", t)
        local reply = process.inbox():receive():payload():data()
        return { mine = t, theirs = reply, same = rawequal(t, reply) }
    """)
    async with Node.open(app.root) as node:
        out = await node.exec("test:owner", app.host)
        assert out["mine"] == {"x": "original", "list": [1, 2, 3], "nested": {"deep": True}}
        assert out["theirs"] == {"x": "changed", "list": [99, 2, 3, 4], "nested": {}}
        assert out["same"] is False


async def test_sender_mutating_after_send_does_not_touch_the_message(app, autojump_clock):
    proc(app, "late_mutation", """
        local t = { v = 1, sub = { w = 1 } }
        process.send(process.pid(), "self", t)
        t.v = 2; t.sub.w = 2
        local got = process.inbox():receive():payload():data()
        return { got = got, copy = not rawequal(got, t) and not rawequal(got.sub, t.sub) }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:late_mutation", app.host) == {"got": {"v": 1, "sub": {"w": 1}}, "copy": True}


async def test_two_receivers_of_one_table_do_not_share_it(app, autojump_clock):
    proc(app, "shared_copy", """
        local t = { n = 0 }
        process.send(process.pid(), "a", t)
        process.send(process.pid(), "b", t)
        local inbox = process.inbox()
        local a = inbox:receive():payload():data()
        local b = inbox:receive():payload():data()
        a.n = 1
        return { a = a.n, b = b.n, distinct = not rawequal(a, b) }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:shared_copy", app.host) == {"a": 1, "b": 0, "distinct": True}


async def test_message_payload_read_twice_is_the_same_data(app, autojump_clock):
    proc(app, "twice_read", """
        process.send(process.pid(), "t", { 1, 2 })
        local msg = process.inbox():receive()
        return { msg:payload():data()[2], msg:payload():data()[1] }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:twice_read", app.host) == [2, 1]


async def test_payload_value_kinds_survive_the_trip(app, autojump_clock):
    proc(app, "kinds", """
        local s = "a\\0b\\255c"
        process.send(process.pid(), "t", {
          t = true, f = false, i = 42, neg = -7, big = math.maxinteger, fl = 1.5,
          s = s, empty = "", list = { 1, "2", { 3 } }, map = { [1] = "one", [10] = "ten" },
        })
        process.send(process.pid(), "nil", nil)
        local inbox = process.inbox()
        local d = inbox:receive():payload():data()
        local n = inbox:receive()
        return {
          t = d.t == true, f = d.f == false, i = math.type(d.i) == "integer" and d.i == 42,
          neg = d.neg == -7, big = d.big == math.maxinteger, fl = math.type(d.fl) == "float" and d.fl == 1.5,
          s = d.s == s and #d.s == 5, empty = d.empty == "", list = d.list[3][1] == 3 and d.list[2] == "2",
          map = d.map[10] == "ten" and d.map[1] == "one",
          nil_topic = n:topic(), nil_payload = n:payload():data() == nil,
        }
    """)
    async with Node.open(app.root) as node:
        out = await node.exec("test:kinds", app.host)
        assert out.pop("nil_topic") == "nil"
        assert all(out.values()), out


async def test_binary_strings_cross_to_python_unchanged(app, autojump_clock):
    proc(app, "binary", """
        local to = ...
        local msg = process.inbox():receive()
        local data = msg:payload():data()
        process.send(to, "back", { raw = data, len = #data, extra = "\\0\\1\\255" })
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:binary", app.host, me.pid)
        await me.send(pid, "raw", b"\x00\xff\xfe binary")
        msg = await recv(me)
        assert msg.payload["raw"] == b"\x00\xff\xfe binary"
        assert msg.payload["len"] == 10
        assert msg.payload["extra"] in (b"\x00\x01\xff",)


async def test_acyclic_shared_subtables_are_allowed(app, autojump_clock):
    proc(app, "dag", """
        local leaf = { v = 1 }
        local ok, err = process.send(process.pid(), "t", { a = leaf, b = leaf, c = { leaf } })
        local d = process.inbox():receive():payload():data()
        return { ok = ok == true, err = err and tostring(err), a = d.a.v, b = d.b.v, c = d.c[1].v }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:dag", app.host) == {"ok": True, "a": 1, "b": 1, "c": 1}


# -- refused payloads ------------------------------------------------------------------


UNSERIALIZABLE = {
    "function": "function() end",
    "nested function": "{ a = { b = print } }",
    "coroutine": "coroutine.create(function() end)",
    "running coroutine": "coroutine.running()",
    "channel": "channel.new(1)",
    "inbox channel": "process.inbox()",
    "cyclic table": "(function() local t = {}; t.self = t; return t end)()",
    "deep cycle": "(function() local a = { b = { c = {} } }; a.b.c.a = a; return a end)()",
    "table key": "{ [{}] = 1 }",
    "function key": "{ [print] = 1 }",
    "timer": "require('time').timer('1s')",
    "time value": "require('time').now()",
}


@pytest.mark.parametrize("what", list(UNSERIALIZABLE))
async def test_unserializable_payload_is_refused_with_invalid(app, autojump_clock, what):
    proc(app, "refuse", f"""
        local value = {UNSERIALIZABLE[what]}
        local ok, err = process.send(process.pid(), "t", value)
        -- nothing was delivered
        local got = channel.select {{ process.inbox():case_receive(), default = true }}
        return {{ ok = ok, kind = err and err:kind(), message = err and err:message(), delivered = not got.default }}
    """)
    add_alive(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:refuse", app.host)
        assert out.get("ok") is None
        assert out["kind"] == "Invalid", out
        assert out["message"]
        assert out["delivered"] is False
        await still_running(node, app)


async def test_userdata_if_reachable_is_refused(app, autojump_clock):
    # The sandbox offers no userdata of its own; if any value reachable from a
    # process's globals is one, it must not be sendable.
    proc(app, "userdata", """
        local seen, found = {}, {}
        local function walk(v, depth)
          if depth > 6 or seen[v] then return end
          local tv = type(v)
          if tv == "userdata" then found[#found + 1] = v return end
          if tv ~= "table" then return end
          seen[v] = true
          for _, x in pairs(v) do walk(x, depth + 1) end
        end
        walk(_ENV, 0)
        local results = {}
        for i, u in ipairs(found) do
          local ok, err = process.send(process.pid(), "t", u)
          results[i] = err and err:kind() or "accepted"
        end
        return { count = #found, results = results }
    """)
    async with Node.open(app.root) as node:
        out = await node.exec("test:userdata", app.host)
        assert all(kind == "Invalid" for kind in out.get("results", [])), out


async def test_unserializable_python_payload_to_a_process_is_refused(app, autojump_clock):
    add_alive(app)
    proc(app, "idle", "process.inbox():receive()")
    async with Node.open(app.root) as node:
        pid = await node.spawn("test:idle", app.host)
        with pytest.raises((ActorError, TypeError)):
            await node.send(pid, "t", {"f": print})
        with pytest.raises((ActorError, TypeError)):
            await node.send(pid, "t", object())
        with pytest.raises((ActorError, TypeError)):
            await node.spawn("test:alive", app.host, {1, 2})
        await still_running(node, app)


async def test_unserializable_python_payload_to_a_mailbox_is_refused(app, autojump_clock):
    async with Node.open(app.root) as node, node.mailbox() as me:
        with pytest.raises((ActorError, TypeError)):
            await node.send(me.pid, "t", object())
        with pytest.raises((ActorError, TypeError)):
            await node.send(me.pid, "t", {"f": print})


async def test_python_to_python_payload_is_copied(app, autojump_clock):
    async with Node.open(app.root) as node, node.mailbox() as a, node.mailbox() as b:
        data = {"list": [1, 2], "inner": {"x": 1}}
        await a.send(b.pid, "t", data)
        data["list"].append(3)
        data["inner"]["x"] = 2
        msg = await recv(b)
        assert msg.payload == {"list": [1, 2], "inner": {"x": 1}}


async def test_spawn_arguments_keep_their_positions_around_nil(app, autojump_clock):
    proc(app, "holes", """
        local a, b, c = ...
        return { n = select("#", ...), a = a, b_is_nil = b == nil, c = c }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:holes", app.host, 1, None, 3) == {"n": 3, "a": 1, "b_is_nil": True, "c": 3}
        assert await node.exec("test:holes", app.host, 1, None) == {"n": 2, "a": 1, "b_is_nil": True}


# -- bad destinations and topics ------------------------------------------------------


async def test_bad_topics_are_invalid_in_lua(app, autojump_clock):
    proc(app, "topics", """
        local out = {}
        for i, topic in ipairs({ "", "@exit", "@x", 42, true }) do
          local ok, err = process.send(process.pid(), topic, "x")
          out[i] = { ok == nil, err and err:kind() }
        end
        local ok, err = process.send(process.pid(), nil, "x")
        out[#out + 1] = { ok == nil, err and err:kind() }
        local lok, lerr = pcall(process.listen, "@exit")
        out[#out + 1] = { not lok, lerr and lerr:kind() }
        lok, lerr = pcall(process.listen, "")
        out[#out + 1] = { not lok, lerr and lerr:kind() }
        return out
    """)
    add_alive(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:topics", app.host)
        assert out == [[True, "Invalid"]] * 8
        await still_running(node, app)


@pytest.mark.parametrize("topic", ["", "@exit", "@anything", None, 5])
async def test_bad_topics_are_invalid_from_python(app, autojump_clock, topic):
    add_alive(app)
    proc(app, "idle", "process.inbox():receive()")
    async with Node.open(app.root) as node, node.mailbox() as me:
        pid = await node.spawn("test:idle", app.host)
        for dest in (pid, me.pid):
            with pytest.raises(ActorError) as info:
                await node.send(dest, topic, "x")
            assert info.value.kind == "Invalid"
        await still_running(node, app)


async def test_send_to_an_exited_pid_is_not_an_error(app, autojump_clock):
    proc(app, "short", "return 1")
    proc(app, "late_sender", """
        local pid = process.spawn_monitored("test:short", "test:host")
        process.events():receive()            -- it has exited
        local ok, err = process.send(pid, "hello", "anyone?")
        return { ok = ok, err = err and tostring(err) }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        assert await node.exec("test:late_sender", app.host) == {"ok": True}
        pid = await node.spawn("test:short", app.host)
        me.monitor(pid)
        assert (await recv(me)).topic == "@exit"
        await node.send(pid, "hello", "anyone?")          # no exception
        await me.send(pid, "hello", "anyone?")


async def test_send_to_an_unknown_name_is_not_found(app, autojump_clock):
    proc(app, "nameless", """
        local ok, err = process.send("nobody-here", "t", 1)
        return { ok = ok, kind = err:kind(), message = err:message() }
    """)
    add_alive(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:nameless", app.host)
        assert out["kind"] == "NotFound" and "nobody-here" in out["message"]
        assert "ok" not in out
        with pytest.raises(ActorError) as info:
            await node.send("nobody-here", "t", 1)
        assert info.value.kind == "NotFound"
        await still_running(node, app)


async def test_send_to_a_non_string_destination_is_invalid(app, autojump_clock):
    proc(app, "baddest", """
        local out = {}
        for i, dest in ipairs({ 42, {}, true }) do
          local ok, err = process.send(dest, "t", 1)
          out[i] = err and err:kind()
        end
        return out
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:baddest", app.host) == ["Invalid", "Invalid", "Invalid"]


# -- exit results ----------------------------------------------------------------------


async def test_return_value_is_the_result(app, autojump_clock):
    proc(app, "value", 'return { answer = 42, list = { "a", "b" } }')
    proc(app, "gated_value", 'process.inbox():receive(); return { answer = 42, list = { "a", "b" } }')
    proc(app, "nothing", "return")
    async with Node.open(app.root) as node, node.mailbox() as me:
        assert await node.exec("test:value", app.host) == {"answer": 42, "list": ["a", "b"]}
        assert await node.exec("test:nothing", app.host) is None
        pid = await node.spawn("test:gated_value", app.host)
        me.monitor(pid)
        await node.send(pid, "go")
        ev = await recv(me)
        assert ev.topic == "@exit"
        assert ev.sender == pid
        assert ev.payload["kind"] == "EXIT" and ev.payload["from"] == pid
        assert ev.payload["result"]["value"] == {"answer": 42, "list": ["a", "b"]}
        assert ev.payload["result"].get("error") is None


async def test_return_nil_and_message_is_a_failure(app, autojump_clock):
    proc(app, "soft_fail", 'return nil, "could not do it"')
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:soft_fail", app.host)
        assert info.value.message == "could not do it"
        await still_running(node, app)


async def test_return_nil_and_error_object_keeps_its_kind(app, autojump_clock):
    proc(app, "typed_fail", """
        if ... then process.inbox():receive() end
        return nil, errors.new({ kind = errors.CONFLICT, message = "version clash", retryable = true,
                                 details = { have = 1, want = 2 } })
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        with pytest.raises(ActorError) as info:
            await node.exec("test:typed_fail", app.host)
        assert info.value.kind == "Conflict"
        assert info.value.message == "version clash"
        assert info.value.retryable is True
        assert info.value.details == {"have": 1, "want": 2}
        pid = await node.spawn("test:typed_fail", app.host, True)
        me.monitor(pid)
        await node.send(pid, "go")
        ev = await recv(me)
        error = ev.payload["result"]["error"]
        assert error["kind"] == "Conflict" and error["message"] == "version clash"


async def test_raised_lua_error_has_message_and_traceback(app, autojump_clock):
    app.lua("raiser", """
        local function deeper(x)
          error("boom " .. x)
        end
        local function helper(x) deeper(x) end
        return { main = function() helper("here") end }
    """)
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:raiser", app.host)
        err = info.value
        assert "boom here" in err.message
        assert "raiser.lua:3" in err.message           # where it was raised
        assert err.stack and "traceback" in err.stack
        assert "raiser.lua" in err.stack and "deeper" in err.stack
        await still_running(node, app)


async def test_raised_runtime_error_becomes_an_error_object(app, autojump_clock):
    proc(app, "nil_index", """
        local t = nil
        return t.field
    """)
    proc(app, "watcher", """
        local pid = process.spawn_monitored("test:nil_index", "test:host")
        local ev = process.events():receive()
        local e = ev.result.error
        return { kind = e:kind(), message = e:message(),
                 has_stack = type(e:stack()) == "string" and #e:stack() > 0, value = ev.result.value }
    """)
    async with Node.open(app.root) as node:
        out = await node.exec("test:watcher", app.host)
        assert "attempt to index" in out["message"]
        assert out["has_stack"] is True
        assert out["kind"] in ("Internal", "Unknown")
        assert "value" not in out


async def test_raised_error_object_keeps_its_kind(app, autojump_clock):
    proc(app, "raise_obj", 'error(errors.new({ kind = errors.PERMISSION_DENIED, message = "nope" }))')
    proc(app, "raise_table", 'error({ code = 1 })')
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:raise_obj", app.host)
        assert (info.value.kind, info.value.message) == ("PermissionDenied", "nope")
        with pytest.raises(ActorError) as info:
            await node.exec("test:raise_table", app.host)
        assert info.value.message  # some description, not a crash of the node
        await still_running(node, app)


async def test_an_unserializable_return_value_fails_cleanly(app, autojump_clock):
    proc(app, "returns_function", "return { f = print }")
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            with trio.fail_after(60):
                await node.exec("test:returns_function", app.host)
        assert info.value.kind == "Invalid"
        await still_running(node, app)


async def test_each_monitor_gets_its_own_copy_of_the_exit_value(app, autojump_clock):
    proc(app, "gated", "process.inbox():receive(); return { n = 1 }")
    proc(app, "watch_and_mutate", """
        local target = ...
        process.monitor(target)
        local value = process.events():receive().result.value
        local seen = value.n
        value.n = process.pid()
        require("time").sleep("1s")          -- the other monitor runs meanwhile
        return { seen = seen, kept_own = value.n == process.pid() }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        target = await node.spawn("test:gated", app.host)
        watchers = [await node.spawn("test:watch_and_mutate", app.host, target, monitor_by=me.pid)
                    for _ in range(2)]
        await trio.sleep(1)
        await node.send(target, "go")
        for _ in watchers:
            ev = await recv(me)
            assert ev.payload["result"]["value"] == {"seen": 1, "kept_own": True}, \
                "two monitors shared one exit value table"


async def test_error_objects_in_payloads_are_copied_and_checked(app, autojump_clock):
    proc(app, "sends_errors", """
        local to = ...
        local details = { n = 1 }
        process.send(process.pid(), "t", errors.new({ message = "x", details = details }))
        local got = process.inbox():receive():payload():data()
        got.details.n = 2
        local ok, err = process.send(process.pid(), "t", errors.new({ message = "y", details = { f = print } }))
        local ok2, err2 = process.send(to, "t", errors.new({ message = "z", details = { f = print } }))
        return { sender_sees = details.n, local_kind = err and err:kind(), python_kind = err2 and err2:kind() }
    """)
    add_alive(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        with trio.fail_after(60):
            out = await node.exec("test:sends_errors", app.host, me.pid)
        assert out == {"sender_sees": 1, "local_kind": "Invalid", "python_kind": "Invalid"}
        await still_running(node, app)


async def test_entry_without_the_method_fails_clearly(app, autojump_clock):
    app.lua("no_method", "return { other = function() end }", method="main")
    app.lua("not_table", "return 42", method="main")
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:no_method", app.host)
        assert "main" in info.value.message and "test:no_method" in info.value.message
        with pytest.raises(ActorError) as info:
            await node.exec("test:not_table", app.host)
        assert "test:not_table" in info.value.message
        await still_running(node, app)


async def test_failing_processes_do_not_stop_the_node(app, autojump_clock):
    proc(app, "crash", 'error("crash " .. tostring(...))')
    add_alive(app)
    async with Node.open(app.root) as node:
        for i in range(20):
            with pytest.raises(ActorError):
                await node.exec("test:crash", app.host, i)
        await still_running(node, app)
        assert node.process_count(app.host) == 0


async def test_process_count_follows_spawns_and_exits(app, autojump_clock):
    proc(app, "waiter", "process.inbox():receive()")
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = [await node.spawn("test:waiter", app.host) for _ in range(3)]
        assert node.process_count(app.host) == 3
        for pid in pids:
            me.monitor(pid)
            await node.send(pid, "go", None)
        for _ in pids:
            assert (await recv(me)).topic == "@exit"
        assert node.process_count(app.host) == 0


async def test_process_id_is_a_string(app, autojump_clock):
    proc(app, "ids", "return { pid = process.pid(), id = process.id() }")
    async with Node.open(app.root) as node:
        out = await node.exec("test:ids", app.host)
        assert PID_RE.match(out["pid"])
        assert isinstance(out["id"], str) and out["id"]


# -- reuse of the coroutines of function calls ------------------------------------------------------


async def test_calls_after_a_failing_one_start_clean(app, autojump_clock):
    """The process of a function call runs on a reused coroutine. One that
    raised leaves its coroutine dead; one that returned hands it on. Either
    way the next call starts with nothing of the last."""
    app.lua("steps", """
        local function run(i)
          if i % 3 == 0 then error("step " .. i .. " fails") end
          local fresh = rawget(_ENV, "leaked") == nil
          leaked = true
          local here = {}
          for k = 1, i do here[k] = k end
          return { i = i, n = #here, fresh = fresh }
        end
        return { run = run }
    """, method="run", kind="function.lua")
    proc(app, "caller", """
        local funcs = require("funcs")
        local out = {}
        for i = 1, 12 do
          local value, err = funcs.call("test:steps", i)
          out[i] = value or tostring(err)
        end
        return out
    """, modules=("funcs",))
    async with Node.open(app.root) as node:
        out = await node.exec("test:caller", app.host)
    for i, got in enumerate(out, start=1):
        if i % 3 == 0:
            assert f"step {i} fails" in got
        else:
            assert got == {"i": i, "n": i, "fresh": True}


def _sleepy_calls(app) -> None:
    app.entries[0]["host"] = {"workers": 1}  # one worker's pool of coroutines is what these measure
    app.lua("nap", """
        local time = require("time")
        return {
          nap = function() time.sleep("1s"); return true end,
        }
    """, method="nap", kind="function.lua", modules=["time"])
    proc(app, "caller", """
        local funcs = require("funcs")
        local what, n = ...
        local futures = {}
        for i = 1, n do futures[i] = funcs.async(what) end
        for i = 1, n do futures[i]:response():receive() end
        return n
    """, modules=("funcs",))
    add_alive(app)


async def _memory_after_calls(node, app, what: str, n: int) -> tuple[int, int]:
    """The host's memory before `n` calls of `what` started at once, and
    what it holds more once they all ended."""
    await still_running(node, app)
    baseline = node.memory(app.host)
    assert await node.exec("test:caller", app.host, what, n) == n
    return baseline, node.memory(app.host) - baseline


async def test_a_burst_of_calls_leaves_no_idle_coroutines_behind(app, autojump_clock):
    """5,000 calls end at once; their coroutines wait for reuse, but once a
    slice has not needed them they are let go (each is ~1 KB)."""
    _sleepy_calls(app)
    async with Node.open(app.root) as node:
        baseline, held = await _memory_after_calls(node, app, "test:nap", 5_000)
        for _ in range(2):  # a slice that needs a coroutine, then the one that lets the rest go
            await still_running(node, app)
        after = node.memory(app.host) - baseline
        assert held - after > 5_000 * 512, (held, after)   # what the idle coroutines held went


async def test_calls_started_together_take_a_coroutine_only_when_they_run(app, autojump_clock):
    """A function call's process takes its reused coroutine at its first
    turn: 5,000 quick calls started at once run one after another on the
    same few, instead of each holding one (~1 KB) while it waits."""
    app.lua("quick", "return { run = function() return true end }", method="run", kind="function.lua")
    _sleepy_calls(app)
    async with Node.open(app.root) as node:
        _, held = await _memory_after_calls(node, app, "test:quick", 5_000)
        assert held < 5_000 * 128, held
