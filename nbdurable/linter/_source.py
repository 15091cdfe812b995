"""Source handling: a piece of text being linted (file, cell, notebook cell), parsing it, positions.

Notebook code is not plain Python: ``%%durable`` magic lines, line magics and ``!cmd``
shell lines are blanked or neutralized so the rest parses with its line numbers kept.
"""

from __future__ import annotations

import ast
import re

from .._errors import LintError
from ._rules import Finding

DURABLE_RE = re.compile(r"\s*%%durable(?:[ \t]|\r?\n|$)")
PRAGMA_RE = re.compile(r"#\s*nd:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")
LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
MAGIC_ASSIGN_RE = re.compile(r"^(\s*)([A-Za-z_][\w\s,]*?)\s*=\s*([!%])(.*)$")


class Source:
    """A piece of source text being linted, and where it came from (file, notebook cell)."""

    __slots__ = ("cell", "filename", "label", "lines", "path", "shell_lines", "shift_from", "text")

    def __init__(
        self, text: str, filename: str, *, cell: int | None = None, path: str | None = None, label: str | None = None
    ) -> None:
        self.text = text
        self.filename = filename
        self.cell = cell
        self.path = path
        # How messages name the cell: "cell 3" (its place in a notebook) or "In [7]" (a kernel's history).
        self.label = label or (f"cell {cell}" if cell is not None else None)
        self.shell_lines: tuple[tuple[int, int, str], ...] = ()  # (line, col, command) of `!cmd` lines
        self.shift_from = 0  # lines from here on were parsed with one extra leading space
        self.lines = LINE_SPLIT_RE.split(text)

    def col(self, line: int, col_offset: int) -> int:
        """1-based character column from ast's byte offset (they differ on non-ASCII lines)."""
        if self.shift_from and line >= self.shift_from:
            col_offset = max(col_offset - 1, 0)
        if 1 <= line <= len(self.lines):
            raw = self.lines[line - 1].encode("utf-8")[:col_offset]
            return len(raw.decode("utf-8", "replace")) + 1
        return col_offset + 1

    def ignored(self, finding: Finding) -> bool:
        if not 1 <= finding.line <= len(self.lines):
            return False
        match = PRAGMA_RE.search(self.lines[finding.line - 1])
        if match is None:
            return False
        if match.group(1) is None:
            return True
        prefixes = [p.strip().upper() for p in match.group(1).split(",") if p.strip()]
        return any(finding.code.startswith(p) for p in prefixes)


def parse(text: str, src: Source) -> ast.Module:
    """Parse with top-level await allowed (notebook cells use it), or raise LintError."""
    try:
        tree = compile(
            text, src.filename, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
    except SyntaxError as exc:
        where = _where(src, exc.lineno)
        raise LintError(
            f"{where}: cannot lint, the code does not parse: {exc.msg}. Fix the syntax error and lint again.",
            path=src.path,
            line=exc.lineno,
        ) from exc
    except ValueError as exc:  # e.g. NUL bytes
        raise LintError(f"{_where(src, None)}: cannot lint: {exc}. Is this a text file?", path=src.path) from exc
    except (MemoryError, RecursionError) as exc:  # CPython's parser gives up on absurdly nested code
        raise LintError(
            f"{_where(src, None)}: cannot lint, the code is nested too deeply for Python's parser. Split the "
            "expression up.",
            path=src.path,
        ) from exc
    assert isinstance(tree, ast.Module)
    return tree


def _where(src: Source, line: int | None) -> str:
    parts = [src.filename]
    if src.label is not None:
        parts.append(src.label)
    if line is not None:
        parts.append(f"line {line}")
    return ", ".join(parts)


def neutralize_magics(text: str) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """Replace IPython line magics and ``!cmd`` lines with Python of the same shape.

    Line numbers and the indentation of blocks stay the same; shell lines are returned so
    a durable cell can report them (they run again on every replay).
    """
    lines = text.split("\n")
    shell: list[tuple[int, int, str]] = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith(("%", "!")) and not stripped.startswith("%%"):
            if stripped.startswith("!"):
                shell.append((i + 1, len(indent) + 1, stripped[1:].strip()))
            lines[i] = indent + "pass"
            continue
        match = MAGIC_ASSIGN_RE.match(line)
        if match is not None:
            if match.group(3) == "!":
                shell.append((i + 1, match.start(3) + 1, match.group(4).strip()))
            lines[i] = f"{match.group(1)}{match.group(2).rstrip()} = None"
    return "\n".join(lines), tuple(shell)


def parse_lenient(text: str, src: Source) -> ast.Module:
    """Parse notebook code, retrying with IPython magics neutralized if plain parsing fails."""
    try:
        return parse(text, src)
    except LintError:
        cleaned, shell = neutralize_magics(text)
        if cleaned == text:
            raise
        tree = parse(cleaned, src)
        src.shell_lines = shell
        return tree


def is_durable(source: str) -> bool:
    return DURABLE_RE.match(source) is not None


def blank_magic_line(source: str) -> str:
    """The cell with its ``%%durable`` line blanked, so the body parses with the same line numbers."""
    match = DURABLE_RE.match(source)
    assert match is not None
    start = source.index("%%durable")
    end = source.find("\n", start)
    end = len(source) if end == -1 else end
    return source[:start] + source[end:]


def parse_cell(src: Source) -> ast.Module:
    """Parse a %%durable cell's body, keeping its line numbers (the magic line is blanked)."""
    text = blank_magic_line(src.text)
    try:
        return parse_lenient(text, src)
    except LintError as exc:
        cause = exc.__cause__
        if not (isinstance(cause, SyntaxError) and "outside function" in (cause.msg or "")):
            raise
    # A `return` in the body: parse it as the body of an async def, as the runtime runs it.
    # One space of indentation keeps every column but one; Source.col takes it back.
    text, shell = neutralize_magics(text)
    magic = src.text[: src.text.index("%%durable")].count("\n")
    lines = text.split("\n")
    wrapped = [*lines[:magic], "async def __nd_cell__():", *(" " + line for line in lines[magic + 1 :])]
    src.shift_from = magic + 2
    src.shell_lines = shell
    fn = parse("\n".join(wrapped), src).body[-1]
    assert isinstance(fn, ast.AsyncFunctionDef)
    return ast.Module(body=fn.body, type_ignores=[])
