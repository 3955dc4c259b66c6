"""Process Management page (the ``process`` global) and the Process Model page.

``process.id``/``pid``, ``send`` (several payload values, reserved topics),
the spawn family, ``terminate``/``cancel``, monitors and links, options,
inbox/events and their event fields, ``listen``/``unlisten``, Message
objects, ``exec``, spawners (``with_context``, ``with_options``,
``with_name``, ``with_message``, the spawn methods and ``exec``) and the name
registry with its scopes; then the Process Model page's examples.
"""

from __future__ import annotations

import re

import pytest
import trio

from actors import ActorError

PID_RE = re.compile(r"^\{[^@{}]+@[^|{}]+\|[^{}]+\}$")


def helpers(lua) -> None:
    """Processes the tests start: one that waits forever, one that returns
    its arguments, one that fails with a Conflict error."""
    lua.process("idle", "process.inbox():receive()", modules=())
    lua.process("echo", "return { ... }", modules=())
    lua.process("fails", 'error(errors.new({ message = "broke", kind = errors.CONFLICT }))', modules=())


async def test_process_is_a_global_without_require(lua, autojump_clock):
    assert await lua.run("return type(process), type(process.spawn)", modules=()) == "table"


# -- process information ----------------------------------------------------------------


async def test_pid_is_the_process_id(lua, autojump_clock):
    lua.process("who", "return process.pid()", modules=())
    out = await lua.run("""
        local pid = process.spawn_monitored("test:who", "test:host")
        local event = process.events():receive()
        return { me = process.pid(), child = pid, child_said = event.result.value }
    """, modules=())
    assert PID_RE.match(out["me"])
    assert out["child"] == out["child_said"]
    assert out["me"] != out["child"]


async def test_id_is_the_call_chain_identifier(lua, autojump_clock):
    lua.function("frame", "return { id = process.id(), pid = process.pid() }", modules=())
    lua.function("outer", 'return funcs.call("test:frame")', modules=("funcs",))
    lua.process("other", "return process.id()", modules=())
    out = await lua.run("""
        local inner = funcs.call("test:frame")
        local nested = funcs.call("test:outer")
        local other = process.exec("test:other", "test:host")
        return { id = process.id(), pid = process.pid(), inner = inner, nested = nested, other = other }
    """, modules=("funcs",))
    assert isinstance(out["id"], str) and out["id"]
    # a function called by the process runs in the caller's chain (even two calls down)
    assert out["inner"]["id"] == out["id"] == out["nested"]["id"]
    assert out["inner"]["pid"] != out["pid"]
    # another process is another chain
    assert out["other"] != out["id"]


# -- sending ----------------------------------------------------------------------------


async def test_send_returns_true(lua, autojump_clock):
    out = await lua.run("""
        local ok, err = process.send(process.pid(), "note", { n = 1 })
        local msg = process.inbox():receive()
        return { ok, err == nil, msg:topic(), msg:payload():data().n }
    """, modules=())
    assert out == [True, True, "note", 1]


async def test_send_with_several_payload_values(lua, autojump_clock):
    out = await lua.run("""
        local ok = process.send(process.pid(), "multi", "a", 2, { three = 3 })
        local msg = process.inbox():receive()
        return { ok, msg:payload():data() }
    """, modules=())
    assert out == [True, ["a", 2, {"three": 3}]]


async def test_send_of_one_value_is_that_value(lua, autojump_clock):
    out = await lua.run("""
        process.send(process.pid(), "one", "only")
        return process.inbox():receive():payload():data()
    """, modules=())
    assert out == "only"


async def test_send_by_registered_name(lua, autojump_clock):
    out = await lua.run("""
        process.registry.register("me_myself")
        local ok = process.send("me_myself", "by name", 7)
        return { ok, process.inbox():receive():payload():data() }
    """, modules=())
    assert out == [True, 7]


@pytest.mark.parametrize("topic", ['"@inbox"', '"@custom"'])
async def test_send_on_a_reserved_topic_is_invalid(lua, autojump_clock, topic):
    out = await lua.run(f"""
        local ok, err = process.send(process.pid(), {topic}, 1)
        return {{ ok == nil, err:kind() }}
    """, modules=())
    assert out == [True, "Invalid"]


@pytest.mark.parametrize("call", ["process.send(process.pid())", "process.send(nil, 'topic', 1)",
                                  "process.send(process.pid(), 42, 1)"])
