"""CEL timestamps and durations, held as whole nanoseconds so arithmetic and comparisons are exact.

Python's ``datetime`` keeps microseconds and CEL keeps nanoseconds, so both types store one int;
``datetime`` is used only to read and write calendar fields. The ranges are CEL's: timestamps
from year 1 to 9999 (UTC), durations up to 10,000 years either way.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ._limits import INT_MAX, INT_MIN
from ._messages import EvalError

NS = 1_000_000_000
MIN_TS = -62_135_596_800 * NS  # 0001-01-01T00:00:00Z
MAX_TS = 253_402_300_799 * NS + NS - 1  # 9999-12-31T23:59:59.999999999Z
MAX_DURATION = 2**63 - 1  # as cel-go: a duration is a signed 64-bit count of nanoseconds (about 292 years)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_TS_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_DURATION_PART = re.compile(r"(\d+)(?:\.(\d*))?(h|ms|m|s|us|µs|ns)|\.(\d+)(h|ms|m|s|us|µs|ns)")
_UNITS = {"h": 3600 * NS, "m": 60 * NS, "s": NS, "ms": 1_000_000, "us": 1000, "µs": 1000, "ns": 1}
_OFFSET_RE = re.compile(r"([+-]?)(\d{2}):(\d{2})")


class _Instant:
    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Instant) and type(other) is type(self) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.ns))

    def __lt__(self, other: Any) -> bool:
        return bool(self.ns < other.ns)

    def __le__(self, other: Any) -> bool:
        return bool(self.ns <= other.ns)

    def __gt__(self, other: Any) -> bool:
        return bool(self.ns > other.ns)

    def __ge__(self, other: Any) -> bool:
        return bool(self.ns >= other.ns)


class Timestamp(_Instant):
    """A point in time: nanoseconds since 1970-01-01T00:00:00Z."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"timestamp({format_timestamp(self)!r})"


class Duration(_Instant):
    """A signed span of time in nanoseconds."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"duration({format_duration(self)!r})"


def make_timestamp(ns: int, pos: int) -> Timestamp:
    if not MIN_TS <= ns <= MAX_TS:
        raise EvalError(pos, lambda: "timestamp out of range: CEL timestamps run from year 1 to 9999")
    return Timestamp(ns)


def make_duration(ns: int, pos: int) -> Duration:
    if not -MAX_DURATION <= ns <= MAX_DURATION:
        raise EvalError(pos, lambda: "duration out of range: a duration is at most about 292 years")
    return Duration(ns)


def parse_timestamp(text: str, pos: int) -> Timestamp:
    """An RFC 3339 timestamp such as 2009-02-13T23:31:30Z or 2009-02-13T23:31:30.5+01:00."""
    m = _TS_RE.fullmatch(text) if len(text) <= 40 else None
    if m is None:
        raise EvalError(pos, lambda: f"timestamp() needs RFC 3339 text such as '2009-02-13T23:31:30Z', not {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)
    except ValueError as exc:
        message = str(exc)
        raise EvalError(pos, lambda: f"timestamp() cannot read {text!r}: {message}") from None
    seconds = (moment - _EPOCH) // dt.timedelta(seconds=1)
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    fraction = m.group(7) or ""
    return make_timestamp(seconds * NS + int(fraction.ljust(9, "0") or 0), pos)


def parse_duration_text(text: str, pos: int) -> Duration:
    """A Go-style duration such as 1h30m, -1.5s or 250ms."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or len(body) > 100:
        raise EvalError(pos, lambda: f"duration() needs text such as '1h30m' or '1.5s', not {text!r}")
    total, at = 0, 0
    if body == "0":  # Go's one unitless duration
        at = 1
    for m in _DURATION_PART.finditer(body):
        if m.start() != at:
            break
        whole, frac, unit = (m.group(1), m.group(2) or "", m.group(3)) if m.group(1) else ("0", m.group(4), m.group(5))
        scale = _UNITS[unit]
        total += int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        at = m.end()
    if at != len(body):
        raise EvalError(pos, lambda: f"duration() needs text such as '1h30m' or '1.5s', not {text!r}")
    return make_duration(-total if text.startswith("-") else total, pos)


