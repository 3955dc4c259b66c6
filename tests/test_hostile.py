"""Hostile processes against the first promise: whatever a process returns,
raises or sends, and whatever it asks of the control plane (Python endpoints,
names), only that process fails, and the node is whole afterwards.

Every attack runs through the hostile harness (tests/hostile.py), which
measures how long the node was held and proves every host still serves.
(Bounds of C functions, memory, mailbox floods and the runaway guard are
tested with the modules that enforce them.)
"""

from __future__ import annotations

import pytest
import trio
from hostile import Inbox, attack, build_hostile_app, node_is_whole

from actors import ActorError, Node
from actors.codec import MAX_DEPTH, MAX_VALUES

#: Lua: `nested(n)` is a table nested `n` levels deep.
NESTED = "local function nested(n) local t = {} for _ = 2, n do t = { t } end return t end\n"


def depth_of(value) -> int:
    """How deep Lua's `nested(n)` came out (its innermost empty table is a dict)."""
    depth = 0
    while isinstance(value, (list, dict)):
        value, depth = value[0] if isinstance(value, list) else None, depth + 1
    return depth


# -- values that leave a process ------------------------------------------------------------


async def test_a_result_nested_thousands_deep_fails_its_process_alone(app):
    outcome = await attack(build_hostile_app(app), NESTED + "return nested(2000)")
    assert outcome.error.kind == "Invalid"
    assert outcome.error.message == ("test:attack: exit value: payload cannot hold tables nested deeper "
                                     f"than {MAX_DEPTH} levels (at {'.1' * MAX_DEPTH})")


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1])
async def test_payloads_nest_at_most_the_limit_whichever_way_they_leave(app, levels):
    async with Inbox() as inbox:
        outcome = await attack(build_hostile_app(app), NESTED + """
        local levels, mailbox = ...
        local sent, err = process.send(mailbox, "deep", nested(levels))
        if not sent then return nil, err end
        local spawned
        spawned, err = process.spawn("test:canary", "test:other", nested(levels))
        if not spawned then return nil, err end
        return nested(levels)
        """, levels, setup=inbox.setup)
        received = inbox.received()
    if levels <= MAX_DEPTH:
        assert depth_of(outcome.value) == levels
        [message] = received
        assert depth_of(message.payload) == levels
    else:
        assert outcome.error.kind == "Invalid" and f"nested deeper than {MAX_DEPTH} levels" in outcome.error.message
        assert received == []


async def test_a_table_shared_into_an_exponential_payload_is_refused(app):
    outcome = await attack(build_hostile_app(app), """
        local t = {}
        for _ = 1, 40 do t = { t, t, t, t, t, t, t, t } end
        local sent, err = process.send(process.pid(), "bomb", t)
        return { sent = sent, kind = err:kind(), message = err:message() }
    """)
    assert outcome.value == {"kind": "Invalid", "message": f"payload cannot hold more than {MAX_VALUES} values"}


async def test_json_of_a_table_shared_into_an_exponential_text_is_refused(app):
    """json.encode writes a shared table out each time, as a copy does: the same bound holds."""
    outcome = await attack(build_hostile_app(app), """
        local t = {}
        for _ = 1, 40 do t = { t, t } end
        local text, err = json.encode(t)
        return { text = text, kind = err:kind(), message = err:message() }
    """)
    assert outcome.value["kind"] == "Internal"
    assert outcome.value["message"].startswith(f"json.encode: more than {MAX_VALUES} values at $[1][1]")


RAISES_A_FUNCTION = 'error(errors.new({ message = "x", details = { f = print } }))'


def cannot_leave(entry: str) -> str:
    return f"{entry}: its error (x) cannot leave the process: payload cannot hold a function (at .details.f)"


async def test_error_details_that_cannot_leave_fail_the_process_with_invalid(app):
    outcome = await attack(build_hostile_app(app), RAISES_A_FUNCTION)
    assert (outcome.error.kind, outcome.error.message) == ("Invalid", cannot_leave("test:attack"))


