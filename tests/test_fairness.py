"""Fairness: reductions keep a busy process from starving the others."""

import trio

from actors import Node

SOURCES = """
local DEAD = "{luactor@test:host|999999999}"  -- sends to an exited PID are no-ops

-- sends in a tight loop without ever blocking
local function hog(report, n)
  for i = 1, n do process.send(DEAD, "noise", i) end
  process.send(report, "done", "hog")
end

local function quick(report)
  process.send(report, "done", "quick")
end

-- both become runnable in the same turn, the hog first
local function start(report, n)
  process.spawn("test:hog", "test:host", report, n)
  process.spawn("test:quick", "test:host", report)
end

return { hog = hog, quick = quick, start = start }
"""


async def test_a_process_sending_in_a_tight_loop_does_not_starve_others(app):
    app.lua("hog", SOURCES, method="hog")
    app.entry(name="quick", kind="process.lua", source="file://hog.lua", method="quick")
    app.entry(name="start", kind="process.lua", source="file://hog.lua", method="start")
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:start", app.host, me.pid, 2_000_000)
        with trio.fail_after(60):  # a starved or killed process would hang here
            first, second = await me.receive(), await me.receive()
        assert [first.payload, second.payload] == ["quick", "hog"]
