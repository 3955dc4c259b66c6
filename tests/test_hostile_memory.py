"""host.max_memory: the process whose allocation fails dies, and only it.

A failed allocation stops its process the way the runaway guard does: no
pcall, xpcall or coroutine catches it, so a process cannot keep allocating at
the limit (each failure makes Lua run a full collection first, which would
hold the node). Other processes on the host carry on.
"""

import pytest
from hostile import attack, build_hostile_app

from actors import ActorError, Node

OUT_OF_MEMORY = "not enough memory (the worker's Lua state reached host.max_memory)"

# A process that keeps what it is sent and answers "ping" with how much it
# holds: it was there before the attack and must still be after it.
BYSTANDER = """
  local kept = {}
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "ping" then
      process.send(msg:payload():data(), "pong", #kept)
    else
      kept[#kept + 1] = msg:payload():data()
    end
  end
"""


async def spawn_bystander(node, host):
    pid = await node.spawn("test:bystander", host)
    await node.send(pid, "keep", "something")
    return pid


async def bystander_holds(node, pid):
    async with node.mailbox() as me:
        await node.send(pid, "ping", me.pid)
        return (await me.receive()).payload


@pytest.mark.parametrize("body", [
    # the attack on record: allocation in a pcall loop at the limit
    "local t = {} while true do pcall(function() for i = 1, 1e6 do t[#t + 1] = {} end end) end",
    "local t = {} while true do xpcall(function() while true do t[#t + 1] = {} end end, function(e) return e end) end",
    # caught by the resume of a coroutine instead
    "local t = {} while true do coroutine.resume(coroutine.create(function() while true do t[#t + 1] = {} end end)) end",
    "local t = {} while true do pcall(coroutine.wrap(function() while true do t[#t + 1] = { #t } end end)) end",
    # held in a global, so the process's environment keeps it to the end
    "T = {} for i = 1, 1e9 do T[i] = ('x'):rep(1000) .. i end",
])
async def test_the_process_whose_allocation_fails_dies_whatever_catches_it(app, body):
    outcome = await attack(build_hostile_app(app), body)
    assert outcome.error.kind == "RateLimited"
    assert outcome.error.message == OUT_OF_MEMORY


async def test_the_bystander_answers_after_a_memory_bomb(app):
    app.entries[0]["host"] = {"max_memory": "32MB"}
    app.body("bystander", BYSTANDER)
    app.body("bomb", "local t = {} while true do pcall(function() for i = 1, 1e6 do t[#t + 1] = {} end end) end")
    async with Node.open(app.root) as node:
        pid = await spawn_bystander(node, app.host)
        with pytest.raises(ActorError) as failure:
            await node.exec("test:bomb", app.host)
        assert failure.value.kind == "RateLimited"
        assert await bystander_holds(node, pid) == 1
        assert node.memory(app.host) < 8 * 1024 * 1024


async def test_hosts_have_a_memory_cap_of_256mb_unless_turned_off(app):
    app.entry(name="uncapped", kind="process.host", host={"max_memory": 0}, lifecycle={"auto_start": True})
    async with Node.open(app.root) as node:
        # (each worker's Lua state)
        assert {w.lua.get_max_memory() for w in node.router.host(app.host).workers.workers} == {256_000_000}
        assert {w.lua.get_max_memory(True) for w in node.router.host("test:uncapped").workers.workers} == {0}
