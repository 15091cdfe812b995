"""Tests for nbdurable._duration: durations and deadlines in every form a user writes them."""

from __future__ import annotations

import datetime as dt
import math

import pytest

import nbdurable as nd
from nbdurable._duration import parse_deadline, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("1sec", 1.0),
        ("5m", 300.0),
        ("5min", 300.0),
        ("2h", 7200.0),
        ("7d", 7 * 86400.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("  2h  ", 7200.0),
        ("2H", 7200.0),
        ("1.5h", 5400.0),
        ("0s", 0.0),
        ("1m30s250ms", 90.25),
    ],
)
def test_strings(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (3, 3.0),
        (0.25, 0.25),
        (dt.timedelta(minutes=2, seconds=3), 123.0),
        (dt.timedelta(0), 0.0),
    ],
)
def test_numbers_and_timedeltas(value: float | dt.timedelta, seconds: float) -> None:
    result = parse_duration(value)
    assert isinstance(result, float)
    assert result == seconds


def test_infinite_duration_means_forever() -> None:
    assert parse_duration(math.inf) == math.inf


def test_exported_at_top_level() -> None:
    assert nd.parse_duration is parse_duration
    assert nd.parse_duration("1m") == 60.0


@pytest.mark.parametrize("bad", ["", "   ", "abc", "5x", "-5s", "1h30", "h", "5 m s", "1,5h", "1e3s", "s5"])
def test_bad_strings_are_config_errors(bad: str) -> None:
    with pytest.raises(nd.ConfigError) as info:
        parse_duration(bad)
    # Also a ValueError, so generic input validation catches it.
    assert isinstance(info.value, ValueError)
    assert "30s" in str(info.value)  # says what a valid form looks like


def test_error_points_at_the_bad_part() -> None:
    # "1h" parses; the part that does not starts at character 2.
    with pytest.raises(nd.ConfigError, match="character 2"):
        parse_duration("1h30x")


@pytest.mark.parametrize("bad", [-1, -0.001, dt.timedelta(seconds=-1), math.nan])
def test_negative_and_nan_are_refused(bad: float | dt.timedelta) -> None:
    with pytest.raises(nd.ConfigError, match="negative"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [True, False, None, [1], {"s": 1}, b"30s"])
def test_wrong_types_are_refused(bad: object) -> None:
    with pytest.raises(nd.ConfigError, match="seconds, a timedelta or a string"):
        parse_duration(bad)  # type: ignore[arg-type]


def test_what_names_the_argument() -> None:
    with pytest.raises(nd.ConfigError, match=r"step.sleep\('nap'\) duration"):
        parse_duration("soon", what="step.sleep('nap') duration")


# -- deadlines -------------------------------------------------------------------------------------


def test_aware_datetime() -> None:
    when = dt.datetime(2030, 1, 31, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_deadline(when) == when.timestamp()


def test_aware_datetime_in_another_zone() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    a = dt.datetime(2030, 1, 31, 14, 0, tzinfo=plus2)
    b = dt.datetime(2030, 1, 31, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_deadline(a) == parse_deadline(b)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(nd.ConfigError, match="no time zone"):
        parse_deadline(dt.datetime(2030, 1, 31, 12, 0))


def test_iso_strings() -> None:
    assert (
        parse_deadline("2030-01-31T12:00:00+00:00") == dt.datetime(2030, 1, 31, 12, tzinfo=dt.timezone.utc).timestamp()
    )
    with pytest.raises(nd.ConfigError, match="no time zone"):
        parse_deadline("2030-01-31T12:00:00")
    with pytest.raises(nd.ConfigError, match="ISO 8601"):
        parse_deadline("next tuesday")


def test_epoch_seconds() -> None:
    assert parse_deadline(1_900_000_000) == 1_900_000_000.0
    assert parse_deadline(1.5) == 1.5


@pytest.mark.parametrize("bad", [True, None, dt.date(2030, 1, 1), dt.timedelta(hours=1)])
def test_deadline_wrong_types(bad: object) -> None:
    with pytest.raises(nd.ConfigError, match="aware datetime"):
        parse_deadline(bad)  # type: ignore[arg-type]
