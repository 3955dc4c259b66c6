"""Restart policy of a process.service: modes, backoff, max_attempts, stable runs."""

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from supervision.policy import (
    Decision,
    Reason,
    RestartMode,
    RestartPolicy,
    RestartTracker,
    should_restart,
)

NS = 1_000_000_000


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def no_jitter(**overrides) -> RestartPolicy:
    return RestartPolicy(**{"jitter": 0.0, **overrides})


def midpoint() -> float:
    """A ``random`` whose jitter factor is exactly 1."""
    return 0.5


# --- modes -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("mode", "failed", "expected"),
    [
        (RestartMode.PERMANENT, True, True),
        (RestartMode.PERMANENT, False, True),
        (RestartMode.TRANSIENT, True, True),
        (RestartMode.TRANSIENT, False, False),
        (RestartMode.TEMPORARY, True, False),
        (RestartMode.TEMPORARY, False, False),
    ],
)
def test_should_restart_matrix(mode, failed, expected):
    assert should_restart(mode, failed) is expected


@pytest.mark.parametrize(
    ("mode", "failed", "restart", "reason"),
    [
        (RestartMode.PERMANENT, True, True, Reason.FAILED),
        (RestartMode.PERMANENT, False, True, Reason.EXITED_UNDER_PERMANENT),
        (RestartMode.TRANSIENT, True, True, Reason.FAILED),
        (RestartMode.TRANSIENT, False, False, Reason.NORMAL_EXIT_UNDER_TRANSIENT),
        (RestartMode.TEMPORARY, True, False, Reason.TEMPORARY),
        (RestartMode.TEMPORARY, False, False, Reason.TEMPORARY),
    ],
)
def test_tracker_decision_per_mode(mode, failed, restart, reason):
    tracker = RestartTracker(no_jitter(mode=mode), FakeClock())
    tracker.record_start()
    decision = tracker.record_exit(failed=failed)
    assert decision.restart is restart
    assert decision.reason is reason
    assert decision.delay == (1.0 if restart else 0.0)


def test_reasons_read_as_text():
    assert str(Reason.MAX_ATTEMPTS_REACHED) == "max_attempts reached"
    assert f"{RestartMode.TRANSIENT}" == "transient"


# --- the policy value --------------------------------------------------------

def test_defaults_follow_the_spec():
    policy = RestartPolicy()
    assert policy == RestartPolicy(
        initial_delay=1.0, max_delay=90.0, backoff_factor=2.0, jitter=0.1,
        max_attempts=0, mode=RestartMode.TRANSIENT, stable_threshold=5.0,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("initial_delay", -1.0),
        ("max_delay", -0.5),
        ("stable_threshold", -5),
        ("initial_delay", float("nan")),
        ("max_delay", float("inf")),
        ("backoff_factor", 0.5),
        ("jitter", -0.1),
        ("jitter", 1.5),
        ("max_attempts", -1),
        ("max_attempts", 2.5),
        ("max_attempts", True),
        ("mode", "transient"),
    ],
)
def test_invalid_settings_are_rejected_by_name_and_value(field, value):
    with pytest.raises(ValueError) as info:
        RestartPolicy(**{field: value})
    assert field in str(info.value)
    assert repr(value) in str(info.value)


def test_backoff_doubles_up_to_the_cap():
    policy = no_jitter()
    delays = [policy.base_delay(k) for k in range(1, 10)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 90, 90]


def test_huge_attempt_numbers_stay_capped():
    assert RestartPolicy(backoff_factor=10.0).base_delay(10_000) == 90.0
    assert RestartPolicy(initial_delay=0.0, backoff_factor=10.0).base_delay(10_000) == 0.0


