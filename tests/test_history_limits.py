"""A workflow's history stays within its host's ``history.*`` limits.

A workflow in a loop, or a flood of messages to one, reaches a limit: the
workflow fails with RATE_LIMITED naming the limit and its setting, what it
stored stays readable, a sender past the limit gets that error, there is one
warning on the way, and the store stays healthy for every other workflow.
"""

from __future__ import annotations

import logging

import pytest
import trio
from conftest import luactor

from actors import ActorError, Node
from hosts.history import HistoryStore

SELF_SENDER = """
local function run()
  local ticks = process.listen("tick")
  local n = 0
  while true do
    n = n + 1
    process.send(process.pid(), "tick", n)
    ticks:receive()
  end
end
return { run = run }
"""

SLEEPER = """
local time = require("time")
local function run(naps)
  for _ = 1, naps do time.sleep("1s") end
  return naps
end
return { run = run }
"""

FLOODER = """
local function run(victim)
  local n = 0
  while true do
    n = n + 1
    local ok, e = process.send(victim, "spam", n)
    if not ok then return { sent = n - 1, kind = e:kind(), message = e:message() } end
  end
end
return { run = run }
"""

# the app's limits, the loop, and the limit it reaches
LOOPS = {
    "a loop of sends to itself": ({"max_events": 300, "warn_events": 100}, "test:self_sender", (), "max_events"),
    "a loop of timers": ({"max_bytes": "6KiB", "warn_bytes": "2KiB"}, "test:sleeper", (10**6,), "max_bytes"),
}

LIMITS = {"max_events": 300, "max_bytes": 6 * 1024}


def build(app, **limits) -> None:
    app.entry(name="workflows", kind="workflow.host", store="store", history=limits)
    app.lua("self_sender", SELF_SENDER, method="run", kind="workflow.lua")
    app.lua("sleeper", SLEEPER, method="run", kind="workflow.lua", modules=["time"])
    app.lua("flooder", FLOODER, method="run", kind="workflow.lua")


def stored(app, workflow_id: str) -> tuple:
    """The header of a workflow and the sizes of its run's events, read from the store."""
    with HistoryStore.open(app.root / "store", readonly=True) as store:
        header = store.header(workflow_id)
        return header, [size for _, _, size in store.sized_run_events(header)]


async def ended(me, pid: str, *, monitored: bool = False) -> dict:
    """The result of process ``pid`` once it ends (``monitored``: ``me`` monitors it already)."""
    if not monitored:
        me.monitor(pid)
    with trio.fail_after(10**6):
        return (await me.receive()).payload["result"]


async def test_history_settings_default_to_temporals_limits(app, autojump_clock):
    build(app)
    async with Node.open(app.root) as node:
        limits = node.router.hosts["test:workflows"].limits
    assert (limits.max_events, limits.max_bytes, limits.warn_events, limits.warn_bytes) == (
        51_200, 50 * 1024 * 1024, 10_240, 10 * 1024 * 1024)


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_workflow_in_a_loop_fails_at_its_history_limit_and_the_store_stays_healthy(app, autojump_clock,
                                                                                          caplog, loop):
    limits, entry, args, limit = LOOPS[loop]
    build(app, **limits)
    caplog.set_level(logging.WARNING, "luactor")
    async with Node.open(app.root) as node, node.mailbox() as me:
        looper = await node.spawn(entry, "test:workflows", *args, name="looper")
        failure = (await ended(me, looper))["error"]
        # another workflow on the store starts, runs and completes
        other = await node.spawn("test:sleeper", "test:workflows", 3, name="other")
        assert (await ended(me, other))["value"] == 3
    assert failure["kind"] == "RateLimited" and failure["retryable"] is False
    assert f"history.{limit} = {LIMITS[limit]:,}" in failure["message"]
    assert "of host test:workflows" in failure["message"] and "'looper'" in failure["message"]

    header, sizes = stored(app, "looper")
    assert header.status == "failed" and header.error["message"] == failure["message"]
    if limit == "max_events":
        assert len(sizes) == LIMITS["max_events"]
    else:
        assert LIMITS["max_bytes"] - 200 < sum(sizes) <= LIMITS["max_bytes"]   # the record that passes it is not stored
    warnings = [r.getMessage() for r in caplog.records if "'looper' has a long history" in r.getMessage()]
    assert len(warnings) == 1 and f"history.warn_{limit[4:]}" in warnings[0]

    async with Node.open(app.root) as node:   # the store opens; the failed one is not run again
        await trio.sleep(5)
        assert node.process_count("test:workflows") == 0
    assert stored(app, "looper") == (header, sizes)
    history = luactor("workflows", "history", app.root / "store", "looper")
    assert history.returncode == 0 and len(history.stdout.splitlines()) == len(sizes) + 1   # a heading, then each
    shown = luactor("workflows", "show", app.root / "store", "looper")
    assert f"error    RateLimited: {failure['message']}" in shown.stdout.splitlines()


async def test_a_flood_of_messages_is_refused_past_the_limit_and_the_victim_fails(app, autojump_clock):
    build(app, max_events=100)
    async with Node.open(app.root) as node, node.mailbox() as me:
        # from Python
        victim = await node.spawn("test:sleeper", "test:workflows", 10**6, name="victim")
        me.monitor(victim)
        sent = 0
        with pytest.raises(ActorError) as refused:
            while True:
                await node.send(victim, "spam", sent)
                sent += 1
        assert refused.value.kind == "RateLimited" and "history.max_events = 100" in refused.value.message
        assert (await ended(me, victim, monitored=True))["error"]["kind"] == "RateLimited"
        with pytest.raises(ActorError) as again:          # it failed at its limit: still refused
            await node.send(victim, "spam", sent)
        assert again.value.kind == "RateLimited" and f"message to {victim} refused" in again.value.message
        # from another workflow of the same host, while the victim runs and once it has failed
        second = await node.spawn("test:sleeper", "test:workflows", 10**6, name="second")
        flooded = (await ended(me, await node.spawn("test:flooder", "test:workflows", second)))["value"]
        after = (await ended(me, await node.spawn("test:flooder", "test:workflows", second)))["value"]
    for outcome in (flooded, after):
        assert outcome["kind"] == "RateLimited" and "'second'" in outcome["message"]
        assert "history.max_events = 100" in outcome["message"]
    assert flooded["sent"] > 0 and after["sent"] == 0
    for workflow_id in ("victim", "second"):
        header, sizes = stored(app, workflow_id)
        assert header.status == "failed" and len(sizes) == 100
