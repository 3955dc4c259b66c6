"""luactor's column: each scenario is the Lua app in benchmarks/apps/<name>/,
driven through the public Python API exactly as a user would.

The Lua driver of a scenario times its own measured part (`time.now()`), the
way every peer leaves its setup out of the clock, and returns
`{elapsed_ns, work}`.  Each run gets a temp copy of the app whose workflow
store points into the same temp directory, so runs never share state, and
whose process host has the run's `host.workers` (`--workers`).

    python -m benchmarks.luactor_scenarios SCENARIO [--n N] [--actors A] [--workers W] ...
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
import yaml

from actors import Node
from benchmarks.measure import Sample, main, rss_bytes

APPS = Path(__file__).resolve().parent / "apps"
HOST = "bench:host"
WORKFLOW_HOST = "bench:workflows"
WORKFLOW_TIMER = "1s"  # the same timer as the Temporal peer's workflow
STEADY_TIMER = "10ms"  # short, so that the figure is what the steps cost
RECOVERY_TIMER_S = 3   # longer than loading takes, so workflows are in flight


def prepare_app(app_name: str, workdir: Path, workers: int | None = None) -> Path:
    """Copy the app into `workdir`, its workflow store beside it, its process
    host on `workers` workers when given."""
    app = workdir / "app"
    shutil.copytree(APPS / app_name, app)
    for path in app.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        for entry in doc["entries"]:
            if entry["kind"] == "workflow.host":
                entry["store"] = str(workdir / "store")
            if entry["kind"] == "process.host" and workers is not None:
                entry.setdefault("host", {})["workers"] = workers
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return app


@asynccontextmanager
async def scenario_node(app_name: str, workers: int | None = None) -> AsyncIterator[Node]:
    with tempfile.TemporaryDirectory(prefix=f"luactor-bench-{app_name}-") as tmp:
        app = prepare_app(app_name, Path(tmp), workers)
        async with Node.open(app, data_dir=Path(tmp) / "data") as node:
            yield node


async def _drive(app_name: str, n: int, *args, workers: int | None = None) -> Sample:
    """Run the app's driver process (`bench:<app_name>`) to its end; it
    reports its timing."""
    async with scenario_node(app_name, workers) as node:
        result = await node.exec(f"bench:{app_name}", HOST, n, *args)
    return Sample(result["work"], result["elapsed_ns"] / 1e9, n)


async def pingpong(n: int) -> Sample:
    return await _drive("pingpong", n, HOST)


async def _inbox_pairs(n: int, npairs: int, workers: int, cross: bool) -> Sample:
    """pingpong_inbox, pairs and pingpong_cross are one app: its driver runs
    `npairs` pairs of inbox ping-pong, n round trips in all, placing every end
    with the spawn option `worker` (a pair's pong on the next worker when
    `cross`)."""
    return await _drive("pingpong_inbox", n, npairs, workers, cross, HOST, workers=workers)


async def pingpong_inbox(n: int) -> Sample:
    return await _inbox_pairs(n, 1, 1, cross=False)


async def pairs(n: int, pairs: int, workers: int = 1) -> Sample:
    """`pairs` pairs dealt round the workers, each pair on one worker."""
    return await _inbox_pairs(n, pairs, workers, cross=False)


async def pingpong_cross(n: int, workers: int = 1) -> Sample:
    """One pair, its two ends on different workers when there are two."""
    return await _inbox_pairs(n, 1, workers, cross=True)


async def ring(n: int, actors: int, workers: int = 1) -> Sample:
    return await _drive("ring", n, actors, HOST, workers=workers)


async def fanin(n: int, senders: int) -> Sample:
    return await _drive("fanin", n, senders, HOST)


async def skynet(n: int, workers: int = 1) -> Sample:
    return await _drive("skynet", n, HOST, workers=workers)


async def spawn(n: int) -> Sample:
    return await _drive("spawn", n, HOST)


async def workflow_steps(n: int) -> Sample:
    return await _drive("workflow_steps", n, WORKFLOW_HOST, WORKFLOW_TIMER)


async def workflow_steady(n: int, in_flight: int) -> Sample:
    """workflow_steps' app and driver, at most `in_flight` workflows at once."""
    return await _drive("workflow_steps", n, WORKFLOW_HOST, STEADY_TIMER, in_flight)


