"""Events: what starts runs and what ``wait_for_event`` waits for, and the check at the door.

Every way in (``nd.send``, ``step.send_event``, ``Engine.send_nowait``, the
timeline's button, ``%durable send``, ``python -m nbdurable send``, a later REST
API) goes through :func:`validate_event`, so an event that could not be stored,
read back or replayed is refused before it is journaled instead of failing the
runs that wait for it on every resume. Events already in a journal (written by
an older release or another tool) are checked again when a wait reads them:
:func:`event_problem` says why one cannot be used, and the wait skips it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import os
import re
from typing import Any

from .._errors import ConfigError, InvalidEventError

__all__ = [
    "Event",
    "EventLimits",
    "check_event_id",
    "check_event_name",
    "coerce_event",
    "event_problem",
    "parse_event_data",
    "trigger_matches",
    "validate_event",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """An event as a workflow sees it: ``event.name``, ``event.data``, ``event.id``, ``event.ts``."""

    name: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str = ""
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The form expressions and the journal see: ``{"name", "data", "id", "ts"}``."""
        return {"name": self.name, "data": self.data, "id": self.id, "ts": self.ts}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        return cls(name=raw["name"], data=raw.get("data") or {}, id=raw.get("id", ""), ts=raw.get("ts", 0.0))


_ENV = {
    "max_bytes": "NBDURABLE_EVENT_MAX_BYTES",
    "max_depth": "NBDURABLE_EVENT_MAX_DEPTH",
    "max_name_length": "NBDURABLE_EVENT_MAX_NAME",
    "max_id_length": "NBDURABLE_EVENT_MAX_ID",
}


@dataclasses.dataclass(frozen=True, slots=True)
class EventLimits:
    """Bounds on the events a journal accepts: data size and nesting, name and id length.

    The defaults suit events that steer workflows (approvals, webhooks); large
    payloads belong in a file or object store, with the event carrying a
    reference. Set them per process with ``nd.configure(event_limits=...)``, or
    with the environment variables ``NBDURABLE_EVENT_MAX_BYTES``,
    ``NBDURABLE_EVENT_MAX_DEPTH``, ``NBDURABLE_EVENT_MAX_NAME`` and
    ``NBDURABLE_EVENT_MAX_ID`` (read when the engine is made; they apply to the
    command line too).
    """

    max_bytes: int = 1_048_576  # the data as compact UTF-8 JSON
    max_depth: int = 64  # nested objects and arrays, the data object itself being level 1
    max_name_length: int = 256  # characters
    max_id_length: int = 256

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            least = 40 if field.name == "max_id_length" else 1  # ids nbdurable derives take up to 35 characters
            if type(value) is not int or value < least:
                raise ConfigError(f"EventLimits.{field.name} must be an int of at least {least}, got {value!r}")

    @classmethod
    def from_env(cls) -> EventLimits:
        """The defaults, overridden by the ``NBDURABLE_EVENT_*`` environment variables that are set."""
        values: dict[str, int] = {}
        for field, var in _ENV.items():
            text = os.environ.get(var)
            if text is None or not text.strip():
                continue
            try:
                values[field] = int(text)
            except ValueError:
                raise ConfigError(f"{var} must be a positive whole number, got {text!r}") from None
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (from the environment: {', '.join(_ENV[k] for k in values)})") from None


