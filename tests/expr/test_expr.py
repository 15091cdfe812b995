"""Tests for nbdurable.expr: CEL expressions parsed into an allow-listed tree and evaluated without eval."""

from __future__ import annotations

import builtins
import math
import pickle
import re
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbdurable._errors import ConfigError, ExpressionError
from nbdurable.expr import Expression, Limits, compile_expression, evaluate_key

TRIGGER = {
    "name": "support/ticket.created",
    "data": {
        "ticket_id": "t-1",
        "amount": 150,
        "price": 9.5,
        "user": {"name": "alice", "tier": "gold", "address": {"city": "Oslo"}},
        "tags": ["urgent", "billing"],
        "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 0}],
        "note": None,
        "flag": True,
        "counts": {"open": 3, "closed": 7},
        "weird-key": "dash",
    },
}
CANDIDATE = {"name": "support/ticket.approved", "data": {"ticket_id": "t-1", "user": {"name": "bob"}, "amount": 20}}
VARS = {"event": TRIGGER, "async": CANDIDATE}


def ev(source: str, variables: dict[str, Any] | None = None) -> Any:
    return compile_expression(source).evaluate(VARS if variables is None else variables)


# --------------------------------------------------------------------------- valid expressions


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # the examples from the brief and Inngest's docs
        ("async.data.ticket_id == event.data.ticket_id", True),
        ('event.data.amount > 100 && async.data.user.name != "bob"', False),
        ('event.data.amount > 100 && async.data.user.name != "carol"', True),
        ('event.data.tags.exists(t, t == "urgent")', True),
        ('event.data.tags.exists(t, t == "x")', False),
        # comparison operators
        ("event.data.amount == 150", True),
        ("event.data.amount != 150", False),
        ("event.data.amount < 150", False),
        ("event.data.amount <= 150", True),
        ("event.data.amount > 149", True),
        ("event.data.amount >= 151", False),
        ('"abc" < "abd"', True),
        ("false < true", True),
        ("event.data.price > 9", True),
        ("1 == 1.0", True),
        ("true == 1", False),
        ('1 == "1"', False),
        ("null == null", True),
        ("event.data.note == null", True),
        ("event.data.user.name == null", False),
        ("[1, 'a'] == [1.0, 'a']", True),
        ("[1, 2] == [2, 1]", False),
        ('{"a": 1} == {"a": 1.0}', True),
        # logic
        ("true && false", False),
        ("true || false", True),
        ("!true", False),
        ("!!true", True),
        ("!(event.data.amount > 100)", False),
        ("event.data.flag && !false || false", True),
        ("false || false || false || true", True),
        ("true ? 1 : 2", 1),
        ("event.data.amount > 1000 ? 'big' : 'small'", "small"),
        ("false ? 1 : true ? 2 : 3", 2),
        # membership
        ('"billing" in event.data.tags', True),
        ('"refund" in event.data.tags', False),
        ('"open" in event.data.counts', True),
        ("event.data.amount in [150, 200]", True),
        ("2 in [1.0, 2.0]", True),
        # arithmetic
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7 / -2", -3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7.0 / 2", 3.5),
        ("1 + 0.5", 1.5),
        ("-event.data.amount", -150),
        ("--5", 5),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775807", 2**63 - 1),
        ('"ab" + "cd"', "abcd"),
        ("[1] + [2, 3]", [1, 2, 3]),
        ("event.data.amount * 2 > event.data.counts.closed", True),
        # literals
        ('"double"', "double"),
        ("'single'", "single"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"tab\\tnew\\nline"', "tab\tnew\nline"),
        ('"\\u00e9\\x41\\101\\U0001F600"', "\u00e9AA\U0001f600"),
        ('r"\\d+"', "\\d+"),
        ("R'\\n'", "\\n"),
        ('"""two\nlines"""', "two\nlines"),
        ("'''it's'''", "it's"),
        ('"unicode ✓"', "unicode ✓"),
        ("42", 42),
        ("0x1F", 31),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[]", []),
        ("[1, 2,]", [1, 2]),
        ('{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}),
        ("{}", {}),
        # field access, index
        ("event.data.user.address.city", "Oslo"),
        ("event.data.tags[0]", "urgent"),
        ("event.data.tags[1.0]", "billing"),
        ("event.data.items[1].sku", "b"),
        ('event.data["weird-key"]', "dash"),
        ('event["data"]["user"]["name"]', "alice"),
        ("event . data . user . name", "alice"),
        ('{"k": 5}.k', 5),
        ("[[1, 2], [3]][0][1]", 2),
        # functions and macros
        ("size(event.data.tags)", 2),
        ("event.data.tags.size()", 2),
        ('size("héllo")', 5),
        ("size(event.data.counts)", 2),
        ("has(event.data.note)", True),
        ("has(event.data.missing)", False),
        ("has(event.data.user.name) && event.data.user.name == 'alice'", True),
        ('event.data.user.name.startsWith("al")', True),
        ('event.data.user.name.endsWith("ce")', True),
        ('event.data.user.name.contains("lic")', True),
        ("event.data.items.all(i, i.qty >= 0)", True),
        ("event.data.items.all(i, i.qty > 0)", False),
        ("event.data.items.exists_one(i, i.qty == 0)", True),
        ("event.data.items.map(i, i.sku)", ["a", "b"]),
        ("event.data.items.filter(i, i.qty > 0).map(i, i.sku)", ["a"]),
        ("event.data.counts.exists(k, k == 'closed')", True),
        ("[1, 2, 3].map(x, [4, 5].map(y, x * y))", [[4, 5], [8, 10], [12, 15]]),
        ("int('42') + int(3.9) + int(-3.9)", 42),
        ("double('1.5') + double(1)", 2.5),
        ("string(12) + string(true) + string('x')", "12truex"),
        # comments and whitespace
        ("event.data.amount > 1 // a comment\n && true", True),
        ("\n\tevent.data.amount\n  == 150\n", True),
    ],
)
def test_valid_expressions(source: str, expected: Any) -> None:
    result = ev(source)
    assert result == expected
    # bool results must really be bools, not 0/1
    assert type(result) is type(expected) or (isinstance(expected, (int, float)) and not isinstance(expected, bool))


