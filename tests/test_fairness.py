"""Fairness: reductions keep a busy process from starving the others."""

import trio

from actors import Node

# Every process here runs on the host's first worker (the spawn option
# `worker`): fairness is a property of one worker's scheduler, and the hog's
# sends stay local, so the test checks the same thing at any host.workers.
SOURCES = """
local ONE = { worker = 1 }

local function gone() end

-- sends in a tight loop without ever blocking (to a process that has
-- exited: such sends are no-ops)
local function hog(report, n, dead)
  for i = 1, n do process.send(dead, "noise", i) end
  process.send(report, "done", "hog")
end

local function quick(report)
  process.send(report, "done", "quick")
end

-- both become runnable in the same turn, the hog first
local function start(report, n)
  local events = process.events()
  local dead = assert(process.with_options(ONE):spawn_monitored("test:gone", "test:host"))
  repeat local event = events:receive() until event.kind == process.event.EXIT and event.from == dead
  process.with_options(ONE):spawn("test:hog", "test:host", report, n, dead)
  process.with_options(ONE):spawn("test:quick", "test:host", report)
end

return { gone = gone, hog = hog, quick = quick, start = start }
"""


async def test_a_process_sending_in_a_tight_loop_does_not_starve_others(app):
    app.lua("hog", SOURCES, method="hog")
    for method in ("gone", "quick", "start"):
        app.entry(name=method, kind="process.lua", source="file://hog.lua", method=method)
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:start", app.host, me.pid, 200_000, options={"worker": 1})
        with trio.fail_after(60):  # a starved or killed process would hang here
            first, second = await me.receive(), await me.receive()
        assert [first.payload, second.payload] == ["quick", "hog"]
