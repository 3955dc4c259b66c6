"""The benchmark charts: PNGs drawn by matplotlib, the ratio chart redrawn from RESULTS.md."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from benchmarks.chart import ratio_chart, ratios_from_results, scaling_chart, scaling_from_results

image = pytest.importorskip("matplotlib.image")

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "RESULTS.md"


def pixels(png: bytes):
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return image.imread(io.BytesIO(png), format="png")


def colours(png: bytes) -> int:
    picture = pixels(png)
    return len({tuple(px) for px in picture.reshape(-1, picture.shape[-1])[::7]})


RATIO_TABLE = """
## Ratios

| scenario | vs trio | vs erlang |
| --- | ---: | ---: |
| pingpong | 9.52x | 0.25x |
| skynet | – | 0.16x |

Rows below the table are not read.
"""


def test_the_ratio_table_is_read_cell_by_cell():
    scenarios, peers, ratios = ratios_from_results(RATIO_TABLE)
    assert scenarios == ["pingpong", "skynet"] and peers == ["trio", "erlang"]
    assert ratios == {("pingpong", "trio"): 9.52, ("pingpong", "erlang"): 0.25, ("skynet", "erlang"): 0.16}


def test_the_ratio_chart_is_drawn_from_the_results_table():
    scenarios, peers, ratios = ratios_from_results(RESULTS.read_text())
    assert scenarios[0] == "pingpong" and "erlang" in peers
    assert ("pingpong", "erlang") in ratios
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


FIGURE_TABLE = """
| scenario | unit | better | luactor | trio | erlang |
| --- | --- | --- | ---: | ---: | ---: |
| pairs | msgs/s | higher | 177 k | – | 1.17 M |
| pairs@2 | msgs/s | higher | 289 k | – | 1.64 M |
| pingpong_cross@2 | msgs/s | higher | 6,868 | – | 212 k |
| skynet | s/1M procs | lower | 36 | 72.2 | 6.42 |
| skynet@2 | s/1M procs | lower | 18 | – | – |
"""


def test_the_scaling_chart_is_redrawn_from_the_figures_of_the_results_table():
    rows = {(line, workers): round(value, 3) for line, workers, value in scaling_from_results(FIGURE_TABLE)}
    assert rows == {("pairs", 1): 1.0, ("pairs", 2): round(289 / 177, 3),
                    ("pairs (erlang)", 1): 1.0, ("pairs (erlang)", 2): round(1.64 / 1.17, 3),
                    ("skynet", 1): 1.0, ("skynet", 2): 2.0}  # lower is better: twice as fast
    # (pingpong_cross has no one-worker row here; trio has no figure at two workers)
    assert pixels(scaling_chart("t", scaling_from_results(RESULTS.read_text()), "x")).shape[0] >= 400
