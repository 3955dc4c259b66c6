"""The harness of the hostile-code tests: run an attack, then prove the node is whole.

An attack is a Lua body run as a process on a capped host (``test:host``:
64 MB, the default instruction budget). However it ends, the node must then
serve, on that host and on another (``test:other``): a fresh process, a
function call, and an integrity check that the shared modules, constants and
an imported library look exactly as a new process expects. While the attack
runs, a probe keeps asking an echo process on the other host for answers and
records the longest wait: one process may never hold the node for long.
A wait is measured in the CPU time of the node's thread (what a runaway
slice takes from it: on a loaded machine its wall time is longer), and in
wall time against a looser bound (a node blocked on a lock uses no CPU).

    async def test_x(app):
        outcome = await attack(build_hostile_app(app), 'return string.rep("x", 1e12)')
        assert outcome.error.kind == "Invalid"
"""

from __future__ import annotations

import itertools
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import trio

from actors import ActorError, Node

#: What the integrity check returns when nothing shared was changed.
INTACT = "intact"

#: The most CPU time of the node's thread between two probe answers while an attack runs (seconds).
MAX_STALL = 3.0
#: The longest a probe answer may wait in wall time (seconds).
MAX_WAIT = 20.0

_INTEGRITY = f"""
local lib = require("shared_lib")
local checks = {{
  time.SECOND == 1000000000, time.MINUTE == 60 * time.SECOND, errors.NOT_FOUND == "NotFound",
  errors.INVALID == "Invalid", type(process.send) == "function", type(channel.new) == "function",
  string.rep("ab", 2) == "abab", ("x"):upper() == "X", math.pi > 3.14 and math.pi < 3.15,
  table.concat({{1, 2}}, ",") == "1,2", lib.answer() == 42, lib.counter == 0,
  type(json.encode) == "function", json.encode({{1}}) == "[1]", tostring(errors.new("m")) == "m",
  getmetatable("") == false, select("#", pcall(error)) == 2,
}}
for i = 1, #checks do
  if checks[i] ~= true then return "check " .. i .. " failed" end
end
lib.counter = lib.counter + 1  -- a fresh instance next time: nobody else sees this
return "{INTACT}"
"""


def build_hostile_app(app: Any) -> Any:
    """Turn the ``app`` fixture's app into the hostile harness's: capped
    ``test:host``, a plain ``test:other``, canaries, an echo and a library."""
    app.entries[0]["host"] = {"max_memory": "64MB"}
    app.entry(name="other", kind="process.host", lifecycle={"auto_start": True})
    app.lua("shared_lib", """
        local lib = { counter = 0 }
        function lib.answer() return 42 end
        return lib
    """, kind="library.lua")
    app.body("canary", 'return "alive"')
    app.body("canary_fn", 'return "called"', kind="function.lua")
    app.body("caller", 'return funcs.call("test:canary_fn")', modules=["funcs"], required=["funcs"])
    app.body("integrity", _INTEGRITY, modules=["time", "json"], required=["time", "json"],
             imports={"shared_lib": "test:shared_lib"})
    app.body("echo", """
        local inbox = process.inbox()
        while true do
          local msg = inbox:receive()
          process.send(msg:payload():data(), "echo", true)
        end
    """)
    return app


@dataclass
class Outcome:
    """How an attack process ended, and how long the node was held at worst
    (CPU seconds of the node's thread between two probe answers)."""

    value: Any
    error: ActorError | None
    longest_stall: float


class Inbox(AsyncExitStack):
    """A Python mailbox for an attack to send to (``setup=inbox.setup`` gives
    the attack its PID); what reached it is read afterwards. The mailbox, and
    any other opened with :meth:`open`, closes when the block ends."""

    async def open(self, node: Node, name: str | None = None) -> Any:
        return await self.enter_async_context(node.mailbox(name))

    async def setup(self, node: Node) -> tuple:
        self.mailbox = await self.open(node)
        return (self.mailbox.pid,)

    def received(self) -> list:
        messages = []
        while True:
            try:
                messages.append(self.mailbox.receive_nowait())
            except trio.WouldBlock:
                return messages


async def node_is_whole(node: Node) -> None:
    """Every host serves a process, a function call and an unchanged environment."""
    with trio.fail_after(30):
        for host in ("test:host", "test:other"):
            assert await node.exec("test:canary", host) == "alive"
            assert await node.exec("test:caller", host) == "called"
            assert await node.exec("test:integrity", host) == INTACT
        assert await node.call("test:canary_fn") == "called"


def _now() -> tuple[float, float]:
    """Wall time, and the CPU time of the calling thread (the node's, in a probe)."""
    return trio.current_time(), time.thread_time()


async def _probe(node: Node, answers: list[tuple[float, float]], *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Ask the echo on the other host for an answer, again and again, noting
    when each came (a stall shows as a long gap between two of them)."""
    echo = await node.spawn("test:echo", "test:other")
    async with node.mailbox() as me:
        while True:
            await node.send(echo, "ping", me.pid)
            await me.receive()
            answers.append(_now())
            if len(answers) == 1:
                task_status.started()
            await trio.sleep(0.01)


async def attack(app: Any, body: str, *args: Any, modules=("time", "funcs", "json"), timeout: float = 60,
                 setup=None) -> Outcome:
    """Run ``body`` as a process on the capped host; return how it ended once
    the node has been shown whole. ``setup(node)`` runs first (e.g. to spawn
    a victim the attack gets as an argument)."""
    app.body("attack", body, modules=list(modules), required=list(modules))
    async with Node.open(app.root) as node:
        if setup is not None:
            args = (*args, *(await setup(node)))
        answers: list[tuple[float, float]] = []
        value, error = None, None
        async with trio.open_nursery() as nursery:
            await nursery.start(_probe, node, answers)
            with trio.fail_after(timeout):
                try:
                    value = await node.exec("test:attack", "test:host", *args)
                except ActorError as failure:
                    error = failure
            answers.append(_now())
            nursery.cancel_scope.cancel()
        await node_is_whole(node)
        longest_wait = max(b[0] - a[0] for a, b in itertools.pairwise(answers))
        longest = max(b[1] - a[1] for a, b in itertools.pairwise(answers))
        assert longest_wait < MAX_WAIT, f"a probe waited {longest_wait:.2f}s"
        assert longest < MAX_STALL, f"the node was held for {longest:.2f}s of CPU"
        return Outcome(value, error, longest)
