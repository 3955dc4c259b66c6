"""A real Temporal dev server for tests: started on a free port of 127.0.0.1
with its own database file, waited for until it answers, stopped after."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from benchmarks.peers.temporal_peer import free_port, temporal_binary

START_DEADLINE = 60  # seconds

#: Search attributes the workflow tests set (Temporal refuses unregistered ones).
SEARCH_ATTRIBUTES = {"customer_id": "Keyword", "status": "Keyword", "order_total": "Int", "priority": "Bool"}


class DevServer:
    def __init__(self, db_file: Path, port: int | None = None, namespaces: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
             "--db-filename", str(db_file), "--log-level", "error",
             *(argument for namespace in namespaces for argument in ("--namespace", namespace)),
             *(argument for name, kind in SEARCH_ATTRIBUTES.items() for argument in ("--search-attribute", f"{name}={kind}"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self) -> None:
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
        from temporalio.client import Client

        async def probe() -> None:
            client = await Client.connect(self.address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())

        end = time.monotonic() + START_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited: {self.process.stderr.read()}")
            try:
                asyncio.run(probe())
                return
            except Exception:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
