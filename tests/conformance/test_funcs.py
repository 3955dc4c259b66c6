"""Function Invocation page (the ``funcs`` module) and the Functions concept
page: ``funcs.call``, ``funcs.async``, ``funcs.new`` and Executors
(``with_context``, ``with_options``, ``call``, ``async``), target errors,
context propagation, and a function being cancelled when its caller ends.
Futures have their own page (test_future.py).
"""

from __future__ import annotations

import pytest

from actors import ActorError


def functions(lua) -> None:
    lua.function("get_user", 'local id = ...; return { id = id, name = "user " .. id }', modules=())
    lua.function("add", "local a, b = ...; return a + b", modules=())
    lua.function("ctx_of", "local key = ...; return ctx.get(key)", modules=("ctx",))
    lua.function("ctx_all", "return ctx.all()", modules=("ctx",))
    lua.function("conflict", """
        return nil, errors.new({ message = "taken", kind = errors.CONFLICT, retryable = true, details = { id = 1 } })
    """, modules=())
    lua.function("slow", 'local d, v = ...; time.sleep(d); return v', modules=("time",))


async def test_require_funcs(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local funcs = require("funcs")
        return type(funcs.call), type(funcs.async), type(funcs.new)
    """, modules=("funcs",))
    assert out == "function"


async def test_funcs_must_be_listed_in_modules(lua, autojump_clock):
    with pytest.raises(ActorError) as info:
        await lua.run('return require("funcs")', modules=())
    assert info.value.kind == "NotFound"
    assert "funcs" in info.value.message


# -- call -------------------------------------------------------------------------------


async def test_call_example(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local user_id = 42
        local function handler()
            local result, err = funcs.call("test:get_user", user_id)
            if err then
                return nil, err
            end
            print(result.name)
            return result
        end
        return handler()
    """, modules=("funcs",))
    assert out == {"id": 42, "name": "user 42"}


async def test_call_passes_every_argument_and_returns_result_nil(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local result, err = funcs.call("test:add", 2, 3)
        return { result, err == nil }
    """, modules=("funcs",))
    assert out == [5, True]


async def test_call_returns_nil_and_the_function_error(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local result, err = funcs.call("test:conflict")
        return { result == nil, err:kind(), err:message(), err:retryable(), err:details().id }
    """, modules=("funcs",))
    # "Function error: varies": the function's own kind, retryable and details
    assert out == [True, "Conflict", "taken", True, 1]


async def test_call_of_a_function_that_raises(lua, autojump_clock):
    lua.function("raises", 'error("exploded")', modules=())
    out = await lua.run("""
        local result, err = funcs.call("test:raises")
        return { result == nil, err:kind(), err:message():find("exploded", 1, true) ~= nil }
    """, modules=("funcs",))
    assert out == [True, "Internal", True]


@pytest.mark.parametrize(("target", "what"), [
    ('""', "empty"),
    ('"get_user"', "namespace"),
    ('":get_user"', "namespace"),
    ('"test:"', "name"),
    ("nil", "string"),
])
async def test_malformed_targets_are_invalid_and_not_retryable(lua, autojump_clock, target, what):
    out = await lua.run(f"""
        local r1, e1 = funcs.call({target})
        local f2, e2 = funcs.async({target})
        return {{ r1 == nil, e1:kind(), e1:retryable(), e1:message(), f2 == nil, e2:kind() }}
    """, modules=("funcs",))
    assert out[:3] == [True, "Invalid", False]
    assert what in out[3]
    assert out[4:] == [True, "Invalid"]


async def test_call_of_an_unknown_function_returns_an_error(lua, autojump_clock):
    out = await lua.run("""
        local result, err = funcs.call("test:does_not_exist")
        return { result == nil, err:kind() }
    """, modules=("funcs",))
    assert out == [True, "NotFound"]


# -- async ------------------------------------------------------------------------------


async def test_async_example(lua, autojump_clock):
    lua.function("analyze_data", "local data = ...; return { total = #data }", modules=())
    out = await lua.run("""
        local large_dataset = { 1, 2, 3, 4 }
        -- Start heavy computation without blocking
        local future, err = funcs.async("test:analyze_data", large_dataset)
        if err then
            return nil, err
        end

        -- Do other work while computation runs...

        -- Wait for result when ready
        local ch = future:response()
        local payload, ok = ch:receive()
        if ok then
            local result = payload:data()
            return result
        end
    """, modules=("funcs",))
    assert out == {"total": 4}


async def test_async_returns_at_once(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local start = time.now()
        local future, err = funcs.async("test:slow", "5s", "done")
        local returned_after = time.now():sub(start):seconds()
        local payload = future:response():receive()
        return { err == nil, returned_after, payload:data(), time.now():sub(start):seconds() }
    """, modules=("funcs", "time"))
    assert out == [True, 0, "done", 5]


# -- new and executors ------------------------------------------------------------------


async def test_new_returns_an_executor(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local exec = funcs.new()
        return { type(exec), exec:call("test:add", 1, 2), (exec:async("test:add", 3, 4):response():receive():data()) }
    """, modules=("funcs",))
    assert out == ["table", 3, 7]