def test_jitter_spans_plus_minus_the_fraction():
    policy = RestartPolicy(initial_delay=10.0, jitter=0.1)
    assert policy.delay(1, 0.0) == pytest.approx(9.0)
    assert policy.delay(1, 0.5) == pytest.approx(10.0)
    assert policy.delay(1, 0.999999) == pytest.approx(11.0, rel=1e-5)
    with pytest.raises(ValueError):
        policy.delay(1, 1.0)


policies = st.builds(
    RestartPolicy,
    initial_delay=st.floats(0, 1e4),
    max_delay=st.floats(0, 1e4),
    backoff_factor=st.floats(1, 100),
    jitter=st.floats(0, 1),
    max_attempts=st.integers(0, 20),
    mode=st.sampled_from(RestartMode),
    stable_threshold=st.floats(0, 1e4),
)
attempts = st.integers(1, 10_000)
uniform = st.floats(0, 1, exclude_max=True)


@given(policies, attempts, uniform)
def test_delay_is_never_negative_nor_above_the_jittered_cap(policy, attempt, u):
    delay = policy.delay(attempt, u)
    assert 0 <= delay <= policy.max_delay * (1 + policy.jitter)


@given(policies, st.integers(1, 200))
def test_without_jitter_delay_grows_monotonically_until_capped(policy, last):
    delays = [policy.base_delay(k) for k in range(1, last + 1)]
    assert delays == sorted(delays)
    assert all(d <= policy.max_delay for d in delays)
    assert delays[0] == min(policy.initial_delay, policy.max_delay)


# --- max_attempts ------------------------------------------------------------

@given(st.integers(1, 30), st.sampled_from([RestartMode.PERMANENT, RestartMode.TRANSIENT]))
def test_max_attempts_allows_exactly_that_many_restarts(n, mode):
    clock = FakeClock()
    tracker = RestartTracker(no_jitter(max_attempts=n, mode=mode), clock, random=midpoint)
    decisions = []
    for _ in range(n + 1):
        tracker.record_start()
        clock.advance(1.0)  # shorter than stable_threshold
        decisions.append(tracker.record_exit(failed=True))

    assert [d.restart for d in decisions] == [True] * n + [False]
    assert [d.attempt for d in decisions] == list(range(1, n + 2))
    assert decisions[-1] == Decision(False, 0.0, n + 1, Reason.MAX_ATTEMPTS_REACHED)
    assert tracker.attempts == n


def test_zero_max_attempts_restarts_forever():
    tracker = RestartTracker(no_jitter(max_attempts=0), FakeClock())
    assert all(tracker.record_exit(failed=True).restart for _ in range(1000))


def test_failed_starts_count_as_attempts():
    """An exit without record_start (the start itself failed) never resets the count."""
    tracker = RestartTracker(no_jitter(max_attempts=2, stable_threshold=0.0), FakeClock())
    assert tracker.record_exit(failed=True).restart
    assert tracker.record_exit(failed=True).restart
    assert tracker.record_exit(failed=True).reason is Reason.MAX_ATTEMPTS_REACHED


# --- stable runs -------------------------------------------------------------

def test_a_stable_run_resets_the_backoff():
    clock = FakeClock()
    tracker = RestartTracker(no_jitter(stable_threshold=5.0), clock)

    def run_for(seconds: float) -> Decision:
        tracker.record_start()
        clock.advance(seconds)
        return tracker.record_exit(failed=True)

    assert [run_for(0.1).delay for _ in range(3)] == [1.0, 2.0, 4.0]
    assert run_for(4.999).delay == 8.0  # just short of stable
    reset = run_for(5.0)
    assert (reset.delay, reset.attempt) == (1.0, 1)
    assert run_for(0.1).delay == 2.0


def test_a_stable_run_renews_max_attempts():
    clock = FakeClock()
    tracker = RestartTracker(no_jitter(max_attempts=1, stable_threshold=5.0), clock)
    tracker.record_start()
    assert tracker.record_exit(failed=True).restart
    tracker.record_start()
    clock.advance(60.0)
    assert tracker.record_exit(failed=True).restart
    tracker.record_start()
    assert tracker.record_exit(failed=True).reason is Reason.MAX_ATTEMPTS_REACHED


