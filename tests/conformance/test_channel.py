"""Channels and Coroutines page: ``channel.new``, ``send``/``receive``/
``close``, ``channel.select`` with ``case_receive``/``case_send`` and
``default``, and the page's patterns (timeout, fan-in, non-blocking check,
worker pool). The overview page's channel and select examples are here too.
"""

from __future__ import annotations

import pytest

from actors import ActorError


async def test_channel_is_a_global(lua, autojump_clock):
    assert await lua.run("return type(channel), type(channel.new), type(channel.select)", modules=()) == "table"


# -- creating ---------------------------------------------------------------------------


async def test_unbuffered_channel_synchronizes_sender_and_receiver(lua, autojump_clock):
    out = await lua.run("""
        local sync_ch = channel.new()
        local log = {}
        coroutine.spawn(function()
            log[#log + 1] = "sending"
            local ok = sync_ch:send("v")
            log[#log + 1] = "sent " .. tostring(ok)
        end)
        time.sleep("1s")                     -- the sender waits: nobody receives yet
        log[#log + 1] = "receiving"
        local v, ok = sync_ch:receive()
        log[#log + 1] = "got " .. v .. " " .. tostring(ok)
        time.sleep("1s")
        return log
    """, modules=("time",))
    assert out == ["sending", "receiving", "got v true", "sent true"]


