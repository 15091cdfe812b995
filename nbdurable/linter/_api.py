"""The entry points: lint source text, a cell, a file or a notebook."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._errors import LintError
from ._analyzer import Analyzer, record_import_time_values
from ._module import ModuleFacts
from ._rules import Finding
from ._source import Source, is_durable, parse, parse_cell, parse_lenient
from ._syntax import walk_no_lambda


def lint(source: str, *, filename: str = "<source>") -> list[Finding]:
    """Findings in Python source (its ``@nd.function`` workflows) or in a ``%%durable`` cell.

    A source whose first line is ``%%durable ...`` is read as a cell. So is a cell body given
    without that line, recognised by its use of ``step`` or top-level ``await`` when the
    source defines no workflow. Raises LintError when the source does not parse.
    """
    with _too_deep(filename):
        return _lint_text(Source(source, filename))


def lint_cell(cell_source: str, *, context: Sequence[tuple[str, str]] = ()) -> list[Finding]:
    """Findings in one notebook cell whose first line is ``%%durable NAME``; [] for any other cell.

    ``context`` is the code that ran before it, as ``(label, source)`` pairs (a kernel's
    history: ``("In [3]", "run_tag = uuid.uuid4().hex")``): what those cells define (values
    made from the clock or randomness, aliases, clients, generators, helpers) is read as
    the notebook's, and findings name the cell by its label. Cells that do not parse are
    left out.
    """
    if not is_durable(cell_source):
        return []
    with _too_deep("<cell>"):
        src = Source(cell_source, "<cell>")
        tree = parse_cell(src)
        plain: list[tuple[ast.Module, Source]] = []
        for label, text in context:
            if is_durable(text) or text.lstrip().startswith("%%"):
                continue
            earlier = Source(text, "<cell>", label=label)
            try:
                plain.append((parse_lenient(text, earlier), earlier))
            except LintError:
                continue  # a cell that failed to parse never ran: it defined nothing
        module = _module_facts(plain, [tree]) if plain else ModuleFacts()
        return _lint_durable(src, module, tree)


def lint_path(path: str | os.PathLike[str]) -> list[Finding]:
    """Findings in a ``.py`` file or a ``.ipynb`` notebook; raises LintError if it cannot be read.

    Only regular files are read (a FIFO or a device would block or never end), and at most
    MAX_BYTES of them.
    """
    shown = os.fspath(path)
    p = Path(shown)
    if p.suffix not in (".py", ".ipynb"):
        raise LintError(f"{shown}: cannot lint, only .py files and .ipynb notebooks are supported.", path=shown)
    text = _read(shown)
    with _too_deep(shown):
        if p.suffix == ".ipynb":
            return _lint_notebook(text, shown)
        return _lint_text(Source(text, shown, path=shown))


MAX_BYTES = 64 * 1024 * 1024  # larger notebooks hold outputs (images), not code worth the wait
_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _read(shown: str) -> str:
    """The text of a regular file of at most MAX_BYTES, or a LintError that says why not."""
    try:
        info = os.stat(shown)
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise LintError(
                f"{shown}: cannot lint, it is {kind}; only regular .py and .ipynb files are read.", path=shown
            )
        if info.st_size > MAX_BYTES:
            raise LintError(
                f"{shown}: cannot lint, the file is {_size(info.st_size)}, more than the {_size(MAX_BYTES)} read "
                "at most. Clear a notebook's outputs, or split the file.",
                path=shown,
            )
        with open(shown, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError as exc:
        raise LintError(f"{shown}: cannot lint, no such file. Check the path.", path=shown) from exc
    except OSError as exc:
        raise LintError(f"{shown}: cannot lint, the file cannot be read: {exc.strerror or exc}.", path=shown) from exc
    if len(data) > MAX_BYTES:
        raise LintError(f"{shown}: cannot lint, the file grew past {_size(MAX_BYTES)} while read.", path=shown)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LintError(f"{shown}: cannot lint, the file is not UTF-8 text ({exc.reason}).", path=shown) from exc


@contextlib.contextmanager
def _too_deep(where: str) -> Iterator[None]:
    """Turn a RecursionError (or MemoryError) on absurdly nested code (the walk is recursive) into a LintError."""
    try:
        yield
    except (RecursionError, MemoryError) as exc:
        raise LintError(
            f"{where}: cannot lint, the code is nested too deeply to analyse. Split the expression up.", path=None
        ) from exc


def _lint_text(src: Source) -> list[Finding]:
    if is_durable(src.text):
        return _lint_durable(src, ModuleFacts())
    tree = parse(src.text, src)
    module = _module_facts([(tree, src)])
    if not module.workflows and _looks_like_cell_body(tree, module):
        return Analyzer(ModuleFacts(), src, tree, cell_mode=True).run()
    findings: list[Finding] = []
    for ref in module.workflows:
        findings.extend(Analyzer(module, ref.src, ref.node, cell_mode=False).run())
    return sorted(findings, key=lambda f: (f.line, f.col, f.code))


def _module_facts(parts: list[tuple[ast.Module, Source]], durable_cells: list[ast.Module] | None = None) -> ModuleFacts:
    """The facts of a module (or a notebook's plain cells), with the values its globals get at import."""
    module = ModuleFacts.build(parts, durable_cells or [])
    for tree, src in parts:
        record_import_time_values(module, tree, src)
    return module


def _lint_durable(src: Source, module: ModuleFacts, tree: ast.Module | None = None) -> list[Finding]:
    if tree is None:
        tree = parse_cell(src)
    return Analyzer(module, src, tree, cell_mode=True).run()


def _looks_like_cell_body(tree: ast.Module, module: ModuleFacts) -> bool:
    """A %%durable body passed without its magic line: it uses `step` or awaits at top level."""
    for node in walk_no_lambda(tree):
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, ast.Name) and node.id == "step" and "step" not in module.bound | set(module.imports):
            return True
    return False


def _lint_notebook(text: str, path: str) -> list[Finding]:
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LintError(
            f"{path}: cannot lint, the notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}). Open and save it in Jupyter to repair it.",
            path=path,
            line=exc.lineno,
        ) from exc
    except (RecursionError, MemoryError) as exc:
        raise LintError(f"{path}: cannot lint, the notebook's JSON is nested too deeply to read.", path=path) from exc
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise LintError(f"{path}: cannot lint, this JSON has no `cells` list, so it is not a notebook.", path=path)
    plain: list[tuple[ast.Module, Source]] = []
    durable: list[tuple[ast.Module, Source]] = []
    for index, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else raw
        if not isinstance(source, str):
            raise LintError(f"{path}: cannot lint, cell {index} has a source that is not text.", path=path)
        src = Source(source, path, cell=index, path=path)
        if is_durable(source):
            durable.append((parse_cell(src), src))
            continue
        if source.lstrip().startswith("%%"):
            continue  # another cell magic: its body is not Python run by this kernel
        try:
            plain.append((parse_lenient(source, src), src))
        except LintError:
            if ".function(" in source or "@function" in source:
                raise  # it may define a workflow we cannot check
    module = _module_facts(plain, [tree for tree, _ in durable])
    findings: list[Finding] = []
    for ref in module.workflows:
        findings.extend(Analyzer(module, ref.src, ref.node, cell_mode=False).run())
    for tree, src in durable:
        findings.extend(_lint_durable(src, module, tree))
    return sorted(findings, key=lambda f: (f.cell or 0, f.line, f.col, f.code))
