"""Node shutdown: every process hears CANCEL and gets a bounded time to end.

A process that listens to its events gets ``{kind = CANCEL, from = <the
node's PID>, reason = "node shutting down"}`` and may finish on its own; the
host waits for those up to its ``lifecycle.stop_timeout`` (5s by default),
then ends whatever is left. A process that never asked for its events
cannot see CANCEL, so the host does not wait for it.
"""

from __future__ import annotations

import logging

import pytest
import trio

from actors import Node


def host_with_stop_timeout(app, timeout: str) -> None:
    app.entries[0]["lifecycle"]["stop_timeout"] = timeout
    app._write()


async def shutdown_time(app, *spawns: str) -> float:
    """Open the node, spawn `spawns` on its host, leave: how long leaving took."""
    async with Node.open(app.root) as node:
        for entry in spawns:
            await node.spawn(entry, app.host)
        await trio.sleep(1)  # every process is waiting by now
        node_pid = node.pid
        left_at = trio.current_time()
    shutdown_time.node_pid = node_pid
    return trio.current_time() - left_at


async def test_a_process_listening_to_events_finishes_on_cancel(app, autojump_clock, caplog):
    app.body("polite", """
        local ev = process.events():receive()
        time.sleep("1s")  -- its own tidying up takes a while
        print("bye", ev.kind, ev.reason, ev.from)
        return "done"
    """, modules=["time"], required=["time"])
    with caplog.at_level(logging.INFO, logger="luactor"):
        elapsed = await shutdown_time(app, "test:polite")
    assert elapsed == pytest.approx(1.0)
    byes = [r.getMessage() for r in caplog.records if "bye" in r.getMessage()]
    assert len(byes) == 1
    assert byes[0].endswith(f"bye\tCANCEL\tnode shutting down\t{shutdown_time.node_pid}")


async def test_one_that_ignores_cancel_is_ended_after_the_stop_timeout(app, autojump_clock, caplog):
    host_with_stop_timeout(app, "3s")
    app.body("stubborn", """
        local events = process.events()
        while true do events:receive() end
    """)
    with caplog.at_level(logging.WARNING, logger="luactor"):
        elapsed = await shutdown_time(app, "test:stubborn")
    assert elapsed == pytest.approx(3.0)


async def test_processes_that_cannot_see_cancel_are_not_waited_for(app, autojump_clock):
    app.body("deaf", """
        process.inbox():receive()
    """)
    assert await shutdown_time(app, "test:deaf", "test:deaf") == 0