async def idle_memory(n: int) -> Sample:
    """RSS read here, in the node's own process, while all n are blocked."""
    async with scenario_node("idle_memory") as node, node.mailbox() as me:
        base = rss_bytes()
        spawner = await node.spawn("bench:idle_memory", HOST, n, HOST, me.pid, monitor_by=me.pid)
        up = await me.receive()
        grown = rss_bytes() - base
        await node.send(spawner, "release", True)
    if up.topic != "up":  # the spawner's EXIT: it failed before all were up
        raise RuntimeError(f"the idle processes' spawner failed: {up.payload['result']['error']}")
    return Sample(grown, up.payload["elapsed_ns"] / 1e9, n)


async def recovery(n: int) -> Sample:
    """Kill a node with n workflows asleep on a timer, reopen the store once
    every deadline has passed, and time until all of them have finished."""
    with tempfile.TemporaryDirectory(prefix="luactor-bench-recovery-") as tmp:
        app, data = prepare_app("recovery", Path(tmp)), Path(tmp) / "data"
        started, finished = set(), set()
        loader = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.luactor_scenarios", "_load",
             str(app), str(data), str(n)], stdout=subprocess.PIPE, text=True)
        for line in loader.stdout:  # the parent runs no node yet: may block
            _tally(line, started, finished)
            if len(started) == n:
                break
        last_start = time.time()
        loader.kill()
        for line in loader.stdout:
            _tally(line, started, finished)
        if loader.wait() != -9 or len(started) < n:
            raise RuntimeError(f"loader ended early ({len(started)}/{n} started)")
        in_flight = n - len(finished)
        await trio.sleep(max(0.0, last_start + RECOVERY_TIMER_S + 0.5 - time.time()))

        all_done = trio.Event()

        def on_finished(i: int) -> None:
            finished.add(i)
            if len(finished) == n:
                all_done.set()

        t0 = time.perf_counter()
        functions = {"bench:started": lambda i: None, "bench:finished": on_finished}
        async with Node.open(app, data_dir=data, functions=functions):
            await all_done.wait()
            elapsed = time.perf_counter() - t0
    return Sample(in_flight, elapsed, in_flight,
                  f"{in_flight:,} of {n:,} in flight at SIGKILL")


def _tally(line: str, started: set, finished: set) -> None:
    kind, _, i = line.partition(" ")
    if i.strip().isdigit():
        (started if kind == "started" else finished).add(int(i))


async def _load(app: str, data: str, n: int) -> None:
    """The node that gets killed: starts n sleepers, reports each call."""
    functions = {"bench:started": lambda i: print("started", i, flush=True),
                 "bench:finished": lambda i: print("finished", i, flush=True)}
    async with Node.open(app, data_dir=data, functions=functions) as node:
        async with trio.open_nursery() as starts:  # concurrent starts share commits
            for i in range(n):
                starts.start_soon(node.spawn, "bench:sleeper", WORKFLOW_HOST, i, f"{RECOVERY_TIMER_S}s")
        await trio.sleep_forever()


RUNNERS = {"pingpong": pingpong, "pingpong_inbox": pingpong_inbox,
           "pairs": pairs, "pingpong_cross": pingpong_cross,
           "ring": ring, "fanin": fanin,
           "skynet": skynet, "spawn": spawn, "idle_memory": idle_memory,
           "workflow_steps": workflow_steps, "workflow_steady": workflow_steady,
           "recovery": recovery}

if __name__ == "__main__":
    if sys.argv[1:2] == ["_load"]:
        trio.run(_load, sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main("luactor", RUNNERS, drive=trio.run)
