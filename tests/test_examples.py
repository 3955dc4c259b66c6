"""Every example ships Lua tests, and they pass under `luactor test`, as the README shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import luactor

from actors.registry import load_app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["hello", "orders", "supervised"])
def test_the_examples_own_tests_pass(name, tmp_path):
    tests = [entry.id for entry in load_app(EXAMPLES / name).of_kind("function.lua") if entry.meta.get("type") == "test"]
    assert len(tests) >= 2, f"examples/{name} has too few tests: {tests}"
    result = luactor("test", EXAMPLES / name, "--data", tmp_path)   # the demo's own store stays as it is
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"PASS {test}" for test in tests] + [f"{len(tests)} passed, 0 failed"]
