"""The benchmarks' machinery: which runs write RESULTS.md and the charts,
how worker counts become rows, and that the luactor apps and the peers of
the scenarios do the work they report, at tiny workloads.

Nothing here times anything (speed lives in benchmarks/): the CLI's tests
replace the harness and the report writer by fakes.
"""
import asyncio
import dataclasses
import shutil

import pytest
import trio
import yaml

from actors import Node
from benchmarks import cli, harness, luactor_scenarios, report
from benchmarks.harness import Result
from benchmarks.measure import OutOfOrder, check_order
from benchmarks.scenarios import CORES, PEERS, SCENARIOS


@pytest.fixture
def written(monkeypatch):
    """Runs nothing; collects what report.write was asked to write."""
    calls = []
    monkeypatch.setattr(harness, "run", lambda quick, scenarios, peers, progress, workers: [
        Result("pingpong", "luactor", "ok", 1e6, "msgs/s", [1e6], 10)])
    monkeypatch.setattr(report, "write", lambda results: calls.append(results) or ("md", "png", "png"))
    return calls


def test_a_full_run_writes_the_results(written, capsys):
    assert cli.main([]) == 0
    assert len(written) == 1
    assert "| pingpong |" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["--quick"], ["--no-write"], ["--scenario", "pingpong"], ["--peer", "luactor"],
    ["--workers", str(CORES + 1)],
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
            "charts") in out
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


# Worker counts: the harness runs a scaling scenario at 1 and N, the report
# makes rows of them and the scaling chart lines.

def test_the_harness_runs_scaling_scenarios_at_one_and_n_workers_for_peers_that_have_workers(monkeypatch):
    monkeypatch.setattr(harness, "run_pair", lambda scenario, peer, quick, workers, scale: Result(
        scenario.name, peer.name, "ok", 1.0, scenario.unit, [1.0], 10, workers=workers))
    results = harness.run(True, ["pingpong", "skynet", "pairs"], ["luactor", "trio"], workers=3)
    assert [(r.row, r.peer) for r in results] == [
        ("pingpong", "luactor"), ("pingpong", "trio"),
        ("skynet", "luactor"), ("skynet@3", "luactor"), ("skynet", "trio"),
        ("pairs", "luactor"), ("pairs@3", "luactor")]
    assert harness.worker_counts(SCENARIOS["pairs"], PEERS["luactor"], 1) == [1]


def test_a_scaling_run_passes_its_workers_and_the_same_knobs_at_one_worker_as_at_n():
    pairs, luactor = SCENARIOS["pairs"], PEERS["luactor"]
    at_one = harness.command(pairs, luactor, 100, workers=1, scale=4)
    at_four = harness.command(pairs, luactor, 100, workers=4, scale=4)
    assert at_one[-4:] == ["--pairs", "16", "--workers", "1"]
    assert at_four[-4:] == ["--pairs", "16", "--workers", "4"]
    assert "--workers" not in harness.command(SCENARIOS["skynet"], PEERS["trio"], 100)
    assert "--workers" not in harness.command(SCENARIOS["pingpong"], luactor, 100)


def results_at_workers() -> list[Result]:
    def ok(scenario, peer, value, workers=1):
        return Result(scenario, peer, "ok", value, SCENARIOS[scenario].unit, [value], 10, workers=workers)
    return [ok("pingpong", "luactor", 2e6), ok("pingpong", "erlang", 4e6),
            ok("pairs", "luactor", 1e6), ok("pairs", "luactor", 1.5e6, 2),
            ok("pairs", "erlang", 2e6), ok("pairs", "erlang", 4e6, 2),
            ok("skynet", "luactor", 20.0, 2), ok("skynet", "luactor", 10.0),  # s/1M procs: lower is better
            ok("skynet", "trio", 30.0)]


