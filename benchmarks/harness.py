"""Runs every (scenario, peer) pair in a fresh subprocess and keeps the median.

A fresh interpreter per run means no peer inherits another's heap, threads or
warm caches, and a crash or hang costs one cell of the table, not the run.
Each subprocess is its own process group so that a timeout also ends what it
started (erl, the Temporal dev server).  A scaling scenario is run at one
worker and at N by the peers that have workers, as two results.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.scenarios import CORES, PEERS, SCENARIOS, Peer, Scenario, row

REPO = Path(__file__).resolve().parent.parent
QUICK = {"warmups": 0, "runs": 1, "timeout_s": 60}
FULL = {"warmups": 1, "runs": 3, "timeout_s": 600}


@dataclass
class Result:
    scenario: str
    peer: str
    status: str  # "ok", "skipped" (peer not installed) or "failed"
    value: float | None = None
    unit: str = ""
    runs: list[float] = field(default_factory=list)
    n: int | None = None
    note: str = ""
    workers: int = 1
    wall_s: float = 0.0  # what the cell took, subprocesses and all

    @property
    def row(self) -> str:
        return row(self.scenario, self.workers)


class RunFailed(Exception):
    pass


def command(scenario: Scenario, peer: Peer, n: int, workers: int = 1,
            scale: int = CORES) -> list[str]:
    """The subprocess of one run; `scale` is N, the worker count of the
    scaling run, which some knobs grow with (at one worker as at N)."""
    cmd = [sys.executable, "-m", peer.module, scenario.name, "--n", str(n)]
    for key, value in scenario.knobs(scale).items():
        cmd += [f"--{key}", str(value)]
    if scenario.scaling and peer.workers:
        cmd += ["--workers", str(workers)]
    return cmd


def worker_counts(scenario: Scenario, peer: Peer, scale: int) -> list[int]:
    """1, and N too when both the scenario and the peer scale."""
    return sorted({1, scale}) if scenario.scaling and peer.workers else [1]


def run_once(cmd: list[str], timeout_s: float) -> dict:
    """One subprocess, its JSON line parsed; RunFailed with the reason."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RunFailed(f"timed out after {timeout_s:.0f} s") from None
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RunFailed(f"exit {proc.returncode}: {reason(err)}")
    return json.loads(lines[-1])


def reason(stderr: str) -> str:
    """The last line of a traceback that says something (exception groups
    end in box-drawing lines)."""
    for line in reversed(stderr.splitlines()):
        line = line.strip().lstrip("|+-").strip()
        if line:
            return line[:300]
    return "no output"


def run_pair(scenario: Scenario, peer: Peer, quick: bool, workers: int = 1,
             scale: int = CORES) -> Result:
    mode = QUICK if quick else FULL
    cmd = command(scenario, peer, scenario.quick_n if quick else scenario.n,
                  workers, scale)
    lines = []
    t0 = time.monotonic()
    try:
        for i in range(mode["warmups"] + mode["runs"]):
            line = run_once(cmd, mode["timeout_s"])
            if i >= mode["warmups"]:
                lines.append(line)
    except RunFailed as exc:
        return Result(scenario.name, peer.name, "failed", note=str(exc),
                      workers=workers, wall_s=time.monotonic() - t0)
    values = [ln["value"] for ln in lines]
    first = lines[0]
    return Result(scenario.name, peer.name, "ok", statistics.median(values),
                  first["unit"], values, first.get("n"), first.get("note", ""),
                  workers, time.monotonic() - t0)


def run(quick: bool, scenarios: Iterable[str] | None = None,
        peers: Iterable[str] | None = None,
        progress: Callable[[str], None] = lambda line: None,
        workers: int = CORES) -> list[Result]:
    """Every selected scenario against every peer that applies to it, the
    scaling scenarios at one worker and at `workers` (N)."""
    chosen = [PEERS[p] for p in peers] if peers else list(PEERS.values())
    missing = {p.name: p.missing() for p in chosen}
    results = []
    for name in scenarios or SCENARIOS:
        scenario = SCENARIOS[name]
        for peer in chosen:
            if name not in peer.scenarios:
                continue
            for k in worker_counts(scenario, peer, workers):
                if missing[peer.name]:
                    result = Result(name, peer.name, "skipped",
                                    note=missing[peer.name], workers=k)
                else:
                    result = run_pair(scenario, peer, quick, k, workers)
                progress(describe(result))
                results.append(result)
    return results


def describe(r: Result) -> str:
    took = f"[{r.wall_s:5.1f} s]"
    if r.status != "ok":
        return f"{r.row:>17} {r.peer:<9} {took} {r.status}: {r.note}"
    return f"{r.row:>17} {r.peer:<9} {took} {r.value:>14,.1f} {r.unit}" + (
        f"  ({r.note})" if r.note else "")
