"""Go-style durations ("1h30m", "250ms"): the notation of Wippy YAML and of the Lua `time` module.

luactor keeps every duration as an int of nanoseconds, like Go's `time.Duration`: exact,
msgpack-friendly, and printed and parsed the way Wippy users already know.
"""

from __future__ import annotations

import math
import re

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

# Go's time.Duration is an int64; a larger value could not cross into Lua or msgpack.
MIN_DURATION = -(2**63)
MAX_DURATION = 2**63 - 1

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,  # U+00B5 micro sign, what Go prints
    "μs": MICROSECOND,  # U+03BC greek mu, what people type
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_UNIT_NAMES = "ns, us, µs, ms, s, m, h"

# One "<number><unit>" component; as in Go, the unit is the run of characters up to the next digit.
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


class DurationError(ValueError):
    """A value that is not a valid duration; the message names the value."""


def parse_duration(value: object, *, allow_negative: bool = False) -> int:
    """Return `value` as nanoseconds.

    Accepts a Go duration string ("1h30m", "1.5s", "10us", "0") or an integer number of
    nanoseconds (a float only if it is a whole number, as Lua may hand one over).
    Negative durations are refused unless `allow_negative`, because for timeouts and
    delays they are almost always a mistake.
    """
    if isinstance(value, bool):
        raise DurationError(f"invalid duration {value!r}: expected a string like '1h30m' or nanoseconds")
    if isinstance(value, str):
        nanoseconds = _parse_text(value)
    elif isinstance(value, int):
        nanoseconds = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise DurationError(f"invalid duration {value!r}: nanoseconds must be a whole number")
        nanoseconds = int(value)
    else:
        raise DurationError(
            f"invalid duration {value!r}: expected a string like '1h30m' or nanoseconds, "
            f"got {type(value).__name__}"
        )
    if not MIN_DURATION <= nanoseconds <= MAX_DURATION:
        raise DurationError(f"invalid duration {value!r}: out of range")
    if nanoseconds < 0 and not allow_negative:
        raise DurationError(f"invalid duration {value!r}: must not be negative")
    return nanoseconds


def _parse_text(text: str) -> int:
    """Parse Go's duration grammar with exact integer arithmetic (fractions of a nanosecond truncate)."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in ("-", "+") else text
    if body == "0":
        return 0
    if not body:
        raise DurationError(f"invalid duration {text!r}: empty")
    total = 0
    position = 0
    while position < len(body):
        match = _COMPONENT.match(body, position)
        whole, fraction, unit = match.group(1), match.group(2) or "", match.group(3)
        if not whole and not fraction:
            raise DurationError(f"invalid duration {text!r}: expected a number at {body[position:]!r}")
        if not unit:
            raise DurationError(f"invalid duration {text!r}: missing unit (one of {_UNIT_NAMES})")
        if unit not in _UNITS:
            raise DurationError(f"invalid duration {text!r}: unknown unit {unit!r} (one of {_UNIT_NAMES})")
        scale = _UNITS[unit]
        total += int(whole or "0") * scale + int(fraction or "0") * scale // 10 ** len(fraction)
        position = match.end()
    return sign * total


def format_duration(nanoseconds: int) -> str:
    """Format like Go's `Duration.String()`: "1h30m0s", "1.5s", "250ms", "0s"."""
    if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int):
        raise TypeError(f"format_duration expects an int of nanoseconds, got {nanoseconds!r}")
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    magnitude = abs(nanoseconds)
    if magnitude < SECOND:
        for scale, name in ((MILLISECOND, "ms"), (MICROSECOND, "µs"), (NANOSECOND, "ns")):
            if magnitude >= scale:
                return sign + _decimal(magnitude, scale) + name
    hours, rest = divmod(magnitude, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    seconds = _decimal(rest, SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _decimal(value: int, scale: int) -> str:
    """`value / scale` written exactly, without trailing zeros ("1.5", "250")."""
    whole, fraction = divmod(value, scale)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
