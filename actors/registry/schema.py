"""The vocabulary kinds are declared in: value types, fields and kind specs.

What each kind of entry may contain is data, so the packages that run a kind declare it
next to their code (``luactor.kinds`` entry points, or `register_kind`) and the loader
checks every entry without knowing any kind itself. A value type checks the shape of a
value, finds the entry ids it references and resolves them against the entry's namespace.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..durations import DurationError, parse_duration
from ..sizes import parse_byte_size

__all__ = [
    "AUTO_START",
    "Anything",
    "Boolean",
    "ByteSize",
    "CheckContext",
    "Duration",
    "Field",
    "Integer",
    "KindSpec",
    "ListOf",
    "LuaSource",
    "MappingOf",
    "Number",
    "Ref",
    "String",
    "ValueType",
    "full_id",
    "kind_names",
    "kind_spec",
    "register_kind",
    "show",
    "source_path",
]

#: The entry point group where packages declare their kinds: a mapping of kind name to KindSpec.
KINDS_GROUP = "luactor.kinds"

# A namespace or name: no colon (it separates them in an id) and no whitespace.
NAME = re.compile(r"[^:\s]+")
ID = re.compile(r"[^:\s]+:[^:\s]+")
_FILE_SCHEME = "file://"


def full_id(reference: str, namespace: str) -> str:
    """The id a reference means: a bare name is resolved in the referring entry's namespace."""
    return reference if ":" in reference else f"{namespace}:{reference}"


def source_path(yaml_file: Path, source: object) -> Path | None:
    """The file a `file://` source names, relative to the YAML file that declares it."""
    if isinstance(source, str) and source.startswith(_FILE_SCHEME):
        return Path(os.path.normpath(yaml_file.parent / source[len(_FILE_SCHEME) :]))
    return None


def show(value: Any) -> str:
    """A value as a problem message quotes it, explaining YAML's surprising booleans."""
    text = repr(value)
    if isinstance(value, bool) or value is None:
        # YAML reads yes/no/on/off/true/false as booleans and null/~ as None
        return f"{text} (YAML reads unquoted yes/no/on/off/null as {text}: quote the text)"
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class CheckContext:
    """What a value check may consult beyond the value itself."""

    entry_file: Path
    display: Callable[[Path], str]
    #: The compile error of a Lua file (shown under the given name), or None if it compiles.
    lua_syntax_error: Callable[[Path, str], str | None]


# (sub-path inside the field, e.g. "[2]" or ".util", message)
FieldProblem = tuple[str, str]
# (sub-path, referenced id as written, kinds the target may have; empty means any kind)
Reference = tuple[str, str, tuple[str, ...]]


class ValueType:
    """The expected value of a field.

    Subclasses override what they need; by default a value has no problems, references
    nothing and resolves to itself.
    """

    def problems(self, value: Any, context: CheckContext) -> Iterator[FieldProblem]:
        return iter(())

    def references(self, value: Any) -> Iterator[Reference]:
        return iter(())

    def resolve(self, value: Any, namespace: str) -> Any:
        """`value` with every reference made a full id (see `full_id`)."""
        return value


class Anything(ValueType):
    """Any value (free-form arguments and options)."""


class Boolean(ValueType):
    def problems(self, value, context):
        if not isinstance(value, bool):
            yield "", f"must be true or false, got {show(value)}"


@dataclass(frozen=True)
class Integer(ValueType):
    minimum: int | None = None

    def problems(self, value, context):
        if isinstance(value, bool) or not isinstance(value, int):
            yield "", f"must be an integer, got {show(value)}"
        elif self.minimum is not None and value < self.minimum:
            yield "", f"must be at least {self.minimum}, got {value}"


@dataclass(frozen=True)
class Number(ValueType):
    minimum: float | None = None
    maximum: float | None = None

    def problems(self, value, context):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            yield "", f"must be a number, got {show(value)}"
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
            yield "", f"must be a non-empty string, got {show(value)}"
        elif self.choices and value not in self.choices:
            yield "", f"must be one of {', '.join(self.choices)}, got {value!r}"


@dataclass(frozen=True)
class ListOf(ValueType):
    item: ValueType

    def problems(self, value, context):
        if not isinstance(value, list):
            yield "", f"must be a list, got {show(value)}"
            return
        for index, item in enumerate(value):
            for sub, message in self.item.problems(item, context):
                yield f"[{index}]{sub}", message

    def references(self, value):
        if isinstance(value, list):
            for index, item in enumerate(value):
                for sub, target, kinds in self.item.references(item):
                    yield f"[{index}]{sub}", target, kinds

    def resolve(self, value, namespace):
        if not isinstance(value, list):
            return value
        return [self.item.resolve(item, namespace) for item in value]


