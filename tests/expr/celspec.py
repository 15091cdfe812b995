"""Read google/cel-spec's conformance files (protobuf text format) and run their tests on nbdurable.expr.

A small reader rather than protobuf's ``text_format``: that needs the compiled cel-spec protos
(SimpleTestFile, Value, the conformance test messages), a build step and a dependency for a
few hundred lines of data. This reader knows only the text syntax: fields, nested messages,
strings with C escapes, numbers, enum names and ``[type.url]`` names inside ``Any`` values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbdurable as nd
from nbdurable.expr import compile_expression
from nbdurable.expr._time import NS, Duration, Timestamp
from nbdurable.expr._values import CelType, type_of

HERE = Path(__file__).parent / "cel_spec"
FILES = (
    "basic",
    "comparisons",
    "conversions",
    "dynamic",
    "fields",
    "fp_math",
    "integer_math",
    "lists",
    "logic",
    "macros",
    "macros2",
    "parse",
    "plumbing",
    "string",
    "timestamps",
)

Message = dict[str, list[Any]]

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<bracket>\[[^\]]*\])
    |(?P<number>-?(?:inf|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)f?)(?![\w.])
    |(?P<word>[A-Za-z_][\w.]*)
    |(?P<punct>[{}<>:,;\[\]])""",
    re.VERBOSE,
)
_SIMPLE_ESCAPES = {
    "a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
    "\\": b"\\", "'": b"'", '"': b'"', "?": b"?", "`": b"`",
}  # fmt: skip


def _unescape(body: str) -> bytes:
    """The bytes a text-format string literal stands for (octal and hex escapes are bytes)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[nxt]
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8))
            i += 1 + len(digits.group())
        elif nxt in "xX":
            digits = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :])
            assert digits is not None
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        elif nxt in "uU":
            width = 4 if nxt == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode("utf-8", "surrogatepass")
            i += 2 + width
        else:
            raise ValueError(f"unknown escape \\{nxt}")
    return bytes(out)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read text format at {pos}: {text[pos : pos + 40]!r}")
        pos = m.end()
        if m.lastgroup is not None:
            out.append((m.lastgroup, m.group(m.lastgroup)))
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def message(self, close: str | None) -> Message:
        msg: Message = {}
        while self.i < len(self.toks):
            kind, text = self.toks[self.i]
            if kind == "punct" and text in "},>" and text == close:
                self.i += 1
                return msg
            if kind == "punct" and text in ",;":
                self.i += 1
                continue
            name = text
            self.i += 1
            if self.toks[self.i] == ("punct", ":"):
                self.i += 1
            msg.setdefault(name, []).append(self.value())
        if close is not None:
            raise ValueError("a message is not closed")
        return msg

    def value(self) -> Any:
        kind, text = self.toks[self.i]
        self.i += 1
        if kind == "punct" and text in "{<":
            return self.message("}" if text == "{" else ">")
        if kind == "string":
            data = _unescape(text[1:-1])
            while self.i < len(self.toks) and self.toks[self.i][0] == "string":  # "a" "b" joins
                data += _unescape(self.toks[self.i][1][1:-1])
                self.i += 1
            return data
        if kind == "number":
            return text[:-1] if text.endswith("f") and not text.endswith("inf") else text
        return text  # an enum name, true or false


def read_file(path: Path) -> Message:
    return _Reader(path.read_text(encoding="utf-8")).message(None)


# --------------------------------------------------------------------------- values


class UnsupportedError(Exception):
    """The expected value is of a kind nbdurable.expr does not have (uint, bytes, messages...)."""


def _one(msg: Message, name: str, default: Any = None) -> Any:
    values = msg.get(name)
    return values[-1] if values else default


def _number(text: Any) -> float:
    low = str(text).lower()
    if low in ("inf", "infinity"):
        return math.inf
    if low in ("-inf", "-infinity"):
        return -math.inf
    if low in ("nan", "-nan"):
        return math.nan
    return float(low)


def to_python(value: Message) -> Any:
    """A cel.expr.Value as the Python value nbdurable.expr would give."""
    if not value:
        raise UnsupportedError("an empty value")
    ((kind, items),) = value.items()
    item = items[-1]
    if kind == "null_value":
        return None
    if kind == "bool_value":
        return item == "true"
    if kind == "int64_value":
        return int(item)
    if kind == "double_value":
        return _number(item)
    if kind == "string_value":
        return item.decode("utf-8")
    if kind == "list_value":
        return [to_python(v) for v in item.get("values", [])] if isinstance(item, dict) else []
    if kind == "map_value":
        entries = item.get("entries", []) if isinstance(item, dict) else []
        return {to_python(e["key"][-1]): to_python(e["value"][-1]) for e in entries}
    if kind == "type_value":
        return CelType(item.decode("utf-8"))
    if kind == "object_value":
        return _object(item)
    raise UnsupportedError(kind)


def _object(item: Message) -> Any:
    ((url, payloads),) = item.items()
    body = payloads[-1]
    seconds, nanos = int(_one(body, "seconds", 0)), int(_one(body, "nanos", 0))
    if url.endswith("google.protobuf.Duration]"):
        return Duration(seconds * NS + nanos)
    if url.endswith("google.protobuf.Timestamp]"):
        return Timestamp(seconds * NS + nanos)
    raise UnsupportedError(f"object {url}")


def same(a: Any, b: Any) -> bool:
    """Value equality as the conformance suite means it: types must agree, NaN matches NaN, maps ignore order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# --------------------------------------------------------------------------- running


