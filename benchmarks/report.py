"""Turns harness results into the Markdown report and the charts.

Ratios are oriented so that above 1 always means luactor is better: for
rates luactor/peer, for elapsed time and memory peer/luactor.  The targets of
the benchmark issue are checked here too, so a run says which ones hold.

A result is a row of the tables: a scenario run at several worker counts
has one row per count (`skynet`, `skynet@2`), compared with the peer's
figure at the same count (Erlang's `+S 2`).  The scaling chart shows each
such scenario's figure at N workers over its figure at one.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path

from benchmarks.chart import ratio_chart, scaling_chart
from benchmarks.harness import FULL, Result
from benchmarks.scenarios import PEERS, SCENARIOS
from benchmarks.scenarios import row as row_name

HERE = Path(__file__).resolve().parent
OURS = "luactor"


def ratio(scenario: str, ours: float, theirs: float) -> float:
    if SCENARIOS[scenario].higher_is_better:
        return ours / theirs
    return theirs / ours


def ratios(results: list[Result]) -> dict[tuple[str, str], float]:
    """luactor against each peer, keyed by (row, peer)."""
    ok = {(r.row, r.peer): r for r in results if r.status == "ok" and r.value}
    return {(row, p): ratio(r.scenario, ok[row, OURS].value, r.value)
            for (row, p), r in ok.items() if p != OURS and (row, OURS) in ok}


def rows(results: list[Result]) -> list[tuple[str, str]]:
    """(row, scenario) of the results in catalogue order, a scenario's
    worker counts ascending."""
    present = {(r.scenario, r.workers) for r in results}
    return [(row_name(s, w), s) for s in SCENARIOS
            for w in sorted({k for t, k in present if t == s})]


def scaling_rows(results: list[Result]) -> list[tuple[str, int, float]]:
    """(line, workers, speedup) for the scaling chart: each scenario's figure
    at every worker count over its figure at one worker, per peer that has
    workers (luactor's lines by the scenario's name, the others' with the
    peer's in brackets); better is above 1 whichever way the unit points."""
    ok = {(r.scenario, r.peer, r.workers): r.value for r in results
          if r.status == "ok" and r.value and SCENARIOS[r.scenario].scaling and PEERS[r.peer].workers}
    out = []
    for (s, p, w), value in ok.items():
        one = ok.get((s, p, 1))
        if one:
            line = s if p == OURS else f"{s} ({p})"
            out.append((line, w, ratio(s, value, one)))
    return out


def fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.0f} k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


#: ``against`` in a target: the row's figure over the same scenario's at one worker.
ONE_WORKER = "one worker"

# What the issues ask of a run on this 2-core machine: (text, row, against,
# bound). ``against`` is a peer (luactor's ratio to it must reach the bound),
# ONE_WORKER (so must the row's speedup over one worker), or None (luactor's
# own figure must be on the better side of the bound).
TARGETS = [
    ("ping-pong at least 2.4 M msgs/s", "pingpong", None, 2.4e6),
    ("ping-pong at least 0.6x Erlang/OTP (`erl +S 1`)", "pingpong", "erlang", 0.6),
    ("ping-pong at least 10x trio memory channels", "pingpong", "trio", 10),
    ("pingpong_inbox at least 1.5 M msgs/s", "pingpong_inbox", None, 1.5e6),
    ("pingpong_inbox at least 0.4x Erlang/OTP's map ping-pong", "pingpong_inbox", "erlang", 0.4),
    ("spawn at least 0.5x Erlang/OTP", "spawn", "erlang", 0.5),
    ("skynet within 2.5x of Erlang/OTP's time", "skynet", "erlang", 1 / 2.5),
    ("ring at least 0.5x Erlang/OTP", "ring", "erlang", 0.5),
    ("at most 3,000 bytes per idle process", "idle_memory", None, 3000),
    ("pairs at 2 workers at least 1.8x of one worker", "pairs@2", ONE_WORKER, 1.8),
    ("skynet at 2 workers at least 1.6x faster than at one", "skynet@2", ONE_WORKER, 1.6),
    ("cross-worker ping-pong at least 0.5 M msgs/s", "pingpong_cross@2", None, 0.5e6),
    ("durable steps at least 250x Temporal's dev server", "workflow_steps", "temporal", 250),
    ("at least 20,000 durable steps/s (1,000 workflows in flight)", "workflow_steady", None, 20_000),
]


def target_status(row: str, against: str | None, bound: float,
                  ours: dict[str, float], rat: dict) -> str:
    scenario = row.split("@")[0]
    if against:
        if against == ONE_WORKER:
            here, one = ours.get(row), ours.get(scenario)
            figure = ratio(scenario, here, one) if here and one else None
        else:
            figure = rat.get((row, against))
        met, shown = figure is not None and figure >= bound, f"{figure or 0:.2f}x"
    else:
        figure = ours.get(row)
        higher = SCENARIOS[scenario].higher_is_better
        met = figure is not None and (figure >= bound if higher else figure <= bound)
        shown = f"{fmt(figure or 0)} {SCENARIOS[scenario].unit}"
    if figure is None:
        return "not measured"
    return f"{'met' if met else 'missed'} ({shown})"