def format_timestamp(ts: Timestamp) -> str:
    seconds, nanos = divmod(ts.ns, NS)
    text = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) < 19:  # strftime drops the leading zeros of years before 1000 on some platforms
        text = text.zfill(19)
    return text + (f".{nanos:09d}".rstrip("0") if nanos else "") + "Z"


def format_duration(d: Duration) -> str:
    sign = "-" if d.ns < 0 else ""
    seconds, nanos = divmod(abs(d.ns), NS)
    return f"{sign}{seconds}" + (f".{nanos:09d}".rstrip("0") if nanos else "") + "s"


def _zone(name: str, pos: int) -> dt.tzinfo:
    m = _OFFSET_RE.fullmatch(name)
    if m:
        delta = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return dt.timezone(-delta if m.group(1) == "-" else delta)
    if name in ("UTC", "Z"):
        return dt.timezone.utc
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise EvalError(pos, lambda: f"unknown time zone {name!r}; use a name such as 'Europe/Oslo' or '+01:00'")


TIMESTAMP_GETTERS = frozenset(
    {
        "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip


def timestamp_field(name: str, ts: Timestamp, zone: str | None, pos: int) -> int:
    """A calendar field of ``ts`` in UTC or in ``zone``; months, days of month and of year count from 0."""
    seconds, nanos = divmod(ts.ns, NS)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    if zone is not None:
        moment = moment.astimezone(_zone(zone, pos))
    fields = {
        "getFullYear": lambda: moment.year,
        "getMonth": lambda: moment.month - 1,
        "getDayOfYear": lambda: moment.timetuple().tm_yday - 1,
        "getDayOfMonth": lambda: moment.day - 1,
        "getDate": lambda: moment.day,
        "getDayOfWeek": lambda: (moment.weekday() + 1) % 7,  # Sunday is 0
        "getHours": lambda: moment.hour,
        "getMinutes": lambda: moment.minute,
        "getSeconds": lambda: moment.second,
        "getMilliseconds": lambda: nanos // 1_000_000,
    }
    return int(fields[name]())


def duration_field(name: str, d: Duration, pos: int) -> int:
    """The whole hours, minutes, seconds or milliseconds of a duration (CEL truncates toward zero)."""
    per = {"getHours": 3600 * NS, "getMinutes": 60 * NS, "getSeconds": NS, "getMilliseconds": 1_000_000}.get(name)
    if per is None:
        raise EvalError(pos, lambda: f".{name}() works on timestamps, not durations")
    q = abs(d.ns) // per
    if name == "getMilliseconds":
        q = (abs(d.ns) % NS) // 1_000_000  # the milliseconds within the second, as in cel-go
    return q if d.ns >= 0 else -q


def timestamp_from_int(seconds: int, pos: int) -> Timestamp:
    if not INT_MIN <= seconds <= INT_MAX:
        raise EvalError(pos, lambda: "timestamp() of an int out of range")
    return make_timestamp(seconds * NS, pos)


def add(a: Any, b: Any, pos: int) -> Any:
    """``a + b`` for timestamps and durations; None when neither is one."""
    if type(a) is Duration and type(b) is Duration:
        return make_duration(a.ns + b.ns, pos)
    if type(a) is Timestamp and type(b) is Duration:
        return make_timestamp(a.ns + b.ns, pos)
    if type(a) is Duration and type(b) is Timestamp:
        return make_timestamp(a.ns + b.ns, pos)
    return None


def subtract(a: Any, b: Any, pos: int) -> Any:
    """``a - b`` for timestamps and durations; None when neither is one."""
    if type(a) is Timestamp and type(b) is Timestamp:
        return make_duration(a.ns - b.ns, pos)
    if type(a) is Timestamp and type(b) is Duration:
        return make_timestamp(a.ns - b.ns, pos)
    if type(a) is Duration and type(b) is Duration:
        return make_duration(a.ns - b.ns, pos)
    return None
