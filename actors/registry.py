"""Load an application directory into a validated registry of entries.

The whole tree is checked before anything runs and every problem is reported at once, so a
user fixes an application in one round rather than one error per attempt. What each kind
of entry may contain is data (one `KindSpec` per kind, built from the small field-type
vocabulary below), so supervision and hosts describe their kinds with `register_kind`
instead of editing the loader.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import lupa.lua54
import yaml

from .durations import SECOND, DurationError, parse_duration

# A namespace or name: no colon (it separates them in an id) and no whitespace.
_NAME = re.compile(r"[^:\s]+")
_ID = re.compile(r"[^:\s]+:[^:\s]+")
_FILE_SCHEME = "file://"
_UNSET: Any = object()


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an application, located precisely enough to fix it.

    `file` is the definition file as the user knows it (relative to the application
    directory's parent); `line` is only known for YAML syntax errors.
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


# --------------------------------------------------------------------------- entries


@dataclass
class Entry:
    """One registry entry: `fields` is the raw YAML mapping without name, kind and meta."""

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
        return _source_path(self.file, self.fields.get("source"))

    @cached_property
    def source_text(self) -> str:
        """The Lua source, read on first use."""
        if self.source_path is None:
            raise ValueError(f"entry {self.id} has no file:// source")
        return _read_source(self.source_path)

    def get(self, path: str, default: Any = _UNSET) -> Any:
        """Value of a dotted field such as "lifecycle.auto_start".

        A missing (or null) field gives `default` when one is passed, else the default the
        kind declares, so callers need not repeat the kind's defaults.
        """
        value = _lookup(self.fields, path)
        if value is not None:
            return value
        if default is not _UNSET:
            return default
        spec = KINDS.get(self.kind)
        declared = spec.field(path) if spec else None
        return declared.default if declared else None


def _lookup(fields: dict[str, Any], path: str) -> Any:
    """Walk a dotted path through nested mappings; None when any step is absent."""
    value: Any = fields
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _source_path(yaml_file: Path, source: object) -> Path | None:
    if isinstance(source, str) and source.startswith(_FILE_SCHEME):
        return Path(os.path.normpath(yaml_file.parent / source[len(_FILE_SCHEME) :]))
    return None


def _read_source(path: Path) -> str:
    # utf-8-sig: Lua's own loadfile skips a byte-order mark, so editors that write one work.
    return path.read_text(encoding="utf-8-sig")


class Registry:
    """The validated entries of one application, by id, in declaration order."""

    def __init__(self, app_dir: Path, entries: dict[str, Entry]):
        self.app_dir = app_dir
        self.entries = entries

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


# --------------------------------------------------------------------------- field types


@dataclass(frozen=True)
class CheckContext:
    """What a value check may consult beyond the value itself."""

    entry_file: Path
    display: Callable[[Path], str]
    lua: LuaSyntaxChecker


# (sub-path inside the field, e.g. "[2]" or ".util", message)
FieldProblem = tuple[str, str]
# (sub-path, referenced id, kinds the target may have; empty means any kind)
Reference = tuple[str, str, tuple[str, ...]]


class ValueType:
    """The expected value of a field: checks its shape and finds the entry ids it references.

    Subclasses override what they need; by default a value has no problems and no references.
    """

    def problems(self, value: Any, context: CheckContext) -> Iterator[FieldProblem]:
        return iter(())

    def references(self, value: Any) -> Iterator[Reference]:
        return iter(())


class Anything(ValueType):
    """Any value (free-form arguments and options)."""


def _show(value: Any) -> str:
    text = repr(value)
    if isinstance(value, bool) or value is None:
        # YAML reads yes/no/on/off/true/false as booleans and null/~ as None
        return f"{text} (YAML reads unquoted yes/no/on/off/null as {text}: quote the text)"
    return text if len(text) <= 60 else text[:57] + "..."


class Boolean(ValueType):
    def problems(self, value, context):
        if not isinstance(value, bool):
            yield "", f"must be true or false, got {_show(value)}"


@dataclass(frozen=True)
class Integer(ValueType):
    minimum: int | None = None

    def problems(self, value, context):
        if isinstance(value, bool) or not isinstance(value, int):
            yield "", f"must be an integer, got {_show(value)}"
        elif self.minimum is not None and value < self.minimum:
            yield "", f"must be at least {self.minimum}, got {value}"


@dataclass(frozen=True)
class Number(ValueType):
    minimum: float | None = None
    maximum: float | None = None

    def problems(self, value, context):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            yield "", f"must be a number, got {_show(value)}"
        elif self.minimum is not None and value < self.minimum:
            yield "", f"must be at least {self.minimum}, got {value}"
        elif self.maximum is not None and value > self.maximum:
            yield "", f"must be at most {self.maximum}, got {value}"


@dataclass(frozen=True)
class String(ValueType):
    """A non-empty string, optionally one of a fixed set."""

    choices: tuple[str, ...] = ()

    def problems(self, value, context):
        if not isinstance(value, str) or not value:
            yield "", f"must be a non-empty string, got {_show(value)}"
        elif self.choices and value not in self.choices:
            yield "", f"must be one of {', '.join(self.choices)}, got {value!r}"


@dataclass(frozen=True)
class ListOf(ValueType):
    item: ValueType

    def problems(self, value, context):
        if not isinstance(value, list):
            yield "", f"must be a list, got {_show(value)}"
            return
        for index, item in enumerate(value):
            for sub, message in self.item.problems(item, context):
                yield f"[{index}]{sub}", message

    def references(self, value):
        if isinstance(value, list):
            for index, item in enumerate(value):
                for sub, target, kinds in self.item.references(item):
                    yield f"[{index}]{sub}", target, kinds


@dataclass(frozen=True)
class MappingOf(ValueType):
    """A mapping from string keys to values of one type."""

    value: ValueType

    def problems(self, value, context):
        if not isinstance(value, dict):
            yield "", f"must be a mapping, got {_show(value)}"
            return
        for key, item in value.items():
            if not isinstance(key, str):
                yield "", f"keys must be strings, got {_show(key)}"
                continue
            for sub, message in self.value.problems(item, context):
                yield f".{key}{sub}", message

    def references(self, value):
        if isinstance(value, dict):
            for key, item in value.items():
                for sub, target, kinds in self.value.references(item):
                    yield f".{key}{sub}", target, kinds


class Ref(ValueType):
    """The full id ("namespace:name") of another entry, of one of `kinds` (any kind if none)."""

    def __init__(self, *kinds: str):
        self.kinds = kinds

    def problems(self, value, context):
        if not isinstance(value, str) or not _ID.fullmatch(value):
            yield "", f"must be an entry id 'namespace:name', got {_show(value)}"

    def references(self, value):
        if isinstance(value, str) and _ID.fullmatch(value):
            yield "", value, self.kinds


class Duration(ValueType):
    """A non-negative duration: "1h30m", "250ms", or nanoseconds."""

    def problems(self, value, context):
        try:
            parse_duration(value)
        except DurationError as error:
            yield "", str(error)


class ByteSize(ValueType):
    """A number of bytes, or a size such as "64MB" (see `parse_byte_size`)."""

    def problems(self, value, context):
        try:
            parse_byte_size(value)
        except ValueError as error:
            yield "", str(error)


class LuaSource(ValueType):
    """`file://path.lua`, relative to the YAML file, naming a Lua file that compiles."""

    def problems(self, value, context):
        path = _source_path(context.entry_file, value)
        if path is None:
            yield "", f"must be a {_FILE_SCHEME} path to a Lua file, got {_show(value)}"
        elif not path.is_file():
            yield "", f"file not found: {context.display(path)}"
        else:
            error = context.lua.syntax_error(path, context.display(path))
            if error:
                yield "", error


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)")
_SIZE_UNITS = {"": 1, "b": 1}
_SIZE_UNITS.update({prefix + "b": 1000**power for power, prefix in enumerate("kmgt", start=1)})
_SIZE_UNITS.update({prefix + "ib": 1024**power for power, prefix in enumerate("kmgt", start=1)})


def parse_byte_size(value: object) -> int:
    """Return a size in bytes from an int or a string like "64MB", "1.5GiB", "512".

    KB/MB/GB/TB are powers of 1000 and KiB/MiB/GiB/TiB powers of 1024 (SI and IEC, as
    go-humanize reads them); units are case-insensitive.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip().lower())):
        number, unit = match.groups()
        if unit not in _SIZE_UNITS:
            units = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            raise ValueError(f"invalid size {value!r}: unknown unit (use {units})")
        size = int(Fraction(number) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"invalid size {_show(value)}: expected bytes or a string like '64MB'")
    if size < 0:
        raise ValueError(f"invalid size {value!r}: must not be negative")
    return size


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
            text = _read_source(path)
        except (OSError, UnicodeDecodeError) as error:
            return f"cannot read {chunkname}: {error}"
        # Mode "t" refuses precompiled binary chunks, which the sandbox never allows.
        result = self._load(text, "@" + chunkname, "t", self._env)
        if isinstance(result, tuple) and result[0] is None:
            return f"Lua syntax error: {result[1]}"
        return None


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Field:
    """One field of a kind, by dotted path into the entry ("lifecycle.restart.max_delay").

    `ordering` names a "must come first" relation ("imports", "startup"): the references
    made through all fields of one relation must not form a cycle.
    """

    path: str
    type: ValueType
    required: bool = False
    default: Any = None
    ordering: str | None = None


