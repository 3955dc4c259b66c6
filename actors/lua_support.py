"""What the Lua library modules ask Python for: digests for ``uuid.v3`` and
``uuid.v5``, JSON Schema validation for ``json.validate``.

Both are called from inside a worker's Lua state with Lua strings (bytes)
only, answer with bytes, and never raise: a process's bad input becomes an
error for that process, not an exception in the node.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import OrderedDict
from typing import Any

__all__ = ["MAX_DEPTH", "digest", "validate_json"]

_DIGESTS = {b"md5": hashlib.md5, b"sha1": hashlib.sha1}

#: Nesting allowed in validated JSON text, as in the Lua encoder and decoder.
MAX_DEPTH = 128

#: Validation errors listed in one message.
_ERRORS_SHOWN = 5
#: Longest description of one error (they quote the instance or the schema).
_ERROR_LENGTH = 300
#: Compiled schemas kept, and the largest schema text kept: what a process
#: has Python hold lies outside its host's max_memory, so it stays small.
_CACHED_SCHEMAS = 128
_CACHED_SCHEMA_SIZE = 64 * 1024


def digest(algorithm: bytes, data: bytes) -> bytes:
    """The ``md5`` or ``sha1`` digest of ``data`` (name-based UUIDs, not security)."""
    return _DIGESTS[algorithm](data, usedforsecurity=False).digest()


class _Refused(Exception):
    """A reason, with its error kind, why text cannot be validated."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def validate_json(schema_text: bytes, data_text: bytes) -> tuple[bytes | None, bytes | None]:
    """Validate JSON text against a JSON Schema given as JSON text.

    Returns ``(None, None)`` when the data is valid, else the error kind
    (``Invalid`` for a schema that does not compile and for data that does
    not validate, ``Internal`` for data that is not JSON) and a message.
    """
    try:
        validator = _validator(schema_text)
        data = _parse(data_text, "data")
        # one more than shown, to tell whether there are more (there may be millions)
        errors = list(itertools.islice(validator.iter_errors(data), _ERRORS_SHOWN + 1))
    except _Refused as refused:
        kind, message = refused.kind, str(refused)
    except RecursionError:
        kind, message = "Invalid", "schema cannot be compiled: it nests or refers to itself too deeply"
    except Exception as error:  # noqa: BLE001 (a schema's failure, whatever jsonschema raises: an unresolvable $ref...)
        kind, message = "Invalid", f"schema cannot be used: {_first_line(error)}"
    else:
        if not errors:
            return None, None
        shown = [_describe(error) for error in errors[:_ERRORS_SHOWN]]
        if len(errors) > _ERRORS_SHOWN:
            shown.append("and more")
        kind, message = "Invalid", "validation failed: " + "; ".join(shown)
    # JSON strings may hold lone surrogates, which UTF-8 cannot
    return kind.encode(), message.encode("utf-8", "backslashreplace")


def _describe(error: Any) -> str:
    return _shortened(f"{error.json_path}: {error.message}")


def _shortened(text: str) -> str:
    return text if len(text) <= _ERROR_LENGTH else text[:_ERROR_LENGTH] + "..."


# Schemas come back often (a process validates each request against the
# same one): compiled validators are kept by the hash of the schema's text,
# the least recently used dropped first.
_validators: OrderedDict[bytes, Any] = OrderedDict()


def _validator(schema_text: bytes) -> Any:
    key = hashlib.sha256(schema_text).digest()
    validator = _validators.get(key)
    if validator is not None:
        _validators.move_to_end(key)
        return validator
    validator = _compile(schema_text)
    if len(schema_text) <= _CACHED_SCHEMA_SIZE:
        _validators[key] = validator
        if len(_validators) > _CACHED_SCHEMAS:
            _validators.popitem(last=False)
    return validator


def _compile(schema_text: bytes) -> Any:
    # jsonschema costs a tenth of a second to import and most apps never
    # validate, so it is loaded on first use.
    import jsonschema
    import referencing

    schema = _parse(schema_text, "schema", kind="Invalid")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise _Refused("Invalid", f"schema cannot be compiled: {error.json_path}: {error.message}") from None
    # An empty registry: $ref resolves within the schema and to the drafts'
    # meta-schemas, never over the network or the file system.
    return cls(schema, registry=referencing.Registry(), format_checker=cls.FORMAT_CHECKER)


def _parse(text: bytes, what: str, *, kind: str = "Internal") -> Any:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _Refused(kind, f"{what} is not valid JSON: {_first_line(error)}") from None
    if _depth(value) > MAX_DEPTH:
        raise _Refused(kind, f"{what} is nested deeper than {MAX_DEPTH} levels")
    return value


def _first_line(error: BaseException) -> str:
    """The start of an exception's text (some quote the whole schema)."""
    return _shortened((str(error) or type(error).__name__).splitlines()[0])


def _depth(value: Any) -> int:
    """Nesting of arrays and objects, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest
