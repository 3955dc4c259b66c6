"""Resource limits: a runaway loop or a memory bomb kills one process, not the node."""

import pytest

from actors import ActorError, Node
from actors.guard import SliceGuard

LIMITS = """
local function spin() while true do end end

-- catching the error must not keep a runaway alive
local function spin_in_pcall()
  while true do pcall(function() while true do end end) end
end

local function bomb()
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
end

local function busy(n)
  local s = 0
  for i = 1, n do s = s + i end
  return s
end

local function double(x) return x * 2 end

-- a runaway inside a user coroutine
local function spin_in_coroutine()
  coroutine.wrap(function() while true do end end)()
end

-- long in all, but in short turns: never stopped
local function steady(turns)
  local s = 0
  for t = 1, turns do
    for i = 1, 20000 do s = s + i end
    coroutine.yield()
  end
  return s
end

return { spin = spin, spin_in_pcall = spin_in_pcall, bomb = bomb, busy = busy, double = double,
         spin_in_coroutine = spin_in_coroutine, steady = steady }
"""


def build(app, host):
    app.entries[0]["host"] = host
    app.lua("limits", LIMITS, method="spin")
    for method in ("spin_in_pcall", "bomb", "busy", "double", "spin_in_coroutine", "steady"):
        app.entry(name=method, kind="process.lua", source="file://limits.lua", method=method)


@pytest.fixture(params=["watchdog", "always"])
def guard(request, monkeypatch):
    """Both ways of arming the guard: by the watchdog when a slice runs long,
    and on every task (where the watchdog cannot find the running task)."""
    if request.param == "always":
        monkeypatch.setattr(SliceGuard, "attach", classmethod(lambda cls, kernel: None))
    return request.param


async def test_the_watchdog_finds_the_running_task_on_this_lua(app):
    build(app, {})
    async with Node.open(app.root) as node:
        assert all(worker._guard is not None for worker in node.router.host(app.host).workers.workers)


@pytest.mark.parametrize("entry", ["test:limits", "test:spin_in_pcall", "test:spin_in_coroutine"])
async def test_a_loop_that_never_yields_is_stopped_and_only_it_dies(app, entry, guard):
    build(app, {"max_instructions": 1_000_000})
    async with Node.open(app.root) as node:
        bystander = await node.spawn("test:limits", app.host)  # spins too, but later
        await node.terminate(bystander)
        with pytest.raises(ActorError) as failure:
            await node.exec(entry, app.host)
        assert failure.value.kind == "RateLimited"
        assert "without yielding" in failure.value.message
        assert "host.max_instructions" in failure.value.message
        assert await node.exec("test:double", app.host, 21) == 42


async def test_work_under_the_budget_is_not_stopped(app, guard):
    build(app, {"max_instructions": 1_000_000})
    async with Node.open(app.root) as node:
        assert await node.exec("test:busy", app.host, 50_000) == 50_000 * 50_001 // 2


async def test_a_long_run_of_short_turns_is_not_stopped(app, guard):
    # 1,000 turns of ~80,000 instructions: far over the budget in all and over
    # the watchdog's period, but each turn is under the budget
    build(app, {"max_instructions": 1_000_000})
    async with Node.open(app.root) as node:
        assert await node.exec("test:steady", app.host, 1000) == 1000 * (20_000 * 20_001 // 2)


async def test_zero_budget_turns_the_guard_off(app):
    build(app, {"max_instructions": 0})
    async with Node.open(app.root) as node:
        n = 5_000_000  # well over the default budget of 10M instructions
        assert await node.exec("test:busy", app.host, n) == n * (n + 1) // 2


async def test_a_memory_bomb_kills_only_its_process(app):
    build(app, {"max_memory": "32MB"})
    async with Node.open(app.root) as node:
        survivor = await node.spawn("test:double", app.host, 1)
        with pytest.raises(ActorError) as failure:
            await node.exec("test:bomb", app.host)
        assert failure.value.kind == "RateLimited"
        assert "not enough memory" in failure.value.message
        assert "host.max_memory" in failure.value.message
        # the node still runs processes and the memory came back
        assert await node.exec("test:double", app.host, 4) == 8
        assert node.memory(app.host) < 8 * 1024 * 1024
        assert survivor
