"""Small questions about syntax trees: what a name is bound to, what an expression is.

Pure functions of ``ast`` nodes (plus a resolver passed in), shared by the module facts
and the analyzer.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence

from ._rules import (
    CLIENT_METHODS,
    IN_MEMORY_CONNECTS,
    PATH_CTORS,
    PATH_DERIVING,
    SET_FUNCTIONS,
    SET_METHODS,
    io_call_kind,
)

# -- name resolution ----------------------------------------------------------------------------------


def import_bindings(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """(local name, qualified name) pairs an import statement binds."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname is not None:
                yield alias.asname, alias.name
            else:
                first = alias.name.split(".")[0]
                yield first, first
    else:
        if node.level or node.module is None:
            return
        for alias in node.names:
            if alias.name != "*":
                yield alias.asname or alias.name, f"{node.module}.{alias.name}"


def dotted(expr: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"], or None when the chain does not start at a name."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return parts[::-1]
    return None


def attr_chain(expr: ast.expr) -> list[str]:
    """Trailing attribute names of ``x.a.b`` (["a", "b"]) whatever ``x`` is."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    return parts[::-1]


def short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in target_names(elt)]
    if isinstance(target, ast.Starred):
        return target_names(target.value)
    return []


def walk_no_lambda(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk that does not enter lambda bodies or nested function and class bodies."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            stack.append(child)


def bound_names(body: Sequence[ast.stmt], *, into_defs: bool) -> set[str]:
    """Names bound (assigned, imported, defined, loop targets...) in a block."""
    names: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if not into_defs:
                stack.extend(node.decorator_list)
                continue
            if not isinstance(node, ast.ClassDef):
                names.update(a.arg for a in all_args(node.args))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(local for local, _ in import_bindings(node))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # Comprehension variables have their own scope; only look at what they evaluate.
            for gen in node.generators:
                stack.append(gen.iter)
                stack.extend(gen.ifs)
            continue
        elif isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return names


def all_args(args: ast.arguments) -> list[ast.arg]:
    out = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        out.append(args.vararg)
    if args.kwarg:
        out.append(args.kwarg)
    return out


def globals_declared(body: Sequence[ast.stmt]) -> set[str]:
    """Names a scope declares `global` (its own statements, not those of functions inside it)."""
    names: set[str] = set()
    for node in walk_no_lambda(ast.Module(body=list(body), type_ignores=[])):
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names


def child_scopes(node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda]:
    """The functions and lambdas directly inside ``node`` (not inside those)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield child
        else:
            yield from child_scopes(child)


def is_int_like(expr: ast.expr) -> bool:
    """Elements whose hash (and so set order) is the same in every process: numbers, bools, tuples of them."""
    if isinstance(expr, ast.Tuple):
        return all(is_int_like(e) for e in expr.elts)
    return isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float))


def mode_reads(mode: ast.expr | None, call: ast.Call) -> bool:
    """open() in a write-only mode does not read; any other mode (or an unknown one) does."""
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return not (any(c in mode.value for c in "wax") and "+" not in mode.value)
    return True


def top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking into if/try/with/for blocks but not into defs."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
            yield from top_level(stmt.body)
            yield from top_level(getattr(stmt, "orelse", []))
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            yield from top_level(getattr(stmt, "body", []))
            for handler in getattr(stmt, "handlers", []):
                yield from top_level(handler.body)
            yield from top_level(getattr(stmt, "orelse", []))
            yield from top_level(getattr(stmt, "finalbody", []))