async def test_with_context_example(lua, autojump_clock):
    lua.function("get_user", """
        local user_id = ...
        return { id = user_id, request_id = ctx.get("request_id"), dark_mode = ctx.get("feature_flags").dark_mode }
    """, modules=("ctx",))
    out = await lua.run("""
        local user_id = 5
        -- Propagate request context to downstream services
        local exec = funcs.new():with_context({
            request_id = ctx.get("request_id"),
            feature_flags = {dark_mode = true}
        })

        local user, err = exec:call("test:get_user", user_id)
        return { user, err == nil }
    """, modules=("funcs", "ctx"), context={"request_id": "req-9"})
    assert out == [{"id": 5, "request_id": "req-9", "dark_mode": True}, True]


async def test_with_context_returns_an_executor_and_no_error(lua, autojump_clock):
    out = await lua.run("""
        local exec, err = funcs.new():with_context({ a = 1 })
        return { type(exec), err == nil }
    """, modules=("funcs",))
    assert out == ["table", True]


async def test_executors_are_immutable(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local base = funcs.new():with_context({ a = 1 })
        local more = base:with_context({ b = 2 })
        local timed = base:with_options({ timeout = 1000 })
        return { base = base:call("test:ctx_all"), more = more:call("test:ctx_all"),
                 timed = timed:call("test:ctx_all"), distinct = base ~= more and base ~= timed }
    """, modules=("funcs",))
    assert out == {"base": {"a": 1}, "more": {"a": 1, "b": 2}, "timed": {"a": 1}, "distinct": True}


async def test_with_options_timeout_example(lua, autojump_clock):
    functions(lua)
    lua.function("fetch_data", 'time.sleep("60s"); return "data"', modules=("time",))
    out = await lua.run("""
        local query = "q"
        -- Set a 5 second timeout for external API call
        local exec = funcs.new():with_options({timeout = 5000})
        local start = time.now()
        local result, err = exec:call("test:fetch_data", query)
        if err then
            -- Handle timeout or other error
            return { result == nil, err:kind(), time.now():sub(start):seconds() }
        end
        return "no timeout"
    """, modules=("funcs", "time"))
    assert out == [True, "Timeout", 5]


async def test_with_options_returns_an_executor_and_no_error(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local exec, err = funcs.new():with_options({ timeout = 1000 })
        return { type(exec), err == nil, exec:call("test:add", 1, 1) }
    """, modules=("funcs",))
    assert out == ["table", True, 2]


@pytest.mark.parametrize("build", [
    'funcs.new():with_context("nope")',
    "funcs.new():with_context({ f = print })",
    "funcs.new():with_options(5)",
    "funcs.new():with_options({ timeout = -1 })",
])
async def test_executor_builders_return_nil_and_an_error(lua, autojump_clock, build):
    out = await lua.run(f"""
        local exec, err = {build}
        return {{ exec == nil, err:kind() }}
    """, modules=("funcs",))
    assert out == [True, "Invalid"]


async def test_executor_call_and_async_example(lua, autojump_clock):
    lua.function("list_users", 'return { "ada", ctx.get("trace_id") }', modules=("ctx",))
    lua.function("list_posts", 'return { "post", ctx.get("trace_id") }', modules=("ctx",))
    out = await lua.run("""
        -- Build reusable executor with context
        local exec = funcs.new()
            :with_context({trace_id = "abc-123"})
            :with_options({timeout = 10000})

        -- Make multiple calls with same context
        local users, _ = exec:call("test:list_users")
        local posts, _ = exec:call("test:list_posts")
        local later = exec:async("test:list_users"):response():receive():data()
        return { users, posts, later }
    """, modules=("funcs",))
    assert out == [["ada", "abc-123"], ["post", "abc-123"], ["ada", "abc-123"]]


# -- parallel operations ----------------------------------------------------------------


async def test_parallel_operations_example(lua, autojump_clock):
    lua.function("get_user", 'time.sleep("3s"); return { name = "ada" }', modules=("time",))
    lua.function("get_orders", 'time.sleep("1s"); return { 1, 2 }', modules=("time",))
    lua.function("get_preferences", 'time.sleep("2s"); return { theme = "dark" }', modules=("time",))
    out = await lua.run("""
        local user_id = 1
        local start = time.now()
        -- Start multiple operations in parallel
        local f1, _ = funcs.async("test:get_user", user_id)
        local f2, _ = funcs.async("test:get_orders", user_id)
        local f3, _ = funcs.async("test:get_preferences", user_id)

        -- Wait for all to complete using channels
        local user_ch = f1:channel()
        local orders_ch = f2:channel()
        local prefs_ch = f3:channel()

        local results = {}
        for i = 1, 3 do
            local r = channel.select {
                user_ch:case_receive(),
                orders_ch:case_receive(),
                prefs_ch:case_receive()
            }
            if r.channel == user_ch then
                results.user = r.value:data()
            elseif r.channel == orders_ch then
                results.orders = r.value:data()
            else
                results.prefs = r.value:data()
            end
        end
        results.elapsed = time.now():sub(start):seconds()
        return results
    """, modules=("funcs", "time"))
    assert out == {"user": {"name": "ada"}, "orders": [1, 2], "prefs": {"theme": "dark"}, "elapsed": 3}


