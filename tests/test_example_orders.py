"""The main demo, examples/orders: kill -9 in the middle, run again, every order finishes once."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "orders"
DEADLINE = 60  # seconds any one wait may take before the test fails


class Node:
    """`luactor run` in a subprocess, its log lines read as they come."""

    def __init__(self, app: Path, data: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "actors.cli", "run", str(app), "--data", str(data)],
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, count: int = 1) -> None:
        end = time.monotonic() + DEADLINE
        while sum(text in line for line in self.seen) < count:
            try:
                self.seen.append(self.lines.get(timeout=max(0.1, end - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no {count} x {text!r} in time; the log:\n" + "\n".join(self.seen)) from None


def test_orders_continue_after_sigkill_and_each_ships_once(tmp_path):
    app = tmp_path / "orders"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".luactor"))
    data = tmp_path / "data"

    first = Node(app, data)
    first.wait_for("approved by the desk")  # mid-saga: some approved, none shipped yet
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=DEADLINE)

    second = Node(app, data)
    second.wait_for("shipped T-", count=3 - sum("shipped T-" in line for line in first.seen))
    second.process.send_signal(signal.SIGINT)
    assert second.process.wait(timeout=DEADLINE) == 0

    log = first.seen + second.seen
    for order in (1, 2, 3):
        assert sum(f"order-{order}: shipped T-{order}" in line for line in log) == 1
    for order in (4, 5):
        assert sum(f"order-{order}: charge declined" in line for line in log) == 1
    assert not any("not deterministic" in line for line in log)

    listing = subprocess.run([sys.executable, "-m", "actors.cli", "workflows", "list",
                              str(data / "orders_workflows"), "--json"],
                             capture_output=True, text=True, timeout=DEADLINE)
    results = {w["id"]: w for w in json.loads(listing.stdout)}
    assert sorted(results) == [f"order-{i}" for i in range(1, 6)]
    assert {w["status"] for w in results.values()} == {"completed"}
    assert [results[f"order-{i}"]["result"]["status"] for i in range(1, 6)] == \
        ["shipped", "shipped", "shipped", "cancelled", "cancelled"]
