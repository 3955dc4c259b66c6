"""What a loaded application is: its entries, and the problems found in it.

An `Entry` holds a definition as the loader leaves it: references are full ids and
legacy field names are folded into their current ones, so code that runs an entry
reads one spelling of each field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .schema import kind_spec, source_path

__all__ = ["Entry", "Problem", "Registry", "RegistryError", "entry_problem", "lookup", "read_source"]

_UNSET: Any = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an application, located precisely enough to fix it.

    Warnings (what luactor accepts but ignores) are Problems too, kept apart from the
    ones that stop a load. `file` is the definition file as the user knows it (relative
    to the application directory's parent); `line` is only known for YAML syntax errors.
    """

    file: str
    entry: str | None
    field: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.entry:
            parts.append(self.entry)
        if self.field:
            parts.append(f"field {self.field!r}")
        parts.append(self.message)
        return ": ".join(parts)


class RegistryError(Exception):
    """Raised by `load_app` with every problem of the application, one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass
class Entry:
    """One registry entry: `fields` is its mapping without name, kind and meta."""

    id: str
    namespace: str
    name: str
    kind: str
    file: Path
    fields: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def source_path(self) -> Path | None:
        """The file named by `source: file://...`, relative to the YAML file, if any."""
        return source_path(self.file, self.fields.get("source"))

    @cached_property
    def source_text(self) -> str:
        """The Lua source, read on first use."""
        if self.source_path is None:
            raise ValueError(f"entry {self.id} has no file:// source")
        return read_source(self.source_path)

    def get(self, path: str, default: Any = _UNSET) -> Any:
        """Value of a dotted field such as "lifecycle.auto_start".

        A missing (or null) field gives `default` when one is passed, else the default the
        kind declares, so callers need not repeat the kind's defaults.
        """
        value = lookup(self.fields, path)
        if value is not None:
            return value
        if default is not _UNSET:
            return default
        spec = kind_spec(self.kind)
        declared = spec.field(path) if spec else None
        return declared.default if declared else None


def lookup(fields: dict[str, Any], path: str) -> Any:
    """Walk a dotted path through nested mappings; None when any step is absent."""
    value: Any = fields
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def read_source(path: Path) -> str:
    """A Lua source file's text."""
    # utf-8-sig: Lua's own loadfile skips a byte-order mark, so editors that write one work.
    return path.read_text(encoding="utf-8-sig")


class Registry:
    """The validated entries of one application, by id, in declaration order.

    `warnings` name what the application asks for that luactor ignores.
    """

    def __init__(self, app_dir: Path, entries: dict[str, Entry], warnings: list[Problem] | None = None):
        self.app_dir = app_dir
        self.entries = entries
        self.warnings = list(warnings or ())

    def __getitem__(self, entry_id: str) -> Entry:
        try:
            return self.entries[entry_id]
        except KeyError:
            raise KeyError(f"no entry {entry_id!r} in {self.app_dir}") from None

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def of_kind(self, *kinds: str) -> list[Entry]:
        """Entries of any of `kinds`, in declaration order."""
        return [entry for entry in self.entries.values() if entry.kind in kinds]


def entry_problem(registry: Registry, entry: Entry, field: str | None, message: str) -> Problem:
    """A problem located the way the loader locates its own (file relative to the app's parent)."""
    try:
        shown = entry.file.relative_to(registry.app_dir.parent).as_posix()
    except ValueError:
        shown = str(entry.file)
    return Problem(shown, entry.id, field, message)