# -- the Functions concept page ---------------------------------------------------------


async def test_functions_page_call_and_async(lua, autojump_clock):
    lua.function("get_user", "local id = ...; return { id = id }", modules=())
    lua.function("analyze", "local data = ...; return #data", modules=())
    out = await lua.run("""
        local user_id = 3
        local data = { 1, 2, 3 }
        local result, err = funcs.call("test:get_user", user_id)

        local future = funcs.async("test:analyze", data)

        local ch = future:response()
        local payload, ok = ch:receive()
        return { result, err == nil, payload:data(), ok }
    """, modules=("funcs",))
    assert out == [{"id": 3}, True, 3, True]


async def test_child_functions_inherit_the_context(lua, autojump_clock):
    lua.function("leaf", 'return { trace_id = ctx.get("trace_id"), user_id = ctx.get("user_id") }', modules=("ctx",))
    lua.function("middle", 'return funcs.call("test:leaf")', modules=("funcs",))
    out = await lua.run("""
        return funcs.new():with_context({ trace_id = "abc-123", user_id = 7 }):call("test:middle")
    """, modules=("funcs",))
    assert out == {"trace_id": "abc-123", "user_id": 7}


async def test_add_context_when_calling(lua, autojump_clock):
    lua.function("process", 'local data = ...; return { data, ctx.get("trace_id") }', modules=("ctx",))
    out = await lua.run("""
        local data = "payload"
        local exec = funcs.new()
            :with_context({trace_id = "abc-123"})
            :call("test:process", data)
        return exec
    """, modules=("funcs",))
    assert out == ["payload", "abc-123"]


async def test_each_call_has_its_own_context_scope(lua, autojump_clock):
    functions(lua)
    out = await lua.run("""
        local inner = funcs.new():with_context({ tenant = "inner" }):call("test:ctx_of", "tenant")
        local own = ctx.get("tenant")
        local plain = funcs.call("test:ctx_of", "tenant")
        return { inner, own, plain }
    """, modules=("funcs", "ctx"), context={"tenant": "outer"})
    assert out == ["inner", "outer", "outer"]


async def test_a_function_is_cancelled_when_its_caller_is_terminated(lua, autojump_clock):
    lua.function("slow_side_effect", """
        local to = ...
        time.sleep("10s")
        process.send(to, "side effect", "the function ran on")
        return "done"
    """, modules=("time",))
    lua.process("caller", """
        local observer = ...
        local result = funcs.call("test:slow_side_effect", observer)
        process.send(observer, "caller", result)
    """, modules=("funcs",))
    out = await lua.run("""
        local pid = process.spawn("test:caller", "test:host", process.pid())
        time.sleep("1s")
        process.terminate(pid)
        local r = channel.select { process.inbox():case_receive(), time.after("60s"):case_receive() }
        return r.channel == process.inbox() and r.value:payload():data() or "nothing arrived"
    """, modules=("time",))
    assert out == "nothing arrived"


async def test_an_async_function_is_cancelled_when_its_caller_ends(lua, autojump_clock):
    lua.function("slow_side_effect", """
        local to = ...
        time.sleep("10s")
        process.send(to, "side effect", "the function ran on")
    """, modules=("time",))
    lua.process("caller", """
        local observer = ...
        funcs.async("test:slow_side_effect", observer)
        return "ended without waiting"
    """, modules=("funcs",))
    out = await lua.run("""
        local value = process.exec("test:caller", "test:host", process.pid())
        local r = channel.select { process.inbox():case_receive(), time.after("60s"):case_receive() }
        return { value, r.channel == process.inbox() and r.value:payload():data() or "nothing arrived" }
    """, modules=("time",))
    assert out == ["ended without waiting", "nothing arrived"]


async def test_a_function_called_from_python_is_cancelled_with_its_call(lua, autojump_clock):
    lua.function("slow_side_effect", """
        local to = ...
        time.sleep("10s")
        process.send(to, "side effect", true)
    """, modules=("time",))
    import trio
    async with lua.node() as node, node.mailbox() as me:
        with trio.move_on_after(1):
            await node.call("test:slow_side_effect", me.pid)
        with trio.move_on_after(60):
            msg = await me.receive()
            pytest.fail(f"the cancelled function ran on: {msg!r}")
        await lua.still_serves(node)


async def test_processes_outlive_their_creator(lua, autojump_clock):
    lua.process("background", """
        local to = ...
        time.sleep("10s")
        process.send(to, "still here", true)
    """, modules=("time",))
    lua.process("creator", 'process.spawn("test:background", "test:host", ...); return "gone"', modules=())
    out = await lua.run("""
        local value = process.exec("test:creator", "test:host", process.pid())
        local msg = process.inbox():receive()
        return { value, msg:topic() }
    """, modules=())
    assert out == ["gone", "still here"]
