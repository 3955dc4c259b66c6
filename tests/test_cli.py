"""The ``luactor`` command line, run as a real subprocess against apps built in tmp dirs."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest

from actors import cli

TIMEOUT = 60


def luactor(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actors.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- call ---------------------------------------------------------------------------------------


@pytest.fixture
def calc(app):
    app.lua("sum", """
        return { run = function(a, b, opts)
          return { sum = a + b, label = opts.label, items = { a, b }, raw = "\\255\\0", empty = {} }
        end }
    """, kind="function.lua", method="run")
    app.lua("strict", """
        return { run = function(x)
          if x == nil then error(errors.new({ kind = errors.INVALID, message = "x is required" })) end
          if x == "soft" then return nil, errors.new({ kind = errors.NOT_FOUND, message = "no such x" }) end
          return x
        end }
    """, kind="function.lua", method="run")
    return app


def test_call_prints_result_as_json(calc):
    result = luactor("call", calc.root, "test:sum", "1", "2.5", '{"label": "héllo"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "sum": 3.5, "label": "héllo", "items": [1, 2.5], "raw": {"$bytes": "/wA="}, "empty": {},
    }
    assert len(lines(result.stdout)) == 1


def test_call_error_exits_1_with_kind_and_message(calc):
    raised = luactor("call", calc.root, "test:strict")
    assert raised.returncode == 1
    assert raised.stdout == ""
    assert lines(raised.stderr)[-1] == "error: Invalid: x is required"

    returned = luactor("call", calc.root, "test:strict", '"soft"')
    assert returned.returncode == 1
    assert lines(returned.stderr)[-1] == "error: NotFound: no such x"


def test_call_unknown_function_is_not_found(calc):
    result = luactor("call", calc.root, "test:nope")
    assert result.returncode == 1
    assert "error: NotFound:" in result.stderr and "test:nope" in result.stderr


def test_call_bad_json_argument_names_it(calc):
    result = luactor("call", calc.root, "test:strict", "1", "bare word", "3")
    assert result.returncode == 2
    assert "argument 2 is not valid JSON" in result.stderr
    assert "'bare word'" in result.stderr


def test_missing_app_directory_is_named(tmp_path):
    missing = tmp_path / "no-such-app"
    for command in (["call", missing, "x:y"], ["check", missing]):
        result = luactor(*command)
        assert result.returncode == 2
        assert str(missing) in result.stderr and "not found" in result.stderr


def test_call_on_app_that_does_not_load_lists_problems(tmp_path):
    app = bad_app(tmp_path)
    result = luactor("call", app, "bad:anything")
    assert result.returncode == 2
    assert "does not load (4 problems)" in result.stderr
    assert "bad:strange" in result.stderr and "bad:broken" in result.stderr


# -- test ---------------------------------------------------------------------------------------


@pytest.fixture
def suite(app):
    test = {"type": "test"}
    app.lua("t_add", "return { run = function() assert(1 + 1 == 2) end }",
            kind="function.lua", method="run", meta={**test, "suite": "math"})
    app.lua("t_raises", "return { run = function() error('two is not three') end }",
            kind="function.lua", method="run", meta={**test, "suite": "math"})
    app.lua("t_soft", "return { run = function() return nil, 'soft failure' end }",
            kind="function.lua", method="run", meta={**test, "suite": "text"})
    app.lua("t_upper", "return { run = function() assert(string.upper('a') == 'A'); return true end }",
            kind="function.lua", method="run", meta={**test, "suite": "text"})
    app.lua("helper", "return { run = function() error('not a test, never run') end }",
            kind="function.lua", method="run", meta={"suite": "math"})
    return app


def test_test_command_reports_progress_and_summary(suite):
    result = luactor("test", suite.root)
    assert result.returncode == 1
    out = lines(result.stdout)
    assert len(out) == 5
    assert out[0] == "PASS test:t_add"
    assert re.fullmatch(r"FAIL test:t_raises: Internal: \S*t_raises\.lua:1: two is not three", out[1]), out[1]
    assert out[2:4] == ["FAIL test:t_soft: Unknown: soft failure", "PASS test:t_upper"]
    assert result.stdout.splitlines()[-1] == "2 passed, 2 failed"


def test_test_command_suite_and_filter(suite):
    text = luactor("test", suite.root, "--suite", "text")
    assert text.returncode == 1
    assert lines(text.stdout) == ["FAIL test:t_soft: Unknown: soft failure", "PASS test:t_upper",
                                  "1 passed, 1 failed"]

    passing = luactor("test", suite.root, "--suite", "math", "--filter", "add")
    assert passing.returncode == 0
    assert lines(passing.stdout) == ["PASS test:t_add", "1 passed, 0 failed"]


def test_test_command_selecting_nothing_fails_loudly(suite):
    result = luactor("test", suite.root, "--filter", "no-such-test")
    assert result.returncode == 5
    assert result.stdout.splitlines()[-1] == "0 passed, 0 failed"
    assert "no test selected" in result.stderr


# -- check --------------------------------------------------------------------------------------


def bad_app(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "ok.lua").write_text("return { main = function() end }\n")
    (root / "broken.lua").write_text("return { main = function()\n  local = 1\nend }\n")
    (root / "app.yaml").write_text(textwrap.dedent("""\
        namespace: bad
        entries:
          - {name: host, kind: process.host}
          - {name: strange, kind: process.magic}
          - {name: lost, kind: function.lua, source: file://lost.lua, method: run}
          - {name: broken, kind: process.lua, source: file://broken.lua, method: main}
          - name: user
            kind: process.lua
            source: file://ok.lua
            method: main
            imports: {lib: bad:nothing}
    """))
    return root


def test_check_lists_every_problem(tmp_path):
    result = luactor("check", bad_app(tmp_path))
    assert result.returncode == 1
    out = lines(result.stdout)
    assert len(out) == 4
    assert any(line.startswith("bad/app.yaml: bad:strange: field 'kind': unknown kind") for line in out)
    assert any("bad:lost: field 'source': file not found: bad/lost.lua" in line for line in out)
    assert any("bad:broken: field 'source': Lua syntax error: bad/broken.lua:2:" in line for line in out)
    assert any("bad:user: field 'imports.lib': reference to missing entry bad:nothing" in line for line in out)
    assert "4 problems" in result.stderr


def test_check_good_app(suite):
    result = luactor("check", suite.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok: 6 entries"


def test_console_script_is_installed(suite):
    script = shutil.which("luactor")
    if script is None:
        pytest.skip("the luactor console script is not on PATH")
    result = subprocess.run([script, "check", str(suite.root)], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 6 entries"


# -- run ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_until_signal_then_exit_cleanly(app, signum):
    process = subprocess.Popen([sys.executable, "-m", "actors.cli", "run", str(app.root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [seen.put(line) for line in process.stderr], daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = seen.get(timeout=max(0.0, deadline - time.monotonic()))
            if "node up: 1 host" in line:
                break
        assert " INFO " in line
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    rest = []
    while not seen.empty():
        rest.append(seen.get())
    assert any(f"received {signum.name}, shutting down" in line for line in rest), rest
    assert "node stopped" in rest[-1]


def test_run_on_missing_app(tmp_path):
    result = luactor("run", tmp_path / "gone")
    assert result.returncode == 2
    assert str(tmp_path / "gone") in result.stderr


# -- in-process: JSON rendering and bench ---------------------------------------------------------


def test_to_json_keeps_output_valid_json():
    value = {1: b"\xff", "text": b"plain", "n": [float("inf"), float("-inf")], 2.5: None}
    assert cli.to_json(value) == {"1": {"$bytes": "/w=="}, "text": {"$bytes": "cGxhaW4="},
                                  "n": ["Infinity", "-Infinity"], "2.5": None}
    assert cli.to_json(float("nan")) == "NaN"


def test_bench_hands_its_arguments_to_benchmarks(monkeypatch):
    seen = []
    fake = types.ModuleType("benchmarks")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "benchmarks", fake)
    assert cli.main(["bench", "--quick", "--peer", "trio"]) == 3
    assert seen == [["--quick", "--peer", "trio"]]


def test_bench_without_benchmarks_main(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "benchmarks", types.ModuleType("benchmarks"))
    assert cli.main(["bench"]) == 2
    assert "no main()" in capsys.readouterr().err


def test_unknown_arguments_are_usage_errors(capsys):
    assert cli.main(["check", "somewhere", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_run_stops_with_the_chain_of_failures_when_the_root_supervisor_gives_up(app):
    app.lua("crasher", 'return { main = function() error("crashed by itself") end }')
    app.entry(name="root", kind="supervisor", strategy="one_for_one", intensity=1, period="1m")
    app.entry(name="svc", kind="process.service", process="test:crasher", host=app.host, supervisor="test:root",
              lifecycle={"auto_start": True, "restart": {"initial_delay": "0s", "mode": "permanent"}})
    result = luactor("run", app.root)
    assert result.returncode == 1
    last = lines(result.stderr)[-1]
    assert last.startswith("error: node stopped: supervision gave up: test:root gave up"), last
    assert "test:svc failed (Internal: " in last and "crashed by itself" in last