def test_reset_forgets_attempts():
    tracker = RestartTracker(no_jitter(max_attempts=1), FakeClock())
    tracker.record_exit(failed=True)
    tracker.reset()
    assert tracker.attempts == 0
    assert tracker.record_exit(failed=True).restart


def test_tracker_draws_jitter_from_the_injected_random():
    tracker = RestartTracker(RestartPolicy(initial_delay=10.0, jitter=0.1), FakeClock(),
                             random=lambda: 0.0)
    assert tracker.record_exit(failed=True).delay == pytest.approx(9.0)


async def test_stable_reset_on_trio_virtual_time(autojump_clock):
    """The same reset, driven the way a service runs it: trio.sleep on a mock clock."""
    tracker = RestartTracker(no_jitter(stable_threshold=5.0), trio.current_time)
    starts = []
    for run_length in [0.5, 0.5, 6.0, 0.5, 0.5]:
        starts.append(trio.current_time())
        tracker.record_start()
        await trio.sleep(run_length)
        decision = tracker.record_exit(failed=True)
        await trio.sleep(decision.delay)

    # delays 1, 2, then the 6 s run was stable: 1, 2, 4 again
    assert starts == [0.0, 1.5, 4.0, 11.0, 13.5]
    assert trio.current_time() == 18.0


# --- from the registry's lifecycle mapping ------------------------------------

def test_from_mapping_with_nanoseconds():
    policy = RestartPolicy.from_mapping({
        "auto_start": True,
        "stable_threshold": 10 * NS,
        "restart": {
            "initial_delay": NS // 2,
            "max_delay": 30 * NS,
            "backoff_factor": 3,
            "jitter": 0,
            "max_attempts": 4,
            "mode": "permanent",
        },
    })
    assert policy == RestartPolicy(
        initial_delay=0.5, max_delay=30.0, backoff_factor=3.0, jitter=0.0,
        max_attempts=4, mode=RestartMode.PERMANENT, stable_threshold=10.0,
    )


@pytest.mark.parametrize("lifecycle", [{}, {"restart": None}, {"restart": {}}])
def test_from_mapping_defaults(lifecycle):
    assert RestartPolicy.from_mapping(lifecycle) == RestartPolicy()


def test_from_mapping_with_duration_strings():
    policy = RestartPolicy.from_mapping({
        "stable_threshold": "2s",
        "restart": {"initial_delay": "250ms", "max_delay": "90s"},
    })
    assert (policy.initial_delay, policy.max_delay, policy.stable_threshold) == (0.25, 90.0, 2.0)


@pytest.mark.parametrize(
    ("lifecycle", "names"),
    [
        ({"restart": {"inital_delay": NS}}, "inital_delay"),
        ({"restart": {"initial_delay": 1.5}}, "lifecycle.restart.initial_delay"),
        ({"restart": {"initial_delay": "soon"}}, "lifecycle.restart.initial_delay"),
        ({"stable_threshold": True}, "lifecycle.stable_threshold"),
        ({"restart": {"jitter": "lots"}}, "lifecycle.restart.jitter"),
        ({"restart": {"mode": "sometimes"}}, "lifecycle.restart.mode"),
        ({"restart": {"max_attempts": -2}}, "max_attempts"),
        ({"restart": {"backoff_factor": 0.5}}, "backoff_factor"),
        ({"restart": "always"}, "lifecycle.restart"),
    ],
)
def test_from_mapping_errors_name_the_key(lifecycle, names):
    with pytest.raises(ValueError, match=names):
        RestartPolicy.from_mapping(lifecycle)


def test_from_mapping_mode_is_case_insensitive():
    assert RestartPolicy.from_mapping({"restart": {"mode": "Temporary"}}).mode is RestartMode.TEMPORARY
