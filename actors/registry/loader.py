"""Load an application directory into a validated registry of entries.

The whole tree is checked before anything runs and every problem is reported at once, so a
user fixes an application in one round rather than one error per attempt. The loader knows
Wippy's file rules (definition files, namespaces, references relative to a namespace, field
aliases) but no kind: what each kind may contain comes from its declaration (see `schema`).
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import lupa.lua54
import yaml

from .model import Entry, Problem, Registry, RegistryError, lookup, read_source
from .schema import NAME, CheckContext, KindSpec, kind_names, kind_spec, show

__all__ = ["CheckReport", "check_app", "check_report", "load_app"]

#: Top-level keys of a file of entries; anything else there is ignored (and said so).
_FILE_KEYS = ("version", "namespace", "entries")
#: Keys of an entry that are not among its fields.
_ENTRY_KEYS = ("name", "kind", "meta")


@dataclass(frozen=True)
class CheckReport:
    """What `luactor check` reports: the problems that stop the application, and the
    warnings about what it asks for that luactor ignores."""

    registry: Registry
    problems: list[Problem]
    warnings: list[Problem]


def load_app(path: str | os.PathLike[str]) -> Registry:
    """Load and validate the application at `path`; raise `RegistryError` listing every problem."""
    report = _Loader(Path(path)).load()
    if report.problems:
        raise RegistryError(report.problems)
    return report.registry


def check_report(path: str | os.PathLike[str]) -> CheckReport:
    """Every problem and warning of the application at `path`.

    Once the loader is content, the checks that installed packages declare under the
    ``luactor.checks`` entry point group (``check(registry) -> list[Problem]``) run too:
    what a component or host would otherwise only refuse when a node starts (e.g. a
    supervisor's ``period: 0``). What a check would accept but ignore, it adds to
    ``registry.warnings``.
    """
    report = _Loader(Path(path)).load()
    if not report.problems:
        for check in sorted(entry_points(group="luactor.checks"), key=lambda point: point.name):
            report.problems.extend(check.load()(report.registry))
        report.warnings[:] = report.registry.warnings
    return report


def check_app(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem of the application at `path` (empty when it loads and would start)."""
    return check_report(path).problems


class LuaSyntaxChecker:
    """Compiles Lua sources without running them; one Lua state serves a whole load."""

    def __init__(self) -> None:
        runtime = lupa.lua54.LuaRuntime(register_eval=False, register_builtins=False)
        self._load = runtime.globals().load
        self._env = runtime.table()
        self._errors: dict[Path, str | None] = {}

    def syntax_error(self, path: Path, chunkname: str) -> str | None:
        """The compile error of the file at `path` (with its line), or None if it compiles."""
        if path not in self._errors:
            self._errors[path] = self._compile(path, chunkname)
        return self._errors[path]

    def _compile(self, path: Path, chunkname: str) -> str | None:
        try:
            text = read_source(path)
        except (OSError, UnicodeDecodeError) as error:
            return f"cannot read {chunkname}: {error}"
        # Mode "t" refuses precompiled binary chunks, which the sandbox never allows.
        result = self._load(text, "@" + chunkname, "t", self._env)
        if isinstance(result, tuple) and result[0] is None:
            return f"Lua syntax error: {result[1]}"
        return None


class _Loader:
    """One load of one application: reads every definition file, then checks the whole.

    Entries are checked as written (so every message names the field the user wrote),
    then their references are made full ids and aliased fields folded into their
    current names, which is how the registry hands them on.
    """

    def __init__(self, app_dir: Path):
        self.app_dir = app_dir.resolve()
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.parsed: list[Entry] = []  # every well-formed entry, duplicates included
        self.entries: dict[str, Entry] = {}  # the first entry of each id

    def load(self) -> CheckReport:
        if not self.app_dir.is_dir():
            self.problems.append(Problem(str(self.app_dir), None, None, "application directory not found"))
            return self._report()
        files = self._yaml_files()
        for path in files:
            self._read_file(path)
        for entry in self.parsed:
            spec = kind_spec(entry.kind)
            if spec is not None:
                self._check_fields(entry, spec)
                self._warn_unknown_fields(entry, spec)
                _resolve_references(entry, spec)
        self._check_references_and_cycles()
        for entry in self.parsed:
            spec = kind_spec(entry.kind)
            if spec is not None:
                _fold_aliases(entry, spec)
        self._sort(files)
        return self._report()

    def _report(self) -> CheckReport:
        return CheckReport(Registry(self.app_dir, self.entries, self.warnings), self.problems, self.warnings)

    def display(self, path: Path) -> str:
        try:
            return path.relative_to(self.app_dir.parent).as_posix()
        except ValueError:
            return str(path)

    @cached_property
    def lua(self) -> LuaSyntaxChecker:
        return LuaSyntaxChecker()

    def _problem(
        self, file: Path, entry: str | None, field_path: str | None, message: str, line: int | None = None
    ) -> None:
        self.problems.append(Problem(self.display(file), entry, field_path, message, line))

    def _warn(self, file: Path, entry: str | None, field_path: str | None, message: str) -> None:
        self.warnings.append(Problem(self.display(file), entry, field_path, message))

    # ----------------------------------------------------------------------- reading

    def _yaml_files(self) -> list[Path]:
        """Every YAML file under the app in a stable order, skipping hidden directories (.git, ...)."""
        found = []
        for directory, subdirectories, files in os.walk(self.app_dir):
            subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
            found += [Path(directory, name) for name in files if name.endswith((".yaml", ".yml"))]
        return sorted(found, key=lambda path: path.relative_to(self.app_dir).parts)

    def _read_file(self, path: Path) -> None:
        """Read a definition file: a `namespace` with a list of `entries`, or with one entry's
        `name`, `kind` and fields at the top level. Other YAML files are not definitions."""
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark else None
            detail = " ".join(part for part in (error.context, error.problem) if part)
            self._problem(path, None, None, f"YAML syntax error: {detail}", line)
            return
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            self._problem(path, None, None, f"cannot read: {error}")
            return
        if not isinstance(document, dict) or "namespace" not in document:
            return
        if "entries" in document:
            raw_entries = [] if document["entries"] is None else document["entries"]  # all commented out
            for key in document:
                if key not in _FILE_KEYS:
                    self._warn(path, None, str(key), "not a key of a definition file; ignored")
        elif "name" in document and "kind" in document:
            raw_entries = [{key: value for key, value in document.items() if key not in ("namespace", "version")}]
        else:
            if "name" in document or "kind" in document:
                has, lacks = ("name", "kind") if "name" in document else ("kind", "name")
                message = (f"has 'namespace' and '{has}' but no '{lacks}', so it is not read as a definition "
                           "file (one entry needs namespace, name and kind; several need 'entries')")
                self._warn(path, None, None, message)
            return
        namespace = document["namespace"]
        version = document.get("version")
        if version is not None and str(version) != "1.0":
            self._problem(path, None, "version", f"unsupported version {version!r} (expected \"1.0\")")
        if not isinstance(namespace, str) or not NAME.fullmatch(namespace):
            message = f"must be a name without ':' or spaces, got {show(namespace)}"
            self._problem(path, None, "namespace", message)
            return
        if not isinstance(raw_entries, list):
            self._problem(path, None, "entries", f"must be a list, got {show(raw_entries)}")
            return
        for position, raw in enumerate(raw_entries, start=1):
            self._read_entry(path, namespace, f"entry #{position}", raw)

    def _read_entry(self, path: Path, namespace: str, where: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            self._problem(path, None, None, f"{where} must be a mapping, got {show(raw)}")
            return
        name, kind = raw.get("name"), raw.get("kind")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            what = "has no name" if name is None else f"has an invalid name {show(name)} (no ':' or spaces)"
            kind_note = f" (kind {kind})" if isinstance(kind, str) else ""
            self._problem(path, None, "name", f"{where}{kind_note} {what}")
            return
        entry_id = f"{namespace}:{name}"
        if not isinstance(kind, str) or not kind:
            self._problem(path, entry_id, "kind", f"missing kind (one of {', '.join(kind_names())})")
            return
        meta = raw.get("meta")
        if meta is not None and not isinstance(meta, dict):
            self._problem(path, entry_id, "meta", f"must be a mapping, got {show(meta)}")
        fields = {key: value for key, value in raw.items() if key not in _ENTRY_KEYS}
        entry = Entry(entry_id, namespace, name, kind, path, fields, meta if isinstance(meta, dict) else {})
        first = self.entries.setdefault(entry_id, entry)
        if first is not entry:
            self._problem(path, entry_id, None, f"duplicate id, first defined in {self.display(first.file)}")
        if kind_spec(kind) is None:
            self._problem(path, entry_id, "kind", f"unknown kind {kind!r} (known: {', '.join(kind_names())})")
        self.parsed.append(entry)

    # ----------------------------------------------------------------------- checking

    def _check_fields(self, entry: Entry, spec: KindSpec) -> None:
        for section in spec.sections():
            value = lookup(entry.fields, section)
            if value is not None and not isinstance(value, dict):
                self._problem(entry.file, entry.id, section, f"must be a mapping, got {show(value)}")
        context = CheckContext(entry.file, self.display, self.lua.syntax_error)
        for spec_field in spec.fields:
            value = lookup(entry.fields, spec_field.path)
            if value is None:
                given_as_alias = any(lookup(entry.fields, alias.path) is not None for alias in spec.aliases(spec_field.path))
                if spec_field.required and not given_as_alias:
                    self._problem(entry.file, entry.id, spec_field.path, "required field is missing")
                continue
            for sub, message in spec_field.type.problems(value, context):
                self._problem(entry.file, entry.id, spec_field.path + sub, message)
            target = spec_field.alias_of
            if target and not spec_field.joins and lookup(entry.fields, target) is not None:
                message = f"another name for {target!r}: give one of them, not both"
                self._problem(entry.file, entry.id, spec_field.path, message)

    def _warn_unknown_fields(self, entry: Entry, spec: KindSpec) -> None:
        """Warn of each field the kind does not declare: luactor would silently ignore it."""
        declared = {spec_field.path for spec_field in spec.fields}
        sections = set(spec.sections())

        def walk(mapping: dict[Any, Any], prefix: str) -> None:
            for key, value in mapping.items():
                path = f"{prefix}{key}"
                if path in declared:
                    continue
                if path in sections:
                    if isinstance(value, dict):
                        walk(value, path + ".")
                    continue
                message = f"not a {entry.kind} field luactor reads; ignored"
                close = difflib.get_close_matches(path, declared, n=1, cutoff=0.75)
                self._warn(entry.file, entry.id, path, f"{message} (did you mean {close[0]!r}?)" if close else message)

        walk(entry.fields, "")

    def _check_references_and_cycles(self) -> None:
        """Check every reference's target, and collect the ordering edges to look for cycles."""
        edges: dict[str, list[tuple[Entry, str, Entry]]] = defaultdict(list)
        for entry in self.parsed:
            spec = kind_spec(entry.kind)
            for spec_field in spec.fields if spec else ():
                value = lookup(entry.fields, spec_field.path)
                for sub, target_id, kinds in spec_field.type.references(value):
                    field_path = spec_field.path + sub
                    target = self.entries.get(target_id)
                    if target is None:
                        self._problem(entry.file, entry.id, field_path, self._missing(target_id))
                    elif kinds and target.kind not in kinds:
                        message = f"{target_id} is a {target.kind}, expected {' or '.join(kinds)}"
                        self._problem(entry.file, entry.id, field_path, message)
                    elif spec_field.ordering and self.entries[entry.id] is entry:
                        edges[spec_field.ordering].append((entry, field_path, target))
        for relation, relation_edges in edges.items():
            for cycle in _cycles(relation_edges):
                start, field_path = cycle[0]
                chain = " -> ".join([entry.id for entry, _ in cycle] + [start.id])
                self._problem(start.file, start.id, field_path, f"dependency cycle ({relation}): {chain}")

    def _missing(self, target_id: str) -> str:
        message = f"reference to missing entry {target_id}"
        close = difflib.get_close_matches(target_id, self.entries, n=1, cutoff=0.8)
        return f"{message} (did you mean {close[0]}?)" if close else message

    def _sort(self, files: list[Path]) -> None:
        """Group problems and warnings by file, then entry, in declaration order, as a user reads them."""
        file_order = {self.display(path): index for index, path in enumerate(files)}
        entry_order: dict[str, int] = {}
        for index, entry in enumerate(self.parsed):
            entry_order.setdefault(entry.id, index)

        def position(problem: Problem) -> tuple[int, int]:
            return file_order[problem.file], entry_order.get(problem.entry, -1)

        self.problems.sort(key=position)
        self.warnings.sort(key=position)


# --------------------------------------------------------------------------- handing on


def _resolve_references(entry: Entry, spec: KindSpec) -> None:
    """Make every reference of `entry` a full id, in place."""
    for spec_field in spec.fields:
        value = lookup(entry.fields, spec_field.path)
        if value is not None:
            _store(entry.fields, spec_field.path, spec_field.type.resolve(value, entry.namespace))


def _fold_aliases(entry: Entry, spec: KindSpec) -> None:
    """Move each aliased field's value to the field it names (joining lists where declared)."""
    for spec_field in spec.fields:
        if spec_field.alias_of is None:
            continue
        value = _pop(entry.fields, spec_field.path)
        if value is None:
            continue
        current = lookup(entry.fields, spec_field.alias_of)
        if current is None:
            _store(entry.fields, spec_field.alias_of, value)
        elif spec_field.joins and isinstance(current, list) and isinstance(value, list):
            _store(entry.fields, spec_field.alias_of, current + [item for item in value if item not in current])


def _store(fields: dict[str, Any], path: str, value: Any) -> None:
    *sections, key = path.split(".")
    for section in sections:
        fields = fields.setdefault(section, {})
    fields[key] = value


def _pop(fields: dict[str, Any], path: str) -> Any:
    *sections, key = path.split(".")
    parent = lookup(fields, ".".join(sections)) if sections else fields
    return parent.pop(key, None) if isinstance(parent, dict) else None


def _cycles(edges: list[tuple[Entry, str, Entry]]) -> Iterator[list[tuple[Entry, str]]]:
    """Yield cycles of the graph as [(entry, field leading to the next entry), ...].

    Iterative depth-first search in declaration order, so deep graphs do not hit the
    recursion limit. Each back edge closes one reported cycle: every group of entries that
    depend on each other in a circle is reported, and no cycle twice.
    """
    graph: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
    for source, field_path, target in edges:
        graph[source.id].append((field_path, target))
    finished: set[str] = set()
    for root, _, _ in edges:
        if root.id in finished:
            continue
        # Each frame: [entry, iterator over its out-edges, field taken to the next frame].
        stack: list[list[Any]] = [[root, iter(graph[root.id]), None]]
        on_stack = {root.id: 0}
        while stack:
            frame = stack[-1]
            step = next(frame[1], None)
            if step is None:
                finished.add(frame[0].id)
                del on_stack[frame[0].id]
                stack.pop()
                continue
            field_path, target = step
            frame[2] = field_path
            if target.id in on_stack:
                yield [(entry, via) for entry, _, via in stack[on_stack[target.id] :]]
            elif target.id not in finished:
                on_stack[target.id] = len(stack)
                stack.append([target, iter(graph[target.id]), None])