@dataclass(frozen=True)
class KindSpec:
    """What an entry of one kind may contain."""

    fields: tuple[Field, ...] = ()

    def field(self, path: str) -> Field | None:
        return next((spec for spec in self.fields if spec.path == path), None)

    def sections(self) -> list[str]:
        """Dotted prefixes of the fields ("lifecycle", "lifecycle.restart"): they must be mappings."""
        prefixes: dict[str, None] = {}
        for spec in self.fields:
            parts = spec.path.split(".")
            for end in range(1, len(parts)):
                prefixes[".".join(parts[:end])] = None
        return list(prefixes)


KINDS: dict[str, KindSpec] = {}


def register_kind(name: str, spec: KindSpec) -> None:
    """Declare (or redefine) a kind, so a package can describe the entries it runs."""
    KINDS[name] = spec


# Modules a Lua entry may `require` besides its imports (§2); "workflow" only in workflows.
LUA_MODULES = ("funcs", "time", "uuid", "json", "ctx", "logger", "process", "channel", "errors")
WORKFLOW_LUA_MODULES = (*LUA_MODULES, "workflow")
# Kinds with a lifecycle, which `lifecycle.requires` may name.
LIFECYCLE_KINDS = ("process.host", "process.service", "supervisor", "workflow.host", "temporal.worker")


