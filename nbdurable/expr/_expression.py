"""The compiled expression object and the functions the rest of nbdurable calls."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from typing import Any

from .._errors import ExpressionError
from ._ast import Fn
from ._cost import BUDGET, Estimate, LimitError, estimate, has_macro, node_count
from ._evaluator import Builder
from ._lexer import IDENT_RE, LITERAL_WORDS
from ._limits import COST_ENV, Limits, default_limits
from ._messages import EvalError, type_name, where
from ._parser import EXAMPLE, Parser

_RAISE_HINT = f"raise the limit with nbdurable.expr.set_default_limits(cost=...) or ${COST_ENV}"


class Expression:
    """A compiled expression: parse once, evaluate against many events.

    Immutable, hashable and safe to share between runs and threads; get one from
    :func:`compile_expression`. Pickling stores only the source, roots and limits.
    """

    __slots__ = ("_fn", "allowed_roots", "cost", "limits", "source")
    source: str
    allowed_roots: frozenset[str]
    limits: Limits
    cost: Estimate  # the least and most units an evaluation can cost (most is None when the data decides)
    _fn: Fn

    def __init__(self, source: str, allowed_roots: frozenset[str], limits: Limits, cost: Estimate, fn: Fn) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "allowed_roots", allowed_roots)
        object.__setattr__(self, "limits", limits)
        object.__setattr__(self, "cost", cost)
        object.__setattr__(self, "_fn", fn)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Expression is immutable; compile a new one instead of setting {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Expression is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return (self.source, self.allowed_roots, self.limits) == (other.source, other.allowed_roots, other.limits)

    def __hash__(self) -> int:
        return hash((self.source, self.allowed_roots, self.limits))

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, allowed_roots={sorted(self.allowed_roots)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_compile_cached, (self.source, self.allowed_roots, self.limits))

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Evaluate with ``variables`` (e.g. ``{"event": {...}, "async": {...}}``) and return the value.

        Raises :class:`ExpressionError` pointing at the failing part when a field is missing or
        types do not fit, because a caller asking for the value has no sensible default, and
        when the evaluation goes over its limits.
        """
        try:
            return self._fn(variables)
        except EvalError as exc:
            raise ExpressionError(
                f"Expression could not be evaluated {where(self.source, exc.position)}: {exc.make_message()}.",
                expression=self.source,
                position=exc.position,
            ) from None
        except LimitError as exc:
            raise self._over_limit(exc) from None
        except RecursionError:
            raise self._too_deep() from None

    def matches(self, variables: Mapping[str, Any]) -> bool:
        """Whether the expression is ``true`` for ``variables``.

        A missing field or a type mismatch means "no match" rather than an exception, as in
        Inngest: most candidate events simply lack the fields another event type has. Going
        over the cost or size limit is not a mismatch: it raises :class:`ExpressionError`.
        """
        try:
            return self._fn(variables) is True
        except EvalError:
            return False
        except LimitError as exc:
            raise self._over_limit(exc) from None
        except RecursionError:
            raise self._too_deep() from None

    def _over_limit(self, exc: LimitError) -> ExpressionError:
        if exc.kind == "size":
            what = f"{exc.detail}, over the size limit of {self.limits.size}"
            hint = "nbdurable.expr.set_default_limits(size=...)"
        else:
            what = f"it went over its cost limit of {self.limits.cost} units"
            hint = f"nbdurable.expr.set_default_limits(cost=...) or ${COST_ENV}"
        return ExpressionError(
            f"Expression {self.source!r} stopped {where(self.source, exc.position)}: {what}. On this data it is "
            "too much work to do on the event loop; make it do less per event (fewer or shallower loops over "
            f"smaller lists), or if the work is needed, raise the limit with {hint}.",
            expression=self.source,
            position=exc.position,
        )

    def _too_deep(self) -> ExpressionError:
        return ExpressionError(
            f"Expression {self.source!r} could not be evaluated: the data it compares is nested too deeply.",
            expression=self.source,
        )


def compile_expression(
    source: str, *, allowed_roots: Collection[str] = ("event", "async"), limits: Limits | None = None
) -> Expression:
    """Parse and check ``source``; raise :class:`ExpressionError` with the position of the first problem.

    ``limits`` defaults to :func:`default_limits`. An expression whose least possible cost is over
    the cost limit is refused here. Results are cached, so compiling the same text again (every
    replay does) costs a dict lookup.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"An expression must be a string such as {EXAMPLE!r}, not {type(source).__name__}.")
    roots = frozenset(allowed_roots)
    for root in roots:
        if not isinstance(root, str) or not IDENT_RE.fullmatch(root) or root in LITERAL_WORDS or root == "in":
            raise ExpressionError(f"allowed_roots must be plain names such as 'event'; {root!r} is not one.")
    return _compile_cached(source, roots, default_limits() if limits is None else limits)


@functools.lru_cache(maxsize=1024)
def _compile_cached(source: str, roots: frozenset[str], limits: Limits) -> Expression:
    if len(source) > limits.length:
        raise ExpressionError(
            f"Invalid expression: it is {len(source)} characters long, over the limit of {limits.length}; "
            "split it into simpler ones (or raise nbdurable.expr.set_default_limits(length=...)).",
            expression=source[:200],
        )
    try:
        tree = Parser(source, roots).parse()
        builder = Builder(source, max_size=limits.size, shared_budget=has_macro(tree))
        fn = builder.build(tree)
    except RecursionError:
        # Only reachable when the caller's stack is already nearly full; the depth limits cover the rest.
        raise ExpressionError(
            "Invalid expression: it is nested too deeply to parse here; simplify it.", expression=source
        ) from None
    cost = estimate(tree)
    if cost.least > limits.cost:
        raise ExpressionError(
            f"Expression {source!r} costs at least {cost.least} units to evaluate, whatever the data, over its "
            f"cost limit of {limits.cost} (it loops over literal lists, probably nested); "
            f"simplify it, or {_RAISE_HINT}.",
            expression=source,
            position=0,
        )
    units = limits.cost - node_count(tree)
    if builder.shared_budget:
        fn = _with_budget(fn, units)
    elif builder.charges:
        builder.share[0] = units // builder.charging
    return Expression(source, roots, limits, cost, fn)


def _with_budget(fn: Fn, units: int) -> Fn:
    """Run ``fn`` with a fresh budget of ``units`` in a copy of the variables (the nodes' own count is paid)."""

    def run(v: Mapping[str, Any]) -> Any:
        scope = dict(v)
        scope[BUDGET] = [units]
        return fn(scope)

    return run


def evaluate_key(source: str, variables: Mapping[str, Any], *, allowed_roots: Collection[str] | None = None) -> str:
    """Evaluate a key expression such as ``event.data.tenant_id`` to a string used as a partition key.

    Strings are returned as they are; anything else as compact JSON with sorted keys, so equal values
    give equal keys. ``allowed_roots`` defaults to the names in ``variables``. A missing field raises
    :class:`ExpressionError`: silently putting such events in one shared partition would be worse.
    """
    roots = tuple(variables) if allowed_roots is None else allowed_roots
    expression = compile_expression(source, allowed_roots=roots)
    value = expression.evaluate(variables)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(
            f"The key expression gave a {type_name(value)} that cannot be written as JSON ({exc}); "
            "make it select a string, number or other JSON value.",
            expression=source,
        ) from None
