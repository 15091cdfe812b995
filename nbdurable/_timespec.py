"""The grammar of durations and deadlines: seconds, timedeltas, strings like "1h30m", ISO dates.

A leaf with no error type of nbdurable's own, so that both the error tree
(``RetryAfterError`` checks its delay) and ``_duration`` (which raises ConfigError)
build on it without importing each other. Callers turn :class:`DurationError`
into :class:`~nbdurable.ConfigError`.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["Duration", "DurationError", "deadline_seconds", "duration_seconds"]

Duration = float | int | str | dt.timedelta


class DurationError(ValueError):
    """A duration or deadline that does not parse; its message says what was wrong and the forms that work."""


_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w)\s*")


def duration_seconds(value: Duration, *, what: str = "duration") -> float:
    """Return ``value`` as non-negative seconds.

    Accepts int/float seconds, ``timedelta`` and strings such as "500ms", "30s",
    "2h", "7d", "1h30m" (Inngest's forms).
    """
    if isinstance(value, bool):
        raise DurationError(f"{what} must be seconds, a timedelta or a string like '30s', got a bool")
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        pos = 0
        seconds = 0.0
        while pos < len(text):
            match = _PART.match(text, pos)
            if match is None:
                raise DurationError(
                    f"{what} {value!r} is not a duration: expected forms like '500ms', '30s', '5m', '2h', '7d' "
                    f"or '1h30m' (problem at character {pos})"
                )
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not text:
            raise DurationError(f"{what} is an empty string: give a duration like '30s'")
    else:
        raise DurationError(f"{what} must be seconds, a timedelta or a string like '30s', got {type(value).__name__}")
    if seconds < 0 or seconds != seconds:
        raise DurationError(f"{what} must not be negative, got {value!r}")
    return seconds


def deadline_seconds(value: dt.datetime | float | str, *, what: str = "deadline") -> float:
    """Return an absolute deadline as epoch seconds.

    A naive datetime is refused: a durable deadline outlives the process and its
    local time zone assumptions, so it must say which zone it means.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise DurationError(
                f"{what} {value.isoformat()} has no time zone: pass an aware datetime, "
                "e.g. datetime.now(timezone.utc) + timedelta(hours=1)"
            )
        return value.timestamp()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise DurationError(
                f"{what} {value!r} is not an ISO 8601 date-time like '2026-01-31T12:00:00+00:00'"
            ) from None
        return deadline_seconds(parsed, what=what)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DurationError(f"{what} must be an aware datetime, an ISO string or epoch seconds, got {type(value).__name__}")
