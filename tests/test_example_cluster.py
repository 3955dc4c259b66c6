"""examples/cluster, as the README's walk-through runs it: two nodes on one
machine, a third that asks for the status, the leader's node killed."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import LuactorProcess, luactor

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster"


def run_node(name: str, nats, tmp_path) -> LuactorProcess:
    return LuactorProcess("run", EXAMPLE, "--node", name, "--cluster", nats.url, "--data", tmp_path / name)


def test_the_cluster_walk_through(nats_server, tmp_path):
    with run_node("a", nats_server, tmp_path) as a:
        a.wait_for("leading the cluster as {a@")
        with run_node("b", nats_server, tmp_path) as b:
            b.wait_for("node up")
            a.wait_for("done on node b")   # b's worker answers a's jobs
            a.wait_for("done on node a")
            walk_on(a, b, nats_server, tmp_path)


def walk_on(a, b, nats_server, tmp_path) -> None:
    """With a leading and b beside it: a third node asks for the status, a fourth runs
    the example's tests, then the leader's node dies and b takes over."""
    status = luactor("call", EXAMPLE, "cluster:status", "--node", "c", "--cluster", nats_server.url,
                     "--data", tmp_path / "c")
    assert status.returncode == 0, status.stderr
    seen = json.loads(status.stdout)
    assert seen["node"] == "c" and seen["nodes"][0] == "c" and sorted(seen["nodes"]) == ["a", "b", "c"]
    assert seen["leader"].startswith("{a@cluster:processes|")
    assert seen["workers"] == 3
    tests = luactor("test", EXAMPLE, "--node", "t", "--cluster", nats_server.url, "--data", tmp_path / "t")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert tests.stdout.splitlines()[-1] == "2 passed, 0 failed"
    a.process.kill()
    b.wait_for("leading the cluster as {b@")
    b.wait_for("done on node b")
