"""CEL expressions for ``if_exp``, ``CancelOn`` and concurrency keys, parsed and evaluated without ``eval``.

Inngest writes these conditions in CEL (Common Expression Language), e.g.
``async.data.ticket_id == event.data.ticket_id``, so the same text works here. The
source is split into tokens, parsed by recursive descent into a tree made only of
the node types below, checked (known names, known functions, nesting depth), and
turned into a chain of small Python closures. No text from the user ever reaches
``eval``, ``exec``, ``compile`` or ``getattr``: field access is a mapping lookup.

Why our own parser and not cel-python (``celpy`` 0.5.0), measured in this venv:

* Speed: its tree-walking ``InterpretedRunner`` took ~150 us per evaluation of
  ``a.x == e.x && a.n > 100``, plus ~100 us to convert each event with
  ``json_to_cel``: ~250 us per candidate event. This module takes ~1 us, or
  ~4 us when the candidate lacks the field.
* Safety: its faster ``CompiledRunner`` transpiles to Python and runs it with
  ``exec`` (and raised ``AttributeError`` on that expression in 0.5.0).
* Side effects: every ``celpy.Environment()`` calls ``sys.setrecursionlimit(2500)``,
  changing the user's kernel.
* Errors: a parse error has a line and column but no text saying what is wrong
  (``a = 1`` gives only a caret); unknown names are found only at evaluation.
* Weight: ~60 ms to import, and five more dependencies (lark, pendulum,
  google-re2, jmespath, pyyaml).

Python's ``ast`` was the other candidate. It was not used because CEL is not
Python: ``&&``, ``||``, ``!``, ``null``, ``cond ? a : b``, ``//`` comments and the
``async`` root would all need rewriting before parsing; ``ast`` offsets are UTF-8
bytes and shift after each rewrite; and its error messages describe Python. A CEL
grammar is small enough to parse directly, with exact character positions.

Semantics follow CEL for JSON-like values (null, bool, int, double, string, list,
map). Three choices:

* A missing field is an error. ``&&`` and ``||`` ignore an error when the other side
  decides the result, as in CEL: ``has(e.x) && e.x > 1`` and ``e.missing == 1 || true``
  work. ``Expression.matches`` counts any remaining error as "no match" (an event
  without the field does not match in Inngest either); ``Expression.evaluate`` raises
  :class:`ExpressionError` naming the field and pointing at it.
* ``matches`` is true only when the result is the boolean ``true``. A string
  ``"false"`` or a number never counts as a match.
* Arithmetic accepts an int and a double together (CEL needs ``double(x)``), because
  JSON does not say whether ``100`` is an int or a double.

Supported: literals (``1``, ``0x1f``, ``1.5``, ``"s"``, ``'s'``, ``r"raw"``,
``'''triple'''``, ``true``, ``false``, ``null``, ``[...]``, ``{k: v}``), ``.field`` (also
reserved words and backquoted names: ``e.`content-type```), ``[index]``, ``! -`` (unary),
``* / %``, ``+ -``, ``< <= > >= == != in``, ``&&``, ``||``, ``? :``, the functions ``size has
int double string bool dyn type timestamp duration matches``, type names (``int``,
``google.protobuf.Timestamp``...), the methods ``size contains startsWith endsWith matches``
and the timestamp/duration getters, and the macros ``exists all exists_one existsOne map
filter`` (``map`` also with a filter: ``map(x, cond, expr)``). ``matches`` runs on RE2
(google-re2): linear time, no backreferences or lookaround. Timestamps and durations are
whole nanoseconds (``_time.py``).

Left out: uint and bytes (JSON has neither), protobuf messages and containers, optional
values, two-variable comprehensions, and names starting with ``__``. An unknown name or
function is a compile error (in CEL a runtime error). ``a < b < c`` is a compile error
with a hint (CEL would compare a bool with ``c``). Each gets an error that says so.

Every evaluation is cost-bounded (``_cost.py``, ``_limits.py``): see :class:`Limits`.
The cel-spec conformance tests run in ``tests/expr/test_conformance.py``.
"""

from __future__ import annotations

from ._cost import Estimate
from ._expression import Expression, compile_expression, evaluate_key
from ._limits import Limits, default_limits, set_default_limits

__all__ = [
    "Estimate",
    "Expression",
    "Limits",
    "compile_expression",
    "default_limits",
    "evaluate_key",
    "set_default_limits",
]
