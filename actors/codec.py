"""Plain data across the Lua/Python boundary.

The Lua states run with ``encoding=None`` so that Lua strings stay
binary-safe; this module is the one place that turns Python values into Lua
tables and back. Only msgpack-compatible data crosses: dict, list/tuple, str,
bytes, int, float, bool and None. Anything else is refused with a message
that names where in the value it sits, so a Python object can never leak into
a sandbox.

A payload nests at most :data:`MAX_DEPTH` levels and holds at most
:data:`MAX_VALUES` values: ``actors/lua/copy.lua`` checks what Lua code
sends, :func:`plain_copy` and :func:`check_payload` what Python code sends
or answers. No conversion here goes
deeper than :data:`CROSSING_DEPTH` (a payload and the runtime's envelope
around it: an event, spawn options), so none recurses without bound, and a
refusal is a :class:`PayloadError`, an ``Invalid`` :class:`ActorError`.
"""

from __future__ import annotations

from typing import Any

import msgpack
from lupa import lua54

from .errors import ActorError

__all__ = ["CROSSING_DEPTH", "MAX_DEPTH", "MAX_VALUES", "PayloadError", "arguments_from_lua", "check_payload",
           "from_lua", "plain_copy", "to_lua"]

#: Levels of tables a payload may nest (a table is one level).
MAX_DEPTH = 100
#: Values a payload may hold, counted as copied (a table held twice counts twice):
#: copying them stays well within a turn's instruction budget (host.max_instructions).
MAX_VALUES = 100_000
#: Levels any value crossing here may nest: a payload's and its envelope's.
CROSSING_DEPTH = MAX_DEPTH + 28

_INTEGERS = range(-2**63, 2**63)  # what a Lua integer holds


class PayloadError(ActorError, TypeError):
    """A value that cannot cross into Lua (or out of it): an ``Invalid`` error whose text is its message."""

    def __init__(self, message: str = ""):
        super().__init__("Invalid", message)

    def __str__(self) -> str:
        return self.message


_SCALARS = (int, float, bool, type(None), bytes)
_AS_IS = frozenset((float, bool, type(None), bytes))


def to_lua(lua: Any, value: Any, _path: str = "payload", depth: int = CROSSING_DEPTH) -> Any:
    """Convert a plain Python value, nested at most ``depth`` levels, into a
    Lua value owned by ``lua`` (a payload's callers give ``MAX_DEPTH``).

    A value that cannot cross is refused with where in it the culprit sits,
    ``_path`` naming the whole (found only then: naming each element as it
    is converted was a third of the cost of converting).
    """
    try:
        return _convert(lua, value, depth)
    except PayloadError:
        raise PayloadError(_refusal(value, _path, depth)) from None


def check_crossing(value: Any, _path: str = "payload", depth: int = CROSSING_DEPTH) -> None:
    """Raise the PayloadError ``to_lua`` would for ``value``, without a Lua
    state: for a value that another thread converts later."""
    to_lua(_NOWHERE, value, _path, depth)


def _convert(lua: Any, value: Any, depth: int) -> Any:
    """``value`` for Lua, with room for ``depth`` more levels of tables."""
    # the exact types first: a look-up by type costs less than a row of isinstance
    kind = type(value)
    if kind is str:
        try:
            return value.encode()
        except UnicodeEncodeError:
            raise PayloadError from None
    if kind in _AS_IS:
        return value
    if kind is int:
        if value in _INTEGERS:
            return value
        raise PayloadError
    if kind is dict:
        return _table_of_dict(lua, value, depth)
    if kind is list:
        return _table_of_list(lua, value, depth)
    # subclasses of those, tuples, bytearray, memoryview
    if isinstance(value, str):
        return _convert(lua, str(value), depth)
    if isinstance(value, int) and not isinstance(value, bool):
        return _convert(lua, int(value), depth)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict):
        return _table_of_dict(lua, value, depth)
    if isinstance(value, (list, tuple)):
        return _table_of_list(lua, value, depth)
    raise PayloadError


def _table_of_list(lua: Any, value: list | tuple, depth: int) -> Any:
    if depth == 0:
        raise PayloadError
    items = []
    for item in value:
        items.append(_convert(lua, item, depth - 1))
    return lua.table_from(items)


