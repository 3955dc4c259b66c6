"""Supervisor restart intensity, as in OTP: more than `intensity` restarts in `period` trips."""

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from supervision.intensity import RestartIntensity


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_defaults_are_three_in_five_seconds():
    limit = RestartIntensity(clock=FakeClock())
    assert (limit.intensity, limit.period) == (3, 5.0)


def test_exactly_at_the_limit_is_allowed_and_one_more_trips():
    limit = RestartIntensity(3, 5.0, clock=FakeClock())
    assert [limit.record_restart() for _ in range(3)] == [True, True, True]
    assert limit.record_restart() is False


def test_zero_intensity_trips_on_the_first_restart():
    assert RestartIntensity(0, 5.0, clock=FakeClock()).record_restart() is False


def test_old_restarts_slide_out_of_the_window():
    clock = FakeClock()
    limit = RestartIntensity(2, 5.0, clock=clock)
    clock.now = 0.0
    assert limit.record_restart()
    clock.now = 1.0
    assert limit.record_restart()
    clock.now = 5.5  # the restart at 0 is now older than the period
    assert limit.record_restart()
    clock.now = 6.5  # ...and so is the one at 1
    assert limit.record_restart()
    clock.now = 7.0  # 5.5, 6.5, 7.0: three within five seconds
    assert limit.record_restart() is False


def test_a_restart_exactly_period_old_still_counts():
    """OTP keeps restarts with now - then =< period."""
    clock = FakeClock()
    limit = RestartIntensity(1, 5.0, clock=clock)
    assert limit.record_restart()
    clock.now = 5.0
    assert limit.record_restart() is False


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"intensity": -1}, "intensity"),
        ({"intensity": 1.5}, "intensity"),
        ({"period": 0}, "period"),
        ({"period": -5.0}, "period"),
        ({"period": float("inf")}, "period"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, names):
    with pytest.raises(ValueError, match=names):
        RestartIntensity(**kwargs, clock=FakeClock())


@given(
    intensity=st.integers(0, 6),
    period=st.floats(0.1, 10),
    gaps=st.lists(st.floats(0, 5), max_size=40),
)
def test_matches_counting_every_restart_in_the_window(intensity, period, gaps):
    clock = FakeClock()
    limit = RestartIntensity(intensity, period, clock=clock)
    history = []
    for gap in gaps:
        clock.now += gap
        history.append(clock.now)
        in_window = [t for t in history if clock.now - t <= period]
        assert limit.record_restart() is (len(in_window) <= intensity)


async def test_on_trio_virtual_time(autojump_clock):
    limit = RestartIntensity(3, 5.0, clock=trio.current_time)
    results = []
    for _ in range(6):
        results.append(limit.record_restart())
        await trio.sleep(2.0)
    # one restart every 2 s never has more than 3 within 5 s (at t=6: 2, 4, 6)
    assert results == [True] * 6
    # at t=12, on top of 8 and 10: the third in the window fits, the fourth trips
    for _ in range(3):
        results.append(limit.record_restart())
    assert results[-3:] == [True, False, False]
