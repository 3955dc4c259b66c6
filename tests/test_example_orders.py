"""The main demo, examples/orders: kill -9 in the middle, run again, every order finishes once."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from conftest import LuactorProcess

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "orders"
DEADLINE = 60  # seconds any one wait may take before the test fails


ON_TEMPORAL = """  - name: temporal
    kind: temporal.client
    address: {address}

  - name: workflows
    kind: temporal.worker
    client: orders:temporal
    task_queue: orders-{queue}
    activity_timeout: 5s     # an activity lost with its node runs again after this
    worker_options:
      sticky_queue_schedule_to_start_timeout: 1s
"""


def copy_example(tmp_path: Path, temporal_address: str | None = None) -> Path:
    """The example app; with an address, its workflow host swapped for a temporal.worker."""
    app = tmp_path / "orders"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".luactor"))
    if temporal_address:
        definition = app / "app.yaml"
        text = definition.read_text()
        embedded = "  - name: workflows\n    kind: workflow.host\n    sync: true\n"
        assert embedded in text
        definition.write_text(text.replace(embedded, ON_TEMPORAL.format(address=temporal_address,
                                                                          queue=tmp_path.name)))
    return app


def kill_mid_saga_and_finish(app: Path, data: Path) -> list[str]:
    """Run the app, SIGKILL it mid-saga, run it again until all orders ended; the log of both."""
    with LuactorProcess("run", app, "--data", data) as first:
        first.wait_for("approved by the desk")  # mid-saga: some approved, none shipped yet
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=DEADLINE)

    with LuactorProcess("run", app, "--data", data) as second:
        second.wait_for("shipped T-", count=3 - sum("shipped T-" in line for line in first.seen))
        second.wait_for("charge declined", count=2 - sum("charge declined" in line for line in first.seen))
        # the desk learns how every order ended, those that ended before the kill too
        second.wait_for("desk: all 5 orders are done: 3 shipped, 2 declined (stock released). "
                        "Stop the node with Ctrl-C")
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(timeout=DEADLINE) == 0

    log = first.seen + second.seen
    for order in (1, 2, 3):
        assert sum(f"order-{order}: shipped T-{order}" in line for line in log) == 1
    for order in (4, 5):
        assert sum(f"order-{order}: charge declined" in line for line in log) == 1
    assert not any("not deterministic" in line or "Nondeterminism" in line for line in log)
    return log


EXPECTED = ["shipped", "shipped", "shipped", "cancelled", "cancelled"]


def test_orders_continue_after_sigkill_and_each_ships_once(tmp_path):
    app, data = copy_example(tmp_path), tmp_path / "data"
    kill_mid_saga_and_finish(app, data)

    listing = subprocess.run([sys.executable, "-m", "actors.cli", "workflows", "list",
                              str(data / "orders_workflows"), "--json"],
                             capture_output=True, text=True, timeout=DEADLINE)
    results = {w["id"]: w for w in json.loads(listing.stdout)}
    assert sorted(results) == [f"order-{i}" for i in range(1, 6)]
    assert {w["status"] for w in results.values()} == {"completed"}
    assert [results[f"order-{i}"]["result"]["status"] for i in range(1, 6)] == EXPECTED


def test_the_same_saga_on_temporal_survives_a_killed_node(tmp_path, temporal_server):
    app, data = copy_example(tmp_path, temporal_server.address), tmp_path / "data"
    kill_mid_saga_and_finish(app, data)

    from temporalio.client import Client

    from hosts.temporal_workflow import unpack

    async def results() -> list:
        client = await Client.connect(temporal_server.address)
        return [unpack(await client.get_workflow_handle(f"order-{i}").result())["value"] for i in range(1, 6)]

    assert [r["status"] for r in asyncio.run(results())] == EXPECTED
