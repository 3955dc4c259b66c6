"""What every benchmark subprocess shares: the sample it measures, RSS, and
the one-line JSON it prints for the harness.

A peer module only writes its scenarios as runners `runner(n, **params) ->
Sample` and hands them to `main`; argument parsing, the warm-up and the
output format live here so that every peer is measured the same way.
"""
from __future__ import annotations

import argparse
import functools
import gc
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.scenarios import SCENARIOS


@dataclass
class Sample:
    """One measured run: `work` is what the scenario counts (messages, hops,
    bytes, steps), `n` the workload actually run after any clamp."""
    work: float
    elapsed_s: float
    n: int
    note: str = ""


Runner = Callable[..., Any]


def rss_bytes() -> int:
    """Resident set size of this process, after a collection so that garbage
    does not count as memory held by live actors."""
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def clamp(n: int, limit: int, why: str, what: str = "n") -> tuple[int, str]:
    """Cap a workload the peer cannot carry, with the note that says so."""
    if n <= limit:
        return n, ""
    return limit, f"{what} capped at {limit:,} ({why})"


def notes(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def result(scenario: str, peer: str, sample: Sample) -> dict:
    s = SCENARIOS[scenario]
    note = sample.note
    if s.ref_n and sample.n != s.ref_n:
        note = notes(note, f"scaled from n={sample.n:,}")
    return {"scenario": scenario, "peer": peer,
            "value": s.value(sample.work, sample.elapsed_s, sample.n),
            "unit": s.unit, "elapsed_s": sample.elapsed_s, "n": sample.n,
            "note": note}


def main(peer: str, runners: Mapping[str, Runner],
         drive: Callable[[Callable[[], Any]], Sample] = lambda f: f(),
         argv: list[str] | None = None, warmup: bool = True) -> None:
    """CLI of a peer: `SCENARIO [--n N] [--actors A] [--workers W] ...`, one
    JSON line out.

    `drive` runs a zero-argument callable to a Sample: `trio.run` for trio
    coroutine functions, `asyncio.run` of a call for asyncio, a plain call
    otherwise.  `warmup=False` is for peers that warm up inside the VM or
    server they start for the run (Erlang, Temporal).  `--workers` reaches
    only runners with a `workers` parameter (the peers that have workers).
    """
    p = argparse.ArgumentParser(prog=f"{peer} benchmark")
    p.add_argument("scenario", choices=sorted(runners))
    p.add_argument("--n", type=int)
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--workers", type=int, help="workers (Erlang: schedulers) to run on")
    for name in sorted({k for s in SCENARIOS.values() for k in s.params}):
        p.add_argument(f"--{name}", type=int)
    args = p.parse_args(argv)
    s = SCENARIOS[args.scenario]
    n = args.n or s.n
    params = {k: getattr(args, k) or v for k, v in s.knobs().items()}
    run = runners[args.scenario]
    if args.workers is not None:
        if "workers" not in inspect.signature(run).parameters:
            p.error(f"{peer}'s {args.scenario} runs on one worker or thread: it takes no --workers")
        if args.workers < 1:
            p.error("--workers must be at least 1")
        params["workers"] = args.workers
    if warmup and not args.no_warmup:
        drive(functools.partial(run, s.warmup_n(n), **params))
    sample = drive(functools.partial(run, n, **params))
    print(json.dumps(result(args.scenario, peer, sample)), flush=True)


class OutOfOrder(Exception):
    """pingpong_inbox's replies came back in another order than sent."""


def check_order(expected: int, reply: Mapping[str, Any]) -> None:
    """pingpong_inbox: the reply to round trip `expected` must carry that
    `seq`; a wrong order fails the run."""
    if reply["seq"] != expected:
        raise OutOfOrder(f"reply out of order: expected seq {expected}, got {reply['seq']}")
