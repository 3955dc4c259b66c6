"""OTP restart intensity: a supervisor that restarts too often gives up.

Restarting forever hides a fault that restarts cannot fix; past ``intensity``
restarts within ``period`` seconds the supervisor stops its children and fails,
and its parent decides.  Pure: time comes from an injected ``clock``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable


class RestartIntensity:
    """Sliding-window restart counter of one supervisor.

    As in OTP's ``supervisor``, a restart ``period`` seconds old still counts,
    and the restart that brings the count above ``intensity`` trips it.
    """

    def __init__(self, intensity: int = 3, period: float = 5.0, *,
                 clock: Callable[[], float]) -> None:
        if not isinstance(intensity, int) or isinstance(intensity, bool) or intensity < 0:
            raise ValueError(f"intensity must be an integer >= 0, got {intensity!r}")
        if isinstance(period, bool) or not isinstance(period, (int, float)) \
                or not 0 < period < math.inf:
            raise ValueError(f"period must be a finite number of seconds > 0, got {period!r}")
        self.intensity = intensity
        self.period = period
        self._clock = clock
        # Only the newest intensity + 1 restarts can decide the outcome.
        self._restarts: deque[float] = deque(maxlen=intensity + 1)

    def record_restart(self) -> bool:
        """Count a restart now; False means the limit is exceeded and the supervisor must give up."""
        now = self._clock()
        self._restarts.append(now)
        while now - self._restarts[0] > self.period:
            self._restarts.popleft()
        return len(self._restarts) <= self.intensity
