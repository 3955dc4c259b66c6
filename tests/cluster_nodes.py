"""Helpers for tests of clusters: the app every node runs, nodes as
``luactor run`` subprocesses, and waiting for a condition with a deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from conftest import LuactorProcess

from actors import Node

# An app for the test's own node and the subprocess nodes: a host, and an
# echo process that prints its PID and answers every "ping" to its sender.
ECHO = """
return { main = function()
  print("echo at " .. process.pid())
  local pings = process.listen("ping", { message = true })
  local events = process.events()
  while true do
    local r = channel.select({ pings:case_receive(), events:case_receive() })
    if r.channel == events then return end  -- CANCEL: the node stops
    process.send(r.value:from(), "pong", (r.value:payload():data()))
  end
end }
"""


def add_echo(app) -> None:
    app.lua("echo", ECHO)
    app.entry(name="echo_service", kind="process.service", process="echo", host="host",
              lifecycle={"auto_start": True})


def start_node(app, nats, name: str) -> LuactorProcess:
    """``luactor run`` of ``app`` as node ``name`` of the cluster on ``nats``."""
    return LuactorProcess("run", app.root, "--node", name, "--cluster", nats.url, "--data", app.root / f".data-{name}")


@asynccontextmanager
async def alpha_and_beta(app, nats) -> AsyncIterator[tuple[Node, LuactorProcess, str]]:
    """Node beta running ``app`` as a subprocess (once its echo is up), and
    node alpha opened here: ``(alpha, beta, the PID of beta's echo)``."""
    with start_node(app, nats, "beta") as beta:
        echo = await echo_pid(beta)
        async with Node.open(app.root, node="alpha", cluster=nats.url) as node:
            yield node, beta, echo


async def wait_until(condition, timeout: float = 10.0) -> None:
    """Until ``condition()`` holds (checked every 20 ms), or fail after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 (the state of a link or of the membership: no event to wait on)
            await trio.sleep(0.02)


async def echo_pid(node: LuactorProcess) -> str:
    await trio.to_thread.run_sync(node.wait_for, "echo at ")
    line = next(line for line in node.seen if "echo at " in line)
    return line.split("echo at ")[1].strip()


async def receive(mailbox, timeout: float = 15.0):
    """The mailbox's next message, or fail after ``timeout`` seconds (a test never hangs)."""
    with trio.fail_after(timeout):
        return await mailbox.receive()