async def test_new_zero_is_unbuffered(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(0)
        local r = channel.select { ch:case_send(1), default = true }
        return r.default == true
    """, modules=())
    assert out is True


async def test_buffered_channel_sends_complete_while_space_is_available(lua, autojump_clock):
    out = await lua.run("""
        local work_queue = channel.new(10)
        for i = 1, 10 do assert(work_queue:send(i) == true) end
        -- the eleventh does not fit
        local r = channel.select { work_queue:case_send(11), default = true }
        local got = {}
        for _ = 1, 10 do got[#got + 1] = (work_queue:receive()) end
        return { r.default, got }
    """, modules=())
    assert out == [True, list(range(1, 11))]


@pytest.mark.parametrize("size", ["-1", "1.5", '"ten"'])
async def test_new_with_a_bad_size_is_an_error(lua, autojump_clock, size):
    out = await lua.run(f"""
        local ok, e = pcall(channel.new, {size})
        return {{ ok, e:kind() }}
    """, modules=())
    assert out == [False, "Invalid"]


# -- sending and receiving --------------------------------------------------------------


async def test_send_example(lua, autojump_clock):
    out = await lua.run("""
        local tasks = { "a", "b", "c" }
        -- Send work to a worker pool
        local jobs = channel.new(100)
        for i, task in ipairs(tasks) do
            jobs:send(task)  -- Blocks if buffer full
        end
        jobs:close()  -- Signal no more work
        local got = {}
        while true do
            local job, ok = jobs:receive()
            if not ok then break end
            got[#got + 1] = job
        end
        return got
    """, modules=())
    assert out == ["a", "b", "c"]


async def test_send_returns_true(lua, autojump_clock):
    assert await lua.run("local ch = channel.new(1); return ch:send('x')", modules=()) is True


async def test_send_blocks_when_the_buffer_is_full(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(1)
        local log = {}
        coroutine.spawn(function()
            ch:send(1)
            log[#log + 1] = "first in"
            ch:send(2)
            log[#log + 1] = "second in"
        end)
        time.sleep("1s")
        log[#log + 1] = "receive " .. ch:receive()
        time.sleep("1s")
        log[#log + 1] = "receive " .. ch:receive()
        return log
    """, modules=("time",))
    assert out == ["first in", "receive 1", "second in", "receive 2"]


async def test_receive_example(lua, autojump_clock):
    out = await lua.run("""
        local work = channel.new(5)
        for i = 1, 3 do work:send(i) end
        work:close()
        local processed = {}
        local function process(job) processed[#processed + 1] = job * 10 end
        -- Worker consuming from job queue
        while true do
            local job, ok = work:receive()
            if not ok then
                break  -- Channel closed, no more work
            end
            process(job)
        end
        return processed
    """, modules=())
    assert out == [10, 20, 30]


async def test_receive_returns_value_true_then_nil_false_once_closed_and_empty(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(2)
        ch:send("x")
        ch:close()
        local v1, ok1 = ch:receive()
        local v2, ok2 = ch:receive()
        local v3, ok3 = ch:receive()
        return { v1, ok1, v2 == nil, ok2, v3 == nil, ok3 }
    """, modules=())
    assert out == ["x", True, True, False, True, False]


async def test_receive_blocks_until_a_value_is_available(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(1)
        coroutine.spawn(function() time.sleep("5s"); ch:send("late") end)
        local start = time.now()
        local v = ch:receive()
        return { v, time.now():sub(start):seconds() }
    """, modules=("time",))
    assert out == ["late", 5]


async def test_send_and_receive_nil_and_tables(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(2)
        local t = { k = "v" }
        ch:send(nil)
        ch:send(t)
        local v1, ok1 = ch:receive()
        local v2 = ch:receive()
        return { v1 == nil, ok1, v2 == t }
    """, modules=())
    # a channel stays inside its process: values pass as they are
    assert out == [True, True, True]


# -- closing ----------------------------------------------------------------------------


async def test_close_example(lua, autojump_clock):
    out = await lua.run("""
        local data = { 1, 2, 3 }
        local function process(item) return item * item end
        local results = channel.new(10)
        -- Producer fills results
        for _, item in ipairs(data) do
            results:send(process(item))
        end
        results:close()  -- Signal completion
        local got = {}
        for _ = 1, 4 do
            local v, ok = results:receive()
            got[#got + 1] = ok and v or "closed"
        end
        return got
    """, modules=())
    assert out == [1, 4, 9, "closed"]


async def test_close_wakes_pending_receivers_with_nil_false(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new()
        local done = channel.new(2)
        for i = 1, 2 do
            coroutine.spawn(function()
                local v, ok = ch:receive()
                done:send({ v == nil, ok })
            end)
        end
        time.sleep("1s")
        ch:close()
        return { (done:receive()), (done:receive()) }
    """, modules=("time",))
    assert out == [[True, False], [True, False]]


async def test_close_gives_pending_senders_an_error(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new()
        local done = channel.new(1)
        coroutine.spawn(function()
            local ok, e = pcall(ch.send, ch, "never taken")
            done:send({ ok, tostring(e) })
        end)
        time.sleep("1s")
        ch:close()
        return done:receive()
    """, modules=("time",))
    assert out[0] is False
    assert "closed" in out[1]


async def test_closing_a_closed_channel_is_a_no_op(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(1)
        ch:send("kept")
        ch:close()
        local ok = pcall(ch.close, ch)
        local v, received = ch:receive()
        return { ok, v, received }
    """, modules=())
    assert out == [True, "kept", True]


async def test_send_on_a_closed_channel_raises(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(5)
        ch:close()
        local ok, e = pcall(ch.send, ch, 1)
        return { ok, tostring(e) }
    """, modules=())
    assert out[0] is False
    assert "closed" in out[1]


async def test_an_unhandled_send_on_a_closed_channel_fails_only_its_process(lua, autojump_clock):
    with pytest.raises(ActorError) as info:
        await lua.run("local ch = channel.new(); ch:close(); ch:send(1)", modules=())
    assert "closed" in info.value.message


# -- select -----------------------------------------------------------------------------


async def test_select_receive_case_result(lua, autojump_clock):
    out = await lua.run("""
        local a, b = channel.new(1), channel.new(1)
        b:send("from b")
        local r = channel.select { a:case_receive(), b:case_receive() }
        return { r.channel == b, r.value, r.ok, r.default == nil }
    """, modules=())
    assert out == [True, "from b", True, True]


async def test_select_receive_on_a_closed_channel_has_ok_false(lua, autojump_clock):
    out = await lua.run("""
        local a = channel.new()
        a:close()
        local r = channel.select { a:case_receive() }
        return { r.channel == a, r.value == nil, r.ok }
    """, modules=())
    assert out == [True, True, False]


async def test_select_send_case_result(lua, autojump_clock):
    out = await lua.run("""
        local out_ch = channel.new(1)
        local r = channel.select { out_ch:case_send("payload") }
        return { r.channel == out_ch, r.value, r.ok, (out_ch:receive()) }
    """, modules=())
    assert out == [True, "payload", True, "payload"]


async def test_select_default_when_no_case_is_ready(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new()
        local r = channel.select { ch:case_receive(), default = true }
        local keys = {}
        for k in pairs(r) do keys[#keys + 1] = k end
        table.sort(keys)
        return { r.default, r.ok, keys }
    """, modules=())
    assert out == [True, True, ["default", "ok"]]


async def test_select_default_is_not_taken_when_a_case_is_ready(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(1)
        ch:send(5)
        local r = channel.select { ch:case_receive(), default = true }
        return { r.default == nil, r.value }
    """, modules=())
    assert out == [True, 5]


async def test_select_blocks_until_a_case_is_ready(lua, autojump_clock):
    out = await lua.run("""
        local a, b = channel.new(), channel.new()
        coroutine.spawn(function() time.sleep("2s"); b:send("b") end)
        local r = channel.select { a:case_receive(), b:case_receive() }
        return { r.channel == b, r.value }
    """, modules=("time",))
    assert out == [True, "b"]


async def test_select_send_case_waits_for_a_receiver(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new()
        local got = channel.new(1)
        coroutine.spawn(function() time.sleep("1s"); got:send(ch:receive()) end)
        local r = channel.select { ch:case_send("handed over") }
        return { r.ok, (got:receive()) }
    """, modules=("time",))
    assert out == [True, "handed over"]


@pytest.mark.parametrize("case", ['"not a case"', "{}", "{ ch = {} }"])
async def test_invalid_case_in_select_is_a_runtime_error(lua, autojump_clock, case):
    out = await lua.run(f"""
        local ok, e = pcall(channel.select, {{ {case} }})
        return {{ ok, e:kind() }}
    """, modules=())
    assert out == [False, "Invalid"]


# -- patterns ---------------------------------------------------------------------------


async def test_timeout_pattern(lua, autojump_clock):
    lua.function("slow", 'time.sleep("10s"); return "late"', modules=("time",))
    out = await lua.run("""
        local function with_timeout()
            local worker = funcs.async("test:slow")
            local result_ch = worker:response()
            local timeout = time.after("5s")

            local r = channel.select {
                result_ch:case_receive(),
                timeout:case_receive()
            }

            if r.channel == timeout then
                return nil, errors.new("TIMEOUT", "Operation timed out")
            end
            return r.value
        end
        local value, err = with_timeout()
        return { value == nil, err:message() }
    """, modules=("funcs", "time"))
    assert out == [True, "TIMEOUT"]


async def test_timeout_pattern_result_first(lua, autojump_clock):
    lua.function("quick", 'time.sleep("1s"); return "fast"', modules=("time",))
    out = await lua.run("""
        local worker = funcs.async("test:quick")
        local result_ch = worker:response()
        local timeout = time.after("5s")
        local r = channel.select {
            result_ch:case_receive(),
            timeout:case_receive()
        }
        if r.channel == timeout then
            return nil, errors.new("TIMEOUT", "Operation timed out")
        end
        return r.value:data()
    """, modules=("funcs", "time"))
    assert out == "fast"


async def test_fan_in_pattern(lua, autojump_clock):
    lua.process("poker", """
        local target = ...
        process.send(target, "job", "message 1")
        process.cancel(target, "please stop")
    """)
    out = await lua.run("""
        local events = process.events()
        local inbox = process.inbox()
        local shutdown = channel.new()
        local handled = {}
        local function handle_event(e)
            handled[#handled + 1] = "event " .. e.kind .. " " .. tostring(e.reason)
            shutdown:close()
        end
        local function handle_message(m) handled[#handled + 1] = "message " .. m:payload():data() end
        process.spawn("test:poker", "test:host", process.pid())

        while true do
            local r = channel.select {
                events:case_receive(),
                inbox:case_receive(),
                shutdown:case_receive()
            }

            if r.channel == shutdown then
                break
            elseif r.channel == events then
                handle_event(r.value)
            else
                handle_message(r.value)
            end
        end
        return handled
    """, modules=())
    assert out == ["message message 1", "event CANCEL please stop"]


async def test_non_blocking_check(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(1)
        local seen = {}
        local function check()
            local r = channel.select {
                ch:case_receive(),
                default = true
            }

            if r.default then
                seen[#seen + 1] = "nothing"
            else
                seen[#seen + 1] = r.value
            end
        end
        check()
        ch:send("data")
        check()
        return seen
    """, modules=())
    assert out == ["nothing", "data"]


async def test_select_cases(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new(1)
        -- Send case - completes when channel can accept value
        local s = channel.select { ch:case_send("v") }
        -- Receive case - completes when value available
        local r = channel.select { ch:case_receive() }
        return { s.value, r.value }
    """, modules=())
    assert out == ["v", "v"]


async def test_worker_pool_pattern(lua, autojump_clock):
    # The page hands the channels to spawned processes; a channel belongs to
    # its process, so the pool's workers are coroutines of the process here.
    out = await lua.run("""
        local items = { 1, 2, 3, 4, 5, 6 }
        local num_workers = 3
        local work = channel.new(100)
        local results = channel.new(100)

        -- Spawn workers
        for i = 1, num_workers do
            coroutine.spawn(function()
                while true do
                    local item, ok = work:receive()
                    if not ok then return end
                    results:send(item * 100 + i)
                end
            end)
        end

        -- Feed work
        for _, item in ipairs(items) do
            work:send(item)
        end
        work:close()

        -- Collect results
        local processed = {}
        while #processed < #items do
            local result, ok = results:receive()
            if not ok then break end
            table.insert(processed, result // 100)
        end
        table.sort(processed)
        return processed
    """, modules=())
    assert out == [1, 2, 3, 4, 5, 6]


async def test_channels_cannot_be_handed_to_another_process(lua, autojump_clock):
    lua.process("processor", "return true")
    out = await lua.run("""
        local work = channel.new(100)
        local pid, err = process.spawn("test:processor", "test:host", work)
        local ok, err2 = process.send(process.pid(), "t", work)
        return { pid == nil, err:kind(), ok == nil, err2:kind() }
    """, modules=())
    assert out == [True, "Invalid", True, "Invalid"]


# -- the overview page ------------------------------------------------------------------


async def test_overview_channel_example(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new()        -- unbuffered
        local buffered = channel.new(10)
        local value = "v"
        coroutine.spawn(function()
            ch:send(value)                  -- blocks until received
        end)
        local val, ok = ch:receive()    -- blocks until ready
        buffered:send(val)
        return { val, ok, (buffered:receive()) }
    """, modules=())
    assert out == ["v", True, "v"]


async def test_overview_coroutine_example(lua, autojump_clock):
    out = await lua.run("""
        local ch = channel.new()
        local order = {}
        local function fetch_data() return "data" end
        local function do_other_work() order[#order + 1] = "other work" end
        coroutine.spawn(function()
            local data = fetch_data()
            ch:send(data)
        end)

        do_other_work()  -- continues immediately
        order[#order + 1] = ch:receive()
        return order
    """, modules=())
    assert out == ["other work", "data"]


@pytest.mark.parametrize("source", ["inbox", "events", "timeout"])
async def test_overview_select_example(lua, autojump_clock, source):
    lua.process("poke", """
        local target, how = ...
        if how == "inbox" then process.send(target, "hello", "a message") end
        if how == "events" then process.cancel(target, "stop") end
    """)
    out = await lua.run("""
        local how = ...
        local inbox, events = process.inbox(), process.events()
        local timeout = time.after("10s")
        process.spawn("test:poke", "test:host", process.pid(), how)
        local r = channel.select {
            inbox:case_receive(),
            events:case_receive(),
            timeout:case_receive()
        }

        if r.channel == timeout then
            return "timed out"
        elseif r.channel == events then
            return "event " .. r.value.kind
        else
            return "message " .. r.value:payload():data()
        end
    """, source, modules=("time",))
    assert out == {"inbox": "message a message", "events": "event CANCEL", "timeout": "timed out"}[source]
