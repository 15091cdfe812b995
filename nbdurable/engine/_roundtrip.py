"""Does a value come back the same? The checks behind "a value round-trips or is refused".

``first_non_json`` finds where a value stops being exact JSON (what an undeclared
result must be); ``first_difference`` compares a value with what decoding gave
back. Both are strict about types (a tuple is not a list, an IntEnum member is not
an int, a str subclass is not a str), treat NaN as equal to NaN, and stop at
``MAX_DEPTH`` levels, so a value deeper than every reader can parse is refused.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeepError", "describe", "first_difference", "first_non_json", "kind_of", "short_repr"]

# Nesting levels a journaled value may have. pydantic's JSON parser stops near 200 and Python's
# json module near the interpreter's recursion limit; 100 keeps every reader well inside both.
MAX_DEPTH = 100

_SCALARS = frozenset({str, int, float, bool, type(None)})
_EXACT = frozenset({str, int, bool, type(None), bytes, bytearray, uuid.UUID, dt.date, dt.timedelta})
_MISSING = object()


class TooDeepError(Exception):
    """The value is nested more than MAX_DEPTH levels."""


class _Attr(str):
    """A path step that is an attribute (``.name``), not a key."""


def kind_of(cls: type) -> str | None:
    """ "enum", "model" (pydantic), "dataclass", or None: the tagged kinds a class can be."""
    if issubclass(cls, enum.Enum):
        return "enum"
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and issubclass(cls, pydantic.BaseModel):
        return "model"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    return None


def describe(kind: str) -> str:
    return {"enum": "an Enum", "model": "a pydantic model", "dataclass": "a dataclass"}.get(kind, kind)


def _name(cls: type) -> str:
    return cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"


def _a(name: str) -> str:
    """The name with its article: "a list", "an int", "an Enum"."""
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(parts: list[Any]) -> str:
    out = "result"
    for part in reversed(parts):
        out += f".{part}" if isinstance(part, _Attr) else f"[{part!r}]"
    return out


# -- exact JSON -----------------------------------------------------------------------------------


def first_non_json(value: Any) -> str | None:
    """Where ``value`` stops being exact JSON (str keys, lists, plain scalars), said plainly; None if it does not."""
    found = _non_json(value, 0)
    if found is None:
        return None
    parts, problem = found
    return f"at {_path(parts)}, {problem}"


def _non_json(value: Any, depth: int) -> tuple[list[Any], str] | None:
    t = type(value)
    if t in _SCALARS:
        return None
    if depth >= MAX_DEPTH:
        raise TooDeepError
    if t is list:
        for i, item in enumerate(value):
            if type(item) in _SCALARS:
                continue
            found = _non_json(item, depth + 1)
            if found is not None:
                found[0].append(i)
                return found
        return None
    if t is dict:
        for key, item in value.items():
            if type(key) is not str:
                return [], _key_problem(key)
            if type(item) in _SCALARS:
                continue
            found = _non_json(item, depth + 1)
            if found is not None:
                found[0].append(key)
                return found
        return None
    return [], _becomes(value)


def _key_problem(key: Any) -> str:
    if isinstance(key, str):
        return f"the key {key!r} ({_a(_name(type(key)))}, a subclass of str) would come back as a plain str"
    try:
        text = json.dumps(key)
    except (TypeError, ValueError):
        text = str(key)
    return (
        f"the key {short_repr(key)} ({_a(_name(type(key)))}) would come back as the str {text!r} (JSON keys are text)"
    )


def _becomes(value: Any) -> str:
    """What JSON makes of a value that is not JSON itself."""
    t = type(value)
    name = _name(t)
    if isinstance(value, enum.Enum):
        return f"the Enum member {name}.{value.name} would come back as its value {short_repr(value.value)}"
    kind = kind_of(t)
    if kind is not None:
        return f"{_a(name)} ({describe(kind)}) would come back as a dict"
    for base, form in (
        (bool, "bool"),
        (str, "str"),
        (int, "int"),
        (float, "float"),
        (dict, "dict"),
        (list, "list"),
        (tuple, "list"),
        (set, "list"),
        (frozenset, "list"),
    ):
        if isinstance(value, base):
            sub = "" if t is base else f", a subclass of {base.__name__},"
            return f"{_a(name)}{sub} would come back as a plain {form}"
    if isinstance(value, (bytes, bytearray)):
        return f"{_a(name)} would come back as base64 text (a str)"
    if isinstance(value, (dt.date, dt.time, dt.timedelta, uuid.UUID, decimal.Decimal)):
        return f"{_a(name)} would come back as a str"
    if isinstance(value, (Iterator, AsyncIterator)):
        return f"{_a(name)} makes its items as it is read, and storing it would use it up (return a list instead)"
    return f"{_a(name)} would come back in its JSON form"


# -- comparing with what came back ----------------------------------------------------------------


def first_difference(original: Any, back: Any) -> str | None:
    """Where ``back`` (decoded) differs from ``original``, said plainly; None when they are the same."""
    found = _diff(original, back, 0)
    if found is None:
        return None
    parts, problem = found
    return f"at {_path(parts)}, {problem}"


def _diff(a: Any, b: Any, depth: int) -> tuple[list[Any], str] | None:
    if a is b:
        return None
    ta, tb = type(a), type(b)
    if ta is not tb:
        if ta is int and tb is float and a == b:
            return None  # an int where float is declared: PEP 484's numeric tower, and equal
        if isinstance(a, enum.Enum) or kind_of(ta) is None:
            return [], f"{_a(_name(ta))} would come back as {_a(_name(tb))} ({short_repr(b)})"
        return [], f"{_a(_name(ta))} would come back as {_a(_name(tb))}"
    if ta is float:
        if (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b):
            return None
        return [], f"{a!r} would come back as {b!r}"
    if ta in _EXACT:
        return None if a == b else ([], f"{short_repr(a)} would come back as {short_repr(b)}")
    if depth >= MAX_DEPTH:
        raise TooDeepError
    if ta is dt.datetime or ta is dt.time:
        return _diff_clock(a, b)
    if ta is decimal.Decimal:
        return None if a.compare_total(b) == 0 else ([], f"{a!r} would come back as {b!r}")
    if issubclass(ta, (list, tuple)):
        return _diff_items(a, b, depth)
    if issubclass(ta, dict):
        return _diff_dict(a, b, depth)
    if issubclass(ta, (set, frozenset)):
        same = a == b and collections.Counter(map(type, a)) == collections.Counter(map(type, b))
        return None if same else ([], f"{short_repr(a)} would come back as {short_repr(b)}")
    if isinstance(a, enum.Enum):
        return None if a == b else ([], f"{a!r} would come back as {b!r}")
    kind = kind_of(ta)
    if kind == "model":
        return _diff_model(a, b, depth)
    if kind == "dataclass":
        return _diff_fields(
            [(f.name, getattr(a, f.name, _MISSING), getattr(b, f.name, _MISSING)) for f in dataclasses.fields(a)],
            depth,
        )
    try:
        same = bool(a == b)
    except Exception:
        same = False
    return None if same else ([], f"{_a(_name(ta))} would not compare equal to what comes back")


def _fixed(tz: Any) -> bool:
    """A fixed UTC offset (what ISO text keeps), not a named zone with its own rules."""
    return type(tz) is dt.timezone or (type(tz).__name__ == "TzInfo" and type(tz).__module__.startswith("pydantic"))


def _diff_clock(a: Any, b: Any) -> tuple[list[Any], str] | None:
    if a.tzinfo is not None and not _fixed(a.tzinfo):
        return [], (
            f"{short_repr(a)} is in the time zone {a.tzinfo}, which would come back as a fixed UTC offset (ISO text "
            "keeps no zone rules): convert it to UTC (.astimezone(datetime.timezone.utc)) and keep the zone name apart"
        )
    same = a == b and (a.tzinfo is None) == (b.tzinfo is None) and a.utcoffset() == b.utcoffset()
    if same and a.fold == b.fold:
        return None
    return [], f"{short_repr(a)} would come back as {short_repr(b)}"


def _diff_items(a: Any, b: Any, depth: int) -> tuple[list[Any], str] | None:
    if len(a) != len(b):
        return [], f"{_a(_name(type(a)))} of {len(a)} items would come back with {len(b)}"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        found = _diff(x, y, depth + 1)
        if found is not None:
            found[0].append(i)
            return found
    return None


def _diff_dict(a: dict[Any, Any], b: dict[Any, Any], depth: int) -> tuple[list[Any], str] | None:
    if len(a) != len(b):
        return [], f"a dict of {len(a)} keys would come back with {len(b)}"
    for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
        if type(ka) is not type(kb) or ka != kb:
            return [], f"the key {short_repr(ka)} ({_a(_name(type(ka)))}) would come back as {short_repr(kb)}"
        found = _diff(va, vb, depth + 1)
        if found is not None:
            found[0].append(ka)
            return found
    return None


def _diff_model(a: Any, b: Any, depth: int) -> tuple[list[Any], str] | None:
    """A model's data is its fields and extra fields; private attributes are not data (pydantic never stores them)."""
    fields = type(a).model_fields
    pairs = [(name, a.__dict__.get(name, _MISSING), b.__dict__.get(name, _MISSING)) for name in fields]
    extra_a = a.__pydantic_extra__ or {}
    extra_b = b.__pydantic_extra__ or {}
    pairs += [(name, value, extra_b.get(name, _MISSING)) for name, value in extra_a.items()]
    return _diff_fields([p for p in pairs if p[1] is not _MISSING], depth)


def _diff_fields(pairs: list[tuple[str, Any, Any]], depth: int) -> tuple[list[Any], str] | None:
    for name, x, y in pairs:
        if y is _MISSING:
            return [_Attr(name)], "it would not come back at all"
        found = _diff(x, y, depth + 1)
        if found is not None:
            found[0].append(_Attr(name))
            return found
    return None
