"""`luactor bench [--quick] [--scenario S] [--peer P] [--workers N]`: run,
print, report.

The quick run is for a developer's loop (small workloads, one run each, no
files written); the full run of every scenario and peer is what RESULTS.md
and the charts come from.
"""
from __future__ import annotations

import argparse
import sys

from benchmarks import harness, report
from benchmarks.scenarios import CORES, PEERS, SCENARIOS


def quick_note(scenarios: list[str] | None = None) -> str:
    """What a --quick run's figures are, and what it leaves out (printed with them,
    so no one takes them for RESULTS.md's)."""
    chosen = [SCENARIOS[name] for name in scenarios or SCENARIOS]
    shares = sorted({s.quick_n / s.n for s in chosen})
    share = f"1/{round(1 / shares[0])}" if len(shares) == 1 else \
        f"1/{round(1 / shares[-1])} to 1/{round(1 / shares[0])}"
    full, quick = harness.FULL, harness.QUICK
    return (f"Quick run: small-workload figures ({share} of the full workloads, {quick['runs']} run per cell, "
            f"each capped at {quick['timeout_s']} s). Fixed costs, and the timers of the durable scenarios, "
            "weigh more on small workloads: these figures are not comparable with RESULTS.md. Skipped: the "
            f"full workloads, the warm-up run, the median of {full['runs']} runs, writing RESULTS.md and the "
            "charts; `luactor bench` does all of that.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="luactor bench",
        description="Message and workflow benchmarks of luactor side by side "
                    "with trio, asyncio, Pykka, Erlang/OTP and Temporal.")
    p.add_argument("--quick", action="store_true",
                   help="small workloads, one run each, nothing written")
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                   help="run only this scenario (repeatable; writes nothing)")
    p.add_argument("--peer", action="append", choices=list(PEERS),
                   help="run only this peer (repeatable; writes nothing)")
    p.add_argument("--workers", type=int, default=CORES, metavar="N",
                   help="run the scaling scenarios at 1 and at N workers "
                        f"(Erlang: schedulers; default {CORES}, the cores; "
                        "any other N writes nothing)")
    p.add_argument("--no-write", action="store_true",
                   help="full run without writing RESULTS.md and the charts")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")

    results = harness.run(args.quick, args.scenario, args.peer,
                          progress=lambda line: print(line, file=sys.stderr,
                                                      flush=True),
                          workers=args.workers)
    if args.quick:
        print(quick_note(args.scenario) + "\n")
    print(report.tables(results))
    # RESULTS.md and the charts show every scenario and peer at the cores'
    # worker count: a run of some of them must not replace them
    partial = args.scenario or args.peer or args.workers != CORES
    if not (args.quick or args.no_write or partial):
        written = report.write(results)
        print("wrote " + ", ".join(map(str, written)))
    return 1 if any(r.status == "failed" for r in results) else 0
