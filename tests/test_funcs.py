"""``funcs``, ``function.lua`` entries and Python callables.

``funcs.call(id, ...)`` returns ``result, err``; ``funcs.async`` returns a
Future; ``funcs.new():with_context(t):with_options({timeout=ms})`` builds an
executor. A target is a ``function.lua`` entry (run in a short-lived process
of its own) or a Python callable registered with ``node.register_function``.
From Python, ``node.call`` calls either kind and raises ``ActorError``.
"""

from __future__ import annotations

import pytest
import trio

from actors import ActorError, Node


def proc(app, name: str, body: str, *, modules=("funcs", "time", "ctx"), **fields) -> str:
    return app.body(name, body, modules=modules, required=("funcs", "time", "ctx"), **fields)


def fn(app, name: str, body: str, *, modules=("time", "ctx"), **fields) -> str:
    """A ``function.lua`` entry whose ``handler(...)`` is ``body``."""
    return app.body(name, body, modules=modules, required=modules, kind="function.lua", method="handler", **fields)


def standard_functions(app) -> None:
    fn(app, "add", "local a, b = ...; return a + b")
    fn(app, "echo", "return { ... }")
    fn(app, "slow", 'local d, v = ...; time.sleep(d); return v')
    fn(app, "soft_fail", 'return nil, errors.new({ kind = errors.CONFLICT, message = "taken", details = { id = 7 } })')
    fn(app, "soft_fail_string", 'return nil, "plain failure"')
    fn(app, "raises", 'error("exploded")')
    fn(app, "ctx_of", 'local key = ...; return ctx.get(key)')
    fn(app, "ctx_all", 'return ctx.all()')
    fn(app, "mutate", 'local t = ...; t.changed = true; t.list[1] = "x"; return t')
    fn(app, "whoami", 'return process.pid()')
    proc(app, "alive", 'return "alive"')


async def run(app, body: str, *args, setup=None):
    proc(app, "main", body)
    standard_functions(app)
    async with Node.open(app.root) as node:
        if setup:
            setup(node)
        start = trio.current_time()
        with trio.fail_after(10_000):
            result = await node.exec("test:main", app.host, *args)
        run.elapsed = trio.current_time() - start
        assert await node.exec("test:alive", app.host) == "alive"
        return result


# -- funcs.call of function.lua ------------------------------------------------------


async def test_call_returns_the_result(app, autojump_clock):
    out = await run(app, """
        local r, err = funcs.call("test:add", 2, 3)
        return { r = r, err = err }
    """)
    assert out == {"r": 5}


async def test_call_passes_every_argument(app, autojump_clock):
    out = await run(app, """
        return funcs.call("test:echo", 1, "two", { three = 3 }, true)
    """)
    assert out == [1, "two", {"three": 3}, True]


async def test_call_arguments_are_copied(app, autojump_clock):
    out = await run(app, """
        local mine = { list = { 1 } }
        local theirs = funcs.call("test:mutate", mine)
        return { mine = mine, theirs = theirs }
    """)
    assert out == {"mine": {"list": [1]}, "theirs": {"list": ["x"], "changed": True}}


async def test_call_with_unserializable_argument_is_invalid(app, autojump_clock):
    out = await run(app, """
        local r, err = funcs.call("test:echo", function() end)
        return { r_nil = r == nil, kind = err:kind() }
    """)
    assert out == {"r_nil": True, "kind": "Invalid"}


async def test_call_returns_nil_and_the_error_of_a_failure(app, autojump_clock):
    out = await run(app, """
        local r, err = funcs.call("test:soft_fail")
        local r2, err2 = funcs.call("test:soft_fail_string")
        local r3, err3 = funcs.call("test:raises")
        return {
          { r == nil, err:kind(), err:message(), err:details().id },
          { r2 == nil, err2:message() },
          { r3 == nil, err3:message(), type(err3:stack()) },
        }
    """)
    assert out[0] == [True, "Conflict", "taken", 7]
    assert out[1] == [True, "plain failure"]
    assert out[2][0] is True and "exploded" in out[2][1] and out[2][2] == "string"


