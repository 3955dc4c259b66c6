import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.durations import (
    HOUR,
    MAX_DURATION,
    MICROSECOND,
    MILLISECOND,
    MIN_DURATION,
    MINUTE,
    NANOSECOND,
    SECOND,
    DurationError,
    format_duration,
    parse_duration,
)


def test_constants_scale_like_go():
    assert (NANOSECOND, MICROSECOND, MILLISECOND) == (1, 1_000, 1_000_000)
    assert (SECOND, MINUTE, HOUR) == (10**9, 60 * 10**9, 3600 * 10**9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h30m", HOUR + 30 * MINUTE),
        ("250ms", 250 * MILLISECOND),
        ("1.5s", 1500 * MILLISECOND),
        ("10us", 10 * MICROSECOND),
        ("10µs", 10 * MICROSECOND),  # micro sign, as Go prints it
        ("10μs", 10 * MICROSECOND),  # greek mu
        ("5ns", 5),
        ("2m", 2 * MINUTE),
        ("0", 0),
        ("+5s", 5 * SECOND),
        (".5s", 500 * MILLISECOND),
        ("5.s", 5 * SECOND),
        ("1h0m0.5s", HOUR + 500 * MILLISECOND),
        ("100.00100s", 100 * SECOND + MILLISECOND),
        ("1.0000000009s", SECOND),  # fractions of a nanosecond truncate, as in Go
        ("9223372036854775807ns", MAX_DURATION),
    ],
)
def test_parse_go_strings(text, expected):
    assert parse_duration(text) == expected


def test_parse_accepts_nanosecond_numbers():
    assert parse_duration(1500) == 1500
    assert parse_duration(0) == 0
    assert parse_duration(2e9) == 2 * SECOND  # a whole float, as Lua may pass one


def test_negative_durations_only_when_allowed():
    with pytest.raises(DurationError, match="negative"):
        parse_duration("-1s")
    with pytest.raises(DurationError, match="negative"):
        parse_duration(-5)
    assert parse_duration("-1m30s", allow_negative=True) == -90 * SECOND
    assert parse_duration(-5, allow_negative=True) == -5
    assert parse_duration("-0") == 0


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-",
        "5",  # missing unit
        "1x",  # unknown unit
        "1d",
        "1.5.5s",
        ".s",
        " 1s",
        "1s ",
        "1 s",
        "s",
        "+-1s",
        "9223372036854775808ns",
        "١s",  # non-ASCII digit
        True,
        False,
        None,
        math.nan,
        math.inf,
        1.5,
        [1],
        {"s": 1},
        2**63,
    ],
)
def test_bad_values_raise_naming_the_value(value):
    with pytest.raises(DurationError) as caught:
        parse_duration(value)
    assert repr(value) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_error_messages_say_what_is_wrong():
    with pytest.raises(DurationError, match="unknown unit 'x'"):
        parse_duration("1x")
    with pytest.raises(DurationError, match="missing unit"):
        parse_duration("10")
    with pytest.raises(DurationError, match="out of range"):
        parse_duration("3000000h")


@pytest.mark.parametrize(
    ("nanoseconds", "expected"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5µs"),
        (250 * MILLISECOND, "250ms"),
        (1500 * MILLISECOND, "1.5s"),
        (2 * MINUTE, "2m0s"),
        (HOUR + 30 * MINUTE, "1h30m0s"),
        (HOUR + 500 * MILLISECOND, "1h0m0.5s"),
        (-90 * SECOND, "-1m30s"),
        (MAX_DURATION, "2562047h47m16.854775807s"),
        (MIN_DURATION, "-2562047h47m16.854775808s"),
    ],
)
def test_format_like_go(nanoseconds, expected):
    assert format_duration(nanoseconds) == expected


@pytest.mark.parametrize("value", [True, 1.0, "1s", None])
def test_format_refuses_non_integers(value):
    with pytest.raises(TypeError):
        format_duration(value)


durations = st.integers(min_value=MIN_DURATION, max_value=MAX_DURATION)
units = st.sampled_from(["ns", "us", "µs", "ms", "s", "m", "h"])
UNIT_SIZE = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


@given(durations)
def test_format_then_parse_round_trips(nanoseconds):
    assert parse_duration(format_duration(nanoseconds), allow_negative=True) == nanoseconds


@given(durations, durations)
def test_formatted_durations_keep_their_order(a, b):
    parsed_a = parse_duration(format_duration(a), allow_negative=True)
    parsed_b = parse_duration(format_duration(b), allow_negative=True)
    assert (parsed_a < parsed_b) == (a < b)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6), units)
def test_more_of_a_unit_is_longer(a, b, unit):
    assert (parse_duration(f"{a}{unit}") < parse_duration(f"{b}{unit}")) == (a < b)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=10**4), units), min_size=1, max_size=6))
def test_components_add_up(components):
    text = "".join(f"{count}{unit}" for count, unit in components)
    assert parse_duration(text) == sum(count * UNIT_SIZE[unit] for count, unit in components)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999), units)
def test_fractions_are_exact_to_the_nanosecond(whole, thousandths, unit):
    text = f"{whole}.{thousandths:03d}{unit}"
    assert parse_duration(text) == whole * UNIT_SIZE[unit] + thousandths * UNIT_SIZE[unit] // 1000
