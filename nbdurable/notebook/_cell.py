"""Turn a ``%%durable`` cell body into a workflow function.

The body becomes the body of ``async def`` taking ``step`` and ``ctx``, compiled
from its AST so line numbers (and tracebacks) point into the cell. Names the body
assigns that already exist in the notebook start from their notebook values, as
they would in a plain cell, and everything it assigns is handed back so it can
land in the user namespace when the run finishes.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError

if TYPE_CHECKING:
    from ..engine._engine import Engine
    from ..workflow._context import Context
    from ..workflow._function import Function

__all__ = ["CellWorkflow", "cell_function_id", "compile_cell", "make_cell_function", "source_hash"]

_NS = "__nbdurable_ns__"
CellWorkflow = Callable[[Any, Any], Awaitable[dict[str, Any]]]


def cell_function_id(name: str) -> str:
    return f"cell:{name}"


def source_hash(source: str) -> str:
    return hashlib.blake2b(source.encode(), digest_size=8).hexdigest()


class _Assigned(ast.NodeVisitor):
    """Names a cell body binds at its top level (not inside functions or classes it defines)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def _bind(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.names.add(node.name)
        for deco in node.decorator_list:
            self.visit(deco)

    visit_FunctionDef = _bind  # noqa: N815
    visit_AsyncFunctionDef = _bind  # noqa: N815
    visit_ClassDef = _bind  # noqa: N815

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def visit_alias(self, node: ast.alias) -> None:
        if node.name != "*":
            self.names.add((node.asname or node.name).split(".")[0])


def compile_cell(body: str, name: str, namespace: dict[str, Any], *, first_line: int = 2) -> CellWorkflow:
    """Compile ``body`` into ``async def(step, ctx) -> dict of assigned names``.

    ``first_line`` is the body's line number in the cell (after the ``%%durable``
    line) so tracebacks match what the user sees.
    """
    filename = f"<durable-cell {name}>"
    module = _as_function(_parse_cell(body, name, filename, first_line), first_line)
    text = f"%%durable {name}\n" + body
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    code = compile(module, filename, "exec")
    scope: dict[str, Any] = {}
    exec(code, namespace, scope)  # noqa: S102 - the user's own cell, compiled above
    inner = scope["__durable_cell__"]

    async def workflow(step: Any, ctx: Any) -> dict[str, Any]:
        result: dict[str, Any] = await inner(step, ctx, namespace)
        return result

    workflow.__nbdurable_code__ = inner.__code__  # type: ignore[attr-defined]  # where replay reports point
    return workflow


def _parse_cell(body: str, name: str, filename: str, first_line: int) -> ast.Module:
    """The cell's syntax tree; refuses what cannot become a function body (top-level global, nonlocal, return)."""
    try:
        tree = compile(body, filename, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        raise ConfigError(
            f"%%durable {name}: the cell has a syntax error on line {(exc.lineno or 1) + first_line - 1}: {exc.msg}"
        ) from None
    assert isinstance(tree, ast.Module)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and node in tree.body:
            raise ConfigError(
                f"%%durable {name}: 'global'/'nonlocal' at the top of the cell is not supported; every name the "
                "cell assigns lands in the notebook namespace already."
            )
        if isinstance(node, ast.Return) and node in tree.body:
            raise ConfigError(f"%%durable {name}: 'return' at the top of the cell is not allowed.")
    return tree


def _as_function(tree: ast.Module, first_line: int) -> ast.Module:
    """A module defining ``async def __durable_cell__(step, ctx, ns)``: the cell's statements, returning its names."""
    finder = _Assigned()
    for stmt in tree.body:
        finder.visit(stmt)
    # Start names the cell rebinds from their notebook values, so `x = x + 1` works as in a plain cell.
    prologue_src = "".join(
        f"if {n!r} in {_NS}: {n} = {_NS}[{n!r}]\n" for n in sorted(finder.names) if n not in ("step", "ctx", _NS)
    )
    prologue = ast.parse(prologue_src).body if prologue_src else []
    epilogue = ast.parse(f"return {{k: v for k, v in locals().items() if k not in ('step', 'ctx', {_NS!r})}}").body
    for node in [*prologue, *epilogue]:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.stmt, ast.expr)):
                sub.lineno = sub.end_lineno = 1
    ast.increment_lineno(tree, first_line - 1)
    arguments = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg="step"), ast.arg(arg="ctx"), ast.arg(arg=_NS)],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    fields: dict[str, Any] = {
        "name": "__durable_cell__",
        "args": arguments,
        "body": [*prologue, *tree.body, *epilogue],
        "decorator_list": [],
        "returns": None,
    }
    if sys.version_info >= (3, 12):
        fields["type_params"] = []
    module = ast.Module(body=[ast.AsyncFunctionDef(**fields)], type_ignores=[])
    ast.fix_missing_locations(module)
    return module


def make_cell_function(
    name: str,
    body: str,
    namespace: dict[str, Any],
    *,
    engine: Engine,
    retries: int,
    determinism: str = "warn",
    on_change: str = "warn",
    timeout: str | None = None,
    on_locals: Callable[[str, dict[str, Any]], None] | None = None,
) -> Function[None]:
    """A Function whose workflow is the cell; its assigned names go to ``on_locals(run_id, names)``."""
    from ..flow import Timeouts
    from ..workflow._function import Function

    cell = compile_cell(body, name, namespace)

    async def run_cell(ctx: Context) -> None:
        names = await cell(ctx.step, ctx)
        if on_locals is not None:
            on_locals(ctx.run_id, names)

    run_cell.__nbdurable_code__ = cell.__nbdurable_code__  # type: ignore[attr-defined]

    function: Function[None] = Function(
        run_cell,
        id=cell_function_id(name),
        retries=retries,
        determinism=determinism,  # type: ignore[arg-type]
        on_change=on_change,  # type: ignore[arg-type]
        lint="off",  # cells are linted by the magic, with the cell's own line numbers
        engine=engine,
        timeouts=None if timeout is None else Timeouts(finish=timeout),
    )
    function.code_hash = source_hash(body)
    function.body_retries = 0  # an error in the cell (outside steps) is shown at once, not retried
    return function