def test_the_report_gives_each_worker_count_a_row_compared_at_the_same_count():
    lines = report.tables(results_at_workers()).splitlines()
    for line in ["| scenario | unit | better | luactor | trio | erlang |",
                 "| pairs | msgs/s | higher | 1.00 M | – | 2.00 M |",
                 "| pairs@2 | msgs/s | higher | 1.50 M | – | 4.00 M |",
                 "| skynet | s/1M procs | lower | 10 | 30 | – |",
                 "| skynet@2 | s/1M procs | lower | 20 | – | – |",
                 "| pairs | – | 0.50x |",
                 "| pairs@2 | – | 0.38x |",
                 "| skynet | 3.00x | – |",
                 "Rows `scenario@k` ran with `host.workers: k` against k Erlang schedulers (`erl +S k`); "
                 "the others on one worker against `erl +S 1`."]:
        assert line in lines
    units = (" | msgs/s | ", " | s/1M procs | ")
    rows = [line.split(" | ")[0][2:] for line in lines if any(unit in line for unit in units)]
    assert rows == ["pingpong", "pairs", "pairs@2", "skynet", "skynet@2"]
    assert "@" not in report.tables(results_at_workers()[:2])


def test_the_report_checks_the_targets_against_peers_figures_and_one_worker():
    lines = report.tables(results_at_workers()).splitlines()
    for line in ["| ping-pong at least 2.4 M msgs/s | missed (2.00 M msgs/s) |",
                 "| ping-pong at least 0.6x Erlang/OTP (`erl +S 1`) | missed (0.50x) |",
                 "| ping-pong at least 10x trio memory channels | not measured |",
                 "| pairs at 2 workers at least 1.8x of one worker | missed (1.50x) |",
                 "| skynet at 2 workers at least 1.6x faster than at one | missed (0.50x) |"]:
        assert line in lines
    assert not any(line.startswith("| spawn at least") for line in lines)  # no spawn row: no such target
    faster = [dataclasses.replace(r, value=4.0) if (r.scenario, r.workers) == ("skynet", 2) else r for r in results_at_workers()]
    assert "| skynet at 2 workers at least 1.6x faster than at one | met (2.50x) |" in report.tables(faster)


