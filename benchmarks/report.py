"""Turns harness results into the Markdown report and the ratio chart.

Ratios are oriented so that above 1 always means luactor is better: for
rates luactor/peer, for elapsed time and memory peer/luactor.  The targets of
the benchmark issue are checked here too, so a run says which ones hold.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path

from benchmarks.chart import ratio_chart
from benchmarks.harness import FULL, Result
from benchmarks.scenarios import PEERS, SCENARIOS

HERE = Path(__file__).resolve().parent
OURS = "luactor"


def ratio(scenario: str, ours: float, theirs: float) -> float:
    if SCENARIOS[scenario].higher_is_better:
        return ours / theirs
    return theirs / ours


def ratios(results: list[Result]) -> dict[tuple[str, str], float]:
    ok = {(r.scenario, r.peer): r.value for r in results
          if r.status == "ok" and r.value}
    return {(s, p): ratio(s, ok[s, OURS], v) for (s, p), v in ok.items()
            if p != OURS and (s, OURS) in ok}


def fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.0f} k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


# What the benchmark issue asks: (text, scenario, peer or None for luactor's
# own figure, bound); a ratio must reach its bound, a figure must be on the
# better side of it.
TARGETS = [
    ("ping-pong at least 2 M msgs/s", "pingpong", None, 2e6),
    ("ping-pong at least 0.5x Erlang/OTP (`erl +S 1`)", "pingpong", "erlang", 0.5),
    ("ping-pong at least 10x trio memory channels", "pingpong", "trio", 10),
    ("skynet within 1.5x of Erlang/OTP (`erl +S 1`)", "skynet", "erlang", 1 / 1.5),
    ("at most 3,000 bytes per idle process", "idle_memory", None, 3000),
    ("durable steps at least 250x Temporal's dev server", "workflow_steps",
     "temporal", 250),
    ("at least 20,000 durable steps/s (1,000 workflows in flight)",
     "workflow_steady", None, 20_000),
]


def target_status(scenario: str, peer: str | None, bound: float,
                  ours: dict[str, float], rat: dict) -> str:
    if peer:
        figure = rat.get((scenario, peer))
        met, shown = figure is not None and figure >= bound, f"{figure or 0:.2f}x"
    else:
        figure = ours.get(scenario)
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
    scenarios = [s for s in SCENARIOS if any(r.scenario == s for r in results)]
    cell = {(r.scenario, r.peer): r for r in results}
    rat = ratios(results)
    ours = {r.scenario: r.value for r in results
            if r.peer == OURS and r.status == "ok"}

    def absolute(s: str, p: str) -> str:
        r = cell.get((s, p))
        return "–" if r is None else fmt(r.value) if r.status == "ok" else r.status

    out = [_row(["scenario", "unit", "better", *peers]),
           _row(["---"] * 3 + ["---:"] * len(peers))]
    out += [_row([s, SCENARIOS[s].unit,
                  "higher" if SCENARIOS[s].higher_is_better else "lower",
                  *(absolute(s, p) for p in peers)]) for s in scenarios]
    out += ["", "Ratios, luactor against each peer (above 1x: luactor is "
            "better):", "", _row(["scenario", *(f"vs {p}" for p in others)]),
            _row(["---"] + ["---:"] * len(others))]
    out += [_row([s, *(f"{rat[s, p]:.2f}x" if (s, p) in rat else "–"
                       for p in others)]) for s in scenarios]
    out += ["", _row(["target", "status"]), _row(["---", "---"])]
    out += [_row([text, target_status(s, p, bound, ours, rat)])
            for text, s, p, bound in TARGETS if s in scenarios]
    notes = [f"- {r.scenario} / {r.peer}: {r.note}" for r in results if r.note]
    if notes:
        out += ["", "Notes:", "", *notes]
    return "\n".join(out) + "\n"


def markdown(results: list[Result], chart_name: str | None) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = ["# luactor benchmarks", "",
             f"Measured {now:%Y-%m-%d %H:%M} UTC with `luactor bench`: every "
             "scenario and peer in its own subprocess, "
             f"{FULL['warmups']} warm-up run(s) discarded, then the median of "
             f"{FULL['runs']}.  Erlang/OTP runs with one scheduler "
             "(`erl +S 1`) against one luactor worker.  How each peer is "
             "written and what is capped: [README.md](README.md).", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine()]
    lines += ["", "## Results", "", tables(results)]
    if chart_name:
        lines += [f"![luactor against each peer]({chart_name})", ""]
    lines += ["## Scenarios", ""]
    lines += [f"- **{s.name}**: {s.what} (full run n = {s.n:,})."
              for s in SCENARIOS.values()]
    return "\n".join(lines) + "\n"


#: The ratio chart's title (``python -m benchmarks.chart`` redraws it with the same).
CHART_TITLE = "luactor vs peers (above 1x: luactor better)"


def write(results: list[Result], directory: Path = HERE) -> tuple[Path, Path]:
    """RESULTS.md and ratios.png side by side, the chart linked from the text."""
    md, png = directory / "RESULTS.md", directory / "ratios.png"
    rat = ratios(results)
    png.write_bytes(ratio_chart(
        CHART_TITLE,
        [s for s in SCENARIOS if any(k[0] == s for k in rat)],
        [p for p in PEERS if p != OURS], rat))
    md.write_text(markdown(results, png.name))
    return md, png