async def test_call_of_an_unknown_function_is_not_found(app, autojump_clock):
    out = await run(app, """
        local r, err = funcs.call("test:nope", 1)
        return { r_nil = r == nil, kind = err:kind(), message = err:message() }
    """)
    assert out["r_nil"] is True and out["kind"] == "NotFound" and "test:nope" in out["message"]


async def test_call_of_a_process_entry_is_refused(app, autojump_clock):
    out = await run(app, """
        local r, err = funcs.call("test:alive")
        local r2, err2 = funcs.call(42)
        return { kind = err:kind(), message = err:message(), kind2 = err2:kind() }
    """)
    assert out["kind"] in ("Invalid", "NotFound") and "test:alive" in out["message"]
    assert out["kind2"] == "Invalid"


async def test_function_runs_in_its_own_process_context(app, autojump_clock):
    out = await run(app, """
        local theirs = funcs.call("test:whoami")
        return { mine = process.pid(), theirs = theirs }
    """)
    assert out["theirs"] and out["theirs"] != out["mine"]


async def test_function_can_use_time_channels_and_processes(app, autojump_clock):
    fn(app, "busy", """
        local to = ...
        local ch = channel.new(1)
        coroutine.spawn(function() time.sleep("2s"); ch:send("slept") end)
        process.send(to, "from function", process.pid())
        return ch:receive()
    """)
    out = await run(app, """
        local r, err = funcs.call("test:busy", process.pid())
        local msg = process.inbox():receive()
        return { r = r, topic = msg:topic(), from_matches = msg:from() == msg:payload():data() }
    """)
    assert out == {"r": "slept", "topic": "from function", "from_matches": True}
    assert run.elapsed == pytest.approx(2.0, abs=1e-6)


