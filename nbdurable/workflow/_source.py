"""A workflow function's source lines, read once for its code hash and its lint.

Why not only ``inspect.getsourcelines``: it finds where a function ends by running
``tokenize`` over it, and the first use of ``tokenize`` in a process compiles its
regular expressions (a few milliseconds of the first ``@nd.function``). A ``def``
ends at the first line indented no deeper than it that completes a parse, which
``ast`` (loaded anyway, by ``inspect``) checks; where that is in doubt, inspect decides.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

__all__ = ["source_lines"]

# Cut points tried before leaving it to inspect (a header spread over many lines needs several).
_MAX_TRIES = 12


def source_lines(func: Callable[..., Any]) -> tuple[list[str], int, str] | None:
    """``(lines, first line number, file name)`` as ``inspect.getsourcelines`` gives them, or None without source."""
    try:
        all_lines, start = inspect.findsource(inspect.unwrap(func))
        filename = inspect.getsourcefile(func) or "<unknown>"
    except (OSError, TypeError, ValueError):
        return None
    rest = all_lines[start:]
    block = _def_block(rest)
    if block is None:
        block = inspect.getblock(rest)
    return list(block), start + 1, filename


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _def_block(lines: list[str]) -> list[str] | None:
    """The ``def`` at the top of ``lines`` through its last line, as inspect's block finder ends it; None if unsure."""
    if not lines:
        return None
    top = _indent(lines[0])
    tries = 0
    for cut in range(1, len(lines) + 1):
        if cut < len(lines):
            line = lines[cut]
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or _indent(line) > top:
                continue
        tries += 1
        if tries > _MAX_TRIES:
            return None
        parsed = _parse_one_def(lines[:cut])
        if parsed is not None:
            return lines[: _end(*parsed, cut)]
    return None


def _parse_one_def(lines: list[str]) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, list[str]] | None:
    """The one ``def`` these lines hold, with the lines dedented as it was parsed; None if they hold anything else."""
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) == 1 and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return tree.body[0], text.split("\n")
    return None


def _end(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], count: int) -> int:
    """How many lines inspect's block finder keeps: no trailing blanks, nor comments indented less than the body."""
    first = node.body[0]
    # inspect keeps a trailing comment indented at least as far as a body that starts on a line of its own.
    on_own_line = first.col_offset == _indent(lines[first.lineno - 1])
    body_col = first.col_offset if first.lineno > node.lineno and on_own_line else None
    end = count
    while end > (node.end_lineno or node.lineno):
        line = lines[end - 1]
        stripped = line.strip()
        if stripped and not (stripped.startswith("#") and (body_col is None or _indent(line) < body_col)):
            break
        end -= 1
    return end
