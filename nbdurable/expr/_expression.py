"""The compiled expression object and the functions the rest of nbdurable calls."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from typing import Any

from nbdurable._errors import ExpressionError

from ._ast import Fn
from ._evaluator import Builder
from ._lexer import IDENT_RE, LITERAL_WORDS
from ._messages import EvalError, type_name, where
from ._parser import EXAMPLE, Parser


class Expression:
    """A compiled expression: parse once, evaluate against many events.

    Immutable, hashable and safe to share between runs and threads; get one from
    :func:`compile_expression`. Pickling stores only the source and roots.
    """

    __slots__ = ("_fn", "allowed_roots", "source")
    source: str
    allowed_roots: frozenset[str]
    _fn: Fn

    def __init__(self, source: str, allowed_roots: frozenset[str], fn: Fn) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "allowed_roots", allowed_roots)
        object.__setattr__(self, "_fn", fn)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Expression is immutable; compile a new one instead of setting {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Expression is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source and self.allowed_roots == other.allowed_roots

    def __hash__(self) -> int:
        return hash((self.source, self.allowed_roots))

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, allowed_roots={sorted(self.allowed_roots)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_compile_cached, (self.source, self.allowed_roots))

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Evaluate with ``variables`` (e.g. ``{"event": {...}, "async": {...}}``) and return the value.

        Raises :class:`ExpressionError` pointing at the failing part when a field is missing or
        types do not fit, because a caller asking for the value has no sensible default.
        """
        try:
            return self._fn(variables)
        except EvalError as exc:
            raise ExpressionError(
                f"Expression could not be evaluated {where(self.source, exc.position)}: {exc.make_message()}.",
                expression=self.source,
                position=exc.position,
            ) from None

    def matches(self, variables: Mapping[str, Any]) -> bool:
        """Whether the expression is ``true`` for ``variables``.

        A missing field or a type mismatch means "no match" rather than an exception, as in
        Inngest: most candidate events simply lack the fields another event type has.
        """
        try:
            return self._fn(variables) is True
        except EvalError:
            return False


def compile_expression(source: str, *, allowed_roots: Collection[str] = ("event", "async")) -> Expression:
    """Parse and check ``source``; raise :class:`ExpressionError` with the position of the first problem.

    Results are cached, so compiling the same text again (every replay does) costs a dict lookup.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"An expression must be a string such as {EXAMPLE!r}, not {type(source).__name__}.")
    roots = frozenset(allowed_roots)
    for root in roots:
        if not isinstance(root, str) or not IDENT_RE.fullmatch(root) or root in LITERAL_WORDS or root == "in":
            raise ExpressionError(f"allowed_roots must be plain names such as 'event'; {root!r} is not one.")
    return _compile_cached(source, roots)


@functools.lru_cache(maxsize=1024)
def _compile_cached(source: str, roots: frozenset[str]) -> Expression:
    try:
        tree = Parser(source, roots).parse()
        fn = Builder(source).build(tree)
    except RecursionError:
        # Only reachable when the caller's stack is already nearly full; the depth limits cover the rest.
        raise ExpressionError(
            "Invalid expression: it is nested too deeply to parse here; simplify it.", expression=source
        ) from None
    return Expression(source, roots, fn)


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
