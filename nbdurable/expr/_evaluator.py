"""Turning a checked tree into nested closures, so evaluation does no tree dispatch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._ast import Arith, Call, Compare, Cond, Fn, Index, List, Lit, Logic, Macro, Map, Name, Node, Select, Unary
from ._cost import BUDGET, node_count
from ._functions import (
    CONVERSIONS,
    apply_arith,
    apply_order,
    check_int,
    counted_concat,
    counted_equals,
    counted_in,
    equals,
    has_key,
    is_list,
    is_number,
    missing_field,
    negate_duration,
    not_a_map,
    size,
    text_method,
)
from ._macros import build_macro
from ._messages import EvalError, keys_hint, show, syntax_error, type_error, type_name
from ._regex import compile_pattern, search
from ._time import TIMESTAMP_GETTERS, Duration, Timestamp, duration_field, timestamp_field


class Builder:
    """Turns a checked tree into nested closures; evaluation then does no tree dispatch at all."""

    def __init__(self, source: str, *, max_size: int, shared_budget: bool) -> None:
        self.src = source
        self.max_size = max_size
        # With macros, one budget per evaluation lives in the variables (see _expression). Without,
        # each of the `charging` nodes runs at most once and gets its own share of the limit,
        # set in `share` after building: the common filter then pays nothing for a budget.
        self.shared_budget = shared_budget
        self.charging = 0
        self.share = [0]

    @property
    def charges(self) -> bool:
        return self.charging > 0

    def holder(self) -> Fn:
        """Count one more node that spends, and return how it finds its budget from the variables."""
        self.charging += 1
        if self.shared_budget:
            return _same
        share = self.share
        return lambda v: {BUDGET: [share[0]]}

    def text(self, node: Node) -> str:
        return self.src[node.start : node.end]

    def build(self, node: Node) -> Fn:
        if isinstance(node, Lit):
            return self.build_lit(node)
        if isinstance(node, Name):
            return self.build_name(node)
        if isinstance(node, Select):
            return self.build_select(node)
        if isinstance(node, Index):
            return self.build_index(node)
        if isinstance(node, Unary):
            return self.build_unary(node)
        if isinstance(node, Arith):
            return self.build_arith(node)
        if isinstance(node, Compare):
            return self.build_compare(node)
        if isinstance(node, Logic):
            return self.build_logic(node)
        if isinstance(node, Cond):
            return self.build_cond(node)
        if isinstance(node, List):
            return self.build_list(node)
        if isinstance(node, Map):
            return self.build_map(node)
        if isinstance(node, Call):
            return self.build_call(node)
        if isinstance(node, Macro):
            return self.build_macro(node)
        raise AssertionError(f"unknown node {node!r}")  # the parser builds no other kind

    def build_lit(self, node: Lit) -> Fn:
        value = node.value
        return lambda v: value

    def build_name(self, node: Name) -> Fn:
        name, pos = node.name, node.start

        def lookup(v: Mapping[str, Any]) -> Any:
            try:
                return v[name]
            except KeyError:
                raise EvalError(pos, lambda: f"no value was given for '{name}'") from None

        return lookup

    def build_select(self, node: Select) -> Fn:
        # Collapse a.b.c.d into one loop: field paths are the common case and this saves a call per step.
        steps: list[tuple[str, str, int]] = []
        cur: Node = node
        while isinstance(cur, Select):
            steps.append((cur.field, self.src[cur.start : cur.dot_pos].rstrip(), cur.field_pos))
            cur = cur.operand
        steps.reverse()
        base = self.build(cur)

        def select(v: Mapping[str, Any]) -> Any:
            obj = base(v)
            for name, prefix, pos in steps:
                if type(obj) is dict or isinstance(obj, Mapping):  # the exact-type test skips the ABC check
                    try:
                        obj = obj[name]
                    except KeyError:
                        raise missing_field(obj, prefix, name, pos) from None
                else:
                    raise not_a_map(obj, prefix, name, pos)
            return obj

        return select

    def build_index(self, node: Index) -> Fn:
        operand, index = self.build(node.operand), self.build(node.index)
        prefix, pos = self.text(node.operand), node.bracket_pos

        def item(v: Mapping[str, Any]) -> Any:
            obj, key = operand(v), index(v)
            if is_list(obj):
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                if not isinstance(key, int) or isinstance(key, bool):
                    raise EvalError(pos, lambda: f"a list index must be an int, not {type_name(key)}")
                if not 0 <= key < len(obj):
                    raise EvalError(
                        pos, lambda: f"index {show(key)} is out of range for {prefix}, which has {len(obj)} items"
                    )
                return obj[key]
            if isinstance(obj, Mapping):
                if not has_key(obj, key):
                    raise EvalError(pos, lambda: f"{prefix} has no key {show(key)}{keys_hint(obj)}")
                return obj[key]
            raise EvalError(pos, lambda: f"cannot index {prefix}: it is {type_name(obj)}, not a list or a map")

        return item

    def build_unary(self, node: Unary) -> Fn:
        operand, odd, pos = self.build(node.operand), node.odd, node.start
        if node.op == "!":

            def negate(v: Mapping[str, Any]) -> Any:
                x = operand(v)
                if type(x) is not bool:
                    raise EvalError(pos, lambda: f"'!' needs a bool, not {type_name(x)}")
                return (not x) if odd else x

            return negate

        def minus(v: Mapping[str, Any]) -> Any:
            x = operand(v)
            if type(x) is Duration:
                return negate_duration(x, pos) if odd else x
            if not is_number(x):
                raise EvalError(pos, lambda: f"'-' needs a number or a duration, not {type_name(x)}")
            if not odd:
                return x
            return check_int(-x, pos) if isinstance(x, int) else -x

        return minus

    def build_arith(self, node: Arith) -> Fn:
        first, *rest_fns = [self.build(n) for n in node.operands]
        rest = list(zip(node.ops, rest_fns, strict=True))
        if any(op == "+" for op, _ in node.ops):
            return self.build_concat(first, rest)

        def arith(v: Mapping[str, Any]) -> Any:
            acc = first(v)
            for (op, pos), fn in rest:
                acc = apply_arith(op, acc, fn(v), pos)
            return acc

        return arith

    def build_concat(self, first: Fn, rest: list[tuple[tuple[str, int], Fn]]) -> Fn:
        """A run of + and - where + may join strings or lists: each join is paid for and size-checked."""
        budget = self.holder()
        max_size = self.max_size

        def concat(v: Mapping[str, Any]) -> Any:
            acc = first(v)
            paid = None
            for (op, pos), fn in rest:
                acc = apply_arith(op, acc, fn(v), pos)
                if op == "+" and (type(acc) is str or type(acc) is list):
                    if paid is None:
                        paid = budget(v)  # one share for the whole run of operators
                    counted_concat(acc, paid, pos, max_size)
            return acc

        return concat

    def build_compare(self, node: Compare) -> Fn:
        left, right, op, pos = self.build(node.left), self.build(node.right), node.op, node.op_pos
        if op == "in":
            budget = self.holder()
            return lambda v: counted_in(left(v), right(v), budget(v), pos)
        if op not in ("==", "!="):
            return lambda v: apply_order(op, left(v), right(v), pos)
        if isinstance(node.left, Lit) or isinstance(node.right, Lit):
            # Against a literal scalar the comparison never walks a list or map.
            if op == "==":
                return lambda v: equals(left(v), right(v))
            return lambda v: not equals(left(v), right(v))
        budget = self.holder()
        negate = op == "!="

        def compare(v: Mapping[str, Any]) -> bool:
            a, b = left(v), right(v)
            ta = type(a)
            if ta is type(b) and (ta is str or ta is int or ta is float or ta is bool):
                return (a == b) is not negate  # the common case, without a call
            return counted_equals(a, b, budget(v), pos) is not negate

        return compare

    def build_logic(self, node: Logic) -> Fn:
        fns = [self.build(n) for n in node.operands]
        positions = [n.start for n in node.operands]
        # CEL: the deciding value wins even when another operand failed, so a missing
        # field on one side of || does not hide a match on the other side.
        decisive = node.op == "||"
        op = node.op

        def logic(v: Mapping[str, Any]) -> Any:
            error: EvalError | None = None
            for fn, pos in zip(fns, positions, strict=True):
                try:
                    x = fn(v)
                except EvalError as exc:
                    error = error or exc
                    continue
                if x is decisive:
                    return decisive
                if x is not (not decisive) and error is None:
                    error = type_error(pos, f"'{op}' needs bools on both sides, not {{}}", x)
            if error is not None:
                raise error
            return not decisive

        return logic

    def build_cond(self, node: Cond) -> Fn:
        cond, then, other, pos = self.build(node.cond), self.build(node.then), self.build(node.other), node.op_pos

        def conditional(v: Mapping[str, Any]) -> Any:
            c = cond(v)
            if c is True:
                return then(v)
            if c is False:
                return other(v)
            raise EvalError(pos, lambda: f"the condition before '?' must be a bool, not {type_name(c)}")

        return conditional

    def build_list(self, node: List) -> Fn:
        fns = [self.build(n) for n in node.items]
        return lambda v: [fn(v) for fn in fns]

    def build_map(self, node: Map) -> Fn:
        pairs = [(self.build(k), self.build(val), k.start) for k, val in node.entries]

        def make_map(v: Mapping[str, Any]) -> Any:
            out: dict[Any, Any] = {}
            for key_fn, value_fn, pos in pairs:
                key = key_fn(v)
                if not isinstance(key, (str, int)):  # bool is an int
                    raise type_error(pos, "a map key must be a string, int or bool, not {}", key)
                if has_key(out, key):
                    raise type_error(pos, f"the key {show(key)} appears twice in this map ({{}})", key)
                if key in out:  # true and 1, false and 0: different keys in CEL, one key in a Python dict
                    message = (
                        f"this map has both {show(key)} and {show(next(k for k in out if k == key))} as keys, "
                        'which nbdurable cannot keep apart; use string keys ("1", "true") instead'
                    )
                    raise EvalError(pos, lambda m=message: m)  # type: ignore[misc]
                out[key] = value_fn(v)
            return out

        return make_map

    def build_call(self, node: Call) -> Fn:
        pos = node.name_pos
        if node.name == "has":
            select = node.args[0]
            assert isinstance(select, Select)  # the parser allows nothing else
            operand, name = self.build(select.operand), select.field
            prefix = self.text(select.operand)

            def has(v: Mapping[str, Any]) -> Any:
                obj = operand(v)
                if isinstance(obj, Mapping):
                    return name in obj
                raise not_a_map(obj, prefix, name, select.field_pos)

            return has
        if node.name == "matches":
            return self.build_matches(node)
        args = [self.build(n) for n in node.args]
        target = self.build(node.target) if node.target is not None else None
        if node.name == "size":
            subject = target if target is not None else args[0]
            return lambda v: size(subject(v), pos)
        if node.name in TIMESTAMP_GETTERS:
            assert target is not None  # the parser allows only the method form
            return build_getter(node.name, target, args[0] if args else None, pos)
        if target is not None:  # contains, startsWith, endsWith
            budget = self.holder()
            name, arg = node.name, args[0]
            return lambda v: text_method(name, target(v), arg(v), budget, v, pos)
        convert = CONVERSIONS[node.name]
        arg = args[0]
        return lambda v: convert(arg(v), pos)

    def build_matches(self, node: Call) -> Fn:
        """``text.matches(re)`` or ``matches(text, re)``; a literal pattern is compiled (and checked) now."""
        budget = self.holder()
        pos = node.name_pos
        text_node, pattern_node = (node.target, node.args[0]) if node.target is not None else node.args
        text, pattern = self.build(text_node), self.build(pattern_node)
        program = None
        if isinstance(pattern_node, Lit) and isinstance(pattern_node.value, str):
            try:
                program = compile_pattern(pattern_node.value, pattern_node.start)
            except EvalError as exc:
                raise syntax_error(self.src, exc.position, exc.make_message()) from None
        return lambda v: search(text(v), pattern(v), program, budget, v, pos)

    def build_macro(self, node: Macro) -> Fn:
        assert self.shared_budget  # macros read the evaluation's budget from the variables
        self.charging += 1
        cond = node.cond
        return build_macro(
            node.name,
            self.build(node.target),
            self.build(node.body),
            None if cond is None else self.build(cond),
            var=node.var,
            pos=node.name_pos,
            check_pos=(node.body if cond is None else cond).start,
            step=1 + node_count(node.body) + (0 if cond is None else node_count(cond)),
        )


def build_getter(name: str, target: Fn, zone: Fn | None, pos: int) -> Fn:
    """``ts.getHours()``, ``ts.getHours('Europe/Oslo')``, ``duration.getMinutes()``..."""

    def getter(v: Mapping[str, Any]) -> Any:
        subject = target(v)
        where = None if zone is None else zone(v)
        if type(subject) is Timestamp and (where is None or isinstance(where, str)):
            return timestamp_field(name, subject, where, pos)
        if type(subject) is Duration and where is None:
            return duration_field(name, subject, pos)
        raise EvalError(pos, lambda: f".{name}() works on a timestamp (with an optional time zone name) or a duration")

    return getter


def _same(v: Mapping[str, Any]) -> Mapping[str, Any]:
    return v