def test_matches_is_true_only_for_boolean_true() -> None:
    assert compile_expression("event.data.flag").matches(VARS) is True
    assert compile_expression("event.data.amount").matches(VARS) is False  # 150 is not true
    assert compile_expression("'true'").matches(VARS) is False
    assert compile_expression("event.data.note").matches(VARS) is False
    assert compile_expression("async.data.ticket_id == event.data.ticket_id").matches(VARS) is True


def test_nan_and_float_division_follow_ieee() -> None:
    assert ev("1.0 / 0") == math.inf
    assert ev("-1.0 / 0") == -math.inf
    assert math.isnan(ev("0.0 / 0"))
    assert ev("double('nan') == double('nan')") is False


def test_async_root_is_usable_although_python_reserves_it() -> None:
    expression = compile_expression("async.data.amount + event.data.amount")
    assert expression.evaluate(VARS) == 170


# --------------------------------------------------------------------------- missing fields and runtime errors


def test_missing_field_does_not_match_and_evaluate_names_it() -> None:
    expression = compile_expression("async.data.ticket_id == event.data.ticket_id")
    candidate = {"event": TRIGGER, "async": {"name": "other", "data": {"order_id": 5}}}
    assert expression.matches(candidate) is False
    with pytest.raises(ExpressionError) as info:
        expression.evaluate(candidate)
    err = info.value
    assert err.position == len("async.data.")
    assert err.expression == expression.source
    text = str(err)
    assert "async.data has no field 'ticket_id'" in text
    assert "order_id" in text  # lists what is there
    assert "has(async.data.ticket_id)" in text  # says how to guard
    assert text.endswith("\n  " + " " * len("async.data.") + "^")


