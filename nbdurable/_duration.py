"""Parse durations and deadlines given as seconds, timedeltas or strings like "1h30m".

Sleeps, timeouts and retry delays all accept the same forms, so one parser
(``_timespec``) keeps them consistent and gives one clear error for bad input: a
ConfigError naming what was wrong.
"""

from __future__ import annotations

import datetime as dt

from ._errors import ConfigError
from ._timespec import Duration, DurationError, deadline_seconds, duration_seconds

__all__ = ["Duration", "parse_deadline", "parse_duration"]


def parse_duration(value: Duration, *, what: str = "duration") -> float:
    """Return ``value`` as non-negative seconds.

    Accepts int/float seconds, ``timedelta`` and strings such as "500ms", "30s",
    "2h", "7d", "1h30m" (Inngest's forms).
    """
    try:
        return duration_seconds(value, what=what)
    except DurationError as exc:
        raise ConfigError(str(exc)) from None


def parse_deadline(value: dt.datetime | float | str, *, what: str = "deadline") -> float:
    """Return an absolute deadline as epoch seconds.

    A naive datetime is refused: a durable deadline outlives the process and its
    local time zone assumptions, so it must say which zone it means.
    """
    try:
        return deadline_seconds(value, what=what)
    except DurationError as exc:
        raise ConfigError(str(exc)) from None
