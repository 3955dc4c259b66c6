"""At runtime: process.service lifecycles, restart policies, supervisor trees.

Every test runs a real node on trio's MockClock (``autojump_clock``), so
backoff delays and timeouts are exact and no test waits on the wall clock.
What happened is read from the one-line transition log (``luactor`` logger),
stamped with trio's clock, and from ``services(node)``.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from actors import ActorError, Node
from supervision import State, SupervisionError, services
from supervision.supervisor import Context, Supervisor
from supervision.tree import Tree

# A service process that stops politely on CANCEL, crashes on a "crash"
# message, returns normally on "exit", and crashes by itself after `crash_after`.
WORKER = """
local time = require("time")
return { main = function(crash_after)
  local events, inbox = process.events(), process.inbox()
  local cases = { events:case_receive(), inbox:case_receive() }
  if crash_after then cases[3] = time.after(crash_after):case_receive() end
  while true do
    local r = channel.select(cases)
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return "stopped" end
    elseif r.channel == inbox then
      local topic = r.value:topic()
      if topic == "crash" then error("crash requested") end
      if topic == "exit" then return "done" end
    else
      error("crashed by itself")
    end
  end
end }
"""

# Ignores CANCEL: only terminate ends it.
STUBBORN = """
local time = require("time")
return { main = function() while true do time.sleep("1h") end end }
"""


@dataclass(frozen=True)
class Transition:
    at: float
    kind: str
    id: str
    old: str
    new: str
    line: str


class Transitions(logging.Handler):
    """Collects the transition lines of the ``luactor`` logger with trio's time."""

    LINE = re.compile(r"^(service|supervisor) (\S+): (\w+) -> (\w+)")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.all: list[Transition] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        match = self.LINE.match(line)
        if match:
            self.all.append(Transition(trio.current_time(), *match.groups(), line))

    def of(self, ident: str, new: str | None = None) -> list[Transition]:
        return [t for t in self.all if t.id == ident and (new is None or t.new == new)]

    def index(self, ident: str, new: str, nth: int = 0) -> int:
        return [i for i, t in enumerate(self.all) if t.id == ident and t.new == new][nth]

    def starts(self, ident: str) -> list[float]:
        return [t.at for t in self.of(ident, "Starting")]


@pytest.fixture
def log():
    handler = Transitions()
    logger = logging.getLogger("luactor")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def sup(app):
    """Builds services and supervisors on the ``app`` fixture."""
    return Builder(app)


class Builder:
    def __init__(self, app):
        self.app = app
        app.lua("worker_process", WORKER, modules=["time"])
        app.lua("stubborn_process", STUBBORN, modules=["time"])

    def service(self, name: str, *, process: str = "worker", args=None, supervisor: str | None = None,
                requires=(), auto_start: bool = True, restart=None, **lifecycle) -> str:
        restart = {"initial_delay": "1s", "jitter": 0, **(restart or {})}
        fields = {"name": name, "kind": "process.service", "process": f"test:{process}_process", "host": self.app.host,
                  "lifecycle": {"auto_start": auto_start, "requires": [f"test:{r}" for r in requires],
                                "restart": restart, **lifecycle}}
        if args is not None:
            fields["args"] = args
        if supervisor:
            fields["supervisor"] = f"test:{supervisor}"
        return self.app.entry(**fields)

    def supervisor(self, name: str, *, supervisor: str | None = None, requires=(), **fields) -> str:
        spec = {"name": name, "kind": "supervisor", **fields}
        if supervisor:
            spec["supervisor"] = f"test:{supervisor}"
        if requires:
            spec["lifecycle"] = {"requires": [f"test:{r}" for r in requires]}
        return self.app.entry(**spec)


def pid_number(pid: str) -> int:
    return int(pid.rsplit("|", 1)[1].rstrip("}"))


async def crash(node, ident: str) -> None:
    await node.send(services(node).status(ident).pid, "crash")


# --------------------------------------------------------------------------- restart policy


