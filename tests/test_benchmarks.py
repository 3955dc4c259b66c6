"""The benchmark CLI: which runs write RESULTS.md and the chart.

The benchmarks themselves are not run here (speed lives in benchmarks/);
the harness and the report writer are replaced by fakes.
"""

import pytest

from benchmarks import cli, harness, report
from benchmarks.harness import Result


@pytest.fixture
def written(monkeypatch):
    """Runs nothing; collects what report.write was asked to write."""
    calls = []
    monkeypatch.setattr(harness, "run", lambda quick, scenarios, peers, progress: [
        Result("pingpong", "luactor", "ok", 1e6, "msgs/s", [1e6], 10)])
    monkeypatch.setattr(report, "write", lambda results: calls.append(results) or ("md", "png"))
    return calls


def test_a_full_run_writes_the_results(written, capsys):
    assert cli.main([]) == 0
    assert len(written) == 1
    assert "| pingpong |" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["--quick"], ["--no-write"], ["--scenario", "pingpong"], ["--peer", "luactor"],
])
def test_quick_filtered_or_no_write_runs_leave_the_results_alone(written, argv):
    assert cli.main(argv) == 0
    assert written == []


def test_a_quick_run_says_what_its_figures_are_and_what_it_skips(written, capsys):
    assert cli.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "Quick run: small-workload figures (1/5 to 1/10 of the full workloads, 1 run per cell" in out
    assert "not comparable with RESULTS.md" in out
    assert ("Skipped: the full workloads, the warm-up run, the median of 3 runs, writing RESULTS.md and the "
            "chart") in out
    assert cli.main([]) == 0
    assert "Quick run" not in capsys.readouterr().out


async def test_the_workflow_driver_keeps_at_most_in_flight_running():
    """workflow_steady's driver starts the next workflow as one ends; without
    a bound it starts them all at once (workflow_steps)."""
    from benchmarks.luactor_scenarios import HOST, WORKFLOW_HOST, scenario_node

    async with scenario_node("workflow_steps") as node:
        steady = await node.exec("bench:workflow_steps", HOST, 30, WORKFLOW_HOST, "1ms", 4)
        burst = await node.exec("bench:workflow_steps", HOST, 30, WORKFLOW_HOST, "1ms")
    assert (steady["work"], steady["peak_in_flight"]) == (120, 4)
    assert (burst["work"], burst["peak_in_flight"]) == (120, 30)
