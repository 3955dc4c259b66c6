"""Futures page (and the Future section of the Function Invocation page):
what ``funcs.async`` returns. ``response()``/``channel()``, ``is_complete``,
``is_canceled``, ``result`` (``nil, nil`` pending, ``Payload, nil`` done,
``nil, err`` failed or canceled), ``error`` (``err, has_error``), ``cancel``
(``ok, err``), and the timeout and first-to-complete patterns.
"""

from __future__ import annotations


def functions(lua) -> None:
    lua.function("task", 'local d, v = ...; time.sleep(d); return v', modules=("time",))
    lua.function("fails", """
        local d = ...
        time.sleep(d)
        return nil, errors.new({ message = "no stock", kind = errors.CONFLICT })
    """, modules=("time",))
    lua.function("several", 'return "a", "b", "c"', modules=())
    lua.function("side_effect", """
        local to, d = ...
        time.sleep(d)
        process.send(to, "side effect", "ran to the end")
        return "finished"
    """, modules=("time",))


async def run(lua, body: str, *args, **kwargs):
    functions(lua)
    return await lua.run(body, *args, modules=("funcs", "time"), **kwargs)


async def test_loading_example(lua, autojump_clock):
    out = await run(lua, """
        local data = { 1 }
        local funcs = require("funcs")
        local future, err = funcs.async("test:task", "1s", data)
        return { type(future), err == nil }
    """)
    assert out == ["table", True]


# -- response channel -------------------------------------------------------------------


async def test_response_channel_example(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", { answer = 42 })
        local ch = future:response()
        local payload, ok = ch:receive()
        if ok then
            local result = payload:data()
            return { result, payload:get_format() }
        end
    """)
    assert out == [{"answer": 42}, "lua/any"]


async def test_channel_is_an_alias_for_response(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", "v")
        local same = future:channel() == future:response()
        local payload = future:channel():receive()
        return { same, payload:data() }
    """)
    assert out == [True, "v"]


async def test_response_channel_of_a_finished_future_still_gives_the_result(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", "kept")
        time.sleep("5s")
        local payload, ok = future:response():receive()
        return { payload:data(), ok }
    """)
    assert out == ["kept", True]


async def test_response_channel_of_a_failed_future_is_closed_without_a_value(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:fails", "1s")
        local payload, ok = future:response():receive()
        return { payload == nil, ok }
    """)
    assert out == [True, False]


# -- completion and cancellation checks -------------------------------------------------


