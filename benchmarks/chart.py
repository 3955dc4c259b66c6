"""The benchmark charts, drawn with matplotlib (the ``bench`` extra) as PNG bytes.

* :func:`ratio_chart`: luactor against each peer, per scenario: bars on a log
  axis around 1x, so a win and a loss of the same factor look the same size.
* :func:`scaling_chart`: a figure against the number of workers, one line
  per scenario, from ``(scenario, workers, value)`` rows (the report gives
  each scenario's speed-up over one worker); a peer's line, ``"scenario
  (peer)"``, is dashed in its scenario's colour.

``python -m benchmarks.chart`` redraws ``ratios.png`` and ``scaling.png``
from the tables of ``RESULTS.md``, without running anything.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["ratio_chart", "ratios_from_results", "scaling_chart", "scaling_from_results"]

HERE = Path(__file__).resolve().parent


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display), imported when a chart is drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    _pyplot().close(figure)
    return buffer.getvalue()


def ratio_chart(title: str, groups: list[str], series: list[str],
                ratios: dict[tuple[str, str], float]) -> bytes:
    """Bars of ratios per (group, series) on a log axis; 1x is the baseline,
    bars above it are wins.  A group shows only the series it has."""
    plt = _pyplot()
    shown = {g: [(i, name, ratios[g, name]) for i, name in enumerate(series) if ratios.get((g, name), 0) > 0]
             for g in groups}
    groups = [g for g in groups if shown[g]] or groups
    figure, axes = plt.subplots(figsize=(max(6.0, 0.35 * sum(max(len(shown[g]), 1) for g in groups) + 2.5), 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    bar, x, ticks = 0.8, 0.0, []
    for group in groups:
        bars = shown[group]
        start = x
        for i, name, value in bars:
            axes.bar(x, value - 1, width=bar, bottom=1, color=colors[i % len(colors)], label=f"vs {name}")
            axes.annotate(f"{value:.2g}" if value < 10 else f"{value:.0f}", (x, value),
                          xytext=(0, 3 if value >= 1 else -10), textcoords="offset points",
                          ha="center", fontsize=7, color="dimgray")
            x += bar
        ticks.append((start + (x - start - bar) / 2, group))
        x += bar
    axes.set_yscale("log")
    present = [v for v in ratios.values() if v > 0]
    low = min(0.1, 10 ** math.floor(math.log10(min([*present, 1.0]))))
    high = max(10.0, 10 ** math.ceil(math.log10(max([*present, 1.0]) * 1.0001)))
    axes.set_ylim(low, high)
    axes.axhline(1.0, color="black", linewidth=1)
    axes.grid(axis="y", which="major", color="0.9")
    axes.set_axisbelow(True)
    axes.set_xticks([t for t, _ in ticks], [g for _, g in ticks], rotation=30, ha="right")
    axes.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}x"))
    handles = {label: handle for handle, label in zip(*axes.get_legend_handles_labels())}
    if handles:
        axes.legend(handles.values(), handles.keys(), fontsize=8, ncols=min(len(handles), 3), loc="upper right")
    else:
        axes.text(0.5, 0.5, "no ratios measured", transform=axes.transAxes, ha="center", color="gray")
    axes.set_title(title)
    figure.tight_layout()
    return _png(figure)


def scaling_chart(title: str, rows: Iterable[tuple[str, int, float]], unit: str) -> bytes:
    """A figure (in ``unit``) against workers, one line per scenario, from
    ``(scenario, workers, value)`` rows in any order."""
    plt = _pyplot()
    lines: dict[str, dict[int, float]] = {}
    for scenario, workers, value in rows:
        lines.setdefault(scenario, {})[workers] = value
    figure, axes = plt.subplots(figsize=(7, 4.5))
    colours: dict[str, str] = {}
    for line, points in lines.items():
        scenario = line.split(" (")[0]
        colour = colours.setdefault(scenario, f"C{len(colours) % 10}")
        workers = sorted(points)
        axes.plot(workers, [points[w] for w in workers], marker="o", label=line, color=colour,
                  linestyle="--" if " (" in line else "-")
    every = sorted({w for points in lines.values() for w in points})
    if every:
        axes.set_xticks(every)
        axes.legend(fontsize=8)
    axes.set_xlabel("workers")
    axes.set_ylabel(unit)
    axes.set_ylim(bottom=0)
    axes.grid(color="0.9")
    axes.set_title(title)
    figure.tight_layout()
    return _png(figure)


def _table(markdown: str, header: str) -> tuple[list[str], list[list[str]]]:
    """The column names and rows of the Markdown table whose header line starts with ``header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[0], rows[2:]


def ratios_from_results(markdown: str) -> tuple[list[str], list[str], dict[tuple[str, str], float]]:
    """Scenarios, peers and ratios of the ratio table of a RESULTS.md (``| pingpong | 12.48x | ... |``)."""
    columns, rows = _table(markdown, "| scenario | vs ")
    peers = [column[3:] for column in columns[1:]]
    scenarios, ratios = [], {}
    for cells in rows:
        scenarios.append(cells[0])
        for peer, cell in zip(peers, cells[1:]):
            if re.fullmatch(r"[0-9.]+x", cell):
                ratios[cells[0], peer] = float(cell[:-1])
    return scenarios, peers, ratios


_SCALE = {"k": 1e3, "M": 1e6}


def scaling_from_results(markdown: str, peers: Iterable[str] = ("luactor", "erlang")) -> list[tuple[str, int, float]]:
    """The scaling chart's rows, from the absolute table of a RESULTS.md: each
    ``peers``' figure in a ``scenario@k`` row over its figure in ``scenario``
    (better above 1), as figures are printed (three digits)."""
    columns, figures = _table(markdown, "| scenario | unit | better |")
    table = {cells[0]: dict(zip(columns, cells)) for cells in figures}
    rows = []
    for name, cells in table.items():
        scenario, _, workers = name.partition("@")
        one = table.get(scenario)
        if not workers or one is None:
            continue
        for peer in peers:
            here, there = _figure(cells.get(peer)), _figure(one.get(peer))
            if here and there:
                line = scenario if peer == "luactor" else f"{scenario} ({peer})"
                speedup = here / there if cells["better"] == "higher" else there / here
                rows += [(line, 1, 1.0), (line, int(workers), speedup)]
    return rows


def _figure(cell: str | None) -> float | None:
    """A figure as the report prints it (``289 k``, ``1.64 M``, ``6,868``), or None."""
    match = re.fullmatch(r"([0-9.,]+)(?: ([kM]))?", cell or "")
    if match is None:
        return None
    return float(match[1].replace(",", "")) * _SCALE.get(match[2], 1)


if __name__ == "__main__":
    from benchmarks.report import CHART_TITLE, SCALING_TITLE, SCALING_UNIT
    results = (HERE / "RESULTS.md").read_text()
    scenarios, peers, measured = ratios_from_results(results)
    (HERE / "ratios.png").write_bytes(ratio_chart(CHART_TITLE, scenarios, peers, measured))
    (HERE / "scaling.png").write_bytes(scaling_chart(SCALING_TITLE, scaling_from_results(results), SCALING_UNIT))
    print(f"wrote {HERE / 'ratios.png'} and {HERE / 'scaling.png'}")
