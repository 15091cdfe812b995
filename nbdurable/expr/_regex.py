"""``matches()`` with RE2: linear-time regular expressions, so no pattern can backtrack for ever.

Python's ``re`` backtracks: ``(a+)+b`` against a line of ``a`` takes exponential time, and a
pattern may come from the event data. RE2 (the ``google-re2`` package, the engine CEL specifies)
runs in time linear in the text for any pattern and refuses constructs that need backtracking
(backreferences, lookaround). Its memory per pattern is capped, and its work is paid for from
the evaluation's budget like any text scan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from ._cost import REGEX_CHARS_PER_UNIT, spend
from ._messages import EvalError, show, type_name

_MAX_PROGRAM_BYTES = 1 << 20  # RE2's own memory budget for one compiled pattern


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    """The compiled pattern, or the text of RE2's complaint (cached either way)."""
    import re2  # type: ignore[import-untyped]  # google-re2 has no type hints; loaded on first use

    options = re2.Options()
    options.log_errors = False  # RE2 would print to stderr; the error is reported to the user instead
    options.max_mem = _MAX_PROGRAM_BYTES
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def compile_pattern(pattern: str, pos: int) -> Any:
    """The RE2 program for ``pattern``; an EvalError saying what RE2 refused otherwise."""
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        raise EvalError(
            pos,
            lambda: (
                f"matches() cannot use the pattern {show(pattern)}: {compiled} (patterns use RE2 syntax, which has "
                "no backreferences or lookaround)"
            ),
        )
    return compiled


def search(
    text: Any,
    pattern: Any,
    program: Any,
    budget: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    v: Mapping[str, Any],
    pos: int,
) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (CEL's matches is a search, not a full match)."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise EvalError(pos, lambda: f"matches() works on strings, not {type_name(text)} and {type_name(pattern)}")
    units = len(text) * (1 + len(pattern) // 16) // REGEX_CHARS_PER_UNIT
    if program is None:
        units += 1 + len(pattern) // 10  # compiling a pattern from the data, paid before it is done
    if units:
        spend(budget(v), units, pos)
    if program is None:
        program = compile_pattern(pattern, pos)
    return program.search(text) is not None