def _run(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on, from the machine itself."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
    try:
        import lupa.lua54
        lua = lupa.lua54.LuaRuntime().lua_implementation
    except ImportError:
        lua = "unavailable"
    if shutil.which("erl"):
        otp = _run(["erl", "-noshell", "-eval", 'io:format("OTP ~s, erts ~s", '
                    '[erlang:system_info(otp_release), '
                    'erlang:system_info(version)]), halt().'])
    else:
        otp = "not installed (`apt-get install erlang-base`)"
    from benchmarks.peers.temporal_peer import temporal_binary
    try:
        temporal = _run([temporal_binary(), "--version"])
    except RuntimeError as exc:
        temporal = str(exc)
    return [
        ("CPU", cpu), ("cores", str(os.cpu_count())),
        ("RAM", f"{kb / 2**20:.1f} GiB"), ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("Lua", f"{lua} (lupa {_version('lupa')})"), ("Erlang/OTP", otp),
        ("trio / pykka / temporalio", " / ".join(
            _version(d) for d in ("trio", "pykka", "temporalio"))),
        ("Temporal CLI", temporal),
    ]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def tables(results: list[Result]) -> str:
    """Absolute figures, ratios, target checks and notes, as Markdown."""
    peers = [p for p in PEERS if any(r.peer == p for r in results)]
    others = [p for p in peers if p != OURS]
    table_rows = rows(results)
    names = [name for name, _ in table_rows]
    cell = {(r.row, r.peer): r for r in results}
    rat = ratios(results)
    ours = {r.row: r.value for r in results
            if r.peer == OURS and r.status == "ok"}

    def absolute(s: str, p: str) -> str:
        r = cell.get((s, p))
        return "–" if r is None else fmt(r.value) if r.status == "ok" else r.status

    out = [_row(["scenario", "unit", "better", *peers]),
           _row(["---"] * 3 + ["---:"] * len(peers))]
    out += [_row([name, SCENARIOS[s].unit,
                  "higher" if SCENARIOS[s].higher_is_better else "lower",
                  *(absolute(name, p) for p in peers)]) for name, s in table_rows]
    if any(r.workers > 1 for r in results):
        out += ["", "Rows `scenario@k` ran with `host.workers: k` against k Erlang "
                "schedulers (`erl +S k`); the others on one worker against `erl +S 1`."]
    out += ["", "Ratios, luactor against each peer (above 1x: luactor is "
            "better):", "", _row(["scenario", *(f"vs {p}" for p in others)]),
            _row(["---"] + ["---:"] * len(others))]
    out += [_row([name, *(f"{rat[name, p]:.2f}x" if (name, p) in rat else "–"
                          for p in others)]) for name, _ in table_rows]
    checked = [_row([text, target_status(s, p, bound, ours, rat)])
               for text, s, p, bound in TARGETS if s in names]
    if checked:
        out += ["", _row(["target", "status"]), _row(["---", "---"]), *checked]
    notes = [f"- {r.row} / {r.peer}: {r.note}" for r in results if r.note]
    if notes:
        out += ["", "Notes:", "", *notes]
    return "\n".join(out) + "\n"


def markdown(results: list[Result], chart_name: str | None,
             scaling_name: str | None = None) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = ["# luactor benchmarks", "",
             f"Measured {now:%Y-%m-%d %H:%M} UTC with `luactor bench`: every "
             "scenario and peer in its own subprocess, "
             f"{FULL['warmups']} warm-up run(s) discarded, then the median of "
             f"{FULL['runs']}.  Erlang/OTP runs with as many schedulers as "
             "luactor has workers: `erl +S 1` against one worker, `erl +S k` in "
             "the rows `scenario@k`.  How each peer is written and what is "
             "capped: [README.md](README.md).", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine()]
    lines += ["", "## Results", "", tables(results)]
    if chart_name:
        lines += [f"![luactor against each peer]({chart_name})", ""]
    if scaling_name:
        lines += [f"![{SCALING_TITLE}]({scaling_name})", ""]
    lines += ["## Scenarios", ""]
    lines += [f"- **{s.name}**: {s.what} (full run n = {s.n:,}"
              f"{'; at one worker and at N' if s.scaling else ''})."
              for s in SCENARIOS.values()]
    return "\n".join(lines) + "\n"


#: The ratio chart's title (``python -m benchmarks.chart`` redraws it with the same).
CHART_TITLE = "luactor vs peers (above 1x: luactor better)"
SCALING_TITLE = "scaling with workers (Erlang: schedulers)"
SCALING_UNIT = "speed-up over one worker"


def write(results: list[Result], directory: Path = HERE) -> tuple[Path, Path, Path]:
    """RESULTS.md, ratios.png and scaling.png side by side, the charts linked
    from the text."""
    md, png, scaling = directory / "RESULTS.md", directory / "ratios.png", directory / "scaling.png"
    rat = ratios(results)
    png.write_bytes(ratio_chart(
        CHART_TITLE,
        [name for name, _ in rows(results) if any(k[0] == name for k in rat)],
        [p for p in PEERS if p != OURS], rat))
    scaling.write_bytes(scaling_chart(SCALING_TITLE, scaling_rows(results), SCALING_UNIT))
    md.write_text(markdown(results, png.name, scaling.name))
    return md, png, scaling
