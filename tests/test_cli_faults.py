"""The ``luactor`` command line facing faults and signals, run as real subprocesses: one
``error:`` line and the documented exit code, never a traceback."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import LuactorProcess, luactor, unwritable
from test_store_faults import (
    a_file,
    a_file_above,
    a_newer_format,
    a_store,
    damage_pages,
    ticking_workflows,
    tree,
    workflow_app,
)

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------- stores

STORE_FAULTS = [(a_file, "is not a directory but a file"), (a_newer_format, "written by a newer luactor")]


@pytest.mark.parametrize(("make", "says"), STORE_FAULTS, ids=[make.__name__ for make, _ in STORE_FAULTS])
@pytest.mark.parametrize("command", [["run"], ["call", "test:double", "2"], ["test"]], ids=["run", "call", "test"])
def test_a_store_that_cannot_be_opened_is_one_line_and_exit_2(app, tmp_path, make, says, command):
    store = make(tmp_path)
    workflow_app(app, store)
    app.lua("double", "return { run = function(x) return 2 * x end }", kind="function.lua", method="run")
    before = tree(tmp_path / "store") if store.is_dir() else store.read_bytes()
    result = luactor(command[0], app.root, *command[1:])
    assert result.returncode == EXIT_USAGE
    assert error_lines(result.stderr) == [f"error: {_message(result.stderr)}"]
    assert f"workflow store {store} " in result.stderr and says in result.stderr
    assert (tree(tmp_path / "store") if store.is_dir() else store.read_bytes()) == before


def _message(stderr: str) -> str:
    return stderr.strip().removeprefix("error: ")


def test_a_second_node_on_a_store_is_refused_in_one_line(app, tmp_path):
    workflow_app(app, tmp_path / "store")
    app.lua("double", "return { run = function(x) return 2 * x end }", kind="function.lua", method="run")
    with LuactorProcess("run", app.root) as first:
        first.wait_for("node up")
        second = luactor("call", app.root, "test:double", "2")
        first.process.send_signal(signal.SIGINT)
        assert first.finish() == 0
    assert second.returncode == EXIT_USAGE
    assert error_lines(second.stderr) == [f"error: workflow store {tmp_path / 'store'} is already open for writing "
                                          "(by another process, or already in this one)"]


def test_workflows_on_a_damaged_store_say_so_in_one_line(tmp_path):
    store = a_store(tmp_path / "store", workflows=20, events=40)
    damage_pages(store, events_only=True)
    for command in (["list"], ["show", "w3"], ["history", "w3"]):
        result = luactor("workflows", command[0], store, *command[1:])
        assert result.returncode == EXIT_FAILED, command
        assert error_lines(result.stderr) == [f"error: {_message(result.stderr)}"], command
        assert f"workflow store {store} cannot be read: LMDB failed" in result.stderr


def test_workflows_on_a_store_of_a_newer_format_is_a_usage_error(tmp_path):
    store = a_newer_format(tmp_path)
    result = luactor("workflows", "list", store)
    assert result.returncode == EXIT_USAGE
    assert error_lines(result.stderr) == [f"error: {_message(result.stderr)}"]
    assert "has format 3, written by a newer luactor" in result.stderr


def test_workflows_reads_a_store_whose_directory_it_may_not_write(tmp_path):
    store = a_store(tmp_path / "store", workflows=2)
    (store / "lock.mdb").unlink()      # as in a copy of a store: LMDB's lock file is made by the first open
    with unwritable(store):
        result = luactor("workflows", "list", store, "--json")
    assert result.returncode == 0, result.stderr
    assert [w["id"] for w in json.loads(result.stdout)] == ["w0", "w1"]
    assert not (store / "lock.mdb").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root is not stopped by mode bits, and an immutable lock.mdb would kill "
                                              "the node that maps it (SIGBUS); test_store_faults reads lock-free "
                                              "beside a node through HistoryStore.open(lock=False)")
def test_workflows_reads_a_store_it_may_not_write_while_a_node_writes_it(app, tmp_path):
    store = ticking_workflows(app, tmp_path)
    with LuactorProcess("run", app.root) as node:
        node.wait_for("all started")
        with unwritable(store, store / "lock.mdb"):
            listings = [luactor("workflows", "list", store, "--json") for _ in range(5)]
        node.process.send_signal(signal.SIGINT)
        assert node.finish() == 0
    for listing in listings:
        assert listing.returncode == 0, listing.stderr
        assert {w["id"]: w["status"] for w in json.loads(listing.stdout)} == {f"wf-{i}": "running" for i in range(1, 6)}


# --------------------------------------------------------------------------- check


def test_check_names_the_store_entry_and_field_of_a_store_that_cannot_work(app, tmp_path):
    app.entry(name="on_a_file", kind="workflow.host", store=str(a_file(tmp_path)))
    app.entry(name="under_a_file", kind="workflow.host", store=str(a_file_above(tmp_path)))
    (tmp_path / "newer").mkdir()
    app.entry(name="newer", kind="workflow.host", store=str(a_newer_format(tmp_path / "newer")))
    app.entry(name="first", kind="workflow.host", store="./shared")
    app.entry(name="second", kind="workflow.host", store=str(app.root / "shared"))
    before = tree(tmp_path)
    result = luactor("check", app.root)
    assert result.returncode == EXIT_FAILED
    problems = result.stdout.splitlines()
    expected = {
        "test:on_a_file": "is not a directory but a file",
        "test:under_a_file": f"cannot be created: {tmp_path / 'above'} is a file",
        "test:newer": "has format 3, written by a newer luactor",
        "test:second": f"{app.root / 'shared'} is also the store of test:first",
    }
    assert len(problems) == len(expected), problems
    for problem, (entry, says) in zip(problems, expected.items()):
        assert problem.startswith(f"app/app.yaml: {entry}: field 'store': "), problem
        assert says in problem, problem
    assert error_lines(result.stderr) == ["error: 4 problems in " + str(app.root)]
    assert tree(tmp_path) == before      # nothing created, nothing changed


def test_check_is_content_with_a_store_that_will_work(app, tmp_path):
    workflow_app(app, tmp_path / "new" / "store")
    app.entry(name="defaulted", kind="workflow.host")
    assert luactor("check", app.root).returncode == 0
    assert not (tmp_path / "new").exists() and not (app.root / ".luactor").exists()


# --------------------------------------------------------------------------- Ctrl-C

SLOW = """
local time = require("time")
local logger = require("logger")
return { run = function()
  logger.warn("slow: started")
  time.sleep("60s")
  return "woke up"
end }
"""


@pytest.fixture
def slow(app):
    app.lua("quick", "return { run = function() return true end }", kind="function.lua", method="run",
            meta={"type": "test"})
    app.lua("slow", SLOW, kind="function.lua", method="run", modules=["time", "logger"], meta={"type": "test"})
    return app


@pytest.mark.parametrize("command", [["call", "test:slow"], ["test"]], ids=["call", "test"])
def test_ctrl_c_stops_call_and_test_with_130_and_one_line(slow, command):
    with LuactorProcess(command[0], slow.root, *command[1:]) as running:
        running.wait_for("slow: started")
        running.process.send_signal(signal.SIGINT)
        assert running.finish(timeout=20) == EXIT_INTERRUPTED
    assert [line for line in running.seen if "error" in line] == ["error: interrupted"], running.seen
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in running.seen), running.seen
    if command[0] == "test":   # the tests that ran are reported; no summary claims the run complete
        assert "PASS test:quick" in running.seen and not any(line.endswith(" failed") for line in running.seen)


STUBBORN = """
return { main = function()
  local events = process.events()
  while true do events:receive() end     -- hears CANCEL, and goes on
end }
"""


def test_run_shuts_down_on_the_first_signal_and_exits_at_once_on_the_second(app):
    app.lua("stubborn", STUBBORN)
    app.entry(name="svc", kind="process.service", process="test:stubborn", host=app.host,
              lifecycle={"auto_start": True, "stop_timeout": "60s"})
    with LuactorProcess("run", app.root) as node:
        node.wait_for("node up")
        node.process.send_signal(signal.SIGINT)
        node.wait_for("service test:svc: Running -> Stopping")
        node.process.send_signal(signal.SIGINT)
        assert node.finish(timeout=10) == EXIT_INTERRUPTED
    assert "received SIGINT again during shutdown: exiting now" in node.seen[-1]
    assert not any("Traceback" in line for line in node.seen)


def test_a_missing_store_parent_is_created(app, tmp_path):
    workflow_app(app, tmp_path / "deep" / "er" / "store")
    app.lua("double", "return { run = function(x) return 2 * x end }", kind="function.lua", method="run")
    result = luactor("call", app.root, "test:double", "21")
    assert (result.returncode, result.stdout.strip()) == (0, "42")
    assert (tmp_path / "deep" / "er" / "store" / "data.mdb").is_file()


def test_a_relative_data_directory_is_relative_to_the_working_directory(app, tmp_path):
    app.entry(name="workflows", kind="workflow.host")
    app.lua("double", "return { run = function(x) return 2 * x end }", kind="function.lua", method="run")
    work = tmp_path / "work"
    work.mkdir()
    result = luactor("call", app.root, "test:double", "1", "--data", "node-data", cwd=work)
    assert result.returncode == 0, result.stderr
    assert (work / "node-data" / "test_workflows" / "data.mdb").is_file()
    assert not (app.root / "node-data").exists()