def set_description(
    expr: ast.expr, qual: Callable[[ast.expr], str | None], set_name: Callable[[str], str | None]
) -> str | None:
    """A short description if ``expr`` is a set whose iteration order may change between processes."""
    if isinstance(expr, ast.Set):
        if all(is_int_like(e) for e in expr.elts):
            return None
        return f"`{short(expr)}`"
    if isinstance(expr, ast.SetComp):
        return f"`{short(expr)}`"
    if isinstance(expr, ast.Name):
        return set_name(expr.id)
    if isinstance(expr, ast.Call):
        name = qual(expr.func)
        if name in SET_FUNCTIONS:
            return f"`{short(expr)}`"
        if name in ("builtins.set", "builtins.frozenset"):
            if expr.args:
                arg = expr.args[0]
                if isinstance(arg, ast.Call) and qual(arg.func) == "builtins.range":
                    return None
                if isinstance(arg, (ast.List, ast.Tuple, ast.Set)) and all(is_int_like(e) for e in arg.elts):
                    return None
            return f"`{short(expr)}`"
        if (
            isinstance(expr.func, ast.Attribute)
            and expr.func.attr in SET_METHODS
            and set_description(expr.func.value, qual, set_name) is not None
        ):
            return f"`{short(expr)}`"
        return None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)):
        sides = (set_description(expr.left, qual, set_name), set_description(expr.right, qual, set_name))
        # `a.keys() - b.keys()`: set operators on dict views make sets (`d1 | d2` of dicts is a dict).
        if sides != (None, None) or is_dict_view(expr.left) or is_dict_view(expr.right):
            return f"`{short(expr)}`"
    return None


def is_dict_view(expr: ast.expr) -> bool:
    """``d.keys()`` or ``d.items()``: ordered themselves, but set operators on them give sets."""
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in ("keys", "items")
        and not expr.args
        and not expr.keywords
    )


def is_number_annotation(annotation: ast.expr | None) -> bool:
    """``int``, ``float`` or ``bool`` (bare): a value whose hash() is the same in every process."""
    return isinstance(annotation, ast.Name) and annotation.id in ("int", "float", "bool")


def is_set_annotation(annotation: ast.expr | None) -> bool:
    """``set[str]``, ``frozenset[str]``, ``Set[str]``, ``AbstractSet[...]`` or the bare names."""
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    parts = dotted(annotation) if annotation is not None else None
    return parts is not None and parts[-1] in ("set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet")


def io_call(call: ast.Call, name: str) -> tuple[str, str] | None:
    """io_call_kind for one call: an in-memory database (`sqlite3.connect(":memory:")`) is no I/O."""
    found = io_call_kind(name)
    if found is not None and name in IN_MEMORY_CONNECTS:
        first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "database"), None)
        in_memory = isinstance(first, ast.Constant) and first.value == ":memory:"
        if in_memory or (first is None and name == "duckdb.connect"):
            return found[0], "quiet"
    return found


def client_code(
    expr: ast.expr, qual: Callable[[ast.expr], str | None], client_name: Callable[[str], str | None]
) -> str | None:
    """The rule code of the database or service client ``expr`` is, or is reached from, if it is one.

    ``client.files``, ``mongo["app"]["users"]`` and ``conn.execute(...)`` are reached from a
    client; ``sqlite3.connect(...)`` and ``boto3.client("s3")`` are clients themselves.
    """
    while True:
        if isinstance(expr, (ast.Await, ast.Attribute, ast.Subscript)):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            name = qual(expr.func)
            if name is not None:
                found = io_call(expr, name)
                return found[0] if found is not None and found[1] != "quiet" else None
            expr = expr.func
        elif isinstance(expr, ast.Name):
            return client_name(expr.id)
        else:
            return None


def makes_client(
    value: ast.expr, qual: Callable[[ast.expr], str | None], client_name: Callable[[str], str | None]
) -> str | None:
    """The rule code if ``value`` evaluates to a client (a connection, a cursor, an SDK client), else None."""
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Subscript):
        return client_code(value.value, qual, client_name)
    if not isinstance(value, ast.Call):
        return None
    name = qual(value.func)
    if name is not None:
        found = io_call(value, name)
        return found[0] if found is not None and found[1] != "quiet" else None
    if isinstance(value.func, ast.Attribute) and value.func.attr in CLIENT_METHODS:
        return client_code(value.func.value, qual, client_name)
    return None


def is_path_expr(expr: ast.expr, qual: Callable[[ast.expr], str | None], path_name: Callable[[str], bool]) -> bool:
    if isinstance(expr, ast.Name):
        return path_name(expr.id)
    if isinstance(expr, ast.Call):
        name = qual(expr.func)
        if name in PATH_CTORS or name in {f"{c}.{m}" for c in PATH_CTORS for m in ("home", "cwd")}:
            return True
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in PATH_DERIVING:
            return is_path_expr(expr.func.value, qual, path_name)
        return False
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return is_path_expr(expr.left, qual, path_name)
    if isinstance(expr, ast.Attribute) and expr.attr == "parent":
        return is_path_expr(expr.value, qual, path_name)
    return False