# Control characters (C0, DEL, C1) and line/paragraph separators: no name or id holds them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _not_utf8(text: str) -> int | None:
    """The index of the first character UTF-8 cannot encode (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _check_text(value: Any, what: str, max_length: int, env: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InvalidEventError(
            f"{what} is {len(value)} characters long; the limit is {max_length} (EventLimits, or {env})"
        )
    bad = _not_utf8(value)
    if bad is not None:
        raise InvalidEventError(
            f"{what} {value!r} is not valid UTF-8 (character {bad} is a lone surrogate, as bytes from a "
            "non-UTF-8 terminal or file name give); use UTF-8 text"
        )
    if _CONTROL.search(value) or value != value.strip():
        raise InvalidEventError(
            f"{what} {value!r} holds control characters or spaces at its ends; use printable text such as "
            "'app/order.created'"
        )
    return value


def check_event_name(name: Any, limits: EventLimits | None = None) -> str:
    """``name`` if it is a usable event name: UTF-8 without control characters or end spaces, not too long."""
    return _check_text(name, "event name", (limits or _DEFAULT).max_name_length, _ENV["max_name_length"])


def check_event_id(event_id: Any, limits: EventLimits | None = None) -> str:
    """``event_id`` if it is a usable event id (the same rules as names)."""
    return _check_text(event_id, "event id", (limits or _DEFAULT).max_id_length, _ENV["max_id_length"])


def _path_text(path: tuple[Any, ...] | None) -> str:
    """``data["a"][0]`` from the linked (parent, key) tuples built while walking."""
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    keys.reverse()
    shown = "".join(f"[{k!r}]" for k in keys[:4])
    if len(keys) > 6:  # a deep path is said in short: its start and its end
        shown += "…"
    return "data" + shown + "".join(f"[{k!r}]" for k in keys[max(4, len(keys) - 2) :])


def _problem_in_data(data: Any, limits: EventLimits) -> str | None:
    """Why ``data`` is not storable JSON within ``limits``, or None. Iterative: any depth is safe to check."""
    if not isinstance(data, dict):
        return f"data must be a JSON object (a dict), got {type(data).__name__}"
    size = 0  # a lower bound of the JSON size, to stop early on data far over the limit
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(data, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if value is None or value is True or value is False:
            size += 4
        elif isinstance(value, str):
            size += len(value) + 2
            bad = _not_utf8(value)
            if bad is not None:
                return (
                    f"{_path_text(path)} is not valid UTF-8 text (character {bad} is a lone surrogate, as bytes "
                    "from a non-UTF-8 source give); decode it properly or send it base64-encoded"
                )
        elif isinstance(value, int):
            size += 1
        elif isinstance(value, float):
            if not math.isfinite(value):
                return f"{_path_text(path)} is {value!r}, which JSON cannot hold; send null or a string instead"
            size += 1
        elif isinstance(value, dict | list):
            if depth > limits.max_depth:
                return (
                    f"{_path_text(path)} is nested more than {limits.max_depth} levels deep; the limit is "
                    f"{limits.max_depth} (EventLimits.max_depth, or {_ENV['max_depth']})"
                )
            size += 2
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        return (
                            f"{_path_text(path)} has the key {key!r} ({type(key).__name__}); JSON object keys are "
                            "strings, so it would come back changed: use str keys"
                        )
                    bad = _not_utf8(key)
                    if bad is not None:
                        return f"{_path_text(path)} has a key that is not valid UTF-8 ({key!r})"
                    size += len(key) + 3
                    stack.append((item, depth + 1, (path, key)))
            else:
                for i, item in enumerate(value):
                    stack.append((item, depth + 1, (path, i)))
        else:
            return (
                f"{_path_text(path)} is a {type(value).__module__}.{type(value).__qualname__}; event data holds "
                "only JSON values (dict, list, str, int, float, bool, None): convert it first (e.g. str() or "
                ".isoformat())"
            )
        if size > limits.max_bytes:
            return _too_big(f"more than {limits.max_bytes:,}", limits)
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # an int too long to write as text (Python's 4300-digit limit)
        return f"data cannot be written as JSON ({exc}); send very large numbers as strings"
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        return _too_big(f"{size:,}", limits)
    return None


def _too_big(size: str, limits: EventLimits) -> str:
    return (
        f"data is {size} bytes as JSON; the limit is {limits.max_bytes:,} (EventLimits.max_bytes, or "
        f"{_ENV['max_bytes']}). Put large payloads in a file or store and send a reference"
    )


def validate_event(
    name: Any, data: Any = None, *, id: Any = None, limits: EventLimits | None = None
) -> tuple[str, dict[str, Any], str | None]:
    """Check an event before it is journaled; returns ``(name, data, id)`` or raises InvalidEventError.

    The one check every door uses: the name and id are UTF-8 text without control characters within their
    lengths, and the data is a JSON object (str keys; str, int, finite float, bool,
    None, list and dict values) that reads back equal, within ``limits`` (default:
    :meth:`EventLimits.from_env`) of size and depth. ``data=None`` is ``{}``.
    """
    limits = limits or EventLimits.from_env()
    name = check_event_name(name, limits)
    if id is not None:
        id = check_event_id(id, limits)
    data = {} if data is None else data
    problem = _problem_in_data(data, limits)
    if problem is not None:
        raise InvalidEventError(f"event {name!r} refused: {problem}. Nothing was sent.")
    return name, data, id


def event_problem(name: str, data: Any, event_id: str, limits: EventLimits | None = None) -> str | None:
    """Why a stored event cannot be used (it would fail the run that took it), or None."""
    limits = limits or _DEFAULT
    for value, what, most in ((name, "name", limits.max_name_length), (event_id, "id", limits.max_id_length)):
        if not isinstance(value, str) or len(value) > most or _not_utf8(value) is not None:
            return f"its {what} is not a usable string"
    return _problem_in_data(data, limits)


def parse_event_data(text: str, limits: EventLimits | None = None) -> dict[str, Any]:
    """Parse the JSON text of an event's data (command line, magics) with a one-line error for any bad input."""
    limits = limits or EventLimits.from_env()
    bad = _not_utf8(text)
    if bad is not None:
        raise InvalidEventError(f"the payload is not valid UTF-8 (a stray byte at character {bad}); use UTF-8 text")
    if len(text.encode("utf-8")) > 4 * limits.max_bytes + 1024:  # whitespace aside, far over the limit
        raise InvalidEventError(f"the payload is larger than the limit of {limits.max_bytes:,} bytes")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"the payload is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise InvalidEventError(
            f"the payload is nested too deeply to read; the limit is {limits.max_depth} levels"
        ) from None
    except ValueError as exc:  # NaN/Infinity (below), or an int over Python's 4300-digit limit
        raise InvalidEventError(f"the payload cannot be used: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEventError(f"the payload must be a JSON object ({{...}}), got {type(data).__name__}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (send null or a string instead)")


_DEFAULT = EventLimits()


def coerce_event(value: Any, *, where: str = "send_event") -> Event:
    """Accept an Event or a ``{"name", "data", "id"?}`` dict, with a clear error otherwise."""
    if isinstance(value, Event):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        data = value.get("data") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: event data must be a dict, got {type(data).__name__}")
        return Event(name=value["name"], data=data, id=str(value.get("id") or ""))
    raise ConfigError(
        f"{where}: expected nd.Event(name, data) or a dict like {{'name': 'app/thing.happened', 'data': {{...}}}}, "
        f"got {type(value).__name__}"
    )


def trigger_matches(trigger: str, name: str) -> bool:
    """Whether an event ``name`` starts a function with ``trigger`` ("app/*" wildcards allowed)."""
    if "*" in trigger:
        return fnmatch.fnmatchcase(name, trigger)
    return trigger == name