@dataclass(frozen=True)
class MappingOf(ValueType):
    """A mapping from string keys to values of one type."""

    value: ValueType

    def problems(self, value, context):
        if not isinstance(value, dict):
            yield "", f"must be a mapping, got {show(value)}"
            return
        for key, item in value.items():
            if not isinstance(key, str):
                yield "", f"keys must be strings, got {show(key)}"
                continue
            for sub, message in self.value.problems(item, context):
                yield f".{key}{sub}", message

    def references(self, value):
        if isinstance(value, dict):
            for key, item in value.items():
                for sub, target, kinds in self.value.references(item):
                    yield f".{key}{sub}", target, kinds

    def resolve(self, value, namespace):
        if not isinstance(value, dict):
            return value
        return {key: self.value.resolve(item, namespace) for key, item in value.items()}


class Ref(ValueType):
    """Another entry, of one of `kinds` (any kind if none): "namespace:name", or a bare
    name in the referring entry's own namespace."""

    def __init__(self, *kinds: str):
        self.kinds = kinds

    def problems(self, value, context):
        if not _is_reference(value):
            yield "", f"must be an entry id 'namespace:name' or a name in this namespace, got {show(value)}"

    def references(self, value):
        if _is_reference(value):
            yield "", value, self.kinds

    def resolve(self, value, namespace):
        return full_id(value, namespace) if _is_reference(value) else value


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(ID.fullmatch(value) or NAME.fullmatch(value))


class Duration(ValueType):
    """A non-negative duration: "1h30m", "250ms", or nanoseconds."""

    def problems(self, value, context):
        try:
            parse_duration(value)
        except DurationError as error:
            yield "", str(error)


class ByteSize(ValueType):
    """A number of bytes, or a size such as "64MB" (see `actors.sizes`)."""

    def problems(self, value, context):
        try:
            parse_byte_size(value)
        except ValueError as error:
            yield "", str(error)


class LuaSource(ValueType):
    """`file://path.lua`, relative to the YAML file, naming a Lua file that compiles."""

    def problems(self, value, context):
        path = source_path(context.entry_file, value)
        if path is None:
            yield "", f"must be a {_FILE_SCHEME} path to a Lua file, got {show(value)}"
        elif not path.is_file():
            yield "", f"file not found: {context.display(path)}"
        else:
            error = context.lua_syntax_error(path, context.display(path))
            if error:
                yield "", error


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Field:
    """One field of a kind, by dotted path into the entry ("lifecycle.restart.max_delay").

    `ordering` names a "must come first" relation ("imports", "startup"): the references
    made through all fields of one relation must not form a cycle.

    `alias_of` makes this field another name of the field at that path (Wippy's legacy
    names, luactor's older ones): the loader moves its value there. With `joins`, lists
    given under both names are joined; without, giving both is a problem.
    """

    path: str
    type: ValueType
    required: bool = False
    default: Any = None
    ordering: str | None = None
    alias_of: str | None = None
    joins: bool = False


@dataclass(frozen=True)
class KindSpec:
    """What an entry of one kind may contain."""

    fields: tuple[Field, ...] = ()

    def field(self, path: str) -> Field | None:
        return next((spec for spec in self.fields if spec.path == path), None)

    def aliases(self, path: str) -> list[Field]:
        """The fields that are other names of the field at `path`."""
        return [spec for spec in self.fields if spec.alias_of == path]

    def sections(self) -> list[str]:
        """Dotted prefixes of the fields ("lifecycle", "lifecycle.restart"): they must be mappings."""
        prefixes: dict[str, None] = {}
        for spec in self.fields:
            parts = spec.path.split(".")
            for end in range(1, len(parts)):
                prefixes[".".join(parts[:end])] = None
        return list(prefixes)


#: `lifecycle.auto_start`, which hosts, services and supervisors share.
AUTO_START = Field("lifecycle.auto_start", Boolean(), default=False)

_kinds: dict[str, KindSpec] | None = None  # every known kind, once the entry points are read


def _known_kinds() -> dict[str, KindSpec]:
    """The kinds of every installed package, read from their entry points on first use."""
    global _kinds
    if _kinds is None:
        declared: dict[str, KindSpec] = {}
        owners: dict[str, str] = {}
        for point in sorted(entry_points(group=KINDS_GROUP), key=lambda point: point.name):
            kinds: Mapping[str, KindSpec] = point.load()
            for name, spec in kinds.items():
                if name in owners:
                    raise RuntimeError(f"kind {name!r} is declared by both {owners[name]} and {point.value}")
                declared[name], owners[name] = spec, point.value
        _kinds = declared
    return _kinds


def kind_spec(name: str) -> KindSpec | None:
    """The declaration of kind `name`, or None for a kind no installed package declares."""
    return _known_kinds().get(name)


def kind_names() -> list[str]:
    """Every known kind, sorted (for messages that list them)."""
    return sorted(_known_kinds())


def register_kind(name: str, spec: KindSpec) -> None:
    """Declare (or redefine) a kind at run time, for a package without an entry point."""
    _known_kinds()[name] = spec