def _table_of_dict(lua: Any, value: dict, depth: int) -> Any:
    if depth == 0:
        raise PayloadError
    table = {}
    for key, item in value.items():
        table[_key(key)] = _convert(lua, item, depth - 1)
    return lua.table_from(table)


def _key(key: Any) -> Any:
    """``key`` as a Lua table key (a NaN key would abort the process: Lua's table_from cannot refuse it)."""
    if not isinstance(key, _KEYS) or (isinstance(key, float) and key != key):
        raise PayloadError
    return _convert(_NOWHERE, key, 0)


def _refusal(value: Any, path: str, depth: int) -> str:
    """Why ``value`` (at ``path``, with room for ``depth`` levels) cannot cross into Lua,
    naming the first culprit."""
    if isinstance(value, (dict, list, tuple)) and depth == 0:
        return f"{path}: nested too deep (a payload may nest {MAX_DEPTH} levels) or cyclic"
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                _key(key)
            except PayloadError:
                return f"{path}: key {_shown(key)} of type {type(key).__name__} cannot cross into Lua"
            if not _crosses(item, depth - 1):
                return _refusal(item, f"{path}[{_shown(key)}]", depth - 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not _crosses(item, depth - 1):
                return _refusal(item, f"{path}[{i}]", depth - 1)
    elif isinstance(value, str):
        return f"{path}: text that is not valid Unicode (a lone surrogate) cannot cross into Lua"
    elif isinstance(value, int) and not isinstance(value, bool):
        return f"{path}: {value} is out of the range of a Lua integer (64 bits)"
    return (f"{path}: a {type(value).__name__} cannot cross into Lua "
            "(only dict, list, str, bytes, int, float, bool and None)")


def _crosses(value: Any, depth: int) -> bool:
    try:
        _convert(_NOWHERE, value, depth)
    except PayloadError:
        return False
    return True


def _shown(key: Any) -> str:
    """``repr(key)``, short, whatever its ``__repr__`` does."""
    try:
        text = repr(key)
    except Exception:  # noqa: BLE001 (a refusal must not fail)
        return f"<{type(key).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


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
    table becomes a dict (so the empty table is ``{}``). Tables are read
    raw: no metamethod runs.
    """
    return _from_lua(value, CROSSING_DEPTH)


def _from_lua(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is bytes:
        return _text(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    lua_kind = lua54.lua_type(value)
    if lua_kind != "table":
        raise PayloadError(f"a Lua {lua_kind} cannot leave Lua")
    if depth == 0:
        raise PayloadError(f"a Lua table nested deeper than {CROSSING_DEPTH} levels cannot leave Lua")
    return _from_table(value, depth - 1)


def _from_table(table: Any, depth: int) -> list | dict:
    items = []
    for k, v in table.items():  # lua_next: raw
        kind = type(k)
        if kind is bytes:
            k = _text(k)
        elif kind is not int and kind is not float and kind is not bool:
            raise PayloadError(f"a Lua {lua54.lua_type(k)} cannot leave Lua (as a table key)")
        items.append((k, _from_lua(v, depth)))
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
        copied = msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False, strict_map_key=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise PayloadError(f"payload is not plain data (dict, list, str, bytes, int, float, bool, None): {error}") from None
    check_payload(copied)
    return copied


def check_payload(value: Any) -> None:
    """Refuse plain data nested deeper than :data:`MAX_DEPTH` levels or holding
    more than :data:`MAX_VALUES` values."""
    if _values_past(value, MAX_DEPTH, MAX_VALUES) < 0:
        raise PayloadError(f"payload is nested deeper than {MAX_DEPTH} levels or holds more than {MAX_VALUES} values")


def _values_past(value: Any, depth: int, left: int) -> int:
    """How many of ``left`` values remain after ``value``'s (negative: too many,
    or nested deeper than ``depth`` levels)."""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list:
        items = value
    else:
        return left
    if depth == 0:
        return -1
    left -= len(items)
    for item in items:
        if left < 0:
            break
        left = _values_past(item, depth - 1, left)
    return left