async def test_backoff_delays_grow_geometrically_up_to_max_delay(sup, app, log, autojump_clock):
    sup.service("svc", args=["1s"], restart={"initial_delay": "1s", "backoff_factor": 2, "max_delay": "5s"})
    async with Node.open(app.root) as node:
        await trio.sleep(30)
        runs = services(node).status("test:svc")
    starts = log.starts("test:svc")
    # Each run lasts 1s, then the restart waits 1, 2, 4, 5, 5, ... seconds.
    gaps = [round(b - a - 1, 6) for a, b in itertools.pairwise(starts)]
    assert gaps[:6] == [1, 2, 4, 5, 5, 5]
    delays = [float(re.search(r"delay=([\d.]+)s", t.line)[1]) for t in log.of("test:svc", "Failed")]
    assert delays[:6] == [1, 2, 4, 5, 5, 5]
    assert runs.attempts == len(log.of("test:svc", "Failed"))


async def test_jitter_spreads_delays_within_bounds(sup, app, log, autojump_clock):
    sup.service("svc", args=["1s"], restart={"initial_delay": "2s", "backoff_factor": 1, "jitter": 0.5})
    async with Node.open(app.root):
        await trio.sleep(60)
    starts = log.starts("test:svc")
    gaps = [b - a - 1 for a, b in itertools.pairwise(starts)]
    assert len(gaps) >= 15
    assert all(1.0 <= gap <= 3.0 for gap in gaps), gaps  # 2s ± 50 %
    assert len({round(gap, 6) for gap in gaps}) > 1       # and really spread


async def test_attempts_reset_after_a_stable_run(sup, app, log, autojump_clock):
    sup.service("svc", stable_threshold="5s",
                restart={"initial_delay": "1s", "backoff_factor": 2, "max_attempts": 3})
    async with Node.open(app.root) as node:
        api = services(node)
        for expected, delay in ((1, 1), (2, 2), (3, 4)):  # runs of 1s: the count climbs
            await crash(node, "test:svc")
            await trio.sleep(delay + 1)
            assert api.status("test:svc").attempts == expected
        await trio.sleep(5)  # a run of 6s, longer than stable_threshold
        await crash(node, "test:svc")
        await trio.sleep(0.5)
        assert api.status("test:svc").state is State.FAILED
        assert api.status("test:svc").attempts == 1
        await trio.sleep(1)
        assert api.status("test:svc").state is State.RUNNING
    delays = [re.search(r"delay=(\S+)", t.line)[1] for t in log.of("test:svc", "Failed")]
    assert delays == ["1.000s", "2.000s", "4.000s", "1.000s"]


async def test_max_attempts_reached_leads_to_exited(sup, app, log, autojump_clock):
    sup.service("svc", args=["1s"], restart={"max_attempts": 3, "initial_delay": "1s", "backoff_factor": 1})
    async with Node.open(app.root) as node:
        await trio.sleep(100)
        status = services(node).status("test:svc")
        assert node.process_count(app.host) == 0
    assert status.state is State.EXITED
    assert "crashed by itself" in status.last_error
    assert len(log.starts("test:svc")) == 4  # the first start and 3 restarts
    assert "reason='max_attempts reached'" in log.of("test:svc", "Exited")[0].line


@pytest.mark.parametrize(("mode", "topic", "final"), [
    ("transient", "exit", State.EXITED),      # a normal exit is not restarted
    ("transient", "crash", State.RUNNING),    # a failure is
    ("permanent", "exit", State.RUNNING),     # any exit is
    ("temporary", "crash", State.EXITED),     # nothing is
])
async def test_restart_modes(sup, app, autojump_clock, mode, topic, final):
    sup.service("svc", restart={"mode": mode})
    async with Node.open(app.root) as node:
        first = services(node).status("test:svc").pid
        await node.send(first, topic)
        await trio.sleep(5)
        status = services(node).status("test:svc")
        assert status.state is final
        assert (status.pid not in (None, first)) is (final is State.RUNNING)


async def test_a_failed_start_is_retried_like_a_crash(app, sup, log, autojump_clock):
    app.entries[0]["host"] = {"max_processes": 1}
    sup.service("first")
    sup.service("second", requires=["first"])
    async with Node.open(app.root) as node:
        await trio.sleep(0.5)
        status = services(node).status("test:second")
        assert status.state is State.FAILED
        assert status.last_error == "Unavailable: host test:host is at its limit of 1 processes"
        await services(node).stop("test:first")
        await trio.sleep(5)
        assert services(node).status("test:second").state is State.RUNNING


