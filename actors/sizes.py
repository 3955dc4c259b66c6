"""Byte sizes ("64MB", "1.5GiB"): the notation of Wippy YAML for memory limits.

KB/MB/GB/TB are powers of 1000 and KiB/MiB/GiB/TiB powers of 1024 (SI and IEC, as
go-humanize reads them), so a size means what it means in Wippy.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["parse_byte_size"]

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)")
_UNITS = {"": 1, "b": 1}
_UNITS.update({prefix + "b": 1000**power for power, prefix in enumerate("kmgt", start=1)})
_UNITS.update({prefix + "ib": 1024**power for power, prefix in enumerate("kmgt", start=1)})
_UNIT_NAMES = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"


def parse_byte_size(value: object) -> int:
    """Return a size in bytes from an int or a string like "64MB", "1.5GiB", "512".

    Units are case-insensitive. Raises ``ValueError`` naming the value when it is not a size.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip().lower())):
        number, unit = match.groups()
        if unit not in _UNITS:
            raise ValueError(f"invalid size {value!r}: unknown unit (use {_UNIT_NAMES})")
        size = int(Fraction(number) * _UNITS[unit])
    else:
        raise ValueError(f"invalid size {value!r}: expected bytes or a string like '64MB'")
    if size < 0:
        raise ValueError(f"invalid size {value!r}: must not be negative")
    return size
