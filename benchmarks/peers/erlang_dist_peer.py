"""Peer: Erlang distribution, for the cross-node scenarios: two `erl -sname`
nodes on this machine (epmd starts with the first), one serving (dist.erl's
`serve`), one measuring. dist.erl is compiled at run time into a temp
directory named after its content hash, as bench.erl is."""
from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
from pathlib import Path

from benchmarks.measure import Sample, main
from benchmarks.peers.erlang_peer import beam_dir
from benchmarks.scenarios import PEERS, SCENARIOS

SOURCE = Path(__file__).with_name("erlang") / "dist.erl"
COOKIE = "luactor-bench"


def run(scenario: str, n: int) -> Sample:
    host = socket.gethostname().split(".")[0]
    tag = f"{os.getpid()}"
    server_name, client_name = f"luactor_bench_b{tag}", f"luactor_bench_a{tag}"
    erl = ["erl", "-noshell", "-setcookie", COOKIE, "-pa", str(beam_dir(SOURCE))]
    server = subprocess.Popen([*erl, "-sname", server_name, "-run", "dist", "serve"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = subprocess.run([*erl, "-sname", client_name, "-run", "dist", "main", scenario, str(n),
                               str(SCENARIOS[scenario].warmup_n(n)), f"{server_name}@{host}"],
                              capture_output=True, text=True, check=True, timeout=600)
    finally:
        server.kill()
        server.wait()
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(raw["work"], raw["elapsed_s"], raw["n"], "two erl -sname nodes on this machine")


if __name__ == "__main__":
    main("erlang-dist", {s: functools.partial(run, s) for s in PEERS["erlang-dist"].scenarios}, warmup=False)