# --------------------------------------------------------------------------- ordering


async def test_diamond_starts_by_dependency_and_stops_in_reverse(sup, app, log, autojump_clock):
    #    a
    #   / \
    #  b   c      d requires b and c, which both require a
    #   \ /
    #    d
    sup.service("d", process="stubborn", requires=["b", "c"], stop_timeout="2s")
    sup.service("b", process="stubborn", requires=["a"], stop_timeout="2s")
    sup.service("c", process="stubborn", requires=["a"], stop_timeout="2s")
    sup.service("a", process="stubborn", stop_timeout="2s")
    async with Node.open(app.root) as node:
        booted = trio.current_time()
        pids = {name: pid_number(services(node).status(f"test:{name}").pid) for name in "abcd"}
    stopped = trio.current_time()
    assert pids["a"] < min(pids["b"], pids["c"]) <= max(pids["b"], pids["c"]) < pids["d"]
    run = log.index
    assert run("test:a", "Running") < min(run("test:b", "Starting"), run("test:c", "Starting"))
    assert max(run("test:b", "Running"), run("test:c", "Running")) < run("test:d", "Starting")
    assert run("test:d", "Stopped") < min(run("test:b", "Stopping"), run("test:c", "Stopping"))
    assert max(run("test:b", "Stopped"), run("test:c", "Stopped")) < run("test:a", "Stopping")
    # Three levels, each ignoring CANCEL for its 2s stop_timeout; b and c stop together.
    assert stopped - booted == pytest.approx(6)


async def test_requires_across_supervisors_orders_the_supervisors(sup, app, log, autojump_clock):
    sup.supervisor("front")
    sup.supervisor("back")
    sup.service("api", supervisor="front", requires=["db"])
    sup.service("db", supervisor="back")
    async with Node.open(app.root):
        pass
    assert log.index("test:db", "Running") < log.index("test:api", "Starting")
    assert log.index("test:api", "Stopped") < log.index("test:db", "Stopping")


# --------------------------------------------------------------------------- stopping