async def test_lua_watchers_see_the_same_invalid_error(app):
    build_hostile_app(app).body("raiser", RAISES_A_FUNCTION)
    app.body("raiser_fn", RAISES_A_FUNCTION, kind="function.lua")
    outcome = await attack(app, """
        local _, err = process.exec("test:raiser", "test:host")
        local child = process.spawn_monitored("test:raiser", "test:host")
        local exit = process.events():receive()
        assert(exit.from == child)
        local _, called = funcs.call("test:raiser_fn")
        return { exec = tostring(err), monitor = tostring(exit.result.error), call = tostring(called) }
    """)
    assert outcome.value == {"exec": "Invalid: " + cannot_leave("test:raiser"),
                             "monitor": "Invalid: " + cannot_leave("test:raiser"),
                             "call": "Invalid: " + cannot_leave("test:raiser_fn")}


async def test_each_monitor_gets_its_own_copy_of_an_exit_error(app):
    build_hostile_app(app).body("victim", """
        process.inbox():receive()
        error(errors.new({ message = "shared?", details = { n = 1 } }))
    """)
    app.body("watcher", """
        local victim, reporter = ...
        process.monitor(victim)
        process.send(reporter, "watching", process.pid())
        local exit = process.events():receive()
        local details = exit.result.error:details()
        process.send(reporter, "got", true)
        local order = process.inbox():receive():payload():data()
        if order == "mutate" then details.n = "changed by the first watcher" end
        return details.n
    """)
    outcome = await attack(app, """
        local victim = process.spawn("test:victim", "test:host")
        local inbox = process.inbox()
        local watchers = {}
        for i = 1, 2 do watchers[i] = process.spawn_monitored("test:watcher", "test:host", victim, process.pid()) end
        inbox:receive(); inbox:receive()
        process.send(victim, "go", true)
        inbox:receive(); inbox:receive()
        process.send(watchers[1], "order", "mutate")
        local first = process.events():receive()
        process.send(watchers[2], "order", "read")
        local second = process.events():receive()
        return { first.result.value, second.result.value }
    """)
    assert outcome.value == ["changed by the first watcher", 1]


async def test_a_raised_value_whose_eq_is_always_true_cannot_poison_reused_coroutines(app):
    build_hostile_app(app).body("liar", """
        local raise = ...
        if raise then error(setmetatable({}, { __eq = function() return true end })) end
        return setmetatable({}, { __eq = function() return true end })
    """, kind="function.lua")
    app.body("echo_fn", "return ...", kind="function.lua")
    outcome = await attack(app, """
        local right = 0
        for i = 1, 50 do
          local _, raised = funcs.call("test:liar", true)
          local _, returned = funcs.call("test:liar", false)
          if raised:kind() == "Internal" and returned:kind() == "Invalid" and funcs.call("test:echo_fn", i) == i then
            right = right + 1
          end
        end
        return right
    """)
    assert outcome.value == 50


@pytest.mark.parametrize("metatable", [
    "setmetatable({}, { __eq = function() while true do end end })",
    "setmetatable({}, { __index = function() while true do end end })",
    "setmetatable({}, { __name = setmetatable({}, { __tostring = function() while true do end end }) })",
], ids=["eq", "index", "name"])
async def test_a_metatable_whose_own_metamethods_loop_is_refused_without_running_them(app, metatable):
    """Compared with the runtime's metatables, or asked its __name, such a value
    would run its code outside the process: as a result, outside any task."""
    outcome = await attack(build_hostile_app(app), f"return setmetatable({{}}, {metatable})")
    assert outcome.error.kind == "Invalid"
    assert outcome.error.message == "test:attack: exit value: payload cannot hold a table with a metatable"