def test_missing_field_on_one_side_of_or_does_not_hide_the_other_side() -> None:
    # CEL's logic: the deciding operand wins over an error in the other one.
    assert compile_expression("event.data.nope == 1 || event.data.amount == 150").matches(VARS) is True
    assert compile_expression("event.data.amount == 150 || event.data.nope == 1").matches(VARS) is True
    assert compile_expression("event.data.nope == 1 && false").evaluate(VARS) is False
    assert compile_expression("event.data.nope == 1 && true").matches(VARS) is False
    assert compile_expression("!(event.data.nope == 1)").matches(VARS) is False
    with pytest.raises(ExpressionError, match="no field 'nope'"):
        compile_expression("event.data.nope == 1 || false").evaluate(VARS)


def test_has_guards_a_missing_field() -> None:
    expression = compile_expression("has(async.data.priority) && async.data.priority > 2")
    assert expression.matches({"event": TRIGGER, "async": {"data": {}}}) is False
    assert expression.matches({"event": TRIGGER, "async": {"data": {"priority": 3}}}) is True


@pytest.mark.parametrize(
    ("source", "position", "fragment"),
    [
        ('event.data.amount > "x"', 18, "'>' compares two numbers, two strings or two bools, not int and string"),
        ("event.data.tags[5]", 15, "index 5 is out of range for event.data.tags, which has 2 items"),
        ("event.data.tags['a']", 15, "a list index must be an int, not string"),
        ("event.data.counts['nope']", 17, 'event.data.counts has no key "nope"'),
        ("event.data.user.name.first", 21, "cannot read field 'first' of event.data.user.name: it is string"),
        ("event.data.note.x", 16, "cannot read field 'x' of event.data.note: it is null"),
        ("!event.data.amount", 0, "'!' needs a bool, not int"),
        ("-event.data.user", 0, "'-' needs a number or a duration, not map"),
        ("event.data.amount + 'x'", 18, "'+' needs two numbers, two strings or two lists, not int and string"),
        ("'a' * 3", 4, "'*' needs two numbers"),
        ("1.5 % 2", 4, "'%' needs two ints"),
        ("1 / 0", 2, "division by zero"),
        ("1 % 0", 2, "modulus by zero"),
        ("9223372036854775807 + 1", 20, "integer overflow"),
        ("-9223372036854775808 / -1", 21, "integer overflow"),
        ("event.data.amount ? 1 : 2", 18, "the condition before '?' must be a bool, not int"),
        ("event.data.amount && true", 0, "'&&' needs bools on both sides, not int"),
        ("'x' in 'xyz'", 4, "to search text use text.contains(part)"),
        ("event.data.tags.exists(t, t)", 26, "the condition in .exists() must be a bool, not string"),
        ("event.data.amount.exists(t, true)", 18, ".exists() works on a list or a map, not int"),
        ("size(1)", 0, "size() takes a string, list or map, not int"),
        ("int('12x')", 0, 'int() cannot read "12x" as an integer'),
        ("int(true)", 0, "int() does not take a bool"),
        ("double('x')", 0, "double() takes a number or a numeric string"),
        ("string(null)", 0, "string() takes a string, number, bool, timestamp or duration, not null"),
        ("event.data.amount.startsWith('1')", 18, ".startsWith() works on strings, not int and string"),
        ("{[1]: 2}", 1, "a map key must be a string, int or bool, not list"),
        ("has(event.data.amount.x)", 22, "cannot read field 'x' of event.data.amount"),
    ],
)
def test_runtime_errors(source: str, position: int, fragment: str) -> None:
    expression = compile_expression(source)
    assert expression.matches(VARS) is False
    with pytest.raises(ExpressionError) as info:
        expression.evaluate(VARS)
    assert fragment in str(info.value)
    assert info.value.position == position, str(info.value)
    assert str(info.value).startswith(f"Expression could not be evaluated at position {position}: ")


def test_a_root_that_was_not_passed_is_an_evaluation_error() -> None:
    expression = compile_expression("async.data.x == 1")
    assert expression.matches({"event": TRIGGER}) is False
    with pytest.raises(ExpressionError, match="no value was given for 'async'"):
        expression.evaluate({"event": TRIGGER})


# --------------------------------------------------------------------------- compile errors with positions


