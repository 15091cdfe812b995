"""The operators and functions of the language on JSON-like values, with CEL's semantics."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._cost import TEXT_CHARS_PER_UNIT, LimitError, copy_units, spend, text_units
from ._limits import INT_MAX, INT_MIN
from ._messages import EvalError, keys_hint, show, type_name
from ._time import (
    Duration,
    Timestamp,
    add,
    format_duration,
    format_timestamp,
    make_duration,
    parse_duration_text,
    parse_timestamp,
    subtract,
    timestamp_from_int,
)
from ._values import CelType, type_of

_TRUE_TEXT = frozenset({"1", "t", "true", "TRUE", "True"})
_FALSE_TEXT = frozenset({"0", "f", "false", "FALSE", "False"})

INT_TEXT_RE = re.compile(r"[+-]?[0-9]+")
DOUBLE_TEXT_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)


def is_number(v: Any) -> bool:
    t = type(v)
    if t is int or t is float:
        return True
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple))


def has_key(m: Mapping[Any, Any], key: Any) -> bool:
    """``key in m`` with CEL's keys: ``true`` and ``1`` are different keys, though Python's dicts hold them as one."""
    if not isinstance(key, (str, int, float, bool)) or key not in m:
        return False
    if type(key) is str or not (key == 0 or key == 1):
        return True
    # Only 0, 1, false and true collide; a dict holds one of each pair, so look at which kind it holds.
    return any(isinstance(k, bool) is isinstance(key, bool) for k in m if k == key)


def equals(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb and (ta is str or ta is int or ta is float or ta is bool or a is None):
        return bool(a == b)
    if ta is bool or tb is bool:
        return False  # Python says True == 1; CEL does not.
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if is_list(a) and is_list(b):
        return len(a) == len(b) and all(equals(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return len(a) == len(b) and all(has_key(b, k) and equals(v, b[k]) for k, v in a.items())
    if ta is tb and (ta is Timestamp or ta is Duration or ta is CelType):
        return bool(a == b)
    return False


def counted_equals(a: Any, b: Any, v: Mapping[str, Any], pos: int) -> bool:
    """``equals`` that pays one unit per item of the lists or maps it walks, from the budget in ``v``."""
    if is_list(a) and is_list(b):
        if len(a) != len(b):
            return False
        spend(v, 1 + 2 * len(a), pos)
        return all(counted_equals(x, y, v, pos) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        spend(v, 1 + 2 * len(a), pos)
        return all(has_key(b, k) and counted_equals(x, b[k], v, pos) for k, x in a.items())
    return equals(a, b)


def counted_in(a: Any, b: Any, v: Mapping[str, Any], pos: int) -> bool:
    """``a in b`` paying for the items of ``b`` it compares."""
    if is_list(b):
        if type(a) is str:
            # Only a string equals a string, so the C-level scan has CEL's semantics here.
            spend(v, copy_units(len(b)), pos)
            return a in b
        spend(v, 1 + len(b), pos)
        return any(counted_equals(a, item, v, pos) for item in b)
    return apply_in(a, b, pos)


def counted_concat(value: Any, v: Mapping[str, Any], pos: int, max_size: int) -> Any:
    """Pay for a string or list that ``+`` built, and refuse one over the size limit."""
    if type(value) is str or type(value) is list:
        n = len(value)
        if n > max_size:
            what = "string" if type(value) is str else "list"
            unit = "characters" if type(value) is str else "items"
            raise LimitError(pos, "size", f"'+' would build a {what} of {n} {unit}")
        spend(v, text_units(n) if type(value) is str else copy_units(n), pos)
    return value


def check_int(value: int, pos: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise EvalError(pos, lambda: "integer overflow: the result does not fit in 64 bits; use doubles (1.0)")
    return value


def arith_error(op: str, a: Any, b: Any, pos: int, wants: str) -> EvalError:
    return EvalError(pos, lambda: f"'{op}' needs {wants}, not {type_name(a)} and {type_name(b)}")


def apply_arith(op: str, a: Any, b: Any, pos: int) -> Any:
    try:
        return arith(op, a, b, pos)
    except OverflowError:
        # Only reachable with ints beyond 64 bits coming from the data, mixed with doubles.
        raise EvalError(pos, lambda: f"'{op}' overflowed: a number in the data is too large for a double") from None


def arith(op: str, a: Any, b: Any, pos: int) -> Any:
    numbers = is_number(a) and is_number(b)
    both_int = numbers and isinstance(a, int) and isinstance(b, int)
    if not numbers and op in ("+", "-"):
        moment = add(a, b, pos) if op == "+" else subtract(a, b, pos)
        if moment is not None:
            return moment
    if op == "+":
        if numbers:
            return check_int(a + b, pos) if both_int else a + b
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if is_list(a) and is_list(b):
            return [*a, *b]
        raise arith_error(op, a, b, pos, "two numbers, two strings or two lists")
    if not numbers:
        raise arith_error(op, a, b, pos, "two numbers")
    if op == "-":
        return check_int(a - b, pos) if both_int else a - b
    if op == "*":
        return check_int(a * b, pos) if both_int else a * b
    if op == "/":
        if both_int:
            if b == 0:
                raise EvalError(pos, lambda: "division by zero; check the divisor first, e.g. b != 0 && a / b > 1")
            q = abs(a) // abs(b)  # CEL truncates toward zero
            return check_int(q if (a >= 0) == (b >= 0) else -q, pos)
        if b == 0:
            if a == 0 or math.isnan(a):
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    # "%"
    if not both_int:
        raise arith_error(op, a, b, pos, "two ints")
    if b == 0:
        raise EvalError(pos, lambda: "modulus by zero; check the divisor first, e.g. b != 0 && a % b == 0")
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def apply_order(op: str, a: Any, b: Any, pos: int) -> bool:
    ta, tb = type(a), type(b)
    comparable = (
        (is_number(a) and is_number(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (ta is tb and (ta is bool or ta is Timestamp or ta is Duration))
    )
    if not comparable:
        raise EvalError(
            pos,
            lambda: (
                f"'{op}' compares two numbers, two strings or two bools, not {type_name(a)} and {type_name(b)}; "
                "convert one side with int(), double() or string()"
            ),
        )
    if (ta is int) is not (tb is int) and (ta is float or tb is float):
        a, b = float(a), float(b)  # CEL compares an int with a double as doubles (2**63 - 1 < 2.0**63 is false)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def apply_in(a: Any, b: Any, pos: int) -> bool:
    if is_list(b):
        return any(equals(a, item) for item in b)
    if isinstance(b, Mapping):
        return has_key(b, a)
    if isinstance(b, str):
        raise EvalError(
            pos, lambda: "'in' looks in a list or the keys of a map; to search text use text.contains(part)"
        )
    raise EvalError(pos, lambda: f"'in' needs a list or a map on its right, not {type_name(b)}")


def to_int(v: Any, pos: int) -> int:
    if isinstance(v, bool):
        raise EvalError(pos, lambda: "int() does not take a bool; use cond ? 1 : 0")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        # Both ends excluded: -2**63 and 2**63 - 1 are not exact doubles, so CEL refuses the edges.
        if math.isfinite(v) and INT_MIN < v < INT_MAX:
            return int(v)
        raise EvalError(pos, lambda: f"int() cannot convert {show(v)}: it is not finite or does not fit in 64 bits")
    if isinstance(v, str):
        if len(v) <= 21 and INT_TEXT_RE.fullmatch(v):
            return check_int(int(v), pos)
        raise EvalError(pos, lambda: f"int() cannot read {show(v)} as an integer")
    if type(v) is Timestamp:
        return v.ns // 1_000_000_000  # seconds since the epoch
    raise EvalError(pos, lambda: f"int() takes an int, double, string or timestamp, not {type_name(v)}")


def to_double(v: Any, pos: int) -> float:
    if is_number(v):
        if isinstance(v, int) and not INT_MIN <= v <= INT_MAX:
            raise EvalError(pos, lambda: "double() cannot convert an int that does not fit in 64 bits")
        return float(v)
    if isinstance(v, str) and len(v) <= 400 and DOUBLE_TEXT_RE.fullmatch(v):
        return float(v)
    raise EvalError(pos, lambda: f"double() takes a number or a numeric string, not {show(v)}")


def to_string(v: Any, pos: int) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v) and not (isinstance(v, int) and not INT_MIN <= v <= INT_MAX):
        return repr(v)
    if type(v) is Timestamp:
        return format_timestamp(v)
    if type(v) is Duration:
        return format_duration(v)
    raise EvalError(pos, lambda: f"string() takes a string, number, bool, timestamp or duration, not {type_name(v)}")


def to_bool(v: Any, pos: int) -> bool:
    if type(v) is bool:
        return v
    if isinstance(v, str) and v in _TRUE_TEXT:
        return True
    if isinstance(v, str) and v in _FALSE_TEXT:
        return False
    raise EvalError(pos, lambda: f"bool() takes a bool or one of 'true', 'false', 't', 'f', '1', '0', not {show(v)}")


def to_timestamp(v: Any, pos: int) -> Timestamp:
    if type(v) is Timestamp:
        return v
    if isinstance(v, str):
        return parse_timestamp(v, pos)
    if isinstance(v, int) and not isinstance(v, bool):
        return timestamp_from_int(v, pos)
    raise EvalError(pos, lambda: f"timestamp() takes RFC 3339 text or seconds since 1970, not {type_name(v)}")


def to_duration(v: Any, pos: int) -> Duration:
    if type(v) is Duration:
        return v
    if isinstance(v, str):
        return parse_duration_text(v, pos)
    raise EvalError(pos, lambda: f"duration() takes text such as '1h30m', not {type_name(v)}")


def negate_duration(v: Duration, pos: int) -> Duration:
    return make_duration(-v.ns, pos)


CONVERSIONS: dict[str, Callable[[Any, int], Any]] = {
    "int": to_int,
    "double": to_double,
    "string": to_string,
    "bool": to_bool,
    "timestamp": to_timestamp,
    "duration": to_duration,
    "dyn": lambda v, pos: v,  # CEL's dyn() only changes what the type checker sees
    "type": lambda v, pos: type_of(v),
}


def size(v: Any, pos: int) -> int:
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v)
    raise EvalError(pos, lambda: f"size() takes a string, list or map, not {type_name(v)}")


def text_method(
    name: str, a: Any, b: Any, budget: Callable[[Mapping[str, Any]], Mapping[str, Any]], v: Mapping[str, Any], pos: int
) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise EvalError(pos, lambda: f".{name}() works on strings, not {type_name(a)} and {type_name(b)}")
    scanned = len(a) if name == "contains" else len(b)
    if scanned >= TEXT_CHARS_PER_UNIT:  # the call itself is paid with the nodes; short text costs nothing more
        spend(budget(v), scanned // TEXT_CHARS_PER_UNIT, pos)
    if name == "contains":
        return b in a
    if name == "startsWith":
        return a.startswith(b)
    return a.endswith(b)


def missing_field(obj: Mapping[Any, Any], prefix: str, name: str, pos: int) -> EvalError:
    return EvalError(
        pos,
        lambda: (
            f"{prefix} has no field '{name}'{keys_hint(obj)}; check the name, "
            f"or test for it first with has({prefix}.{name})"
        ),
    )


def not_a_map(obj: Any, prefix: str, name: str, pos: int) -> EvalError:
    return EvalError(pos, lambda: f"cannot read field '{name}' of {prefix}: it is {type_name(obj)}, not a map")
