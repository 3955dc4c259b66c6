"""Helpers of the loader's tests: applications written from YAML text, and their problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

from actors.registry import Problem, check_app, schema

OK_LUA = "return { main = function() end }\n"


def write_app(root: Path, files: dict[str, str]) -> Path:
    """Write an application under root/app from {relative path: text} and return its directory."""
    app = root / "app"
    app.mkdir(exist_ok=True)
    for name, text in files.items():
        path = app / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return app


def located(problems: list[Problem]) -> set[tuple[str, str | None, str | None]]:
    return {(problem.file, problem.entry, problem.field) for problem in problems}


def only_problem(app: Path) -> Problem:
    problems = check_app(app)
    assert len(problems) == 1, problems
    return problems[0]


def isolate_kinds(monkeypatch) -> None:
    """Let a test register kinds without leaking them into other tests."""
    monkeypatch.setattr(schema, "_kinds", dict(schema._known_kinds()))
