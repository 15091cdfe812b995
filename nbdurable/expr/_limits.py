"""The limits of the expression language: fixed ones (nesting, int64) and the configurable cost budget.

An expression runs on the event loop, once per candidate event, over data anyone who can send an
event controls. So, as in cel-go, every evaluation has a cost budget counted in units (about one
node evaluated, one list item compared or ~100 characters scanned each), and the values it builds
and the text it parses are bounded too. :class:`Limits` holds the configurable part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .._errors import ConfigError

# Each bracket level costs about ten Python frames in the parser; a node about two
# when building and evaluating. These limits keep both far below the default
# recursion limit (1000), also when called from an already deep stack. CEL requires
# at least 32 nested brackets and 12 repeated selections or indexes.
MAX_NESTING = 32
MAX_DEPTH = 120
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

COST_ENV = "NBDURABLE_EXPR_COST_LIMIT"


@dataclass(frozen=True)
class Limits:
    """How much one expression may cost, build and parse; the defaults suit event filters.

    ``cost``: units one evaluation may spend (one unit is about one node evaluated, one list item
    visited, or ~100 characters scanned). The default keeps the worst evaluation to a few
    milliseconds. ``size``: the longest string (characters) or list (items) an expression may
    build by concatenation. ``length``: the longest expression text accepted, in characters.
    """

    cost: int = 10_000
    size: int = 100_000
    length: int = 2_048

    def __post_init__(self) -> None:
        for name in ("cost", "size", "length"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"expression limit {name} must be a positive int, not {value!r}")


def _from_environment() -> Limits:
    text = os.environ.get(COST_ENV, "").strip()
    if not text:
        return Limits()
    try:
        return Limits(cost=int(text))
    except ValueError:
        raise ConfigError(f"{COST_ENV}={text!r} is not a positive integer (an expression cost limit)") from None


_default: Limits | None = None


def default_limits() -> Limits:
    """The limits every expression is compiled with unless it is given its own."""
    global _default
    if _default is None:
        _default = _from_environment()
    return _default


def set_default_limits(limits: Limits | None = None, **changes: int) -> Limits:
    """Set the limits used from now on (``set_default_limits(cost=50_000)``); returns the previous ones.

    ``None`` with no changes goes back to the built-in defaults (and ``$NBDURABLE_EXPR_COST_LIMIT``).
    Expressions already compiled keep the limits they were compiled with.
    """
    global _default
    previous = default_limits()
    if limits is None and not changes:
        _default = _from_environment()
        return previous
    base = limits if limits is not None else previous
    fields = {"cost": base.cost, "size": base.size, "length": base.length}
    unknown = set(changes) - set(fields)
    if unknown:
        raise ConfigError(f"unknown expression limit(s) {sorted(unknown)}; the limits are cost, size and length")
    _default = Limits(**{**fields, **changes})
    return previous