async def test_send_with_missing_arguments_is_invalid(lua, autojump_clock, call):
    out = await lua.run(f"""
        local ok, err = {call}
        return {{ ok == nil, err:kind() }}
    """, modules=())
    assert out == [True, "Invalid"]


async def test_send_to_an_unregistered_name_is_not_found(lua, autojump_clock):
    out = await lua.run("""
        local ok, err = process.send("nobody_has_this_name", "t", 1)
        return { ok == nil, err:kind() }
    """, modules=())
    assert out == [True, "NotFound"]


async def test_send_is_fire_and_forget_to_a_process_that_ended(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local pid = process.spawn_monitored("test:echo", "test:host")
        process.events():receive()
        return process.send(pid, "late", 1)
    """, modules=())
    assert out is True


async def test_messages_from_the_same_sender_arrive_in_order(lua, autojump_clock):
    lua.process("collector", """
        local parent = ...
        local got = {}
        for _ = 1, 100 do got[#got + 1] = process.inbox():receive():payload():data() end
        process.send(parent, "done", got)
    """, modules=())
    out = await lua.run("""
        local pid = process.spawn("test:collector", "test:host", process.pid())
        for i = 1, 100 do process.send(pid, "n", i) end
        return process.inbox():receive():payload():data()
    """, modules=())
    assert out == list(range(1, 101))


async def test_messages_are_copies(lua, autojump_clock):
    # no shared memory: changing what was sent changes nothing the receiver has
    out = await lua.run("""
        local t = { list = { 1 } }
        process.send(process.pid(), "t", t)
        t.list[1] = "changed"
        local got = process.inbox():receive():payload():data()
        return { got.list[1], got ~= t }
    """, modules=())
    assert out == [1, True]


# -- spawning ---------------------------------------------------------------------------


async def test_spawn_returns_a_pid_and_passes_the_arguments(lua, autojump_clock):
    lua.process("worker", """
        local parent, a, b = ...
        process.send(parent, "args", { a, b })
    """, modules=())
    out = await lua.run("""
        local pid, err = process.spawn("test:worker", "test:host", process.pid(), "one", { two = 2 })
        local msg = process.inbox():receive()
        return { pid = pid, err = err == nil, args = msg:payload():data(), from = msg:from() }
    """, modules=())
    assert PID_RE.match(out["pid"])
    assert out["err"] is True
    assert out["args"] == ["one", {"two": 2}]
    assert out["from"] == out["pid"]


async def test_spawn_monitored_receives_exit(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local pid = process.spawn_monitored("test:echo", "test:host", "value")
        local event = process.events():receive()
        return { event.kind == process.event.EXIT, event.from == pid, event.result.value, event.result.error == nil }
    """, modules=())
    assert out == [True, True, ["value"], True]


async def test_spawn_linked_receives_link_down_on_abnormal_exit(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        local pid = process.spawn_linked("test:fails", "test:host")
        local event = process.events():receive()
        return { event.kind == process.event.LINK_DOWN, event.from == pid, event.result.error:kind(),
                 event.result.error:message() }
    """, modules=())
    assert out == [True, True, "Conflict", "broke"]


async def test_spawn_linked_monitored_receives_both(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        local pid = process.spawn_linked_monitored("test:fails", "test:host")
        local kinds = {}
        for _ = 1, 2 do
            local event = process.events():receive()
            kinds[#kinds + 1] = event.kind
            assert(event.from == pid)
        end
        table.sort(kinds)
        return kinds
    """, modules=())
    assert out == ["EXIT", "LINK_DOWN"]


@pytest.mark.parametrize(("call", "kind"), [
    ('process.spawn("test:nothing_here", "test:host")', "NotFound"),
    ('process.spawn("test:echo", "test:no_such_host")', None),
    ('process.spawn(nil, "test:host")', "Invalid"),
    ('process.spawn("test:echo")', "Invalid"),
    ('process.spawn_monitored(nil, "test:host")', "Invalid"),
    ('process.spawn_linked("test:nothing_here", "test:host")', "NotFound"),
])
async def test_spawn_failures_return_nil_and_an_error(lua, autojump_clock, call, kind):
    helpers(lua)
    out = await lua.run(f"""
        local pid, err = {call}
        return {{ pid == nil, err:kind() }}
    """, modules=())
    assert out[0] is True
    if kind:
        assert out[1] == kind


# -- process control --------------------------------------------------------------------


async def test_terminate_ends_the_process_with_a_canceled_error(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local pid = process.spawn_monitored("test:idle", "test:host")
        local ok, err = process.terminate(pid)
        local event = process.events():receive()
        return { ok, err == nil, event.kind, event.result.error:kind() }
    """, modules=())
    assert out == [True, True, "EXIT", "Canceled"]


async def test_cancel_delivers_the_reason(lua, autojump_clock):
    lua.process("cancellable", """
        local parent = ...
        local event = process.events():receive()
        process.send(parent, "got", { kind = event.kind, from = event.from, reason = event.reason,
                                      is_cancel = event.kind == process.event.CANCEL })
        return "cleaned up"
    """, modules=())
    out = await lua.run("""
        local pid = process.spawn_monitored("test:cancellable", "test:host", process.pid())
        local ok, err = process.cancel(pid, "shutting down")
        local got = process.inbox():receive():payload():data()
        local exit = process.events():receive()
        return { ok = ok, err = err == nil, got = got, me = process.pid(), result = exit.result.value }
    """, modules=())
    assert out["ok"] is True and out["err"] is True
    assert out["got"] == {"kind": "CANCEL", "from": out["me"], "reason": "shutting down", "is_cancel": True}
    # the target decides what a cancel means: here it finished normally
    assert out["result"] == "cleaned up"


async def test_cancel_reason_is_optional(lua, autojump_clock):
    lua.process("cancellable", """
        local event = process.events():receive()
        return { event.kind, event.reason == nil }
    """, modules=())
    out = await lua.run("""
        local pid = process.spawn_monitored("test:cancellable", "test:host")
        process.cancel(pid)
        return process.events():receive().result.value
    """, modules=())
    assert out == ["CANCEL", True]


async def test_terminate_and_cancel_accept_a_registered_name(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local spawner = process.with_context({}):with_name("victim")
        local pid = spawner:spawn_monitored("test:idle", "test:host")
        local ok1 = process.cancel("victim", "first a cancel")
        local ok2 = process.terminate("victim")
        local event = process.events():receive()
        return { ok1, ok2, event.from == pid, event.result.error:kind() }
    """, modules=())
    assert out == [True, True, True, "Canceled"]


async def test_terminate_and_cancel_of_an_unknown_name_are_not_found(lua, autojump_clock):
    out = await lua.run("""
        local ok1, e1 = process.terminate("nobody_by_that_name")
        local ok2, e2 = process.cancel("nobody_by_that_name", "r")
        return { ok1 == nil, e1:kind(), ok2 == nil, e2:kind() }
    """, modules=())
    assert out == [True, "NotFound", True, "NotFound"]


# -- monitoring and linking -------------------------------------------------------------


async def test_monitor_and_unmonitor(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local a = process.spawn("test:idle", "test:host")
        local b = process.spawn("test:idle", "test:host")
        local ok1, e1 = process.monitor(a)
        local ok2, e2 = process.monitor(b)
        local ok3, e3 = process.unmonitor(b)
        process.terminate(b)
        process.terminate(a)
        local event = process.events():receive()
        local r = channel.select { process.events():case_receive(), default = true }
        return { ok1, e1 == nil, ok2, ok3, e3 == nil, event.from == a, r.default == true }
    """, modules=())
    assert out == [True, True, True, True, True, True, True]


async def test_link_and_unlink(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        local a = process.spawn("test:idle", "test:host")
        local b = process.spawn("test:idle", "test:host")
        local ok1, e1 = process.link(a)
        local ok2 = process.link(b)
        local ok3, e3 = process.unlink(b)
        process.terminate(b)
        process.terminate(a)
        local event = process.events():receive()
        local r = channel.select { process.events():case_receive(), default = true }
        return { ok1, e1 == nil, ok2, ok3, e3 == nil, event.kind, event.from == a, r.default == true }
    """, modules=())
    assert out == [True, True, True, True, True, "LINK_DOWN", True, True]


async def test_link_is_bidirectional(lua, autojump_clock):
    lua.process("watcher", """
        process.set_options({ trap_links = true })
        local parent = ...
        process.link(parent)
        process.send(parent, "linked", true)
        local event = process.events():receive()
        return { kind = event.kind, from = event.from, error = event.result.error:kind() }
    """, modules=())
    lua.process("parent", """
        local top = ...
        local w = process.spawn("test:watcher", "test:host", process.pid())
        process.send(top, "watcher", w)
        process.inbox():receive()
        error(errors.new({ message = "the parent broke", kind = errors.INTERNAL }))
    """, modules=())
    out = await lua.run("""
        process.spawn("test:parent", "test:host", process.pid())
        local w = process.inbox():receive():payload():data()
        process.monitor(w)
        return process.events():receive().result.value
    """, modules=())
    assert out["kind"] == "LINK_DOWN"
    assert out["error"] == "Internal"


async def test_a_linked_failure_ends_a_process_that_does_not_trap_links(lua, autojump_clock):
    helpers(lua)
    lua.process("linker", """
        process.spawn_linked("test:fails", "test:host")
        process.inbox():receive()
    """, modules=())
    out = await lua.run("""
        local pid = process.spawn_monitored("test:linker", "test:host")
        local event = process.events():receive()
        return { event.from == pid, event.result.error:kind() }
    """, modules=())
    assert out == [True, "Canceled"]


async def test_a_normal_exit_sends_no_link_down(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        process.spawn_linked_monitored("test:echo", "test:host")
        local first = process.events():receive()
        local r = channel.select { process.events():case_receive(), default = true }
        return { first.kind, r.default == true }
    """, modules=())
    assert out == ["EXIT", True]


async def test_link_down_of_a_dead_process_carries_result(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        local pid = process.spawn_monitored("test:echo", "test:host")
        process.events():receive()
        process.link(pid)
        local event = process.events():receive()
        return { event.kind, event.from == pid, type(event.result), event.result.error:kind() }
    """, modules=())
    assert out == ["LINK_DOWN", True, "table", "NotFound"]


async def test_monitor_and_link_accept_a_registered_name(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        local pid = process.with_context({}):with_name("watched"):spawn("test:idle", "test:host")
        local ok1 = process.monitor("watched")
        local ok2 = process.link("watched")
        process.terminate("watched")
        local kinds = {}
        for _ = 1, 2 do
            local e = process.events():receive()
            kinds[#kinds + 1] = e.kind .. (e.from == pid and "" or "?")
        end
        table.sort(kinds)
        return { ok1, ok2, kinds }
    """, modules=())
    assert out == [True, True, ["EXIT", "LINK_DOWN"]]


@pytest.mark.parametrize("fn", ["monitor", "unmonitor", "link", "unlink"])
async def test_relationship_calls_with_an_unknown_name_are_not_found(lua, autojump_clock, fn):
    out = await lua.run(f"""
        local ok, err = process.{fn}("no_one_registered_this")
        return {{ ok == nil, err:kind() }}
    """, modules=())
    assert out == [True, "NotFound"]


@pytest.mark.parametrize("call", ["process.terminate()", "process.cancel(nil, 'r')", "process.monitor()",
                                  "process.unmonitor(42)", "process.link({})", "process.unlink()"])
async def test_relationship_calls_without_a_destination_are_invalid(lua, autojump_clock, call):
    out = await lua.run(f"""
        local ok, err = {call}
        return {{ ok == nil, err:kind() }}
    """, modules=())
    assert out == [True, "Invalid"]


# -- process options --------------------------------------------------------------------


async def test_get_and_set_options(lua, autojump_clock):
    out = await lua.run("""
        local before = process.get_options()
        local ok, err = process.set_options({trap_links = true})
        local after = process.get_options()
        return { before = before.trap_links, ok = ok, err = err == nil, after = after.trap_links }
    """, modules=())
    assert out == {"before": False, "ok": True, "err": True, "after": True}


async def test_upgradable_option_is_kept(lua, autojump_clock):
    out = await lua.run("""
        local before = process.get_options().upgradable
        local ok = process.set_options({ upgradable = true })
        local after = process.get_options()
        return { before, ok, after.upgradable, after.trap_links }
    """, modules=())
    assert out == [False, True, True, False]


async def test_set_options_with_a_non_table_returns_an_error(lua, autojump_clock):
    out = await lua.run("""
        local ok, err = process.set_options("trap")
        return { ok == nil, err:kind() }
    """, modules=())
    assert out == [True, "Invalid"]


async def test_trap_links_delivers_link_down_to_events(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({trap_links = true})
        process.spawn_linked("test:fails", "test:host")
        local event = process.events():receive()
        return event.kind
    """, modules=())
    assert out == "LINK_DOWN"


# -- inbox and events -------------------------------------------------------------------


async def test_inbox_gives_message_objects(lua, autojump_clock):
    out = await lua.run("""
        process.send(process.pid(), "greeting", { text = "hi" })
        local inbox = process.inbox()
        local msg = inbox:receive()
        return { msg:topic(), msg:from() == process.pid(), msg:payload():data().text, process.inbox() == inbox }
    """, modules=())
    assert out == ["greeting", True, "hi", True]


async def test_event_constants(lua, autojump_clock):
    out = await lua.run("""
        return { process.event.CANCEL, process.event.EXIT, process.event.LINK_DOWN, process.event.OUTDATED }
    """, modules=())
    assert out == ["CANCEL", "EXIT", "LINK_DOWN", "OUTDATED"]


async def test_exit_event_fields(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local ok_pid = process.spawn_monitored("test:echo", "test:host", 1, 2)
        local ok_event = process.events():receive()
        local bad_pid = process.spawn_monitored("test:fails", "test:host")
        local bad_event = process.events():receive()
        return {
            ok = { ok_event.kind, ok_event.from == ok_pid, ok_event.result.value, ok_event.result.error == nil },
            bad = { bad_event.kind, bad_event.from == bad_pid, bad_event.result.value == nil,
                    bad_event.result.error:kind(), bad_event.result.error:message() },
        }
    """, modules=())
    assert out["ok"] == ["EXIT", True, [1, 2], True]
    assert out["bad"] == ["EXIT", True, True, "Conflict", "broke"]


async def test_exit_of_a_process_returning_nil_and_an_error(lua, autojump_clock):
    lua.process("soft_fail", 'return nil, errors.new({ message = "no luck", kind = errors.UNAVAILABLE })', modules=())
    out = await lua.run("""
        process.spawn_monitored("test:soft_fail", "test:host")
        local event = process.events():receive()
        return { event.result.error:kind(), event.result.error:message() }
    """, modules=())
    assert out == ["Unavailable", "no luck"]


# -- topic subscription -----------------------------------------------------------------


async def test_listen_gives_raw_payloads(lua, autojump_clock):
    out = await lua.run("""
        local ch = process.listen("orders")
        process.send(process.pid(), "orders", { id = 1 })
        process.send(process.pid(), "other", "to the inbox")
        local order = ch:receive()
        local other = process.inbox():receive()
        return { order.id, other:topic() }
    """, modules=())
    assert out == [1, "other"]


async def test_listen_with_message_option_gives_message_objects(lua, autojump_clock):
    out = await lua.run("""
        local ch = process.listen("orders", { message = true })
        process.send(process.pid(), "orders", { id = 2 })
        local msg = ch:receive()
        return { msg:topic(), msg:from() == process.pid(), msg:payload():data().id }
    """, modules=())
    assert out == ["orders", True, 2]


async def test_listen_with_message_false_gives_raw_payloads(lua, autojump_clock):
    out = await lua.run("""
        local ch = process.listen("t", { message = false })
        process.send(process.pid(), "t", "raw")
        return ch:receive()
    """, modules=())
    assert out == "raw"


async def test_unlisten_sends_the_topic_back_to_the_inbox(lua, autojump_clock):
    out = await lua.run("""
        local ch = process.listen("t")
        process.unlisten(ch)
        process.send(process.pid(), "t", "back in the inbox")
        return process.inbox():receive():payload():data()
    """, modules=())
    assert out == "back in the inbox"


@pytest.mark.parametrize("topic", ['"@inbox"', '"@events"', '"@mine"'])
async def test_listen_on_a_reserved_topic_is_invalid(lua, autojump_clock, topic):
    out = await lua.run(f"""
        local ok, err = pcall(process.listen, {topic})
        return {{ ok, err:kind() }}
    """, modules=())
    assert out == [False, "Invalid"]


# -- message objects --------------------------------------------------------------------


async def test_message_object_methods(lua, autojump_clock):
    out = await lua.run("""
        process.send(process.pid(), "topic name", { 1, 2 })
        local inbox = process.inbox()
        local msg = inbox:receive()

        return {
            topic = msg:topic(),            -- string: topic name
            from = msg:from(),              -- string|nil: sender PID
            payload = type(msg:payload()),  -- Payload: wrapper (call :data() to extract)
            data = msg:payload():data(),    -- any: actual payload value
            me = process.pid(),
        }
    """, modules=())
    assert out["topic"] == "topic name"
    assert out["from"] == out["me"]
    assert out["payload"] == "table"
    assert out["data"] == [1, 2]


async def test_message_from_python_has_a_sender(lua, autojump_clock):
    lua.process("receiver", """
        local msg = process.inbox():receive()
        return { msg:topic(), msg:from(), msg:payload():data() }
    """, modules=())
    async with lua.node() as node, node.mailbox() as me:
        pid = await node.spawn("test:receiver", lua.host)
        me.monitor(pid)
        await node.send(pid, "hi", {"x": 1})
        with trio.fail_after(60):
            event = await me.receive()
        topic, sender, data = event.payload["result"]["value"]
        assert (topic, data) == ("hi", {"x": 1})
        assert PID_RE.match(sender)


# -- synchronous call -------------------------------------------------------------------


async def test_exec_returns_the_result(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local result, err = process.exec("test:echo", "test:host", "a", "b")
        return { result, err == nil }
    """, modules=())
    assert out == [["a", "b"], True]


async def test_exec_returns_nil_and_the_error(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local result, err = process.exec("test:fails", "test:host")
        local r2, err2 = process.exec("test:nothing_here", "test:host")
        return { result == nil, err:kind(), err:message(), r2 == nil, err2:kind() }
    """, modules=())
    assert out == [True, "Conflict", "broke", True, "NotFound"]


# -- spawners ---------------------------------------------------------------------------


async def test_with_context_spawner(lua, autojump_clock):
    lua.process("reads_ctx", 'return ctx.get("request_id")', modules=("ctx",))
    out = await lua.run("""
        local spawner = process.with_context({request_id = "123"})
        local pid = spawner:spawn_monitored("test:reads_ctx", "test:host")
        return process.events():receive().result.value
    """, modules=())
    assert out == "123"


async def test_with_options_spawner(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local spawner, err = process.with_options({})
        local result = spawner:exec("test:echo", "test:host", "ran")
        return { err == nil, result }
    """, modules=())
    assert out == [True, ["ran"]]


async def test_spawners_are_immutable(lua, autojump_clock):
    lua.process("reads_ctx", "return ctx.all()", modules=("ctx",))
    out = await lua.run("""
        local base = process.with_context({ a = 1 })
        local more = base:with_context({ b = 2 })
        return { base = base:exec("test:reads_ctx", "test:host"), more = more:exec("test:reads_ctx", "test:host"),
                 distinct = base ~= more }
    """, modules=())
    assert out["base"] == {"a": 1}
    assert out["more"] == {"a": 1, "b": 2}
    assert out["distinct"] is True


async def test_with_name_registers_the_child(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local pid = process.with_context({}):with_name("worker_one"):spawn("test:idle", "test:host")
        local found = process.registry.lookup("worker_one")
        return found == pid
    """, modules=())
    assert out is True


async def test_with_message_queues_messages_sent_after_the_spawn(lua, autojump_clock):
    lua.process("takes_job", """
        local jobs = process.listen("job")
        local first, second = jobs:receive(), jobs:receive()
        return { first, second }
    """, modules=())
    out = await lua.run("""
        local spawner = process.with_context({}):with_message("job", "first"):with_message("job", "x", "y")
        local pid = spawner:spawn_monitored("test:takes_job", "test:host")
        return process.events():receive().result.value
    """, modules=())
    assert out == ["first", ["x", "y"]]


async def test_spawner_spawn_methods(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        process.set_options({ trap_links = true })
        local s = process.with_context({ k = 1 })
        local seen = {}
        local p1 = s:spawn("test:echo", "test:host")
        local p2 = s:spawn_monitored("test:echo", "test:host")
        local e2 = process.events():receive()
        seen[#seen + 1] = e2.kind .. (e2.from == p2 and "" or "?")
        local p3 = s:spawn_linked("test:fails", "test:host")
        local e3 = process.events():receive()
        seen[#seen + 1] = e3.kind .. (e3.from == p3 and "" or "?")
        local p4 = s:spawn_linked_monitored("test:fails", "test:host")
        local kinds = {}
        for _ = 1, 2 do
            local e = process.events():receive()
            kinds[#kinds + 1] = e.kind .. (e.from == p4 and "" or "?")
        end
        table.sort(kinds)
        seen[#seen + 1] = kinds
        return { type(p1), seen }
    """, modules=())
    assert out == ["string", ["EXIT", "LINK_DOWN", ["EXIT", "LINK_DOWN"]]]


async def test_spawner_exec_runs_under_its_context(lua, autojump_clock):
    lua.process("reads_ctx", 'local key = ...; return ctx.get(key)', modules=("ctx",))
    out = await lua.run("""
        local result, err = process.with_context({ tenant = "acme" }):exec("test:reads_ctx", "test:host", "tenant")
        return { result, err == nil }
    """, modules=())
    assert out == ["acme", True]


@pytest.mark.parametrize("build", [
    'process.with_context("not a table")',
    'process.with_options(5)',
    'process.with_context({}):with_name("")',
    'process.with_context({}):with_message("@reserved", 1)',
    'process.with_context({ f = print })',
])
async def test_spawner_builders_return_nil_and_an_error(lua, autojump_clock, build):
    out = await lua.run(f"""
        local spawner, err = {build}
        return {{ spawner == nil, err:kind() }}
    """, modules=())
    assert out == [True, "Invalid"]


# -- name registry ----------------------------------------------------------------------


async def test_register_lookup_unregister(lua, autojump_clock):
    out = await lua.run("""
        local ok, err = process.registry.register("session_manager")               -- self, local scope
        local pid, err2 = process.registry.lookup("session_manager")
        local ok3, err3 = process.registry.unregister("session_manager")
        local gone, err4 = process.registry.lookup("session_manager")
        return { ok, err == nil, pid == process.pid(), err2 == nil, ok3, err3 == nil, gone == nil, err4:kind() }
    """, modules=())
    assert out == [True, True, True, True, True, True, True, "NotFound"]


async def test_scope_constants(lua, autojump_clock):
    out = await lua.run("""
        local r = process.registry
        return { type(r.LOCAL), type(r.EVENTUAL), type(r.CONSISTENT), type(r.STRONG),
                 r.LOCAL ~= r.EVENTUAL and r.EVENTUAL ~= r.CONSISTENT and r.CONSISTENT ~= r.STRONG }
    """, modules=())
    assert out == ["number", "number", "number", "number", True]


async def test_register_with_an_explicit_pid_and_local_scope(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local pid = process.spawn("test:idle", "test:host")
        local ok, err = process.registry.register("the_worker", pid, process.registry.LOCAL)
        local ok2 = process.registry.register("me_local", nil, process.registry.LOCAL)
        return { ok, err == nil, process.registry.lookup("the_worker") == pid, ok2,
                 process.registry.lookup("me_local") == process.pid() }
    """, modules=())
    assert out == [True, True, True, True, True]


@pytest.mark.parametrize("scope", ["EVENTUAL", "CONSISTENT", "STRONG"])
async def test_cluster_scopes_give_a_clear_error_on_a_standalone_node(lua, autojump_clock, scope):
    out = await lua.run(f"""
        local ok, err = process.registry.register("cluster_name", nil, process.registry.{scope})
        local ok2, err2 = process.registry.unregister("cluster_name", process.registry.{scope})
        local found = process.registry.lookup("cluster_name")
        return {{ ok == nil, err:kind(), err:message(), ok2 == nil, err2:kind(), found == nil }}
    """, modules=())
    assert out[0] is True and out[3] is True and out[5] is True
    assert out[1] == out[4] == "Unavailable"
    assert scope in out[2] and "cluster" in out[2]


async def test_register_of_a_taken_name_is_already_exists(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local other = process.spawn("test:idle", "test:host")
        process.registry.register("taken", other)
        local ok, err = process.registry.register("taken")
        return { ok == nil, err:kind(), process.registry.lookup("taken") == other }
    """, modules=())
    assert out == [True, "AlreadyExists", True]


async def test_registering_the_same_name_to_the_same_pid_is_idempotent(lua, autojump_clock):
    out = await lua.run("""
        local ok1 = process.registry.register("twice")
        local ok2, err2 = process.registry.register("twice")
        return { ok1, ok2, err2 == nil }
    """, modules=())
    assert out == [True, True, True]


async def test_unregister_of_a_name_owned_by_another_pid_returns_false(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local other = process.spawn("test:idle", "test:host")
        process.registry.register("not_mine", other)
        local ok = process.registry.unregister("not_mine")
        return { ok, process.registry.lookup("not_mine") == other }
    """, modules=())
    assert out == [False, True]


async def test_names_release_when_the_owner_exits(lua, autojump_clock):
    lua.process("named_briefly", 'process.registry.register("short_lived"); return true', modules=())
    out = await lua.run("""
        process.spawn_monitored("test:named_briefly", "test:host")
        process.events():receive()
        local pid, err = process.registry.lookup("short_lived")
        local ok = process.registry.register("short_lived")
        return { pid == nil, err:kind(), ok }
    """, modules=())
    assert out == [True, "NotFound", True]


@pytest.mark.parametrize("call", ['process.registry.register("")', "process.registry.register(nil)",
                                  "process.registry.lookup(nil)", "process.registry.unregister(42)",
                                  'process.registry.register("x", nil, 99)'])
async def test_registry_with_missing_or_bad_arguments_is_invalid(lua, autojump_clock, call):
    out = await lua.run(f"""
        local ok, err = {call}
        return {{ ok == nil, err:kind() }}
    """, modules=())
    assert out == [True, "Invalid"]


# -- errors table -----------------------------------------------------------------------


async def test_documented_error_kinds(lua, autojump_clock):
    helpers(lua)
    out = await lua.run("""
        local kinds = {}
        local _, e = process.spawn()                                     -- missing required arguments
        kinds.missing = e:kind()
        _, e = process.send(process.pid(), "@reserved", 1)              -- reserved topic prefix
        kinds.reserved = e:kind()
        _, e = process.registry.lookup("unregistered")                  -- name not registered
        kinds.not_registered = e:kind()
        local other = process.spawn("test:idle", "test:host")
        process.registry.register("held")
        _, e = process.registry.register("held", other)                 -- name already registered
        kinds.already = e:kind()
        return kinds
    """, modules=())
    assert out == {"missing": "Invalid", "reserved": "Invalid", "not_registered": "NotFound",
                   "already": "AlreadyExists"}


async def test_a_failing_process_fails_alone(lua, autojump_clock):
    lua.process("crasher", 'local t = nil; return t.field', modules=())
    with pytest.raises(ActorError) as info:
        await lua.run('return process.exec("test:crasher", "test:host") or error("unreachable")', modules=())
    assert info.value.kind == "Internal"


# -- Process Model page -----------------------------------------------------------------


async def test_process_model_spawn_example(lua, autojump_clock):
    lua.process("handler", "local a1, a2 = ...; return a1 .. '+' .. a2", modules=())
    out = await lua.run("""
        local arg1, arg2 = "first", "second"
        local pid = process.spawn_monitored("test:handler", "test:host", arg1, arg2)
        return process.events():receive().result.value
    """, modules=())
    assert out == "first+second"


async def test_process_model_message_passing_example(lua, autojump_clock):
    out = await lua.run("""
        local target_pid = process.pid()
        local payload = { n = 1 }
        process.send(target_pid, "topic", payload)
        return process.inbox():receive():payload():data()
    """, modules=())
    assert out == {"n": 1}


async def test_process_model_supervision_example(lua, autojump_clock):
    lua.process("handler", """
        local attempt = ...
        if attempt == 1 then error("crash on the first run") end
        return "recovered"
    """, modules=())
    out = await lua.run("""
        local worker = process.spawn_monitored("test:handler", "test:host", 1)
        local event = process.events():receive()
        local restarted = false

        if event.kind == process.event.EXIT and event.result.error then
            worker = process.spawn_monitored("test:handler", "test:host", 2)
            restarted = true
        end
        local second = process.events():receive()
        return { restarted, second.from == worker, second.result.value }
    """, modules=())
    assert out == [True, True, "recovered"]


async def test_overview_spawn_and_send_example(lua, autojump_clock):
    lua.process("handler", """
        local msg = process.inbox():receive()
        return msg:payload():data()
    """, modules=())
    out = await lua.run("""
        local pid = process.spawn("test:handler", "test:host")
        process.monitor(pid)
        process.send(pid, "task", {data = "work"})
        return process.events():receive().result.value
    """, modules=())
    assert out == {"data": "work"}