def _lua_code(modules: tuple[str, ...], *, method: bool) -> KindSpec:
    fields = [Field("source", LuaSource(), required=True)]
    if method:
        fields.append(Field("method", String(), required=True))
    fields += [
        Field("modules", ListOf(String(choices=modules))),
        Field("imports", MappingOf(Ref("library.lua")), ordering="imports"),
    ]
    return KindSpec(tuple(fields))


_AUTO_START = Field("lifecycle.auto_start", Boolean(), default=False)
_REQUIRES = Field("lifecycle.requires", ListOf(Ref(*LIFECYCLE_KINDS)), ordering="startup")
_PARENT = Field("supervisor", Ref("supervisor"), ordering="startup")

register_kind("process.host", KindSpec((
    Field("host.workers", Integer(minimum=1), default=1),
    Field("host.max_processes", Integer(minimum=1)),
    Field("host.max_memory", ByteSize()),
    Field("host.max_instructions", Integer(minimum=0), default=10_000_000),
    _AUTO_START,
)))
register_kind("process.lua", _lua_code(LUA_MODULES, method=True))
register_kind("function.lua", _lua_code(LUA_MODULES, method=True))
register_kind("workflow.lua", _lua_code(WORKFLOW_LUA_MODULES, method=True))
register_kind("library.lua", _lua_code(LUA_MODULES, method=False))
register_kind("process.service", KindSpec((
    Field("process", Ref("process.lua", "workflow.lua"), required=True),
    Field("host", Ref("process.host", "workflow.host", "temporal.worker"), required=True),
    Field("args", ListOf(Anything())),
    _PARENT,
    _AUTO_START,
    _REQUIRES,
    Field("lifecycle.start_timeout", Duration()),
    Field("lifecycle.stop_timeout", Duration()),
    Field("lifecycle.stable_threshold", Duration()),
    Field("lifecycle.restart.initial_delay", Duration()),
    Field("lifecycle.restart.max_delay", Duration()),
    Field("lifecycle.restart.backoff_factor", Number(minimum=1)),
    Field("lifecycle.restart.jitter", Number(minimum=0, maximum=1)),
    Field("lifecycle.restart.max_attempts", Integer(minimum=0)),
    Field("lifecycle.restart.mode", String(choices=("permanent", "transient", "temporary"))),
)))
register_kind("supervisor", KindSpec((
    Field("strategy", String(choices=("one_for_one", "one_for_all", "rest_for_one")), default="one_for_one"),
    Field("intensity", Integer(minimum=0), default=3),
    Field("period", Duration(), default=5 * SECOND),
    _PARENT,
    _AUTO_START,
    _REQUIRES,
)))
register_kind("workflow.host", KindSpec((
    Field("store", String()),
    Field("sync", Boolean(), default=True),
    _AUTO_START,
)))
register_kind("temporal.client", KindSpec((
    Field("address", String(), default="127.0.0.1:7233"),
    Field("namespace", String(), default="default"),
    Field("api_key", String()),
    Field("tls", Anything()),
)))
register_kind("temporal.worker", KindSpec((
    Field("client", Ref("temporal.client"), required=True),
    Field("task_queue", String(), required=True),
    Field("worker_options", MappingOf(Anything())),
    Field("activity_timeout", Duration(), default="1m"),
    Field("host.max_instructions", Integer(minimum=0), default=10_000_000),
    Field("lifecycle.restart.initial_delay", Duration(), default="1s"),
    Field("lifecycle.restart.max_delay", Duration(), default="30s"),
    _AUTO_START,
)))


