"""Error values and the short renderings of values used in expression error messages."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import ExpressionError


def where(source: str, pos: int) -> str:
    if "\n" not in source:
        return f"at position {pos}"
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"at line {line}, column {column} (position {pos})"


def syntax_error(source: str, pos: int, message: str) -> ExpressionError:
    return ExpressionError(f"Invalid expression {where(source, pos)}: {message}.", expression=source, position=pos)


class EvalError(Exception):
    """A runtime failure inside an expression; the message is built only when someone reads it.

    ``matches`` swallows these for every non-matching candidate event, so raising must be cheap.
    """

    def __init__(self, position: int, make_message: Callable[[], str]) -> None:
        super().__init__()
        self.position = position
        self.make_message = make_message


def type_error(position: int, template: str, value: Any) -> EvalError:
    """An error whose message names the CEL type of ``value`` where ``template`` has ``{}``."""
    return EvalError(position, lambda: template.format(type_name(value)))


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, (list, tuple)):
        return "list"
    # Timestamp, Duration and CelType (defined in modules that import this one)
    name = type(value).__name__
    return {"Timestamp": "timestamp", "Duration": "duration", "CelType": "type"}.get(name, name)


def show(value: Any) -> str:
    """A short JSON-ish rendering for messages that never fails (Python refuses to print ints over 4300 digits)."""
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return f"a {type_name(value)}"
    # Event data may hold secrets, and an error message can reach the journal: redact, then cut.
    from .._redact import redact_clipped

    shown = redact_clipped(text, 58)
    return shown[:-1] + "..." if shown.endswith("…") and len(text) > 58 else shown


def keys_hint(obj: Mapping[Any, Any]) -> str:
    keys = [k if isinstance(k, str) else show(k) for k in list(obj)[:12]]
    if not keys:
        return " (it is empty)"
    more = ", ..." if len(obj) > 12 else ""
    return f" (it has: {', '.join(keys)}{more})"
