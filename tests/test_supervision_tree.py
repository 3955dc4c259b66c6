"""Before anything runs: the tree's shape and order, strategies, and bad input.

Bad input is refused when the app loads, naming the file and the entry:
the loader catches most of it (cycles, missing or wrong-kind references,
bad durations, unknown strategies); supervision adds what only it can see.
"""

from __future__ import annotations

import pytest

from actors import Node, RegistryError
from actors.registry import check_app, load_app
from supervision.config import ConfigError, ServiceSpec, SupervisorSpec
from supervision.policy import RestartMode
from supervision.strategy import Strategy, restart_set
from supervision.tree import ROOT, build_tree


def service(app, name, *, requires=(), supervisor=None, auto_start=False, **fields):
    lifecycle = {"auto_start": auto_start, "requires": [f"test:{r}" for r in requires]}
    lifecycle.update(fields.pop("lifecycle", {}))
    entry = {"name": name, "kind": "process.service", "process": "test:proc", "host": app.host,
             "lifecycle": lifecycle, **fields}
    if supervisor:
        entry["supervisor"] = f"test:{supervisor}"
    return app.entry(**entry)


def supervisor(app, name, *, parent=None, requires=(), **fields):
    entry = {"name": name, "kind": "supervisor", **fields}
    if parent:
        entry["supervisor"] = f"test:{parent}"
    if requires:
        entry.setdefault("lifecycle", {})["requires"] = [f"test:{r}" for r in requires]
    return app.entry(**entry)


@pytest.fixture
def proc(app):
    app.lua("proc", "return { main = function() end }")
    return app


def short(ids):
    return [ident.split(":")[1] for ident in ids]


# --------------------------------------------------------------------------- order


def test_diamond_levels_and_order(proc):
    service(proc, "d", requires=["b", "c"])
    service(proc, "c", requires=["a"])
    service(proc, "b", requires=["a", "host"])  # requiring a host orders nothing
    service(proc, "a")
    tree = build_tree(load_app(proc.root))
    assert short(tree.children[ROOT]) == ["a", "c", "b", "d"]  # by level, then declaration
    assert [short(level) for level in tree.levels(tree.children[ROOT])] == [["a"], ["c", "b"], ["d"]]


def test_requires_between_subtrees_orders_their_top_supervisors(proc):
    supervisor(proc, "web")
    supervisor(proc, "api", parent="web")
    supervisor(proc, "data")
    service(proc, "handler", supervisor="api", requires=["db"])
    service(proc, "db", supervisor="data")
    service(proc, "cache", supervisor="web", requires=["web"])  # its own supervisor: nothing to order
    tree = build_tree(load_app(proc.root))
    assert short(tree.children[ROOT]) == ["data", "web"]
    assert short(tree.children["test:web"]) == ["api", "cache"]


def test_what_boots(proc):
    supervisor(proc, "all", lifecycle={"auto_start": True})
    supervisor(proc, "inner", parent="all")
    supervisor(proc, "some")
    service(proc, "deep", supervisor="inner")            # under a supervisor that starts everything
    service(proc, "chosen", supervisor="some", auto_start=True)
    service(proc, "left", supervisor="some")
    tree = build_tree(load_app(proc.root))
    assert sorted(short(tree.boot)) == ["chosen", "deep"]


def test_a_cycle_only_visible_through_supervisors_is_refused(proc):
    supervisor(proc, "x")
    supervisor(proc, "y")
    service(proc, "a", supervisor="x", requires=["b"])
    service(proc, "b", supervisor="y")
    service(proc, "c", supervisor="y", requires=["d"])
    service(proc, "d", supervisor="x")
    registry = load_app(proc.root)  # each requires alone is fine
    with pytest.raises(RegistryError) as caught:
        build_tree(registry)
    [problem] = caught.value.problems
    assert (problem.file, problem.entry, problem.field) == ("app/app.yaml", "test:a", "lifecycle.requires[0]")
    assert problem.message == ("dependency cycle between supervisors: test:x -> test:y -> test:x "
                               "(test:a requires test:b, test:c requires test:d)")


# --------------------------------------------------------------------------- strategies


@pytest.mark.parametrize(("strategy", "failed", "expected"), [
    (Strategy.ONE_FOR_ONE, "b", ["b"]),
    (Strategy.ONE_FOR_ALL, "b", ["a", "b", "c", "d"]),
    (Strategy.REST_FOR_ONE, "b", ["b", "c", "d"]),
    (Strategy.REST_FOR_ONE, "d", ["d"]),
    (Strategy.REST_FOR_ONE, "a", ["a", "b", "c", "d"]),
])
def test_restart_set(strategy, failed, expected):
    assert restart_set(strategy, list("abcd"), failed) == expected


# --------------------------------------------------------------------------- entries


def test_service_spec_defaults_and_values(proc):
    service(proc, "plain")
    service(proc, "tuned", args=[1, "two"], lifecycle={
        "start_timeout": "2s", "stop_timeout": "500ms", "stable_threshold": "1m",
        "restart": {"initial_delay": "250ms", "max_delay": "1m30s", "backoff_factor": 1.5,
                    "jitter": 0.2, "max_attempts": 4, "mode": "permanent"}})
    registry = load_app(proc.root)
    plain = ServiceSpec.from_entry(registry["test:plain"])
    assert (plain.start_timeout, plain.stop_timeout, plain.args) == (10.0, 10.0, ())
    assert (plain.policy.mode, plain.policy.max_attempts, plain.policy.stable_threshold) == \
        (RestartMode.TRANSIENT, 0, 5.0)
    tuned = ServiceSpec.from_entry(registry["test:tuned"])
    assert (tuned.process, tuned.host, tuned.args) == ("test:proc", "test:host", (1, "two"))
    assert (tuned.start_timeout, tuned.stop_timeout) == (2.0, 0.5)
    policy = tuned.policy
    assert (policy.initial_delay, policy.max_delay, policy.backoff_factor, policy.jitter) == (0.25, 90.0, 1.5, 0.2)
    assert (policy.max_attempts, policy.mode, policy.stable_threshold) == (4, RestartMode.PERMANENT, 60.0)