def test_the_scaling_chart_gets_each_peers_figure_over_its_one_worker_figure(monkeypatch, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    drawn, draw = {}, report.scaling_chart

    def spy(title, rows, unit):
        drawn["rows"] = list(rows)
        return draw(title, drawn["rows"], unit)

    monkeypatch.setattr(report, "machine", lambda: [("cores", "2")])
    monkeypatch.setattr(report, "ratio_chart", lambda *args: b"ratios")
    monkeypatch.setattr(report, "scaling_chart", spy)
    md, ratios_png, scaling_png = report.write(results_at_workers(), tmp_path)
    assert sorted(drawn["rows"]) == [("pairs", 1, 1.0), ("pairs", 2, 1.5), ("pairs (erlang)", 1, 1.0),
                                     ("pairs (erlang)", 2, 2.0), ("skynet", 1, 1.0), ("skynet", 2, 0.5)]
    assert ratios_png.read_bytes() == b"ratios"
    assert scaling_png.name == "scaling.png" and image.imread(scaling_png).shape[0] >= 300
    assert "(ratios.png)" in md.read_text() and "(scaling.png)" in md.read_text()


# The luactor apps at tiny workloads: the work they report is the work done.

@pytest.mark.parametrize("run, args, work", [
    (luactor_scenarios.pingpong_inbox, (10,), 20),
    (luactor_scenarios.pairs, (42, 4), 80),                    # 10 round trips per pair
    (luactor_scenarios.pairs, (42, 4, 2), 80),
    (luactor_scenarios.pingpong_cross, (10,), 20),
    (luactor_scenarios.pingpong_cross, (10, 2), 20),
    (luactor_scenarios.skynet, (1000, 2), 1000),
    (luactor_scenarios.ring, (50, 10, 2), 50),
])
async def test_the_inbox_and_multi_worker_apps_do_the_work_they_report(run, args, work):
    sample = await run(*args)
    assert (sample.work, sample.n) == (work, args[0])
    assert sample.elapsed_s > 0


async def test_the_inbox_pairs_are_placed_by_the_spawn_option_worker(tmp_path):
    """pairs deals the pairs round the workers, each pair's ends together;
    pingpong_cross puts a pair's pong on the next worker."""
    app, host = luactor_scenarios.prepare_app("pingpong_inbox", tmp_path, workers=2), luactor_scenarios.HOST
    async with Node.open(app, data_dir=tmp_path / "data") as node:
        spread = await node.exec("bench:pingpong_inbox", host, 40, 4, 2, False, host)
        cross = await node.exec("bench:pingpong_inbox", host, 10, 1, 2, True, host)
        group = node.router.hosts[host].workers

        def placed(result):
            return [[group.workers.index(group.worker_of(pid)) + 1 for pid in pair] for pair in result["ends"]]

        assert placed(spread) == [[1, 1], [2, 2], [1, 1], [2, 2]]
        assert placed(cross) == [[1, 2]]


def test_the_app_copy_runs_on_the_workers_asked_for(tmp_path):
    app = luactor_scenarios.prepare_app("ring", tmp_path, workers=3)
    hosts = [e for e in yaml.safe_load((app / "app.yaml").read_text())["entries"] if e["kind"] == "process.host"]
    assert [h["host"]["workers"] for h in hosts] == [3]


@pytest.mark.parametrize("app", ["skynet", "idle_memory", "spawn"])
def test_the_apps_of_many_processes_lift_the_memory_cap(app):
    """n processes take more than the default host.max_memory: like every
    peer's, these hosts are bounded only by the machine."""
    doc = yaml.safe_load((luactor_scenarios.APPS / app / "app.yaml").read_text())
    assert [e["host"]["max_memory"] for e in doc["entries"] if e["kind"] == "process.host"] == [0]


async def test_idle_memory_fails_when_its_spawner_fails_instead_of_waiting(tmp_path, monkeypatch):
    shutil.copytree(luactor_scenarios.APPS / "idle_memory", tmp_path / "idle_memory")
    app = tmp_path / "idle_memory" / "app.yaml"
    app.write_text(app.read_text().replace("max_memory: 0", "max_memory: 8MB"))
    monkeypatch.setattr(luactor_scenarios, "APPS", tmp_path)
    with trio.fail_after(60), pytest.raises(RuntimeError, match="spawner failed: .*max_memory"):
        await luactor_scenarios.idle_memory(20_000)


SWAPPED_PONG = """
-- pingpong_inbox's pong, broken on purpose: it answers each two pings in
-- swapped order (seq 2 for 1, 1 for 2, ...), as a mailbox that reordered would.
local function pong(driver)
  local inbox = process.inbox()
  process.send(driver, "ready", true)
  while true do
    local msg = inbox:receive()
    local seq = msg:payload():data().seq
    if seq == 0 then return end
    process.send(msg:from(), "pong", { seq = seq % 2 == 1 and seq + 1 or seq - 1 })
  end
end
return { pong = pong }
"""


async def test_pingpong_inbox_fails_when_a_reply_comes_out_of_order(tmp_path):
    app = luactor_scenarios.prepare_app("pingpong_inbox", tmp_path)
    (app / "swapped.lua").write_text(SWAPPED_PONG)
    doc = yaml.safe_load((app / "app.yaml").read_text())
    for entry in doc["entries"]:
        if entry["name"] == "pong":
            entry["source"] = "file://swapped.lua"
    (app / "app.yaml").write_text(yaml.safe_dump(doc))
    host = luactor_scenarios.HOST
    async with Node.open(app, data_dir=tmp_path / "data") as node:
        with pytest.raises(Exception, match="reply out of order: expected seq 1, got 2"):
            await node.exec("bench:pingpong_inbox", host, 10, 1, 1, False, host)


# The peers' side of pingpong_inbox and of the scaling scenarios.

def test_the_python_peers_order_check():
    check_order(3, {"seq": 3})
    with pytest.raises(OutOfOrder, match="expected seq 3, got 4"):
        check_order(3, {"seq": 4})


def test_the_python_peers_run_pingpong_inbox():
    from benchmarks.peers import asyncio_peer, trio_peer
    assert trio.run(trio_peer.pingpong_inbox, 10).work == 20
    assert asyncio.run(asyncio_peer.pingpong_inbox(10)).work == 20
    pykka_peer = pytest.importorskip("benchmarks.peers.pykka_peer")
    assert pykka_peer.pingpong_inbox(10).work == 20


@pytest.mark.skipif(shutil.which("erl") is None, reason="Erlang/OTP not installed")
@pytest.mark.parametrize("scenario, n, params, work", [
    ("pingpong_inbox", 10, {}, 20),
    ("pairs", 42, {"pairs": 4, "workers": 2}, 80),
    ("pingpong_cross", 10, {"workers": 2}, 20),
    ("skynet", 1000, {"workers": 2}, 1000),
])
def test_the_erlang_peer_runs_the_new_scenarios(scenario, n, params, work):
    from benchmarks.peers import erlang_peer
    assert erlang_peer.run(scenario, n, **params).work == work