async def test_stop_timeout_terminates_a_process_that_ignores_cancel(sup, app, log, autojump_clock, caplog):
    sup.service("polite", stop_timeout="3s")
    sup.service("stubborn", process="stubborn", stop_timeout="3s")
    async with Node.open(app.root) as node:
        api = services(node)
        for name, took in (("polite", 0), ("stubborn", 3)):
            before = trio.current_time()
            await api.stop(f"test:{name}")
            assert trio.current_time() - before == pytest.approx(took)
            assert api.status(f"test:{name}").state is State.STOPPED
        assert node.process_count(app.host) == 0
        await trio.sleep(10)
        assert api.status("test:stubborn").state is State.STOPPED  # an operator's stop is final
    assert any("still running 3s after CANCEL, terminating" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("layout", ["same supervisor", "other supervisor"])
async def test_a_crash_during_node_shutdown_is_not_restarted(sup, app, log, autojump_clock, layout):
    # `late` takes its full stop_timeout to stop; meanwhile `early` (stopped
    # after it) crashes.  Whether its supervisor is busy shutting down or idle,
    # the crash ends the service.
    parent = "under" if layout == "other supervisor" else None
    if parent:
        sup.supervisor("under")
    sup.service("early", args=["10s"], supervisor=parent, restart={"initial_delay": "0s"})
    sup.service("late", process="stubborn", requires=["early"], stop_timeout="5s")
    async with Node.open(app.root) as node:
        api = services(node)
        await trio.sleep(8)
    assert trio.current_time() == pytest.approx(13)  # 8s + late's 5s stop_timeout
    status = api.status("test:early")
    assert status.state is State.EXITED
    assert "crashed by itself" in status.last_error
    assert len(log.starts("test:early")) == 1
    # Handled by its idle supervisor, or found dead by the stop that reached it.
    reason = "node shutting down" if layout == "other supervisor" else "ended before its stop"
    assert f"reason='{reason}'" in log.of("test:early")[-1].line


async def test_terminate_from_outside_is_final(sup, app, autojump_clock):
    sup.service("svc", restart={"mode": "permanent"})
    async with Node.open(app.root) as node:
        await node.terminate(services(node).status("test:svc").pid)
        await trio.sleep(10)
        status = services(node).status("test:svc")
        assert status.state is State.STOPPED
        assert status.last_error.startswith("Canceled: terminated by")


# --------------------------------------------------------------------------- operator API


async def test_operator_lists_starts_stops_and_restarts(sup, app, log, autojump_clock):
    sup.supervisor("tree")
    sup.service("on", supervisor="tree")
    sup.service("off", supervisor="tree", auto_start=False)
    async with Node.open(app.root) as node:
        api = services(node)
        listed = {s.id: (s.kind, s.state, s.supervisor) for s in api.list()}
        assert listed == {
            "test:tree": ("supervisor", State.RUNNING, None),
            "test:on": ("process.service", State.RUNNING, "test:tree"),
            "test:off": ("process.service", State.UNKNOWN, "test:tree"),
        }
        await api.start("test:off")
        assert api.status("test:off").state is State.RUNNING
        await crash(node, "test:off")
        await trio.sleep(0.1)
        assert api.status("test:off").attempts == 1
        await trio.sleep(1)
        before = api.status("test:off").pid
        await api.restart("test:off")
        after = api.status("test:off")
        assert (after.state, after.attempts) == (State.RUNNING, 0)
        assert after.pid != before
        assert after.last_error.endswith("crash requested")
        await api.stop("test:on")
        assert api.status("test:on").state is State.STOPPED
        with pytest.raises(ActorError, match="NotFound"):
            await api.stop("test:nope")
    assert [t.new for t in log.of("test:off")] == [
        "Starting", "Running", "Failed", "Starting", "Running", "Stopping", "Stopped", "Starting", "Running",
        "Stopping", "Stopped"]


async def test_each_transition_is_one_log_line(sup, app, log, autojump_clock):
    sup.service("svc", args=["1s"], restart={"max_attempts": 1})
    async with Node.open(app.root):
        await trio.sleep(10)
    lines = [t.line for t in log.of("test:svc")]
    assert lines[:4] == [
        "service test:svc: Unknown -> Starting",
        "service test:svc: Starting -> Running",
        lines[2],
        "service test:svc: Failed -> Starting attempt=1",
    ]
    assert re.fullmatch(r"service test:svc: Running -> Failed attempt=1 delay=1\.000s "
                        r"error='Internal: .*crashed by itself'", lines[2])
    assert re.fullmatch(r"service test:svc: Running -> Exited attempt=2 reason='max_attempts reached' "
                        r"error='Internal: .*crashed by itself'", lines[5])


# --------------------------------------------------------------------------- strategies


@pytest.mark.parametrize(("strategy", "restarted"), [
    ("one_for_one", ["b"]),
    ("one_for_all", ["a", "b", "c"]),
    ("rest_for_one", ["b", "c"]),
])
async def test_strategies_restart_the_right_children_in_order(sup, app, log, autojump_clock, strategy, restarted):
    sup.supervisor("s", strategy=strategy)
    sup.service("c", supervisor="s", requires=["b"])  # declared out of order on purpose
    sup.service("a", supervisor="s")
    sup.service("b", supervisor="s", requires=["a"])
    sup.service("other", supervisor="s", auto_start=False)  # not running: never restarted
    async with Node.open(app.root) as node:
        api = services(node)
        before = {name: api.status(f"test:{name}").pid for name in "abc"}
        await crash(node, "test:b")
        await trio.sleep(5)
        after = {name: api.status(f"test:{name}").pid for name in "abc"}
        assert all(api.status(f"test:{name}").state is State.RUNNING for name in "abc")
        assert api.status("test:other").state is State.UNKNOWN
    assert sorted(name for name in "abc" if after[name] != before[name]) == restarted
    # Siblings stop last-started first, then everything starts in order.
    stopped = [t.id[5:] for t in log.all if t.new == "Stopping" and t.at < 5]
    assert stopped == [name for name in ("c", "a") if name in restarted]
    assert sorted(restarted, key=lambda name: pid_number(after[name])) == restarted
    assert all(api.status(f"test:{name}").attempts == (1 if name == "b" else 0) for name in "abc")


async def test_intensity_escalates_two_levels_and_stops_the_node(sup, app, log, autojump_clock):
    sup.supervisor("root", intensity=1, period="1m")
    sup.supervisor("mid", supervisor="root", intensity=2, period="1m")
    sup.service("leaf", supervisor="mid", args=["1s"], restart={"initial_delay": "0s"})
    sup.service("bystander", supervisor="root")
    # Node.open exits with the error itself, not an exception group.
    with pytest.raises(SupervisionError) as caught:
        async with Node.open(app.root) as node:
            api = services(node)
            await trio.sleep(3600)
    error = caught.value
    assert error.chain == ["test:root", "test:mid", "test:leaf"]
    leaf = error.failure.cause.cause
    assert re.fullmatch(r"failed \(Internal: .*crashed by itself\)", leaf.what)
    assert str(error) == ("supervision gave up: test:root gave up (more than 1 restart in 60s)"
                          " <- test:mid gave up (more than 2 restarts in 60s)"
                          f" <- test:leaf {leaf.what}")
    # mid gave up twice (its first life and the one root gave it), each after 3 crashes.
    assert len(log.of("test:mid", "Failed")) == 2
    assert len(log.starts("test:leaf")) == 6
    assert trio.current_time() == pytest.approx(6)
    assert api.status("test:bystander").state is State.STOPPED
    top = api.status("test:root")
    assert (top.state, top.last_error) == (State.STOPPED, str(error.failure))


async def test_a_supervisor_that_gives_up_is_restarted_by_its_parent(sup, app, log, autojump_clock):
    sup.supervisor("root", intensity=5, period="1m")
    sup.supervisor("mid", supervisor="root", intensity=1, period="1m")
    sup.service("leaf", supervisor="mid", restart={"initial_delay": "0s"})
    async with Node.open(app.root) as node:
        api = services(node)
        for _ in range(2):
            await crash(node, "test:leaf")
            await trio.sleep(1)
        assert [t.new for t in log.of("test:mid")][-3:] == ["Failed", "Starting", "Running"]
        leaf = api.status("test:leaf")
        assert (leaf.state, leaf.attempts) == (State.RUNNING, 0)  # a fresh supervisor, a fresh count


# --------------------------------------------------------------------------- the example app


SUPERVISED_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "supervised"


async def test_the_example_keeps_its_flaky_worker_running(log, autojump_clock):
    example = SUPERVISED_EXAMPLE
    async with Node.open(example) as node:
        await trio.sleep(120)
        api = services(node)
        states = {s.id: s.state for s in api.list()}
        assert states.pop("supervised:worker") in (State.RUNNING, State.FAILED)  # up, or about to be
        assert states == {"supervised:jobs": State.RUNNING, "supervised:tally": State.RUNNING}
    crashes = log.of("supervised:worker", "Failed")  # 20 % a second: it crashed, and came back
    assert len(log.starts("supervised:worker")) >= len(crashes) >= 3
    assert not log.of("supervised:tally", "Failed")


async def test_requests_to_a_supervisor_whose_loop_ended_are_answered_unavailable(autojump_clock):
    supervisor = Supervisor("test:s", None, Context(Tree({}, {})))
    answers = []

    async def ask(work):
        try:
            await supervisor.call(work)
        except ActorError as error:
            answers.append(error.kind)

    async with trio.open_nursery() as nursery:
        loop = trio.CancelScope()

        async def run_loop():
            with loop:
                await supervisor.run()

        nursery.start_soon(run_loop)
        nursery.start_soon(ask, trio.sleep_forever)  # the loop is busy with this one...
        await trio.sleep(1)
        nursery.start_soon(ask, trio.sleep_forever)  # ...while this one waits in its queue
        await trio.sleep(1)
        loop.cancel()
    assert answers == ["Unavailable", "Unavailable"]
    with pytest.raises(ActorError, match="Unavailable"):
        await supervisor.call(trio.sleep_forever)
