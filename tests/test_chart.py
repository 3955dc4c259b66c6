"""The benchmark charts: PNGs drawn by matplotlib, the ratio chart redrawn from RESULTS.md."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from benchmarks.chart import ratio_chart, ratios_from_results, scaling_chart

image = pytest.importorskip("matplotlib.image")

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "RESULTS.md"


def pixels(png: bytes):
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return image.imread(io.BytesIO(png), format="png")


def colours(png: bytes) -> int:
    picture = pixels(png)
    return len({tuple(px) for px in picture.reshape(-1, picture.shape[-1])[::7]})


def test_the_ratio_chart_is_drawn_from_the_results_table():
    scenarios, peers, ratios = ratios_from_results(RESULTS.read_text())
    assert scenarios[0] == "pingpong" and "erlang" in peers
    assert ratios["pingpong", "erlang"] == pytest.approx(0.50)
    assert ("skynet", "pykka") not in ratios     # a cell without a ratio: not measured
    picture = pixels(ratio_chart("luactor vs peers", scenarios, peers, ratios))
    assert picture.shape[0] >= 400 and picture.shape[1] > picture.shape[0]
    assert colours(ratio_chart("t", scenarios, peers, ratios)) > colours(ratio_chart("t", scenarios, peers, {}))


def test_the_scaling_chart_draws_a_line_per_scenario():
    rows = [("pingpong", 1, 1.8e6), ("pingpong", 2, 3.1e6), ("ring", 2, 2.0e6), ("ring", 1, 1.1e6),
            ("pingpong", 4, 5.0e6)]
    one = scaling_chart("scaling", [r for r in rows if r[0] == "ring"], "msgs/s")
    both = scaling_chart("scaling", rows, "msgs/s")
    assert pixels(both).shape == pixels(one).shape
    assert colours(both) > colours(one)
