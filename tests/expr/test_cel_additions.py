"""CEL that event filters need, added for issue 12: quoted fields, matches() on RE2, bool/dyn/type, timestamps."""

from __future__ import annotations

from typing import Any

import pytest

import nbdurable as nd
from nbdurable.expr import Limits, compile_expression

EVENT = {
    "data": {
        "content-type": "application/json",
        "if": "reserved words are fine as fields",
        "email": "ada@example.com",
        "created": "2026-11-27T09:30:00Z",
        "timeout": "90m",
        "pattern": "^ada@",
        "bad_pattern": "(a",
        "flags": ["1", "f"],
    }
}


def ev(source: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    variables = {"event": EVENT if data is None else {"data": data}, "async": {}}
    return compile_expression(source, **kwargs).evaluate(variables)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # fields named like CEL's reserved words, and backquoted field names
        ("{'if': 1}.if", 1),
        ("event.data.if", "reserved words are fine as fields"),
        ("event.data.`content-type` == 'application/json'", True),
        ("has(event.data.`content-type`) && !has(event.data.`content-length`)", True),
        ("{'a.b': 1}.`a.b`", 1),
        # conversions and types
        ("bool('t') && !bool('0') && bool(true)", True),
        ("event.data.flags.map(f, bool(f))", [True, False]),
        ("dyn(1) == 1.0 && dyn('x') == 'x'", True),
        ("type(1) == int && type(1.5) == double && type('s') == string && type(null) == null_type", True),
        ("type([]) == list && type({}) == map && type(true) == bool && type(int) == type", True),
        ("type(event.data.flags) != map", True),
        ("int(-9.2e18) < 0", True),
        # regular expressions (RE2, unanchored search)
        ("event.data.email.matches('@example\\\\.com$')", True),
        ("matches(event.data.email, '^bob')", False),
        ("event.data.email.matches(event.data.pattern)", True),
        ("'mañana'.matches('a+ñ+a+')", True),
        # timestamps and durations
        ("timestamp(event.data.created) > timestamp('2026-01-01T00:00:00Z')", True),
        ("timestamp(event.data.created) + duration(event.data.timeout) == timestamp('2026-11-27T11:00:00Z')", True),
        ("timestamp('2026-11-27T11:00:00Z') - timestamp(event.data.created) == duration('1h30m')", True),
        ("string(timestamp(event.data.created) + duration('1.5s'))", "2026-11-27T09:30:01.5Z"),
        ("string(duration('-1m30s'))", "-90s"),
        ("timestamp(event.data.created).getHours('Europe/Oslo')", 10),
        ("timestamp(event.data.created).getDayOfWeek()", 5),  # a Friday; Sunday is 0
        ("timestamp(event.data.created).getMonth()", 10),  # months count from 0, as in CEL
        ("int(timestamp('1970-01-02T00:00:00+01:00'))", 82800),
        ("duration('2h45m').getMinutes()", 165),
        ("type(timestamp(0)) == google.protobuf.Timestamp", True),
        ("-duration('1s') < duration('0')", True),
        # macros: the alias existsOne and the three-argument map
        ("[1, 2, 3].existsOne(x, x == 2)", True),
        ("[1, 2, 3, 4].map(x, x % 2 == 0, x * 10)", [20, 40]),
    ],
)
def test_additions_evaluate(source: str, expected: Any) -> None:
    got = ev(source)
    assert got == expected and type(got) is type(expected)


def test_thirty_two_nested_brackets_are_accepted_and_thirty_three_are_not() -> None:
    assert ev("(" * 32 + "7" + ")" * 32) == 7
    assert ev("size(" + "[" * 31 + "0" + "]" * 31 + ")") == 1
    with pytest.raises(nd.ExpressionError, match="nested more than 32 deep"):
        compile_expression("(" * 33 + "7" + ")" * 33)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{'a': 1, 'b': 2, 'a': 3}", 'the key "a" appears twice in this map'),
        ("int(9.3e18)", "does not fit in 64 bits"),
        ("int(-9223372036854775808.0)", "does not fit in 64 bits"),
        ("bool('yes')", "bool() takes a bool or one of"),
        ("timestamp('2026-13-01T00:00:00Z')", "month must be in 1..12"),
        ("timestamp('yesterday')", "RFC 3339"),
        ("timestamp('9999-12-31T23:59:59Z') + duration('1s')", "timestamp out of range"),
        ("duration('1 day')", "duration() needs text such as '1h30m'"),
        ("duration('3000000h')", "duration out of range"),
        ("timestamp(0).getHours('Mars/Olympus')", "unknown time zone 'Mars/Olympus'"),
        ("event.data.email.matches(event.data.bad_pattern)", "matches() cannot use the pattern"),
        ("1.matches('1')", "matches() works on strings"),
    ],
)
def test_addition_errors(source: str, fragment: str) -> None:
    with pytest.raises(nd.ExpressionError) as info:
        ev(source)
    assert fragment in str(info.value)


def test_backtracking_patterns_are_refused_or_linear() -> None:
    # Python's re takes exponential time on this; RE2 answers in one pass (the test would time out otherwise).
    evil = compile_expression("event.data.text.matches('^(a+)+$')")
    assert evil.evaluate({"event": {"data": {"text": "a" * 5000 + "b"}}}) is False
    for pattern, what in (("(a)\\\\1", "backreference"), ("a(?=b)", "lookahead"), ("(?<!a)b", "lookbehind")):
        with pytest.raises(nd.ExpressionError, match="matches\\(\\) cannot use the pattern") as info:
            compile_expression(f"event.data.text.matches('{pattern}')")
        assert "no backreferences or lookaround" in str(info.value), what
    # a bad pattern from the data is an evaluation error: no match, never a crash
    assert (
        compile_expression("event.data.t.matches(event.data.p)").matches({"event": {"data": {"t": "a", "p": "("}}})
        is False
    )


def test_matching_long_text_is_paid_for() -> None:
    source = "event.data.text.matches('b$')"
    text = {"event": {"data": {"text": "a" * 2_000_000}}}
    with pytest.raises(nd.ExpressionError, match="cost limit"):
        compile_expression(source).evaluate(text)
    assert compile_expression(source, limits=Limits(cost=1_000_000)).evaluate(text) is False
