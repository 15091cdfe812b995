"""The comprehension macros ``exists``, ``all``, ``exists_one``, ``map`` and ``filter`` as closures.

Each takes the compiled collection and body and returns one closure; the loop variable is bound
in a copy of the variables so the body sees it like any other name. Every iteration pays for the
nodes it runs from the evaluation's budget before running them, so a loop over a long list, or
loops nested inside each other, stop as soon as the budget is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._ast import Fn
from ._cost import BUDGET, LimitError, copy_units
from ._functions import is_list
from ._messages import EvalError, type_name


class _Loop:
    """What every macro closure shares: the collection, the body, the variable and where to point errors."""

    __slots__ = ("body", "check_pos", "cond", "kind", "pos", "step", "target", "var")

    def __init__(
        self, kind: str, target: Fn, body: Fn, cond: Fn | None, *, var: str, pos: int, check_pos: int, step: int
    ) -> None:
        self.kind = kind
        self.target = target
        self.body = body
        self.cond = cond
        self.var = var
        self.pos = pos
        self.check_pos = check_pos
        self.step = step  # units one iteration pays up front

    def items(self, v: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any], list[int]]:
        """The values to iterate (a map's keys, as in CEL), a fresh scope for the variable, and the budget."""
        coll = self.target(v)
        if not (is_list(coll) or isinstance(coll, Mapping)):
            kind = self.kind
            raise EvalError(self.pos, lambda: f".{kind}() works on a list or a map, not {type_name(coll)}")
        budget: list[int] = v[BUDGET]
        budget[0] -= copy_units(len(coll))
        if budget[0] < 0:
            raise LimitError(self.pos, "cost")
        return list(coll), dict(v), budget

    def check_bool(self, x: Any) -> bool:
        if type(x) is not bool:
            kind = self.kind
            raise EvalError(self.check_pos, lambda: f"the condition in .{kind}() must be a bool, not {type_name(x)}")
        return x


def _quantifier(loop: _Loop) -> Fn:
    # As with || and &&, the deciding value wins even when the body failed for another item.
    decisive = loop.kind == "exists"
    body, var, check_bool, step, pos = loop.body, loop.var, loop.check_bool, loop.step, loop.pos

    def quantifier(v: Mapping[str, Any]) -> Any:
        values, scope, budget = loop.items(v)
        error: EvalError | None = None
        for value in values:
            budget[0] -= step
            if budget[0] < 0:
                raise LimitError(pos, "cost")
            scope[var] = value
            try:
                x = check_bool(body(scope))
            except EvalError as exc:
                error = error or exc
                continue
            if x is decisive:
                return decisive
        if error is not None:
            raise error
        return not decisive

    return quantifier


def _exists_one(loop: _Loop) -> Fn:
    body, var, check_bool, step, pos = loop.body, loop.var, loop.check_bool, loop.step, loop.pos

    def exists_one(v: Mapping[str, Any]) -> Any:
        values, scope, budget = loop.items(v)
        count = 0
        for value in values:
            budget[0] -= step
            if budget[0] < 0:
                raise LimitError(pos, "cost")
            scope[var] = value
            count += check_bool(body(scope))
        return count == 1

    return exists_one


def _map(loop: _Loop) -> Fn:
    body, cond, var, check_bool, step, pos = loop.body, loop.cond, loop.var, loop.check_bool, loop.step, loop.pos

    def map_items(v: Mapping[str, Any]) -> Any:
        values, scope, budget = loop.items(v)
        out = []
        for value in values:
            budget[0] -= step
            if budget[0] < 0:
                raise LimitError(pos, "cost")
            scope[var] = value
            if cond is None or check_bool(cond(scope)):
                out.append(body(scope))
        return out

    return map_items


def _filter(loop: _Loop) -> Fn:
    body, var, check_bool, step, pos = loop.body, loop.var, loop.check_bool, loop.step, loop.pos

    def filter_items(v: Mapping[str, Any]) -> Any:
        values, scope, budget = loop.items(v)
        out = []
        for value in values:
            budget[0] -= step
            if budget[0] < 0:
                raise LimitError(pos, "cost")
            scope[var] = value
            if check_bool(body(scope)):
                out.append(value)
        return out

    return filter_items


_BUILDERS: dict[str, Callable[[_Loop], Fn]] = {
    "exists": _quantifier,
    "all": _quantifier,
    "exists_one": _exists_one,
    "map": _map,
    "filter": _filter,
}


def build_macro(
    kind: str, target: Fn, body: Fn, cond: Fn | None, *, var: str, pos: int, check_pos: int, step: int
) -> Fn:
    """The closure evaluating ``target.kind(var, body)`` (or ``map(var, cond, body)``)."""
    loop = _Loop(kind, target, body, cond, var=var, pos=pos, check_pos=check_pos, step=step)
    return _BUILDERS[kind](loop)