# --------------------------------------------------------------------------- loading


def load_app(path: str | os.PathLike[str]) -> Registry:
    """Load and validate the application at `path`; raise `RegistryError` listing every problem."""
    registry, problems = _Loader(Path(path)).load()
    if problems:
        raise RegistryError(problems)
    return registry


def check_app(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem of the application at `path` (empty when it loads).

    Once the loader is content, the checks that installed packages declare
    under the ``luactor.checks`` entry point group (``check(registry) ->
    list[Problem]``) run too: what a component or host would otherwise
    only refuse when a node starts (e.g. a supervisor's ``period: 0``).
    """
    registry, problems = _Loader(Path(path)).load()
    if problems:
        return problems
    for check in sorted(entry_points(group="luactor.checks"), key=lambda ep: ep.name):
        problems.extend(check.load()(registry))
    return problems


def entry_problem(registry: Registry, entry: Entry, field: str | None, message: str) -> Problem:
    """A problem located the way the loader locates its own (file relative to the app's parent)."""
    try:
        shown = entry.file.relative_to(registry.app_dir.parent).as_posix()
    except ValueError:
        shown = str(entry.file)
    return Problem(shown, entry.id, field, message)


class _Loader:
    """One load of one application: reads every definition file, then checks the whole."""

    def __init__(self, app_dir: Path):
        self.app_dir = app_dir.resolve()
        self.problems: list[Problem] = []
        self.parsed: list[Entry] = []  # every well-formed entry, duplicates included
        self.entries: dict[str, Entry] = {}  # the first entry of each id

    def load(self) -> tuple[Registry, list[Problem]]:
        if not self.app_dir.is_dir():
            self.problems.append(Problem(str(self.app_dir), None, None, "application directory not found"))
            return Registry(self.app_dir, {}), self.problems
        files = self._yaml_files()
        for path in files:
            self._read_file(path)
        for entry in self.parsed:
            self._check_fields(entry)
        self._check_references_and_cycles()
        self._sort_problems(files)
        return Registry(self.app_dir, self.entries), self.problems

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

    def _yaml_files(self) -> list[Path]:
        """Every YAML file under the app in a stable order, skipping hidden directories (.git, ...)."""
        found = []
        for directory, subdirectories, files in os.walk(self.app_dir):
            subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
            found += [Path(directory, name) for name in files if name.endswith((".yaml", ".yml"))]
        return sorted(found, key=lambda path: path.relative_to(self.app_dir).parts)

    def _read_file(self, path: Path) -> None:
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
        if not (isinstance(document, dict) and "namespace" in document and "entries" in document):
            return  # not a definition file
        namespace = document["namespace"]
        entries = [] if document["entries"] is None else document["entries"]  # every entry commented out
        version = document.get("version")
        if version is not None and str(version) != "1.0":
            self._problem(path, None, "version", f"unsupported version {version!r} (expected \"1.0\")")
        if not isinstance(namespace, str) or not _NAME.fullmatch(namespace):
            message = f"must be a name without ':' or spaces, got {_show(namespace)}"
            self._problem(path, None, "namespace", message)
            return
        if not isinstance(entries, list):
            self._problem(path, None, "entries", f"must be a list, got {_show(entries)}")
            return
        for position, raw in enumerate(entries, start=1):
            self._read_entry(path, namespace, position, raw)

    def _read_entry(self, path: Path, namespace: str, position: int, raw: Any) -> None:
        where = f"entry #{position}"
        if not isinstance(raw, dict):
            self._problem(path, None, None, f"{where} must be a mapping, got {_show(raw)}")
            return
        name, kind = raw.get("name"), raw.get("kind")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            what = "has no name" if name is None else f"has an invalid name {_show(name)} (no ':' or spaces)"
            kind_note = f" (kind {kind})" if isinstance(kind, str) else ""
            self._problem(path, None, "name", f"{where}{kind_note} {what}")
            return
        entry_id = f"{namespace}:{name}"
        if not isinstance(kind, str) or not kind:
            self._problem(path, entry_id, "kind", f"missing kind (one of {', '.join(sorted(KINDS))})")
            return
        meta = raw.get("meta")
        if meta is not None and not isinstance(meta, dict):
            self._problem(path, entry_id, "meta", f"must be a mapping, got {_show(meta)}")
        fields = {key: value for key, value in raw.items() if key not in ("name", "kind", "meta")}
        entry = Entry(entry_id, namespace, name, kind, path, fields, meta if isinstance(meta, dict) else {})
        first = self.entries.setdefault(entry_id, entry)
        if first is not entry:
            self._problem(path, entry_id, None, f"duplicate id, first defined in {self.display(first.file)}")
        if kind not in KINDS:
            known = ", ".join(sorted(KINDS))
            self._problem(path, entry_id, "kind", f"unknown kind {kind!r} (known: {known})")
        self.parsed.append(entry)

    def _check_fields(self, entry: Entry) -> None:
        spec = KINDS.get(entry.kind)
        if spec is None:
            return
        for section in spec.sections():
            value = _lookup(entry.fields, section)
            if value is not None and not isinstance(value, dict):
                self._problem(entry.file, entry.id, section, f"must be a mapping, got {_show(value)}")
        context = CheckContext(entry.file, self.display, self.lua)
        for spec_field in spec.fields:
            value = _lookup(entry.fields, spec_field.path)
            if value is None:
                if spec_field.required:
                    self._problem(entry.file, entry.id, spec_field.path, "required field is missing")
                continue
            for sub, message in spec_field.type.problems(value, context):
                self._problem(entry.file, entry.id, spec_field.path + sub, message)

    def _check_references_and_cycles(self) -> None:
        """Resolve every reference, and collect the ordering edges to look for cycles."""
        edges: dict[str, list[tuple[Entry, str, Entry]]] = defaultdict(list)
        for entry in self.parsed:
            spec = KINDS.get(entry.kind)
            for spec_field in spec.fields if spec else ():
                value = _lookup(entry.fields, spec_field.path)
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

    def _sort_problems(self, files: list[Path]) -> None:
        """Group problems by file, then entry, in declaration order, as a user reads them."""
        file_order = {self.display(path): index for index, path in enumerate(files)}
        entry_order: dict[str, int] = {}
        for index, entry in enumerate(self.parsed):
            entry_order.setdefault(entry.id, index)
        self.problems.sort(key=lambda problem: (file_order[problem.file], entry_order.get(problem.entry, -1)))

    def _missing(self, target_id: str) -> str:
        message = f"reference to missing entry {target_id}"
        close = difflib.get_close_matches(target_id, self.entries, n=1, cutoff=0.8)
        return f"{message} (did you mean {close[0]}?)" if close else message


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