@dataclass
class Case:
    id: str
    expr: str
    msg: Message = field(repr=False)


def cases() -> list[Case]:
    out: list[Case] = []
    seen: set[str] = set()
    for name in FILES:
        doc = read_file(HERE / f"{name}.textproto")
        for section in doc.get("section", []):
            for test in section.get("test", []):
                test_id = f"{name}/{_one(section, 'name').decode()}/{_one(test, 'name').decode()}"
                while test_id in seen:  # cel-spec repeats a name or two: number the repeats
                    test_id += "+"
                seen.add(test_id)
                out.append(Case(test_id, _one(test, "expr", b"").decode("utf-8"), test))
    return out


def run(case: Case) -> str | None:
    """None when nbdurable.expr gives the expected result; otherwise what went wrong, in a few words."""
    msg = case.msg
    for unsupported in ("check_only", "disable_macros"):
        if _one(msg, unsupported) == "true":
            return f"{unsupported} is not a mode nbdurable.expr has"
    if _one(msg, "container"):
        return "containers (protobuf packages) are not supported"
    if "unknown" in msg or "any_unknowns" in msg:
        return "unknown values are not supported"
    try:
        variables = {
            _one(b, "key").decode(): to_python(_one(_one(b, "value"), "value", {})) for b in msg.get("bindings", [])
        }
        expected = _expected(msg)
    except UnsupportedError as exc:
        return f"the expected value or a binding is {exc}"
    roots = set(variables) | {_one(d, "name").decode() for d in msg.get("type_env", [])}
    try:
        expression = compile_expression(case.expr, allowed_roots=roots)
    except nd.ExpressionError as exc:
        if expected is _ERROR and "not supported" not in str(exc):
            return None
        return "compile error: " + str(exc).splitlines()[0]
    try:
        got = expression.evaluate(variables)
    except nd.ExpressionError as exc:
        return None if expected is _ERROR else "evaluation error: " + str(exc).splitlines()[0]
    if expected is _ERROR:
        return f"expected an error, got {got!r}"
    if not same(got, expected):
        return f"expected {expected!r} ({type_of(expected).name}), got {got!r} ({type_of(got).name})"
    return None


_ERROR = object()


def _expected(msg: Message) -> Any:
    if "eval_error" in msg or "any_eval_errors" in msg:
        return _ERROR
    if "typed_result" in msg:
        return to_python(_one(_one(msg, "typed_result"), "result"))
    if "value" in msg:
        return to_python(_one(msg, "value"))
    return True  # an unspecified result means true


def read_known(path: Path) -> dict[str, tuple[str, str]]:
    """The known failures: test id -> (category, reason); category is "unsupported" or "differs"."""
    known = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test_id, category, reason = (part.strip() for part in line.split("|", 2))
        assert category in ("unsupported", "differs"), line
        known[test_id] = (category, reason)
    return known
