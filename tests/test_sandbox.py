"""The Lua environment a process runs in.

Each process has its own global table; the shared standard libraries and
runtime modules cannot be changed; ``io``, ``debug``, ``load``, ``package``,
binary chunks, the dangerous parts of ``os`` and everything of Python are out
of reach; ``require`` serves only an entry's ``imports`` and ``modules``.
Besides the front door, these tests try the side doors a hostile process
would: metatables, ``rawset``, ``pairs`` over proxies, the scheduler's own
coroutines, runtime objects' internals and finalizers. After every attempt
the node must still be serving other processes, unharmed.
"""

from __future__ import annotations

import logging

import pytest
import trio

from actors import ActorError, Node


def proc(app, name: str, body: str, *, modules=("time", "ctx"), **fields) -> str:
    return app.body(name, body, modules=modules, **fields)


def add_alive(app) -> None:
    proc(app, "alive", """
        assert(string.upper("ok") == "OK" and table.concat({ "a", "b" }) == "ab" and math.max(1, 2) == 2)
        assert(tostring(1) == "1" and type(process.send) == "function" and type(channel.new) == "function")
        return "alive"
    """)


async def still_running(node, app) -> None:
    with trio.fail_after(60):
        assert await node.exec("test:alive", app.host) == "alive"


async def probe(app, body: str, *args, modules=("time", "ctx"), **fields):
    """Run ``body`` in a process, check the node is fine afterwards, return the result."""
    proc(app, "probe", body, modules=modules, **fields)
    add_alive(app)
    async with Node.open(app.root) as node:
        with trio.fail_after(60):
            result = await node.exec("test:probe", app.host, *args)
        await still_running(node, app)
        return result


async def probe_error(app, body: str, *args, **fields) -> ActorError:
    proc(app, "probe", body, **fields)
    add_alive(app)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as info:
            with trio.fail_after(60):
                await node.exec("test:probe", app.host, *args)
        await still_running(node, app)
        return info.value


# -- own globals ------------------------------------------------------------------------------


