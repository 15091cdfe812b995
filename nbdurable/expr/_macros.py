"""The comprehension macros ``exists``, ``all``, ``exists_one``, ``map`` and ``filter`` as closures.

Each takes the compiled collection and body and returns one closure; the loop variable is bound
in a copy of the variables so the body sees it like any other name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._ast import Fn
from ._functions import is_list
from ._messages import EvalError, type_name


class _Loop:
    """What every macro closure shares: the collection, the body, the variable and where to point errors."""

    __slots__ = ("body", "body_pos", "kind", "pos", "target", "var")

    def __init__(self, kind: str, target: Fn, body: Fn, var: str, pos: int, body_pos: int) -> None:
        self.kind = kind
        self.target = target
        self.body = body
        self.var = var
        self.pos = pos
        self.body_pos = body_pos

    def items(self, v: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The values to iterate (a map's keys, as in CEL) and a fresh scope to bind the variable in."""
        coll = self.target(v)
        if is_list(coll) or isinstance(coll, Mapping):
            return list(coll), dict(v)
        kind = self.kind
        raise EvalError(self.pos, lambda: f".{kind}() works on a list or a map, not {type_name(coll)}")

    def check_bool(self, x: Any) -> bool:
        if type(x) is not bool:
            kind = self.kind
            raise EvalError(self.body_pos, lambda: f"the condition in .{kind}() must be a bool, not {type_name(x)}")
        return x


def _quantifier(loop: _Loop) -> Fn:
    # As with || and &&, the deciding value wins even when the body failed for another item.
    decisive = loop.kind == "exists"
    body, var, check_bool = loop.body, loop.var, loop.check_bool

    def quantifier(v: Mapping[str, Any]) -> Any:
        values, scope = loop.items(v)
        error: EvalError | None = None
        for value in values:
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
    body, var, check_bool = loop.body, loop.var, loop.check_bool

    def exists_one(v: Mapping[str, Any]) -> Any:
        values, scope = loop.items(v)
        count = 0
        for value in values:
            scope[var] = value
            count += check_bool(body(scope))
        return count == 1

    return exists_one


def _map(loop: _Loop) -> Fn:
    body, var = loop.body, loop.var

    def map_items(v: Mapping[str, Any]) -> Any:
        values, scope = loop.items(v)
        out = []
        for value in values:
            scope[var] = value
            out.append(body(scope))
        return out

    return map_items


def _filter(loop: _Loop) -> Fn:
    body, var, check_bool = loop.body, loop.var, loop.check_bool

    def filter_items(v: Mapping[str, Any]) -> Any:
        values, scope = loop.items(v)
        out = []
        for value in values:
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


def build_macro(kind: str, target: Fn, body: Fn, *, var: str, pos: int, body_pos: int) -> Fn:
    """The closure evaluating ``target.kind(var, body)``; ``kind`` is one of the parser's macros."""
    return _BUILDERS[kind](_Loop(kind, target, body, var, pos, body_pos))
