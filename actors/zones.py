"""Time-zone offsets for the Lua ``time`` module, from Python's zoneinfo.

The Lua side keeps UTC and fixed-offset times to itself and asks here only
about named zones: the offset and abbreviation in effect at an instant, or
the instant a wall-clock reading in the zone stands for. ``Local`` is the
node's own zone as the C library sees it (``TZ``, ``/etc/localtime``).
"""

from __future__ import annotations

import datetime
import time
import zoneinfo

__all__ = ["lookup"]

#: Zone rules repeat every 400 Gregorian years (146,097 days, whole weeks).
_CYCLE = 146097 * 86400
#: What datetime and localtime cover (years 1 to 9999), two days in from the
#: ends so that any offset stays inside.
_FIRST = -62135596800 + 2 * 86400
_LAST = 253402300799 - 2 * 86400

_zones: dict[str, zoneinfo.ZoneInfo] = {}


def _representable(sec: int) -> int:
    """``sec`` moved by whole 400-year cycles into the range datetime covers."""
    if sec < _FIRST:
        return sec + -(-(_FIRST - sec) // _CYCLE) * _CYCLE
    if sec > _LAST:
        return sec - -(-(sec - _LAST) // _CYCLE) * _CYCLE
    return sec


def _zone(name: bytes) -> zoneinfo.ZoneInfo | None:
    """The named zone (None for Local); raises for names that are no zone."""
    if name == b"Local":
        return None
    key = name.decode()
    zone = _zones.get(key)
    if zone is None:
        zone = _zones[key] = zoneinfo.ZoneInfo(key)
    return zone


def _offset(zone: zoneinfo.ZoneInfo | None, sec: int) -> tuple[int, str]:
    """Seconds east of UTC and the abbreviation in effect at Unix second ``sec``."""
    sec = _representable(sec)
    if zone is None:
        local = time.localtime(sec)
        return local.tm_gmtoff, local.tm_zone or ""
    moment = datetime.datetime.fromtimestamp(sec, zone)
    return moment.utcoffset() // datetime.timedelta(seconds=1), moment.tzname() or ""


def lookup(name: bytes, sec: int, wall: bool) -> tuple[int, int, bytes] | None:
    """``(instant, offset, abbreviation)`` in zone ``name``, or None if there
    is no such zone.

    Without ``wall``, ``sec`` is the instant (a Unix second). With it, ``sec``
    is a wall-clock reading counted as if it were UTC, and the instant is
    found as Go's ``time.Date`` finds it: the offset in effect at the reading
    taken as an instant is corrected once, by the offset in effect where that
    first guess lands. (So a reading a clock change skips or repeats gets one
    of its neighbours' offsets, as in Go.)
    """
    try:
        zone = _zone(name)
    except Exception:  # noqa: BLE001 (whatever zoneinfo refuses is no zone)
        return None
    if wall:
        guess, _ = _offset(zone, sec)
        correction, _ = _offset(zone, sec - guess)
        sec -= correction
    offset, abbreviation = _offset(zone, sec)
    return sec, offset, abbreviation.encode()
