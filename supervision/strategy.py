"""Which children a supervisor restarts when one fails (OTP restart strategies).

Pure: works on the children's start order only, so each strategy can be
checked without running anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TypeVar

T = TypeVar("T")


class Strategy(str, Enum):
    ONE_FOR_ONE = "one_for_one"    # the failed child alone
    ONE_FOR_ALL = "one_for_all"    # every child
    REST_FOR_ONE = "rest_for_one"  # the failed child and those started after it

    def __str__(self) -> str:
        return self.value


def restart_set(strategy: Strategy, order: Sequence[T], failed: T) -> list[T]:
    """The children to restart after ``failed`` fails, in start order (``failed`` included)."""
    if strategy is Strategy.ONE_FOR_ONE:
        return [failed]
    if strategy is Strategy.ONE_FOR_ALL:
        return list(order)
    return list(order[order.index(failed):])