@pytest.mark.parametrize("tostring", [
    "function() while true do end end",
    "function() while true do pcall(error, 'again') end end",
    "function() coroutine.yield() end",
    "function() return {} end",
], ids=["loops", "loops catching", "yields", "returns a table"])
@pytest.mark.parametrize("how, kind, message", [
    ("error(%s)", "Internal", "(error object is a table value)"),
    ("return nil, %s", "Unknown", "(error object is a table value)"),
], ids=["raised", "returned"])
async def test_an_error_value_whose_tostring_misbehaves_is_described_bounded(app, tostring, how, kind, message):
    """The runtime asks a table raised or returned as an error for its text
    outside the process: its __tostring runs bounded, and gives nothing."""
    outcome = await attack(build_hostile_app(app), how % f"setmetatable({{}}, {{ __tostring = {tostring} }})")
    assert (outcome.error.kind, outcome.error.message) == (kind, message)


async def test_a_long_wrap_chain_leaves_its_process_with_its_first_16_errors(app):
    build_hostile_app(app).body("wrapper", """
        local e = errors.new({ kind = errors.CONFLICT, message = "root" })
        for i = 1, 2000 do e = errors.wrap(e, "w") end
        error(e)
    """)
    outcome = await attack(app, """
        process.spawn_monitored("test:wrapper", "test:host")
        local err = process.events():receive().result.error
        local chain = 0
        while err do chain, err = chain + 1, err:unwrap() end
        return chain
    """)
    assert outcome.value == 16


async def test_the_close_handlers_of_an_ended_process_never_run(app):
    """A failed or killed task's `<close>` variables are closed outside it, as
    whichever process runs then (its killer): none of their code may run."""
    build_hostile_app(app).body("closer", """
        local mailbox, how = ...
        local spy <close> = setmetatable({}, { __close = function()
          process.send(mailbox, "closed", process.pid())
          while true do end
        end })
        if how == "fail" then error("failing with a close handler pending") end
        process.inbox():receive()
    """)
    async with Inbox() as inbox:
        outcome = await attack(app, """
            local mailbox = ...
            process.spawn_monitored("test:closer", "test:host", mailbox, "fail")
            local killed = process.spawn_monitored("test:closer", "test:host", mailbox, "wait")
            process.events():receive()
            process.terminate(killed)
            process.events():receive()
            return true
        """, setup=inbox.setup)
        assert outcome.value is True
        assert inbox.received() == []


# -- Python functions and Python senders ----------------------------------------------------


def _cyclic() -> list:
    loop: list = []
    loop.append(loop)
    return loop


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


PYTHON_RESULTS = {
    "nan_key": (lambda: {float("nan"): 1}, "Invalid"),
    "huge_int": (lambda: 2**70, "Invalid"),
    "cyclic": (_cyclic, "Invalid"),
    "deep": (lambda: _deep(10_000), "Invalid"),
    "object": (object, "Invalid"),
    "surrogate": (lambda: "\ud800", "Invalid"),
    "one level too deep": (lambda: _deep(MAX_DEPTH + 1), "Invalid"),
    "raising": (lambda: 1 / 0, "Internal"),
}


async def test_what_a_python_function_returns_or_raises_fails_only_its_caller(app):
    async def register(node):
        for name, (fn, _) in PYTHON_RESULTS.items():
            node.register_function(f"py:{name}", fn)
        return ()

    outcome = await attack(build_hostile_app(app), """
        local kinds = {}
        for _, name in ipairs(...) do
          local value, err = funcs.call("py:" .. name)
          kinds[name] = value == nil and err:kind()
        end
        return kinds
    """, list(PYTHON_RESULTS), setup=register)
    assert outcome.value == {name: kind for name, (_, kind) in PYTHON_RESULTS.items()}