async def test_is_complete(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", "v")
        local before = future:is_complete()
        local seen = {}
        if future:is_complete() then
            seen[#seen + 1] = "early"
        end
        -- the Function Invocation page's polling loop
        local polls = 0
        while not future:is_complete() do
            -- do other work
            polls = polls + 1
            time.sleep("300ms")
        end
        local result, err = future:result()
        return { before, polls, result:data(), err == nil, #seen }
    """)
    assert out == [False, 4, "v", True, 0]


async def test_is_complete_after_a_failure(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:fails", "1s")
        future:response():receive()
        return future:is_complete()
    """)
    assert out is True


async def test_is_canceled(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "10s", "v")
        local before = future:is_canceled()
        future:cancel()
        local said = {}
        if future:is_canceled() then
            said[1] = "Operation was canceled"
        end
        local finished = funcs.async("test:task", "1s", "v")
        finished:response():receive()
        return { before, future:is_canceled(), said, finished:is_canceled() }
    """)
    assert out == [False, True, ["Operation was canceled"], False]


# -- result -----------------------------------------------------------------------------


async def test_result_while_pending_is_nil_nil(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", "v")
        local n = select("#", future:result())
        local val, err = future:result()
        return { n, val == nil, err == nil }
    """)
    assert out == [2, True, True]


async def test_result_on_success_is_a_payload_and_nil(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", { 1, 2 })
        future:response():receive()
        local value, err = future:result()
        local printed
        if err then
            printed = "Failed: " .. err:message()
        elseif value then
            printed = "Got: " .. table.concat(value:data(), ",")
        end
        return { err == nil, value:get_format(), printed }
    """)
    assert out == [True, "lua/any", "Got: 1,2"]


async def test_result_of_several_values_is_a_table_of_payloads(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:several")
        future:response():receive()
        local val, err = future:result()
        local data = {}
        for i, p in ipairs(val) do data[i] = p:data() end
        return { err == nil, data }
    """)
    assert out == [True, ["a", "b", "c"]]


async def test_result_on_error_is_nil_and_the_error(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:fails", "1s")
        future:response():receive()
        local val, err = future:result()
        return { val == nil, err:kind(), err:message() }
    """)
    assert out == [True, "Conflict", "no stock"]


async def test_result_when_canceled_is_nil_and_a_canceled_error(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "10s", "v")
        future:cancel()
        local val, err = future:result()
        return { val == nil, err:kind() }
    """)
    assert out == [True, "Canceled"]


# -- error ------------------------------------------------------------------------------


async def test_error_example(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:fails", "1s")
        future:response():receive()
        local err, has_error = future:error()
        local lines = {}
        if has_error then
            lines[#lines + 1] = "Failed: " .. err:message()
            lines[#lines + 1] = "Error kind: " .. err:kind()
        end
        return { has_error, lines }
    """)
    assert out == [True, ["Failed: no stock", "Error kind: Conflict"]]


async def test_error_without_a_failure_is_nil_false(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", "v")
        local pending_err, pending_has = future:error()
        future:response():receive()
        local err, has_error = future:error()
        return { pending_err == nil, pending_has, err == nil, has_error }
    """)
    assert out == [True, False, True, False]


async def test_error_of_a_canceled_future(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "10s", "v")
        future:cancel()
        local err, has_error = future:error()
        return { err:kind(), has_error }
    """)
    assert out == ["Canceled", True]


# -- cancel -----------------------------------------------------------------------------


async def test_cancel_returns_ok_and_stops_the_operation(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:side_effect", process.pid(), "5s")
        time.sleep("1s")
        local n = select("#", future:cancel())
        local r = channel.select { process.inbox():case_receive(), time.after("60s"):case_receive() }
        return { n, r.channel == process.inbox() and "the function ran on" or "stopped" }
    """)
    assert out == [2, "stopped"]


async def test_cancel_returns_true_nil_while_running(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "10s", "v")
        local ok, err = future:cancel()
        return { ok, err == nil }
    """)
    assert out == [True, True]


async def test_cancel_after_completion_is_best_effort(lua, autojump_clock):
    # "Operation may still complete if already in progress": a finished one keeps its result
    out = await run(lua, """
        local future = funcs.async("test:task", "1s", "done")
        future:response():receive()
        local ok, err = future:cancel()
        local val = future:result()
        return { ok, err == nil, future:is_canceled(), val:data() }
    """)
    assert out == [False, True, False, "done"]


async def test_canceled_future_closes_its_channel(lua, autojump_clock):
    out = await run(lua, """
        local future = funcs.async("test:task", "10s", "v")
        future:cancel()
        local v, ok = future:response():receive()
        return { v == nil, ok }
    """)
    assert out == [True, False]


# -- patterns ---------------------------------------------------------------------------


async def test_timeout_pattern(lua, autojump_clock):
    out = await run(lua, """
        local data = "x"
        local function with_timeout()
            local future = funcs.async("test:side_effect", process.pid(), "10s")
            local timeout = time.after("5s")

            local r = channel.select {
                future:channel():case_receive(),
                timeout:case_receive()
            }

            if r.channel == timeout then
                future:cancel()
                return nil, errors.new("TIMEOUT", "Operation timed out")
            end

            return r.value:data()
        end
        local value, err = with_timeout()
        local late = channel.select { process.inbox():case_receive(), time.after("60s"):case_receive() }
        return { value == nil, err ~= nil, late.channel == process.inbox() }
    """)
    assert out == [True, True, False]


async def test_first_to_complete(lua, autojump_clock):
    lua.function("cache_get", 'local key = ...; time.sleep("1s"); return "cached " .. key', modules=("time",))
    lua.function("db_get", """
        local key, to = ...
        time.sleep("5s")
        process.send(to, "db", "the slower one ran on")
        return "db " .. key
    """, modules=("time",))
    out = await lua.run("""
        local key = "k"
        local function first()
            local f1 = funcs.async("test:cache_get", key)
            local f2 = funcs.async("test:db_get", key, process.pid())

            local r = channel.select {
                f1:channel():case_receive(),
                f2:channel():case_receive()
            }

            -- Cancel the slower one
            if r.channel == f1:channel() then
                f2:cancel()
            else
                f1:cancel()
            end

            return r.value:data()
        end
        local value = first()
        local late = channel.select { process.inbox():case_receive(), time.after("60s"):case_receive() }
        return { value, late.channel == process.inbox() }
    """, modules=("funcs", "time"))
    assert out == ["cached k", False]


async def test_errors_table(lua, autojump_clock):
    # Operation canceled -> CANCELED; async operation failed -> its own kind
    out = await run(lua, """
        local canceled = funcs.async("test:task", "10s", "v")
        canceled:cancel()
        local failed = funcs.async("test:fails", "1s")
        failed:response():receive()
        return { (canceled:error()):kind() == errors.CANCELED, (failed:error()):kind() }
    """)
    assert out == [True, "Conflict"]