def test_supervisor_spec_defaults(proc):
    supervisor(proc, "s")
    spec = SupervisorSpec.from_entry(load_app(proc.root)["test:s"])
    assert (spec.strategy, spec.intensity, spec.period) == (Strategy.ONE_FOR_ONE, 3, 5.0)


@pytest.mark.parametrize(("kind", "fields", "field", "message"), [
    ("supervisor", {"period": "0s"}, "period", "must be longer than zero, got '0s'"),
    ("process.service", {"lifecycle": {"start_timeout": 0}}, "lifecycle.start_timeout",
     "must be longer than zero, got 0"),
    ("process.service", {"lifecycle": {"restart": {"max_delays": "1s"}}}, "lifecycle.restart",
     "unknown keys ['max_delays']"),
])
def test_values_the_loader_lets_through_are_refused_when_the_node_opens(proc, kind, fields, field, message):
    (service if kind == "process.service" else supervisor)(proc, "bad", **fields)
    registry = load_app(proc.root)
    read = ServiceSpec.from_entry if kind == "process.service" else SupervisorSpec.from_entry
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        read(registry["test:bad"])
    assert caught.value.field == field


async def test_node_open_reports_them_as_registry_problems(proc, autojump_clock):
    supervisor(proc, "bad", period="0s")
    # Alone, or as the one member of the node nursery's exception group.
    with pytest.RaisesGroup(RegistryError, allow_unwrapped=True) as caught:
        async with Node.open(proc.root):
            pass
    error = caught.value if isinstance(caught.value, RegistryError) else caught.value.exceptions[0]
    [problem] = error.problems
    assert str(problem) == "app/app.yaml: test:bad: field 'period': must be longer than zero, got '0s'"


def test_luactor_check_reports_them_too(proc):
    supervisor(proc, "bad", period="0s")
    service(proc, "svc", lifecycle={"start_timeout": "0s"})
    assert [str(problem) for problem in check_app(proc.root)] == [
        "app/app.yaml: test:bad: field 'period': must be longer than zero, got '0s'",
        "app/app.yaml: test:svc: field 'lifecycle.start_timeout': must be longer than zero, got '0s'",
    ]


# --------------------------------------------------------------------------- rejected at load


@pytest.mark.parametrize(("build", "entry", "field", "message"), [
    pytest.param(lambda app: (service(app, "db", requires=["api"]), service(app, "api", requires=["db"])),
                 "test:db", "lifecycle.requires[0]", "dependency cycle (startup): test:db -> test:api -> test:db",
                 id="requires cycle"),
    pytest.param(lambda app: service(app, "svc", process="test:nothing"),
                 "test:svc", "process", "reference to missing entry test:nothing", id="missing process"),
    pytest.param(lambda app: service(app, "svc", process="test:host"),
                 "test:svc", "process", "test:host is a process.host, expected process.lua or workflow.lua",
                 id="process of the wrong kind"),
    pytest.param(lambda app: service(app, "svc", host="test:elsewhere"),
                 "test:svc", "host", "reference to missing entry test:elsewhere", id="missing host"),
    pytest.param(lambda app: service(app, "svc", host="test:proc"),
                 "test:svc", "host",
                 "test:proc is a process.lua, expected process.host or workflow.host or temporal.worker",
                 id="host of the wrong kind"),
    pytest.param(lambda app: service(app, "svc", lifecycle={"stop_timeout": "-1s"}),
                 "test:svc", "lifecycle.stop_timeout", "invalid duration '-1s': must not be negative",
                 id="negative duration"),
    pytest.param(lambda app: service(app, "svc", lifecycle={"restart": {"initial_delay": "soon"}}),
                 "test:svc", "lifecycle.restart.initial_delay", "invalid duration 'soon'",
                 id="malformed duration"),
    pytest.param(lambda app: supervisor(app, "s", period="5 seconds"),
                 "test:s", "period", "invalid duration '5 seconds'", id="malformed period"),
    pytest.param(lambda app: supervisor(app, "s", strategy="one_for_some"),
                 "test:s", "strategy",
                 "must be one of one_for_one, one_for_all, rest_for_one, got 'one_for_some'",
                 id="unknown strategy"),
    pytest.param(lambda app: supervisor(app, "s", parent="s"),
                 "test:s", "supervisor", "dependency cycle (startup): test:s -> test:s",
                 id="supervisor of itself"),
    pytest.param(lambda app: service(app, "svc", supervisor="proc"),
                 "test:svc", "supervisor", "test:proc is a process.lua, expected supervisor",
                 id="supervisor of the wrong kind"),
])
def test_bad_input_is_rejected_at_load_naming_file_and_entry(proc, build, entry, field, message):
    build(proc)
    problems = check_app(proc.root)
    assert [(p.file, p.entry, p.field) for p in problems] == [("app/app.yaml", entry, field)]
    assert problems[0].message.startswith(message)