async def test_function_processes_do_not_linger(app, autojump_clock):
    proc(app, "main", """
        for i = 1, 20 do assert(funcs.call("test:add", i, i) == 2 * i) end
        return "ok"
    """)
    standard_functions(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:main", app.host) == "ok"
        assert node.process_count(app.host) == 0


async def test_funcs_needs_declaring(app, autojump_clock):
    app.lua("undeclared", "return { main = function() return require('funcs') end }")
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.exec("test:undeclared", app.host)
        assert "funcs" in info.value.message and "test:undeclared" in info.value.message


# -- Futures ---------------------------------------------------------------------------------


async def test_async_future_completes_with_the_value(app, autojump_clock):
    out = await run(app, """
        local f = funcs.async("test:slow", "1s", "late value")
        local before = f:is_complete()
        local before_result = f:result()
        local v, ok = f:response():receive()
        return { before = before, before_nil = before_result == nil, v = v, ok = ok,
                 complete = f:is_complete(), result = f:result(), error_nil = f:error() == nil }
    """)
    assert out == {"before": False, "before_nil": True, "v": "late value", "ok": True,
                   "complete": True, "result": "late value", "error_nil": True}
    assert run.elapsed == pytest.approx(1.0, abs=1e-6)


async def test_async_calls_run_concurrently(app, autojump_clock):
    out = await run(app, """
        local futures = {}
        for i = 1, 5 do futures[i] = funcs.async("test:slow", "3s", i) end
        local got = {}
        for i, f in ipairs(futures) do got[i] = f:channel():receive() end
        return got
    """)
    assert out == [1, 2, 3, 4, 5]
    assert run.elapsed == pytest.approx(3.0, abs=1e-6)


async def test_failed_future_closes_its_channel_and_holds_the_error(app, autojump_clock):
    out = await run(app, """
        local f = funcs.async("test:soft_fail")
        local v, ok = f:response():receive()
        return { v_nil = v == nil, ok = ok, complete = f:is_complete(), result_nil = f:result() == nil,
                 kind = f:error():kind() }
    """)
    assert out == {"v_nil": True, "ok": False, "complete": True, "result_nil": True, "kind": "Conflict"}


async def test_future_channel_after_completion(app, autojump_clock):
    out = await run(app, """
        local f = funcs.async("test:add", 1, 1)
        time.sleep("1s")
        local complete = f:is_complete()
        local v, ok = f:channel():receive()
        return { complete = complete, v = v, ok = ok }
    """)
    assert out == {"complete": True, "v": 2, "ok": True}


async def test_future_in_select_with_a_timeout(app, autojump_clock):
    out = await run(app, """
        local f = funcs.async("test:slow", "10s", "too late")
        local r = channel.select { f:response():case_receive(), time.after("1s"):case_receive() }
        return { got_value = r.channel == f:response() }
    """)
    assert out == {"got_value": False}


async def test_future_cancel(app, autojump_clock):
    fn(app, "side_effect", """
        local to = ...
        time.sleep("5s")
        process.send(to, "side effect", true)
        return "finished"
    """)
    out = await run(app, """
        local f = funcs.async("test:side_effect", process.pid())
        time.sleep("1s")
        local canceled = f:cancel()
        local again = f:cancel()
        local v, ok = f:response():receive()
        local late = channel.select { process.inbox():case_receive(), time.after("10s"):case_receive() }
        return { canceled = canceled, again = again, ok = ok, kind = f:error():kind(),
                 side_effect = late.channel == process.inbox() }
    """)
    assert out == {"canceled": True, "again": False, "ok": False, "kind": "Canceled", "side_effect": False}


async def test_cancel_of_a_completed_future_changes_nothing(app, autojump_clock):
    out = await run(app, """
        local f = funcs.async("test:add", 2, 2)
        f:response():receive()
        return { canceled = f:cancel(), result = f:result(), error_nil = f:error() == nil }
    """)
    assert out == {"canceled": False, "result": 4, "error_nil": True}


# -- executors: context and options --------------------------------------------------------


async def test_with_context_reaches_the_function(app, autojump_clock):
    out = await run(app, """
        local ex = funcs.new():with_context({ user = "ada", role = "admin" })
        local user = ex:call("test:ctx_of", "user")
        local all = ex:call("test:ctx_all")
        local f = ex:async("test:ctx_of", "role")
        return { user = user, all = all, role = f:response():receive(),
                 plain = funcs.call("test:ctx_of", "user") }
    """)
    assert out == {"user": "ada", "all": {"user": "ada", "role": "admin"}, "role": "admin"}


async def test_executors_are_immutable(app, autojump_clock):
    out = await run(app, """
        local base = funcs.new():with_context({ a = 1 })
        local more = base:with_context({ b = 2 })
        return { base = base:call("test:ctx_all"), more = more:call("test:ctx_all") }
    """)
    assert out == {"base": {"a": 1}, "more": {"a": 1, "b": 2}}


async def test_process_context_flows_into_its_calls(app, autojump_clock):
    proc(app, "main", """
        return {
          own = ctx.get("tenant"),
          called = funcs.call("test:ctx_of", "tenant"),
          overridden = funcs.new():with_context({ tenant = "other" }):call("test:ctx_of", "tenant"),
        }
    """)
    standard_functions(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:main", app.host, context={"tenant": "acme"})
        assert out == {"own": "acme", "called": "acme", "overridden": "other"}


async def test_with_options_timeout(app, autojump_clock):
    out = await run(app, """
        local ex = funcs.new():with_options({ timeout = 500 })
        local r, err = ex:call("test:slow", "10s", "never")
        local fast = ex:call("test:slow", "100ms", "in time")
        local f = ex:async("test:slow", "10s", "never")
        local v, ok = f:response():receive()
        return { r_nil = r == nil, kind = err:kind(), fast = fast, future_ok = ok, future_kind = f:error():kind() }
    """)
    assert out == {"r_nil": True, "kind": "Timeout", "fast": "in time", "future_ok": False,
                   "future_kind": "Timeout"}
    assert run.elapsed == pytest.approx(0.5 + 0.1 + 0.5, abs=1e-6)


async def test_timed_out_function_process_is_stopped(app, autojump_clock):
    fn(app, "reports_late", """
        local to = ...
        time.sleep("5s")
        process.send(to, "late", true)
    """)
    proc(app, "main", """
        local r, err = funcs.new():with_options({ timeout = 100 }):call("test:reports_late", process.pid())
        local late = channel.select { process.inbox():case_receive(), time.after("20s"):case_receive() }
        return { kind = err:kind(), late = late.channel == process.inbox() }
    """)
    standard_functions(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:main", app.host) == {"kind": "Timeout", "late": False}
        assert node.process_count(app.host) == 0


async def test_bad_executor_arguments_are_invalid(app, autojump_clock):
    out = await run(app, """
        local x1, e1 = funcs.new():with_context("nope")
        local x2, e2 = funcs.new():with_context({ f = print })
        local x3, e3 = funcs.new():with_options(5)
        local x4, e4 = funcs.new():with_options({ timeout = 0/0 })
        local x5, e5 = funcs.new().call("test:f")
        return { x1 == nil, e1:kind(), x2 == nil, e2:kind(), x3 == nil, e3:kind(), x4 == nil, e4:kind(),
                 x5 == nil, e5:kind() }
    """)
    assert out == [True, "Invalid"] * 5


# -- Python callables ---------------------------------------------------------------------------


async def test_python_sync_callable(app, autojump_clock):
    calls = []

    def multiply(a, b):
        calls.append((a, b))
        return {"product": a * b, "args": [a, b]}

    out = await run(app, """
        local r, err = funcs.call("py:multiply", 6, 7)
        return { r = r, err = err and tostring(err) }
    """, setup=lambda node: node.register_function("py:multiply", multiply))
    assert out == {"r": {"product": 42, "args": [6, 7]}}
    assert calls == [(6, 7)]


async def test_python_async_callable(app, autojump_clock):
    async def slow_upper(text):
        await trio.sleep(2)
        return text.upper()

    out = await run(app, """
        local f = funcs.async("py:slow_upper", "hello")
        local done_at_once = f:is_complete()
        local v = f:response():receive()
        return { v = v, done_at_once = done_at_once }
    """, setup=lambda node: node.register_function("py:slow_upper", slow_upper))
    assert out == {"v": "HELLO", "done_at_once": False}
    assert run.elapsed == pytest.approx(2.0, abs=1e-6)


async def test_python_callable_gets_the_context(app, autojump_clock):
    seen = []

    def whoami(greeting, ctx):
        seen.append(dict(ctx))
        return f"{greeting}, {ctx.get('user')}"

    out = await run(app, """
        return funcs.new():with_context({ user = "grace" }):call("py:whoami", "hi")
    """, setup=lambda node: node.register_function("py:whoami", whoami))
    assert out == "hi, grace"
    assert seen and seen[0]["user"] == "grace"


async def test_python_callable_errors_reach_lua_with_their_kind(app, autojump_clock):
    def refuses():
        raise ActorError("PermissionDenied", "not you")

    def crashes():
        raise ValueError("bad value inside")

    def setup(node):
        node.register_function("py:refuses", refuses)
        node.register_function("py:crashes", crashes)

    out = await run(app, """
        local r, err = funcs.call("py:refuses")
        local r2, err2 = funcs.call("py:crashes")
        return { r_nil = r == nil, kind = err:kind(), message = err:message(),
                 kind2 = err2:kind(), message2 = err2:message() }
    """, setup=setup)
    assert out["r_nil"] is True
    assert (out["kind"], out["message"]) == ("PermissionDenied", "not you")
    assert out["kind2"] == "Internal" and "bad value inside" in out["message2"]


async def test_python_callable_returning_unserializable_value_is_an_error(app, autojump_clock):
    out = await run(app, """
        local r, err = funcs.call("py:bad_result")
        return { r_nil = r == nil, has_err = err ~= nil }
    """, setup=lambda node: node.register_function("py:bad_result", lambda: object()))
    assert out == {"r_nil": True, "has_err": True}


async def test_python_callable_timeout(app, autojump_clock):
    async def forever():
        await trio.sleep(1_000)
        return "never"

    out = await run(app, """
        local r, err = funcs.new():with_options({ timeout = 250 }):call("py:forever")
        return err:kind()
    """, setup=lambda node: node.register_function("py:forever", forever))
    assert out == "Timeout"
    assert run.elapsed == pytest.approx(0.25, abs=1e-6)


# -- node.call from Python ------------------------------------------------------------------


async def test_node_call_of_function_lua(app, autojump_clock):
    standard_functions(app)
    async with Node.open(app.root) as node:
        assert await node.call("test:add", 20, 22) == 42
        assert await node.call("test:echo", {"a": [1]}, "x", 2.5) == [{"a": [1]}, "x", 2.5]
        assert await node.call("test:ctx_of", "k", context={"k": "v"}) == "v"
        start = trio.current_time()
        assert await node.call("test:slow", "90s", "patience") == "patience"
        assert trio.current_time() - start == pytest.approx(90, abs=1e-6)


async def test_node_call_raises_the_error_with_its_kind(app, autojump_clock):
    standard_functions(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            await node.call("test:soft_fail")
        assert info.value.kind == "Conflict" and info.value.message == "taken"
        assert info.value.details == {"id": 7}
        with pytest.raises(ActorError) as info:
            await node.call("test:raises")
        assert "exploded" in info.value.message and info.value.stack
        with pytest.raises(ActorError) as info:
            await node.call("test:missing")
        assert info.value.kind == "NotFound" and "test:missing" in info.value.message
        with pytest.raises(ActorError) as info:
            await node.call("test:alive")            # a process.lua, not a function
        assert info.value.kind in ("NotFound", "Invalid")
        assert await node.call("test:add", 1, 1) == 2


async def test_node_call_of_python_callables(app, autojump_clock):
    async def add_async(a, b):
        await trio.sleep(1)
        return a + b

    def with_ctx(ctx):
        return ctx.get("who")

    standard_functions(app)
    async with Node.open(app.root) as node:
        node.register_function("py:add", lambda a, b: a + b)
        node.register_function("py:add_async", add_async)
        node.register_function("py:with_ctx", with_ctx)
        node.register_function("py:fails", lambda: (_ for _ in ()).throw(ActorError("Timeout", "slow")))
        assert await node.call("py:add", 1, 2) == 3
        assert await node.call("py:add_async", 3, 4) == 7
        assert await node.call("py:with_ctx", context={"who": "me"}) == "me"
        with pytest.raises(ActorError) as info:
            await node.call("py:fails")
        assert info.value.kind == "Timeout"


async def test_register_function_checks_its_arguments(app, autojump_clock):
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            node.register_function("py:x", "not callable")
        assert info.value.kind == "Invalid"
        with pytest.raises(ActorError) as info:
            node.register_function("", print)
        assert info.value.kind == "Invalid"


async def test_lua_function_calling_a_python_callable_calling_back_into_lua(app, autojump_clock):
    fn(app, "outer", 'local funcs = require("funcs"); return funcs.call("py:middle", ...)', modules=("funcs",))
    standard_functions(app)
    async with Node.open(app.root) as node:
        async def middle(a, b):
            return await node.call("test:add", a, b) * 10
        node.register_function("py:middle", middle)
        assert await node.call("test:outer", 2, 3) == 50


async def test_a_function_returning_unserializable_data_fails_cleanly(app, autojump_clock):
    fn(app, "returns_function", "return { f = print }")
    standard_functions(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            with trio.fail_after(60):
                await node.call("test:returns_function")
        assert info.value.kind == "Invalid"
        assert await node.call("test:add", 1, 2) == 3