@pytest.mark.parametrize(
    ("source", "position", "fragment"),
    [
        ("event.data.x = 1", 13, "use == to compare"),
        ("event.data.x == 'open", 16, "this string is never closed; add the closing '"),
        ('event.data.x == "a\nb"', 16, "not closed on its line"),
        ("event.data.x == open", 16, "unknown name 'open'"),
        ("foo.bar == 1", 0, "unknown name 'foo'; this expression can use async, event"),
        ("evnt.data.x == 1", 0, "did you mean 'event'?"),
        ("event.data.", 11, "the expression ends too early; expected a field name after '.'"),
        ("event..data", 6, "found '.' where a field name after '.' should be"),
        ("(event.data.x == 1", 18, "expected ')' to close the parenthesis"),
        ("event.data.x == 1)", 17, "')' has no matching opening bracket"),
        ("event.data.x == ", 16, "ends too early; expected a value"),
        ("", 0, "the expression is empty"),
        ("   ", 0, "the expression is empty"),
        ("event.data.x == 1 event.data.y == 2", 18, "join conditions with && or ||"),
        ("event.data.x == 1 and event.data.y == 2", 18, "use &&"),
        ("event.data.x == 1 or true", 18, "use ||"),
        ("not event.data.flag", 0, "use !"),
        ("event.data.x is null", 13, "use == or !="),
        ("event.data.x == True", 16, "write true in lower case"),
        ("event.data.x == None", 16, "write null"),
        ("event.data.x & true", 13, "use &&"),
        ("event.data.x | true", 13, "use ||"),
        ("event.data.x < 1 < 2", 17, "comparisons do not chain"),
        ("event.data.tags.0", 15, "write [0], not .0"),
        ("event.data.x ** 2", 14, "no power operator"),
        ("event.data.x == 1 # note", 18, "comments start with //"),
        ("event.data.x == `a`", 16, "backquotes quote a field name after a dot"),
        ("event.data.`a", 11, "backquoted field name is never closed"),
        ("event.data.``", 11, "cannot be empty"),
        ("event.data.`a`()", 14, "found '('"),
        ("event.data.x == 1$", 17, "the character '$' cannot be used here"),
        ("1u", 1, "unsigned integers"),
        ("12abc", 0, "a number cannot run into letters"),
        ("99999999999999999999", 0, "does not fit in 64 bits"),
        ("9223372036854775808", 0, "does not fit in 64 bits"),
        ("1e999", 0, "too large for a double"),
        ("'\\q'", 1, "unknown escape \\q"),
        ("'\\u12'", 1, "\\u needs exactly 4 hex digits"),
        ("'\\uD800'", 1, "not a valid Unicode character"),
        ("'\\19'", 1, "an octal escape needs three digits"),
        ("b'bytes'", 0, "bytes literals"),
        ("event.data.foo()", 11, "unknown function 'foo'"),
        (
            "nope(1)",
            0,
            "unknown function 'nope'; the functions available are bool(), double(), duration(), dyn(), has(), int(), "
            "matches(), size(), string(), timestamp(), type()",
        ),
        ("size(1, 2)", 0, "size() takes 1 argument, not 2"),
        ("'a'.contains()", 4, ".contains() takes 1 argument, not 0"),
        ("has(event)", 4, "has() takes a field"),
        ("event.data.tags.exists(1, true)", 23, "a variable name"),
        ("event.data.tags.exists(t)", 24, "',' after the variable"),
        ("event.data.tags.map(t, t == 1, t, t)", 32, "')' to close map()"),
        ("event.data.tags.exists(t, t == 'a') && t == 'a'", 39, "unknown name 't'"),
        ("[1, 2", 5, "expected ',' or ']'"),
        ("{'a' 1}", 5, "':' between a key and its value"),
        ("()", 0, "empty parentheses"),
        ("true ? 1", 8, "':' between the two results"),
        (".event", 0, "a name cannot start with '.'"),
        ("if", 0, "use the conditional operator"),
        (r"event.data.x.matches('(a)\\1')", 21, "matches() cannot use the pattern"),
        ("timestamp(1).getFullYear(1, 2)", 13, ".getFullYear() takes 0 or 1 arguments, not 2"),
        ("event.data.x == 1; true", 17, "the character ';' cannot be used here"),
        ("event.data.x =! 1", 13, "use == to compare"),
    ],
)
def test_compile_errors_point_at_the_problem(source: str, position: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    err = info.value
    assert fragment in str(err), str(err)
    assert err.position == position, str(err)
    assert err.expression == source
    assert str(err).startswith(f"Invalid expression at position {position}: ") or "\n" in source


def test_compile_error_renders_a_caret_under_the_problem() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression('async.data.id = "x"')
    assert str(info.value) == (
        "Invalid expression at position 14: '=' assigns, it does not compare; use == to compare two values.\n"
        '  async.data.id = "x"\n'
        "                ^"
    )


def test_multi_line_errors_give_line_and_column() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("event.data.x == 1 &&\n  event.data.y = 2")
    assert info.value.position == 36
    assert "at line 2, column 16 (position 36)" in str(info.value)


def test_expression_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        compile_expression("a ==")
    with pytest.raises(ValueError):
        compile_expression("a ==")


def test_allowed_roots_are_enforced_at_compile_time() -> None:
    only_event = compile_expression("event.data.x == 1", allowed_roots=["event"])
    assert only_event.allowed_roots == frozenset({"event"})
    with pytest.raises(ExpressionError) as info:
        compile_expression("event.data.x == async.data.x", allowed_roots=("event",))
    assert info.value.position == 16
    assert "this expression can use event" in str(info.value)
    custom = compile_expression("run.attempt < 3", allowed_roots={"run"})
    assert custom.evaluate({"run": {"attempt": 2}}) is True


@pytest.mark.parametrize("bad_root", ["", "a.b", "1x", "true", "in", "has space"])
def test_bad_allowed_roots_are_rejected(bad_root: str) -> None:
    with pytest.raises(ExpressionError, match="allowed_roots must be plain names"):
        compile_expression("x", allowed_roots=[bad_root])


def test_non_string_source_is_rejected() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(123)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- allow-list and safety


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ('__import__("os").system("echo pwned")', "names starting with '__' are not allowed"),
        ("event.__class__", "field names starting with '__' are not allowed"),
        ("event.data.__class__.__mro__", "field names starting with '__' are not allowed"),
        ("event.__dict__", "field names starting with '__' are not allowed"),
        ("event.data.tags.exists(__x, true)", "variable names starting with '__' are not allowed"),
        ("lambda x: x", "lambdas are not available"),
        ("(lambda: 1)()", "lambdas are not available"),
        ("[x for x in event.data.tags]", "comprehensions are not available"),
        ("{k: v for k, v in event.data}", "unknown name 'k'"),
        ("eval('1')", "unknown function 'eval'"),
        ("exec('1')", "unknown function 'exec'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("getattr(event, 'data')", "unknown function 'getattr'"),
        ("import os", "imports are not available"),
        ("event.data.tags.pop()", "unknown function 'pop'"),
        ("event.data.keys()", "unknown function 'keys'"),
        ("event.data.user.name.format(1)", "unknown function 'format'"),
        ("().__class__", "empty parentheses"),
        ("os.system('ls')", "unknown name 'os'"),
        ("print", "unknown name 'print'"),
        ("event.data if true else 1", "use the conditional operator"),
        ("f'{event}'", "unknown name 'f'"),
        ("event.data.x := 1", "use == to compare"),
    ],
)
def test_allow_list_rejects_python(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert fragment in str(info.value), str(info.value)
    assert info.value.position is not None


class _Attrs:
    """An object with attributes but no mapping interface: field access must not read them."""

    data: ClassVar[dict[str, int]] = {"secret": 1}
    __slots__ = ()


def test_field_access_reads_mappings_only_never_attributes() -> None:
    expression = compile_expression("event.data")
    assert expression.matches({"event": _Attrs()}) is False
    with pytest.raises(ExpressionError, match="cannot read field 'data' of event: it is _Attrs, not a map"):
        expression.evaluate({"event": _Attrs()})
    # A key spelled like a dunder is plain data, reachable only with index syntax.
    assert ev('event.data["__class__"]', {"event": {"data": {"__class__": "plain"}}}) == "plain"
    with pytest.raises(ExpressionError, match='has no key "__class__"'):
        ev('event.data["__class__"]')


def test_compile_and_evaluate_never_call_eval_exec_or_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def trap(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} was called")

        return refuse

    for name in ("eval", "exec", "compile", "__import__"):
        monkeypatch.setattr(builtins, name, trap(name))
    # a source not compiled anywhere else, so the cache cannot answer
    source = "async.data.ticket_id == event.data.ticket_id && event.data.tags.exists(t, t == 'urgent') && 1 < 2"
    expression = compile_expression(source)
    assert expression.matches(VARS) is True
    assert expression.evaluate(VARS) is True
    with pytest.raises(ExpressionError):
        compile_expression("evnt.data.missing_field_for_trap = 1")
    monkeypatch.undo()
    assert calls == []


# --------------------------------------------------------------------------- limits


def test_nesting_limits_give_an_expression_error_not_a_recursion_error() -> None:
    assert ev("(" * 30 + "1" + ")" * 30) == 1
    with pytest.raises(ExpressionError, match="nested more than 32 deep"):
        compile_expression("(" * 40 + "1" + ")" * 40)
    with pytest.raises(ExpressionError, match="nested more than 32 deep"):
        compile_expression("[" * 500 + "]" * 500)
    with pytest.raises(ExpressionError, match="nested more than 120 levels"):
        compile_expression("event" + ".a" * 200)
    with pytest.raises(ExpressionError):
        compile_expression("(" * 100_000)


def test_long_flat_expressions_are_fine() -> None:
    roomy = Limits(length=100_000, cost=100_000)
    chain = " && ".join(["event.data.amount > 1"] * 2000)
    assert compile_expression(chain, limits=roomy).evaluate(VARS) is True
    assert compile_expression(" + ".join(["1"] * 5000), limits=roomy).evaluate(VARS) == 5000
    assert ev("!" * 1001 + "true") is False
    assert ev("-" * 1000 + "1") == 1


# --------------------------------------------------------------------------- the Expression object and caching


def test_expressions_are_cached_immutable_hashable_and_picklable() -> None:
    a = compile_expression("event.data.x == 1")
    assert compile_expression("event.data.x == 1") is a
    assert compile_expression("event.data.x == 1", allowed_roots=["async", "event"]) is a
    b = compile_expression("event.data.x == 1", allowed_roots=("event",))
    assert b is not a
    assert b != a
    assert a.source == "event.data.x == 1"
    assert isinstance(a, Expression)
    assert len({a, b}) == 2
    with pytest.raises(AttributeError, match="immutable"):
        a.source = "true"
    restored = pickle.loads(pickle.dumps(a))
    assert restored == a
    assert restored.evaluate({"event": {"data": {"x": 1}}}) is True
    assert "event.data.x == 1" in repr(a)


def test_matches_over_many_candidates() -> None:
    # Speed is measured in bench/, not asserted here; this checks correctness at volume.
    expression = compile_expression("async.data.ticket_id == event.data.ticket_id && async.data.amount > 10")
    candidates = [
        {"event": TRIGGER, "async": {"data": {"ticket_id": f"t-{i % 3}", "amount": i}}} for i in range(500)
    ] + [{"event": TRIGGER, "async": {"data": {"other": i}}} for i in range(500)]
    hits = sum(expression.matches(candidate) for candidate in candidates)
    assert hits == sum(1 for i in range(500) if i % 3 == 1 and i > 10)


# --------------------------------------------------------------------------- evaluate_key


def test_evaluate_key() -> None:
    variables = {"event": TRIGGER}
    assert evaluate_key("event.data.ticket_id", variables) == "t-1"
    assert evaluate_key("event.data.amount", variables) == "150"
    assert evaluate_key("event.data.flag", variables) == "true"
    assert evaluate_key("event.data.note", variables) == "null"
    assert evaluate_key("event.data.counts", variables) == '{"closed":7,"open":3}'
    assert evaluate_key('{"b": 1, "a": "é"}', variables) == '{"a":"é","b":1}'
    assert evaluate_key("event.data.user.tier + '-' + event.data.ticket_id", variables) == "gold-t-1"
    with pytest.raises(ExpressionError, match=re.escape("event.data has no field 'tenant_id'")):
        evaluate_key("event.data.tenant_id", variables)
    with pytest.raises(ExpressionError, match="unknown name 'async'; this expression can use event"):
        evaluate_key("async.data.x", variables)
    with pytest.raises(ExpressionError, match="no value was given for 'async'"):
        evaluate_key("async.data.ticket_id", variables, allowed_roots=("event", "async"))
    both = {"event": TRIGGER, "async": CANDIDATE}
    assert evaluate_key("async.data.user.name", both) == "bob"


def test_evaluate_key_rejects_values_that_are_not_json() -> None:
    with pytest.raises(ExpressionError, match="cannot be written as JSON"):
        evaluate_key("event.data", {"event": {"data": {1, 2}}})


# --------------------------------------------------------------------------- properties


def _compile_or_error(source: str) -> Expression | ExpressionError:
    """Anything but ExpressionError propagates and fails the property."""
    try:
        return compile_expression(source)
    except ExpressionError as err:
        return err


def _evaluate_or_error(expression: Expression, variables: dict[str, Any]) -> Any:
    try:
        return expression.evaluate(variables)
    except ExpressionError as err:
        return err


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_compile_raises_only_expression_error_on_arbitrary_text(source: str) -> None:
    result = _compile_or_error(source)
    if isinstance(result, ExpressionError):
        assert result.position is not None
        assert 0 <= result.position <= len(source)
    else:
        assert result.source == source


_PIECES = [
    "event", "async", "data", ".", ".", "x", "tags", "amount", "[", "]", "(", ")", "{", "}", ",", ":", "?",
    "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "-", "+", "*", "/", "%", " in ", "1", "0", "2.5", "-1",
    "'a'", '"b"', "true", "false", "null", "size(", "has(", "int(", "string(", "double(", ".exists(t, ", ".map(t, ",
    ".all(t, ", ".filter(t, ", "t", ".size()", ".contains(", " ", "9223372036854775807", "'\\n'",
]  # fmt: skip

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["x", "data", "tags", "amount", "t"]), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14), _JSON, _JSON)
def test_evaluation_raises_only_expression_error(pieces: list[str], event: Any, candidate: Any) -> None:
    source = "".join(pieces)
    expression = _compile_or_error(source)
    if isinstance(expression, ExpressionError):
        assert expression.position is not None
        assert 0 <= expression.position <= len(source)
        return
    variables = {"event": event, "async": candidate}
    matched = expression.matches(variables)
    assert matched is True or matched is False
    result = _evaluate_or_error(expression, variables)
    if isinstance(result, ExpressionError):
        assert result.position is not None
        assert 0 <= result.position <= len(source)
        assert matched is False  # an error never counts as a match
    else:
        assert matched is (result is True)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 in {true: 'a'}", False),
        ("true in {true: 'a'}", True),
        ("0 in {false: 'a'}", False),
        ("{1: 'a'} == {true: 'a'}", False),
        ("{0: 'a'} == {0: 'a'}", True),
        ("{true: 'a'}[true]", "a"),
        ("{1: 'a'}[1]", "a"),
        ("2 in {2: 'a'}", True),
    ],
)
def test_bool_and_int_keys_are_different_keys(source: str, expected: Any) -> None:
    """CEL keeps true and 1 apart as map keys; Python's dicts take them for one key (True == 1)."""
    assert compile_expression(source).evaluate({}) == expected


def test_a_map_with_true_and_1_as_keys_is_refused_clearly_not_as_a_duplicate() -> None:
    with pytest.raises(ExpressionError, match=r"both 1 and true as keys.*use string keys") as info:
        compile_expression("{true: 1, 1: 2}").evaluate({})
    assert "appears twice" not in str(info.value)
    with pytest.raises(ExpressionError, match="has no key true"):
        compile_expression("{1: 'a'}[true]").evaluate({})