async def test_each_process_has_its_own_globals(app, autojump_clock):
    proc(app, "setter", """
        local to = ...
        secret = "mine"
        _ENV.also_secret = "mine too"
        counter = (counter or 0) + 1
        process.send(to, "ready", counter)
        process.inbox():receive()
        return { secret = secret, counter = counter }
    """)
    proc(app, "reader", """
        return { secret = secret == nil, also = rawget(_ENV, "also_secret") == nil, counter = counter == nil }
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        a = await node.spawn("test:setter", app.host, me.pid, monitor_by=me.pid)
        b = await node.spawn("test:setter", app.host, me.pid, monitor_by=me.pid)
        with trio.fail_after(60):
            # a second process of the same entry starts from fresh globals too
            assert [(await me.receive()).payload for _ in range(2)] == [1, 1]
            assert await node.exec("test:reader", app.host) == {"secret": True, "also": True, "counter": True}
            for pid in (a, b):
                await node.send(pid, "go")
            results = [(await me.receive()).payload["result"]["value"] for _ in range(2)]
        assert results == [{"secret": "mine", "counter": 1}] * 2


async def test_shadowing_globals_stays_inside_the_process(app, autojump_clock):
    proc(app, "vandal", """
        print = nil; tostring = function() return "evil" end
        string = { upper = function() return "evil" end }
        table = nil; process = nil; pairs = error
        return "vandalised"
    """)
    add_alive(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:vandal", app.host) == "vandalised"
        await still_running(node, app)


async def test_function_entries_have_their_own_globals_too(app, autojump_clock):
    app.lua("leaky", "return { handler = function(v) leaked = v; return leaked end }",
            kind="function.lua", method="handler")
    proc(app, "peek", 'local funcs = require("funcs"); funcs.call("test:leaky", "x"); return leaked == nil',
         modules=("funcs",))
    async with Node.open(app.root) as node:
        assert await node.call("test:leaky", "secret") == "secret"
        assert await node.exec("test:peek", app.host) is True


# -- shared libraries are read-only ------------------------------------------------------------

#: (attack, check): ``attack`` runs in one process; ``check`` must then hold
#: in that process and in a fresh one.
TAMPERING = {
    "string field": ("string.upper = function() return 'evil' end", "string.upper('a') == 'A'"),
    "string new key": ("string.evil = 1", "string.evil == nil"),
    "string via method syntax": ("local s = 'x'; s.upper = nil", "('a'):upper() == 'A'"),
    "table": ("table.insert = nil", "type(table.insert) == 'function'"),
    "table.unpack": ("table.unpack = nil", "select('#', table.unpack({ 1, 2 })) == 2"),
    "math": ("math.pi = 3", "math.pi > 3.14"),
    "math.huge": ("math.huge = 0", "math.huge > 1e308"),
    "utf8": ("utf8.char = nil", "utf8.char(72) == 'H'"),
    "os": ("os.time = nil", "type(os.time()) == 'number'"),
    "coroutine": ("coroutine.spawn = nil", "type(coroutine.spawn) == 'function'"),
    "process": ("process.send = nil", "type(process.send) == 'function'"),
    "process.spawn": ("process.spawn = function() return 'evil' end",
                      "process.spawn ~= nil and select(2, process.spawn('test:none', 'test:host')) ~= nil"),
    "process.registry": ("process.registry.lookup = function() return 'hacked' end",
                         "process.registry.lookup('nobody') == nil"),
    "process.registry removed": ("process.registry.register = nil", "type(process.registry.register) == 'function'"),
    "process.event": ("process.event.EXIT = 'hacked'", "process.event.EXIT == 'EXIT'"),
    "channel": ("channel.new = nil", "type(channel.new) == 'function'"),
    "errors kind": ("errors.NOT_FOUND = 'hacked'", "errors.NOT_FOUND == 'NotFound'"),
    "errors.new": ("errors.new = nil", "errors.new('x'):message() == 'x'"),
    "rawset string": ("rawset(string, 'upper', nil)", "string.upper('a') == 'A'"),
    "rawset process": ("rawset(process, 'send', nil)", "type(process.send) == 'function'"),
    "rawset errors": ("rawset(errors, 'Invalid', 'x')", "errors.INVALID == 'Invalid'"),
    "setmetatable string": ("setmetatable(string, {})", "string.upper('a') == 'A'"),
    "table.insert into a proxy": ("table.insert(string, 'x')", "#string == 0 or string[1] == nil"),
    "time module": ("require('time').sleep = nil", "type(require('time').sleep) == 'function'"),
    "time constant": ("require('time').SECOND = 1", "require('time').SECOND == 1000000000"),
    "ctx module": ("require('ctx').get = function() return 'evil' end", "require('ctx').get('x') == nil"),
    "error object": ("local e = errors.new('x'); e.message = function() return 'evil' end", "errors.new('x'):message() == 'x'"),
}


@pytest.mark.parametrize("what", list(TAMPERING))
async def test_shared_libraries_cannot_be_changed(app, autojump_clock, what):
    attack, check = TAMPERING[what]
    proc(app, "attacker", f"""
        local ok, err = pcall(function() {attack} end)
        return {{ attack_raised = not ok, holds_here = ({check}) == true }}
    """)
    proc(app, "checker", f"return ({check}) == true")
    add_alive(app)
    async with Node.open(app.root) as node:
        out = await node.exec("test:attacker", app.host)
        assert out["holds_here"] is True, out
        assert await node.exec("test:checker", app.host) is True
        await still_running(node, app)


# -- absent and present globals ---------------------------------------------------------------

ABSENT = [
    "io", "debug", "load", "loadfile", "dofile", "package", "loadstring", "require_python",
    "python", "string.dump", "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename",
    "os.tmpname", "os.setlocale", "(''):dump", "rawget(_ENV, 'python')", "rawget(_ENV, 'io')",
]


@pytest.mark.parametrize("expr", ABSENT)
async def test_dangerous_globals_are_absent(app, autojump_clock, expr):
    expr = "('').dump" if expr == "(''):dump" else expr
    assert await probe(app, f"return ({expr}) == nil") is True


PRESENT = {
    "print": "type(print) == 'function'",
    "pairs/ipairs/next": "type(pairs) == 'function' and type(ipairs) == 'function' and type(next) == 'function'",
    "select/type/tostring/tonumber": "select('#', 1, 2) == 2 and type(1) == 'number' and tonumber('7') == 7",
    "pcall/error/assert": "pcall(error, 'x') == false and assert(true)",
    "metatables": "getmetatable(setmetatable({}, { __index = {} })) ~= nil",
    "raw access": "rawget({ a = 1 }, 'a') == 1 and rawequal(1, 1) and rawlen({ 1, 2 }) == 2 and rawset({}, 'k', 1).k == 1",
    "unpack": "select('#', unpack({ 1, 2, 3 })) == 3 and select('#', table.unpack({ 1, 2 })) == 2",
    "os.time/clock/date": "type(os.time()) == 'number' and type(os.clock()) == 'number' and type(os.date('%Y')) == 'string'",
    "utf8": "utf8.len('héllo') == 5",
    "string": "('abc'):upper() == 'ABC' and string.format('%d', 3) == '3'",
    "table": "table.concat({ 'a', 'b' }, ',') == 'a,b'",
    "math": "math.floor(2.5) == 2",
    "process/channel/errors": "type(process.pid()) == 'string' and channel.new(1) ~= nil and errors.INVALID == 'Invalid'",
    "coroutine.spawn": "type(coroutine.spawn) == 'function'",
}


@pytest.mark.parametrize("what", list(PRESENT))
async def test_always_present_globals(app, autojump_clock, what):
    assert await probe(app, f"return ({PRESENT[what]}) == true") is True


async def test_string_is_callable_as_tostring(app, autojump_clock):
    out = await probe(app, """
        return { string(42), string(nil), string(true), string(1.5), string("s"),
                 string(errors.new({ kind = errors.INVALID, message = "m" })),
                 type(string({})) }
    """)
    assert out == ["42", "nil", "true", "1.5", "s", "Invalid: m", "string"]


async def test_print_goes_to_the_node_log(app, autojump_clock, caplog):
    caplog.set_level(logging.DEBUG)
    pid = None
    proc(app, "printer", 'print("hello from lua", 42, nil); return process.pid()')
    async with Node.open(app.root) as node:
        pid = await node.exec("test:printer", app.host)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "hello from lua\t42\tnil" in text
    assert pid in text


async def test_logger_goes_to_the_node_log(app, autojump_clock, caplog):
    caplog.set_level(logging.DEBUG)
    proc(app, "logs", """
        local logger = require("logger")
        logger.info("an info line", { order = 7 })
        logger.warn("a warning")
        logger.error("an error", { code = "E1" })
        return process.pid()
    """, modules=("logger",))
    async with Node.open(app.root) as node:
        pid = await node.exec("test:logs", app.host)
    lines = {record.getMessage(): record.levelno for record in caplog.records if pid in record.getMessage()}
    text = "\n".join(lines)
    assert "an info line" in text and "7" in text
    assert any("a warning" in line and level == logging.WARNING for line, level in lines.items())
    assert any("an error" in line and "E1" in line and level == logging.ERROR for line, level in lines.items())


# -- no route to Python ---------------------------------------------------------------------------


async def test_nothing_reachable_is_python_or_a_loader(app, autojump_clock):
    out = await probe(app, """
        local time, ctx = require("time"), require("ctx")
        local forbidden = { python = true, load = true, loadfile = true, dofile = true, debug = true,
                            io = true, package = true, loadstring = true, eval = true, builtins = true }
        local seen, found = {}, {}
        local function note(what) found[#found + 1] = what end
        local function walk(v, path, depth)
          local tv = type(v)
          if tv == "userdata" then note("userdata at " .. path) return end
          if (tv ~= "table" and tv ~= "function") or seen[v] or depth > 8 then return end
          seen[v] = true
          if tv == "function" then return end
          local mt = getmetatable(v)
          if type(mt) == "table" then walk(mt, path .. "<mt>", depth + 1) end
          local ok, iter, state, init = pcall(pairs, v)
          if not ok then return end
          for k, x in iter, state, init do
            if type(k) == "string" and forbidden[k] then note("key " .. k .. " at " .. path) end
            if type(k) == "userdata" then note("userdata key at " .. path) end
            walk(x, path .. "." .. tostring(k), depth + 1)
          end
        end
        local samples = {
          env = _ENV, string_mt = getmetatable(""), time = time, ctx = ctx,
          ch = channel.new(1), inbox = process.inbox(), events = process.events(),
          err = errors.new("x"), now = time.now(), timer = time.timer("1h"), ticker = time.ticker("1h"),
          after = time.after("1h"), spawner = process.with_context({}),
          co = coroutine.create(function() end),
        }
        process.send(process.pid(), "t", { 1 })
        samples.msg = process.inbox():receive()
        samples.payload = samples.msg:payload()
        walk(samples, "", 0)
        return found
    """)
    assert out == {} or out == [], out


@pytest.mark.parametrize("expr", [
    'getmetatable("")',
    "getmetatable(string)",
    "getmetatable(process)",
    "getmetatable(_ENV)",
    "getmetatable(channel.new(1))",
    "getmetatable(process.inbox())",
    "getmetatable(require('time').now())",
    "getmetatable(require('time').SECOND)",
    "getmetatable(errors.new('x'))",
    "getmetatable(process.with_context({}))",
    "getmetatable(coroutine)",
])
async def test_runtime_metatables_are_hidden(app, autojump_clock, expr):
    out = await probe(app, f"""
        local mt = {expr}
        local ok = pcall(setmetatable, {expr.replace("getmetatable", "")}, {{}})
        return {{ kind = type(mt), set = ok }}
    """)
    assert out["kind"] != "table", out
    assert out["set"] is False


async def test_metatable_tricks_do_not_change_other_processes(app, autojump_clock):
    proc(app, "tamper", """
        local time = require("time")
        local objects = { "", string, process, _ENV, channel.new(1), errors.new("x"),
                          time.now(), time.parse_duration("1s"), process.with_context({}), coroutine }
        for _, o in ipairs(objects) do
          local mt = getmetatable(o)
          if type(mt) == "table" then
            pcall(function()
              mt.__index = function() return function() return "evil" end end
              mt.__newindex = nil; mt.__tostring = function() return "evil" end
              mt.__call = function() return "evil" end
            end)
          end
        end
        return "tampered"
    """, modules=("time",))
    proc(app, "verify", """
        local time = require("time")
        local ch = channel.new(1)
        ch:send(1)
        return {
          ("a"):upper() == "A", string(1) == "1", tostring(errors.new("x")) == "x",
          ch:receive() == 1, time.parse_duration("1s"):seconds() == 1, type(process.pid()) == "string",
          tostring(time.now()) ~= "evil",
        }
    """, modules=("time",))
    add_alive(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:tamper", app.host) == "tampered"
        assert await node.exec("test:verify", app.host) == [True] * 7
        await still_running(node, app)


async def test_pairs_over_proxies_shows_only_what_is_offered(app, autojump_clock):
    out = await probe(app, """
        local os_keys, string_has_dump, next_direct = {}, false, nil
        for k in pairs(os) do os_keys[#os_keys + 1] = k end
        table.sort(os_keys)
        for k in pairs(string) do if k == "dump" then string_has_dump = true end end
        local process_keys = 0
        for k, v in pairs(process) do process_keys = process_keys + 1 end
        return { os = os_keys, dump = string_has_dump, process_keys = process_keys > 5,
                 raw = rawget(string, "upper") }
    """)
    assert out["os"] == ["clock", "date", "difftime", "time"]
    assert out["dump"] is False
    assert out["process_keys"] is True
    assert out.get("raw") is None


# -- the scheduler's coroutines ----------------------------------------------------------------------


async def test_a_process_cannot_resume_or_close_its_own_task(app, autojump_clock):
    out = await probe(app, """
        local me = coroutine.running()
        local r1 = { pcall(coroutine.resume, me) }
        local r2 = { pcall(coroutine.close, me) }
        -- still a working process afterwards
        process.send(process.pid(), "t", "still here")
        local msg = process.inbox():receive()
        return { resume_refused = r1[1] == false or r1[2] == false,
                 close_refused = r2[1] == false or r2[2] == false,
                 still = msg:payload():data(), status = coroutine.status(me) }
    """)
    assert out == {"resume_refused": True, "close_refused": True, "still": "still here", "status": "running"}


async def test_a_spawned_coroutine_cannot_drive_the_main_task(app, autojump_clock):
    out = await probe(app, """
        local main = coroutine.running()
        local outcomes = {}
        local done = channel.new(1)
        coroutine.spawn(function()
          outcomes.resume = { pcall(coroutine.resume, main, "injected") }
          outcomes.close = { pcall(coroutine.close, main) }
          done:send(true)
        end)
        local woke_with = done:receive()
        return { resume_ok = outcomes.resume[1] and outcomes.resume[2], close_ok = outcomes.close[1] and outcomes.close[2],
                 woke_with = woke_with }
    """)
    assert out == {"resume_ok": False, "close_ok": False, "woke_with": True}


async def test_a_user_coroutine_blocked_in_the_runtime_cannot_be_resumed_by_another(app, autojump_clock):
    out = await probe(app, """
        local ch = channel.new()
        local co = coroutine.create(function() return ch:receive() end)
        local result
        coroutine.spawn(function() result = { coroutine.resume(co) } end)
        coroutine.yield()
        local ok, err = pcall(coroutine.resume, co, "forged value")
        local closed = pcall(coroutine.close, co)
        ch:send("real value")
        coroutine.yield(); coroutine.yield()
        return { refused = not ok or err == false, closed = closed, result = result }
    """)
    assert out["refused"] is True
    assert out["result"] == [True, "real value", True]


async def test_yield_at_the_top_of_a_task_just_gives_way(app, autojump_clock):
    out = await probe(app, """
        local n = 0
        coroutine.spawn(function() n = n + 1 end)
        local r = { coroutine.yield("ignored") }
        return { n = n, returned = #r }
    """)
    assert out == {"n": 1, "returned": 0}


# -- runtime objects' internals ---------------------------------------------------------------------


async def test_a_process_cannot_forge_its_sender_pid(app, autojump_clock):
    proc(app, "forger", """
        local to, victim = ...
        -- try every handle on runtime state a process can get at
        local ch = channel.new()
        coroutine.spawn(function() ch:receive() end)
        coroutine.yield()
        pcall(function()
          for _, w in pairs(rawget(ch, "rq") or {}) do
            if type(w) == "table" and type(w.proc) == "table" then w.proc.pid = victim end
          end
        end)
        process.send(to, "forged", true)
        return process.pid()
    """)
    proc(app, "victim", "process.inbox():receive()")
    add_alive(app)
    async with Node.open(app.root) as node, node.mailbox() as me:
        victim = await node.spawn("test:victim", app.host)
        forger = await node.spawn("test:forger", app.host, me.pid, victim)
        with trio.fail_after(60):
            msg = await me.receive()
        assert msg.topic == "forged"
        assert msg.sender == forger, "the sender of a message is the process that sent it"
        await still_running(node, app)


async def test_a_process_cannot_rewrite_what_its_entry_runs(app, autojump_clock):
    proc(app, "shape_shifter", """
        local mode = ...
        if mode ~= "attack" then return "honest" end
        local ch = channel.new()
        coroutine.spawn(function() ch:receive() end)
        coroutine.yield()
        pcall(function()
          for _, w in pairs(rawget(ch, "rq") or {}) do
            if type(w) == "table" and type(w.proc) == "table" and type(w.proc.entry) == "table" then
              w.proc.entry.chunk = function() return { main = function() return "hijacked" end } end
              w.proc.entry.modules.funcs = true
            end
          end
        end)
        return "attacked"
    """, modules=())
    add_alive(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:shape_shifter", app.host, "attack") == "attacked"
        assert await node.exec("test:shape_shifter", app.host, "peaceful") == "honest"
        await still_running(node, app)


async def test_timer_internals_cannot_crash_the_node(app, autojump_clock):
    proc(app, "saboteur", """
        local time = require("time")
        local timer, ticker = time.timer("1s"), time.ticker("1s")
        local f = nil
        for _, obj in ipairs({ timer, ticker }) do
          for k, v in pairs(obj) do
            if type(v) == "table" and rawget(v, "fire") then
              pcall(function() v.fire = function() error("sabotage") end end)
              pcall(function() v.deadline = -1 end)
            end
          end
        end
        time.sleep("2s")
        return "sabotaged"
    """, modules=("time",))
    add_alive(app)
    async with Node.open(app.root) as node:
        with trio.fail_after(60):
            try:
                await node.exec("test:saboteur", app.host)
            except ActorError:
                pass        # failing the saboteur is fine; failing the node is not
        await still_running(node, app)


async def test_future_internals_cannot_crash_the_node(app, autojump_clock):
    app.lua("slow", "local time = require('time'); return { h = function() time.sleep('5s'); return 1 end }",
            kind="function.lua", method="h", modules=["time"])
    proc(app, "saboteur", """
        local funcs, time = require("funcs"), require("time")
        local f = funcs.new():with_options({ timeout = 1000 }):async("test:slow")
        for k, v in pairs(f) do
          if type(v) == "table" and rawget(v, "fire") then
            pcall(function() v.fire = function() error("sabotage") end end)
          end
        end
        time.sleep("10s")
        return "sabotaged"
    """, modules=("funcs", "time"))
    add_alive(app)
    async with Node.open(app.root) as node:
        with trio.fail_after(60):
            try:
                await node.exec("test:saboteur", app.host)
            except ActorError:
                pass
        await still_running(node, app)


async def test_a_finalizer_cannot_act_as_another_process(app, autojump_clock):
    proc(app, "planter", """
        local to = ...
        local planted, refusals = 0, {}
        for i = 1, 50 do
          local ok, err = pcall(setmetatable, {}, { __gc = function()
            process.send(to, "stolen", { pid = process.pid(), secret = require("ctx").get("secret") })
          end })
          if ok then planted = planted + 1 else refusals[#refusals + 1] = tostring(err) end
        end
        return { planted = planted, refusal = refusals[1] }
    """, modules=("ctx",))
    proc(app, "churner", """
        local to = ...
        local keep = {}
        for i = 1, 300000 do keep[i % 1000 + 1] = { i } end
        process.send(to, "done", process.pid())
        return "churned"
    """)
    async with Node.open(app.root) as node, node.mailbox() as me:
        planter = await node.exec("test:planter", app.host, me.pid, context={"secret": "planter's"})
        assert planter["planted"] == 0
        assert "__gc" in planter["refusal"]
        assert await node.exec("test:churner", app.host, me.pid, context={"secret": "churner's"}) == "churned"
        with trio.fail_after(60):
            while True:
                msg = await me.receive()
                if msg.topic == "done":
                    break
                assert msg.payload.get("secret") != "churner's", (
                    "a finalizer planted by one process ran as another and read its context")


# -- require --------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["time", "funcs", "json", "uuid", "logger", "io", "os", "debug",
                                    "package", "python", "test:lib"])
async def test_require_of_an_undeclared_module_names_it_and_the_entry(app, autojump_clock, module):
    err = await probe_error(app, f'return require("{module}")', modules=())
    assert module in err.message
    assert "test:probe" in err.message


async def test_require_of_declared_modules(app, autojump_clock):
    out = await probe(app, """
        local json, uuid, logger = require("json"), require("uuid"), require("logger")
        return {
          json = json.decode(json.encode({ a = 1 })).a, uuid = uuid.validate(uuid.v4()),
          logger = type(logger.info), same = require("json") == json,
          process = require("process") == process, channel = require("channel") == channel,
          errors = require("errors") == errors,
        }
    """, modules=("json", "uuid", "logger", "process", "channel", "errors"))
    assert out == {"json": 1, "uuid": True, "logger": "function", "same": True,
                   "process": True, "channel": True, "errors": True}


async def test_require_of_a_non_string_fails_cleanly(app, autojump_clock):
    err = await probe_error(app, "return require(42)", modules=())
    assert "42" in err.message


# -- libraries --------------------------------------------------------------------------------------


def add_counter_library(app) -> None:
    app.lua("counter", """
        local M = { count = 0 }
        library_global = "set by the library"
        function M.inc() M.count = M.count + 1; return M.count end
        function M.sees_process_global() return process_global end
        return M
    """, kind="library.lua")


async def test_imports_of_a_library_work(app, autojump_clock):
    add_counter_library(app)
    out = await probe(app, """
        process_global = "set by the process"
        local counter = require("counter")
        counter.inc(); counter.inc()
        return { count = counter.inc(), same = require("counter") == counter,
                 library_global_here = library_global == nil,
                 library_sees_process_global = counter.sees_process_global() == nil }
    """, imports={"counter": "test:counter"})
    assert out == {"count": 3, "same": True, "library_global_here": True, "library_sees_process_global": True}


async def test_each_process_gets_its_own_library_instance(app, autojump_clock):
    add_counter_library(app)
    proc(app, "user", """
        local to = ...
        local counter = require("counter")
        local first = counter.inc()
        process.send(to, "counted", first)
        process.inbox():receive()
        return counter.inc()
    """, imports={"counter": "test:counter"})
    async with Node.open(app.root) as node, node.mailbox() as me:
        pids = [await node.spawn("test:user", app.host, me.pid, monitor_by=me.pid) for _ in range(3)]
        with trio.fail_after(60):
            assert [(await me.receive()).payload for _ in pids] == [1, 1, 1]
            for pid in pids:
                await node.send(pid, "go")
            assert [(await me.receive()).payload["result"]["value"] for _ in pids] == [2, 2, 2]


async def test_a_library_uses_its_own_imports_and_modules(app, autojump_clock):
    app.lua("base", "return { twice = function(x) return x * 2 end }", kind="library.lua")
    app.lua("fancy", """
        local base = require("base")
        local json = require("json")
        return { encode_twice = function(x) return json.encode({ v = base.twice(x) }) end }
    """, kind="library.lua", modules=["json"], imports={"base": "test:base"})
    out = await probe(app, """
        local fancy = require("f")
        return { encoded = fancy.encode_twice(21), no_json_here = not pcall(require, "json"),
                 no_base_here = not pcall(require, "base") }
    """, modules=(), imports={"f": "test:fancy"})
    assert out["no_json_here"] is True and out["no_base_here"] is True
    assert out["encoded"].replace(" ", "") == '{"v":42}'


async def test_a_library_cannot_require_what_it_did_not_declare(app, autojump_clock):
    app.lua("greedy", 'return { t = require("time") }', kind="library.lua")
    err = await probe_error(app, 'return require("g")', modules=("time",), imports={"g": "test:greedy"})
    assert "time" in err.message and "test:greedy" in err.message


async def test_a_library_cannot_change_the_shared_libraries(app, autojump_clock):
    app.lua("evil_lib", """
        pcall(function() string.upper = function() return "evil" end end)
        pcall(function() rawset(string, "upper", nil) end)
        return { ok = true }
    """, kind="library.lua")
    proc(app, "loader", 'require("evil"); return "loaded"', modules=(), imports={"evil": "test:evil_lib"})
    add_alive(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:loader", app.host) == "loaded"
        await still_running(node, app)


# -- failures leave the node running ------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "io.write('x')",
    "os.execute('true')",
    "debug.getinfo(1)",
    "load('return 1')()",
    "python.eval('1')",
    "require('io')",
    "string.dump(print)",
    "getmetatable('').__index.upper = nil",
    "while true do error('loop') end",
    "setmetatable(_ENV, {})",
])
async def test_forbidden_operations_fail_the_process_only(app, autojump_clock, body):
    err = await probe_error(app, body)
    assert err.message
