"""luactor on Temporal: the luactor column's workflow_steps app, unchanged
but for its host entry, on a ``temporal.worker`` against a throw-away dev
server (started as the temporal peer starts it).  Set beside the temporal
peer, it shows what running the Lua workflow costs over a workflow written
in Python with the SDK; set beside luactor, what the embedded host saves.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import trio
import yaml

from actors import Node
from benchmarks.luactor_scenarios import (
    HOST,
    WORKFLOW_HOST,
    WORKFLOW_TIMER,
    prepare_app,
)
from benchmarks.measure import Sample, main
from benchmarks.peers.temporal_peer import SERVER_START_S, server_process, workload
from benchmarks.scenarios import SCENARIOS


def on_temporal(app: Path, address: str) -> None:
    """Swap the app's workflow.host for a temporal.worker of the same id."""
    for path in app.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        entries = []
        for entry in doc["entries"]:
            if entry["kind"] == "workflow.host":
                entries.append({"name": "temporal", "kind": "temporal.client", "address": address})
                entry = {"name": entry["name"], "kind": "temporal.worker",
                         "client": f"{doc['namespace']}:temporal", "task_queue": "luactor-bench"}
            entries.append(entry)
        doc["entries"] = entries
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


async def workflow_steps(n: int) -> Sample:
    n, note = workload(n)
    with server_process() as (address, _, _), tempfile.TemporaryDirectory() as tmp:
        app = prepare_app("workflow_steps", Path(tmp))
        on_temporal(app, address)
        async with Node.open(app, data_dir=Path(tmp) / "data") as node:
            host = node.router.hosts[WORKFLOW_HOST]
            with trio.fail_after(SERVER_START_S):
                while host.state != "Running":  # the host retries until the server answers
                    await trio.sleep(0.1)
            driver = "bench:workflow_steps"
            await node.exec(driver, HOST, SCENARIOS["workflow_steps"].warmup_n(n), WORKFLOW_HOST, WORKFLOW_TIMER)
            result = await node.exec(driver, HOST, n, WORKFLOW_HOST, WORKFLOW_TIMER)
    return Sample(result["work"], result["elapsed_ns"] / 1e9, n, note)


if __name__ == "__main__":
    main("luactor-temporal", {"workflow_steps": workflow_steps}, drive=trio.run, warmup=False)