@pytest.mark.parametrize("payload, into_python", [
    (_cyclic(), False), (_deep(MAX_DEPTH + 1), False), (_deep(10_000), False), (2**70, False),
    ({"k": object()}, False), ("\ud800", False), ({float("nan"): 1}, True),
], ids=["cyclic", "one level too deep", "deep", "huge int", "object", "surrogate", "nan key"])
async def test_a_payload_python_sends_that_cannot_cross_is_invalid(app, payload, into_python):
    """Refused from the start, or (`into_python`) only on the way into Lua."""
    build_hostile_app(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        echo = await node.spawn("test:echo", "test:host")
        for dest in (echo,) if into_python else (echo, me.pid):
            with pytest.raises(ActorError) as refused:
                await node.send(dest, "t", payload)
            assert refused.value.kind == "Invalid"
        with pytest.raises(ActorError) as refused:
            await node.exec("test:canary", "test:host", payload)
        assert refused.value.kind == "Invalid"
        await node_is_whole(node)


# -- the control plane ----------------------------------------------------------------------


async def test_python_endpoint_pids_cannot_be_guessed(app):
    """A process that scans PIDs of the `python` host finds no endpoint, while there are some."""
    pids = []

    async def mailboxes(node):
        for _ in range(3):
            pids.append((await opened.open(node)).pid)
        return (node.pid,)

    async with Inbox() as opened:
        outcome = await attack(build_hostile_app(app), """
        local node_pid = ...
        local prefix = node_pid:match("^({.-|)")
        for i = 1, 300 do process.monitor(prefix .. i .. "}") end
        local found = 0
        for _ = 1, 300 do
          local exit = process.events():receive()
          if exit.result.error:kind() ~= "NotFound" then found = found + 1 end
        end
        return found
        """, setup=mailboxes)
    assert outcome.value == 0
    ids = [pid[pid.index("|") + 1:-1] for pid in pids]
    assert len(set(ids)) == 3 and all(len(i) == 16 and not i.isdigit() for i in ids)


async def test_lua_may_watch_but_not_end_python_endpoints(app):
    async def endpoints(node):
        return (*(await inbox.setup(node)), node.pid)

    async with Inbox() as inbox:
        outcome = await attack(build_hostile_app(app), """
        local mailbox, node_pid = ...
        local denied = {}
        for _, pid in ipairs({ mailbox, node_pid }) do
          for _, op in ipairs({ "cancel", "terminate" }) do
            local ok, err = process[op](pid, "go away")
            denied[#denied + 1] = ok == nil and err:kind()
          end
        end
        return { denied = denied, monitor = process.monitor(mailbox), link = process.link(mailbox),
                 sent = process.send(mailbox, "still", "here") }
        """, setup=endpoints)
        received = inbox.received()
    assert outcome.value == {"denied": ["PermissionDenied"] * 4, "monitor": True, "link": True, "sent": True}
    assert [(m.topic, m.payload) for m in received] == [("still", "here")]


async def test_a_call_waits_for_no_function_that_a_process_terminates(app):
    build_hostile_app(app).body("slow_fn", """
        process.send("assassin", "victim", process.pid())
        process.inbox():receive()
        return "never"
    """, kind="function.lua")
    app.body("assassin", "process.terminate(process.inbox():receive():payload():data())")
    async with Node.open(app.root) as node:
        await node.spawn("test:assassin", "test:other", name="assassin")
        with trio.fail_after(10), pytest.raises(ActorError) as ended:
            await node.call("test:slow_fn")
        assert ended.value.kind == "Canceled" and "terminated by" in ended.value.message


async def test_a_waiter_whose_process_host_stops_gets_an_error(app):
    build_hostile_app(app)
    async with Node.open(app.root) as node:
        async def stop_soon():
            await trio.sleep(0.2)
            await node.router.host("test:other").stop()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_soon)
            with trio.fail_after(10), pytest.raises(ActorError) as ended:
                await node.exec("test:echo", "test:other")
        assert ended.value.kind == "Canceled" and ended.value.message == "node shutting down"


