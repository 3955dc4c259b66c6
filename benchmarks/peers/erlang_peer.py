"""Peer: Erlang/OTP with as many schedulers as luactor has workers: `erl +S 1`
against one worker, `erl +S N` against N (`--workers N`).

bench.erl is compiled at run time into a temp directory named after its
content hash, so repeated runs reuse it and no .beam ever lands in the
repository.  The VM warms up and measures by itself; this module only starts
it and turns its raw figures into the common result line.
"""
from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.measure import Sample, main
from benchmarks.scenarios import PEERS, SCENARIOS

SOURCE = Path(__file__).with_name("erlang") / "bench.erl"
ERL_FLAGS = ["+P", "4000000", "-noshell"]


def beam_dir(source: Path = SOURCE) -> Path:
    """Directory holding the .beam of the current ``source``, compiled once."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"luactor-bench-{source.stem}-{digest}"
    if not (target / f"{source.stem}.beam").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"luactor-bench-{source.stem}-"))
        subprocess.run(["erlc", "-o", str(staging), str(source)], check=True)
        try:
            staging.rename(target)
        except OSError:  # another run compiled it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return target


def run(scenario: str, n: int, workers: int = 1, **params: int) -> Sample:
    args = [scenario, str(n), str(SCENARIOS[scenario].warmup_n(n))]
    args += [f"{k}={v}" for k, v in params.items()]
    done = subprocess.run(
        ["erl", "+S", str(workers), *ERL_FLAGS, "-pa", str(beam_dir()), "-run",
         "bench", "main", *args], capture_output=True, text=True, check=True)
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(raw["work"], raw["elapsed_s"], raw["n"])


if __name__ == "__main__":
    main("erlang", {s: functools.partial(run, s)
                    for s in PEERS["erlang"].scenarios}, warmup=False)
