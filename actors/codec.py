"""Plain data across the Lua/Python boundary.

The Lua states run with ``encoding=None`` so that Lua strings stay
binary-safe; this module is the one place that turns Python values into Lua
tables and back. Only msgpack-compatible data crosses: dict, list/tuple, str,
bytes, int, float, bool and None. Anything else is refused with a message
that names where in the value it sits, so a Python object can never leak into
a sandbox.
"""

from __future__ import annotations

from typing import Any

import msgpack
from lupa import lua54

__all__ = ["PayloadError", "arguments_from_lua", "from_lua", "plain_copy", "to_lua"]


class PayloadError(TypeError):
    """A value that cannot cross into Lua (or out of it)."""


_SCALARS = (int, float, bool, type(None), bytes)
_AS_IS = frozenset(_SCALARS)


def to_lua(lua: Any, value: Any, _path: str = "payload") -> Any:
    """Convert a plain Python value into a Lua value owned by ``lua``.

    A value that cannot cross is refused with where in it the culprit sits,
    ``_path`` naming the whole (found only then: naming each element as it
    is converted was a third of the cost of converting).
    """
    try:
        return _convert(lua, value)
    except PayloadError:
        raise PayloadError(_refusal(value, _path)) from None


def _convert(lua: Any, value: Any) -> Any:
    # the exact types first: a look-up by type costs less than a row of isinstance
    kind = type(value)
    if kind is str:
        return value.encode()
    if kind in _AS_IS:
        return value
    if kind is dict:
        return _table_of_dict(lua, value)
    if kind is list:
        return lua.table_from([_convert(lua, item) for item in value])
    # subclasses of those, tuples, bytearray, memoryview
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict):
        return _table_of_dict(lua, value)
    if isinstance(value, (list, tuple)):
        return lua.table_from([_convert(lua, item) for item in value])
    raise PayloadError


def _table_of_dict(lua: Any, value: dict) -> Any:
    table = {}
    for key, item in value.items():
        if isinstance(key, str):
            key = key.encode()
        elif not isinstance(key, _KEYS):
            raise PayloadError
        table[key] = _convert(lua, item)
    return lua.table_from(table)


def _refusal(value: Any, path: str) -> str:
    """Why ``value`` (at ``path``) cannot cross into Lua, naming the first culprit."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, _KEYS):
                return f"{path}: key {key!r} of type {type(key).__name__} cannot cross into Lua"
            try:
                _convert(_NOWHERE, item)
            except PayloadError:
                return _refusal(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            try:
                _convert(_NOWHERE, item)
            except PayloadError:
                return _refusal(item, f"{path}[{i}]")
    return (f"{path}: a {type(value).__name__} cannot cross into Lua "
            "(only dict, list, str, bytes, int, float, bool and None)")


class _Nowhere:
    """Stands in for a Lua state while looking for what cannot be converted."""

    @staticmethod
    def table_from(_: Any) -> None:
        return None


_NOWHERE = _Nowhere()
_KEYS = (str, bytes, int, float, bool)


def _text(data: bytes) -> str | bytes:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def from_lua(value: Any) -> Any:
    """Convert a Lua value into plain Python data.

    Strings become ``str`` when they are valid UTF-8 and stay ``bytes``
    otherwise. A table whose keys are exactly 1..n becomes a list; any other
    table becomes a dict (so the empty table is ``{}``).
    """
    kind = type(value)
    if kind is bytes:
        return _text(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    lua_kind = lua54.lua_type(value)
    if lua_kind == "table":
        return _from_table(value)
    raise PayloadError(f"a Lua {lua_kind} cannot leave Lua")


def _from_table(table: Any) -> list | dict:
    # string and integer keys converted in place (nearly every key is one)
    items = [(_text(k) if type(k) is bytes else k if type(k) is int else from_lua(k), from_lua(v))
             for k, v in table.items()]
    n = len(items)
    if n and type(items[0][0]) is int:
        keys = [k for k, _ in items]
        if keys == list(range(1, n + 1)):     # Lua's array part comes first, in order
            return [v for _, v in items]
        if all(type(k) is int for k in keys) and set(keys) == set(range(1, n + 1)):
            return [v for _, v in sorted(items, key=lambda kv: kv[0])]
    return dict(items)


def arguments_from_lua(table: Any) -> list:
    """An argument list packed in Lua as ``{n=, ...}`` (nil arguments keep their place)."""
    return [from_lua(table[i]) for i in range(1, table[b"n"] + 1)]


def plain_copy(value: Any) -> Any:
    """A private copy of plain data, refusing anything else.

    Used for payloads that Python code sends, so a Python receiver never
    shares a mutable object with the sender (tuples come out as lists).
    """
    try:
        return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False, strict_map_key=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise PayloadError(f"payload is not plain data (dict, list, str, bytes, int, float, bool, None): {error}") from None