async def test_a_process_may_unregister_only_the_names_it_holds(app):
    build_hostile_app(app).body("holder", "process.inbox():receive()")
    holders = []

    async def names(node):
        holders.append(await node.spawn("test:holder", "test:other", name="held-by-lua"))
        await opened.open(node, "held-by-python")
        return ()

    async with Inbox() as opened:
        outcome = await attack(app, """
        local taken = {}
        for _, name in ipairs({ "held-by-lua", "held-by-python", "held-by-nobody" }) do
          taken[name] = process.registry.unregister(name)
        end
        process.registry.register("mine")
        taken.mine = process.registry.unregister("mine")
        return { taken = taken, lua = process.registry.lookup("held-by-lua"),
                 python = process.registry.lookup("held-by-python") ~= nil }
        """, setup=names)
    assert outcome.value == {"taken": {"held-by-lua": False, "held-by-python": False, "held-by-nobody": False,
                                       "mine": True}, "lua": holders[0], "python": True}


async def test_python_code_may_unregister_any_name(app):
    build_hostile_app(app).body("holder", "process.inbox():receive()")
    async with Node.open(app.root) as node, node.mailbox("held-by-python"):
        await node.spawn("test:holder", "test:host", name="held-by-lua")
        assert node.unregister_name("held-by-lua") is True
        assert node.unregister_name("held-by-python") is True
        for name in ("held-by-lua", "held-by-python"):
            with pytest.raises(ActorError):
                node.lookup(name)


@pytest.mark.parametrize("call, kind", [
    ('process.send(mailbox, "\\xff", 1)', "Invalid"),
    ('process.send("{x", "t", 1)', "NotFound"),
    ('process.send("{a|b@c\\xff}", "t", 1)', "NotFound"),
    ('process.monitor("{x")', "NotFound"),
    ('process.link("{\\xff@test:other|1}")', "NotFound"),
    ('process.terminate("{x")', "NotFound"),
    ('process.registry.register("\\xff")', "Invalid"),
    ('process.registry.lookup("\\xff")', "NotFound"),
    ('process.with_context({}):with_name("\\xff"):spawn("test:canary", "test:host")', "Invalid"),
    ('process.spawn("test:canary", "\\xff")', "Invalid"),
    ('process.spawn("\\xff", "test:other")', "Invalid"),
    ('process.exec({}, "test:other")', "Invalid"),
    ('process.exec(setmetatable({}, { __index = function() while true do end end }), "test:other")', "Invalid"),
    ('process.exec("test:canary", "\\xff")', "Invalid"),
    ('funcs.call("py:\\xff")', "Invalid"),
    ('funcs.new():with_options({ timeout = setmetatable({}, { __tostring = function() while true do end end }) })',
     "Invalid"),
])
async def test_what_python_could_not_read_is_refused_before_it_leaves(app, call, kind):
    """Names, topics, PIDs, hosts and targets go to Python as text: a process
    gets its error at once instead of a command Python cannot carry out."""
    async with Inbox() as inbox:
        outcome = await attack(build_hostile_app(app), f"""
            local mailbox = ...
            local ok, err = {call}
            return {{ ok = ok == nil, kind = err and err:kind() }}
        """, setup=inbox.setup)
        assert outcome.value == {"ok": True, "kind": kind}
        assert inbox.received() == []


async def test_the_runtimes_objects_refuse_rawset(app):
    """Errors, channels, futures, payloads, loggers, spawners and messages may be shared by
    processes: none may plant a field on one for the next holder."""
    outcome = await attack(build_hostile_app(app), """
        process.send(process.pid(), "t", 1)
        local objects = {
          error = errors.new("e"), channel = channel.new(1), future = funcs.async("test:canary_fn"),
          payload = payload.new(1), logger = logger, spawner = process.with_context({}),
          message = process.inbox():receive(),
        }
        local planted = {}
        for name, object in pairs(objects) do
          planted[name] = pcall(rawset, object, "kind", function() return "planted" end)
            or pcall(rawset, object, "send", print)
        end
        return { planted = planted, kind = objects.error:kind(), logged = logger:info("still a logger") }
    """, modules=("funcs", "logger"))
    assert outcome.value == {"planted": dict.fromkeys(
        ["error", "channel", "future", "payload", "logger", "spawner", "message"], False),
        "kind": "Unknown", "logged": True}
