"""What a module (or a notebook's plain cells together) binds at top level.

Workflows, helper functions, imports and aliases, module containers and sets, and the
globals that code running during a run changes: the facts every workflow is read against.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ._rules import (
    BUILTINS,
    CONTAINER_CTORS,
    FALLBACK,
    HTTP_CLIENTS,
    ITERATOR_CTORS,
    MUTATORS,
    SEEDED_CTORS,
    Finding,
    Hit,
)
from ._source import Source
from ._syntax import (
    all_args,
    bound_names,
    child_scopes,
    dotted,
    globals_declared,
    import_bindings,
    is_path_expr,
    makes_client,
    set_description,
    short,
    target_names,
    top_level,
    walk_no_lambda,
)


class Stateful(NamedTuple):
    """A generator, iterator or random generator made at top level: it remembers where it is between runs."""

    shown: str  # how it was made, e.g. `random.Random(1234)`
    code: str  # ND604, or ND201 / ND202 for a random generator made without a seed
    iterator: bool  # iterating it consumes it
    line: int = 0
    label: str | None = None  # the cell it was made in, when not the one reading it


class FuncRef(NamedTuple):
    """A function defined at top level, and the source it is in."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    src: Source


class ModuleFacts:
    """What the module (or the notebook's plain cells together) binds at top level."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}
        self.bound: set[str] = set()
        self.containers: dict[str, str] = {}
        self.sets: dict[str, str] = {}
        self.http: set[str] = set()
        self.clients: dict[str, str] = {}  # name -> rule code: database or service clients made at top level
        self.stateful: dict[str, Stateful] = {}  # generators and iterators made at top level
        self.classes: set[str] = set()
        self.instances: dict[str, str] = {}  # name -> class: instances of the module's classes made at top level
        self.paths: set[str] = set()
        self.functions: dict[str, FuncRef] = {}
        self.workflows: list[FuncRef] = []
        self.runtime_written: dict[str, str] = {}
        self.summaries: dict[str, list[Finding]] = {}  # helper name -> its findings (filled by the analyzer)
        self._assigned_twice: set[str] = set()
        # name -> (hit, line, cell label): module globals set at import from the clock or a random source
        self.import_time: dict[str, tuple[Hit, int, str | None]] = {}

    # name resolution at module level
    def qual(self, expr: ast.expr) -> str | None:
        parts = dotted(expr)
        if parts is None:
            return None
        head = parts[0]
        if head in self.imports:
            base = self.imports[head]
        elif head in self.bound:
            return None
        elif head in FALLBACK:
            base = FALLBACK[head]
        elif head in BUILTINS:
            base = f"builtins.{head}"
        else:
            return None
        return ".".join([base, *parts[1:]])

    def is_workflow(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            if self.qual(target) == "nbdurable.function":
                return True
        return False

    @classmethod
    def build(cls, parts: Sequence[tuple[ast.Module, Source]], durable_cells: Sequence[ast.Module] = ()) -> ModuleFacts:
        module = cls()
        statements = [(stmt, src) for tree, src in parts for stmt in top_level(tree.body)]
        counts: dict[str, int] = {}
        for stmt, _ in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                module.imports.update(import_bindings(stmt))
            for name in bound_names([stmt], into_defs=False) if not isinstance(stmt, ast.Import) else ():
                counts[name] = counts.get(name, 0) + 1
        module._assigned_twice = {name for name, n in counts.items() if n > 1}
        for stmt, src in statements:
            module._scan(stmt, src)
        top = {id(stmt) for stmt, _ in statements}
        for tree, src in parts:
            for node in ast.walk(tree):
                if (
                    isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and id(node) not in top
                    and module.is_workflow(node)
                ):
                    module.workflows.append(FuncRef(node, src))
        roots: list[ast.AST] = [ref.node for ref in module.workflows]
        roots.extend(durable_cells)
        module._find_runtime_writes(roots)
        return module

    def _scan(self, stmt: ast.stmt, src: Source) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.bound.add(stmt.name)
            ref = FuncRef(stmt, src)
            if self.is_workflow(stmt):
                self.workflows.append(ref)
            else:
                self.functions[stmt.name] = ref
            return
        if isinstance(stmt, ast.ClassDef):
            self.bound.add(stmt.name)
            self.classes.add(stmt.name)
            for item in stmt.body:  # methods, read like helpers when workflow code calls them on an instance
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not self.is_workflow(item):
                    self.functions[f"{stmt.name}.{item.name}"] = FuncRef(item, src)
            return
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return
        value: ast.expr | None = None
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            value, targets = stmt.value, list(stmt.targets)
        elif isinstance(stmt, ast.AnnAssign):
            value, targets = stmt.value, [stmt.target]
        elif isinstance(stmt, (ast.AugAssign, ast.For, ast.AsyncFor)):
            targets = [stmt.target]
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in stmt.items if item.optional_vars is not None]
        names = [n for t in targets for n in target_names(t)]
        self.bound.update(names)
        if value is None or len(names) != 1 or not isinstance(targets[0], ast.Name):
            return
        self._scan_value(names[0], value, stmt, src)

    def _scan_value(self, name: str, value: ast.expr, stmt: ast.stmt, src: Source) -> None:
        """What a top-level ``name = value`` makes: an alias, a helper, a container, a set, a client..."""
        if isinstance(value, (ast.Name, ast.Attribute)) or _is_partial(value, self.qual):
            target = value.args[0] if isinstance(value, ast.Call) else value
            alias = self.qual(target)
            if alias is not None and name not in self._assigned_twice:
                # `now = datetime.now`, `env = os.environ`, `get = partial(os.getenv, "X")`: followed like imports.
                self.imports[name] = alias
                self.bound.discard(name)
                return
        if isinstance(value, ast.Lambda) and name not in self._assigned_twice:
            # `now = lambda: datetime.now()`: a helper function like any other.
            self.functions[name] = FuncRef(_lambda_as_def(name, value), src)
            return
        kind = self._container_kind(value)
        if kind is not None:
            self.containers[name] = kind
        if set_description(value, self.qual, lambda n: self.sets.get(n)) is not None:
            self.sets[name] = f"`{name}`"
        if isinstance(value, ast.Call) and self.qual(value.func) in HTTP_CLIENTS:
            self.http.add(name)
        if is_path_expr(value, self.qual, self.paths.__contains__):
            self.paths.add(name)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in self.classes:
            self.instances[name] = value.func.id
        code = makes_client(value, self.qual, self.clients.get)
        if code is not None:
            self.clients[name] = code
        state = self._stateful(value)
        if state is not None:
            self.stateful[name] = state._replace(line=stmt.lineno, label=src.label)

    def _stateful(self, value: ast.expr) -> Stateful | None:
        """A generator or iterator whose state carries over from one run to the next in this process."""
        shown = short(value, 40)
        if isinstance(value, ast.GeneratorExp):
            return Stateful(shown, "ND604", iterator=True)
        if not isinstance(value, ast.Call):
            return None
        name = self.qual(value.func)
        if name in SEEDED_CTORS:
            seeded = bool(value.args or value.keywords) and not (
                value.args and isinstance(value.args[0], ast.Constant) and value.args[0].value is None
            )
            unseeded = "ND202" if name.startswith("numpy.") else "ND201"
            return Stateful(shown, "ND604" if seeded else unseeded, iterator=False)
        if name in ITERATOR_CTORS:
            return Stateful(shown, "ND604", iterator=True)
        func = value.func
        if isinstance(func, ast.Name) and func.id in self.functions and _is_generator(self.functions[func.id].node):
            return Stateful(shown, "ND604", iterator=True)
        return None

    def _container_kind(self, value: ast.expr) -> str | None:
        if isinstance(value, (ast.List, ast.ListComp)):
            return "list"
        if isinstance(value, (ast.Dict, ast.DictComp)):
            return "dict"
        if isinstance(value, (ast.Set, ast.SetComp)):
            return "set"
        if isinstance(value, ast.Call):
            return CONTAINER_CTORS.get(self.qual(value.func) or "")
        return None

    def _find_runtime_writes(self, roots: list[ast.AST]) -> None:
        """Globals that code running during a run (workflows, steps, helpers they use) changes."""
        reached: dict[str, ast.AST] = {}
        writers: set[int] = set()  # functions that may change a global: the only ones read closely
        pending: list[ast.AST] = list(roots)
        while pending:
            node = pending.pop()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                    ref = self.functions.get(sub.id)
                    if ref is not None and sub.id not in reached:
                        reached[sub.id] = ref.node
                        pending.append(ref.node)
                elif self._may_write(sub):
                    writers.add(id(node))
        for ref in self.workflows:
            if ref.node.name not in reached:
                reached[ref.node.name] = ref.node
                if any(self._may_write(sub) for sub in ast.walk(ref.node)):
                    writers.add(id(ref.node))
        for name, fn in reached.items():
            if id(fn) in writers and isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._scope_writes(name, fn, set())

    def _may_write(self, node: ast.AST) -> bool:
        """A `global` statement, or a call or store that changes a top-level container."""
        if isinstance(node, ast.Global):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            return (
                isinstance(func, ast.Attribute)
                and func.attr in MUTATORS
                and isinstance(func.value, ast.Name)
                and func.value.id in self.containers
            )
        return (
            isinstance(node, ast.Subscript)
            and not isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.containers
        )

    def _scope_writes(
        self, name: str, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, outer: set[str]
    ) -> None:
        """Record the module globals one function scope changes, then do the same for the scopes inside it."""
        body: list[ast.stmt] = [ast.Expr(fn.body)] if isinstance(fn, ast.Lambda) else list(fn.body)
        declared = globals_declared(body)
        local = (outer | bound_names(body, into_defs=False) | {a.arg for a in all_args(fn.args)}) - declared
        for sub in walk_no_lambda(ast.Module(body=body, type_ignores=[])):
            changed: str | None = None
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)) and sub.id in declared:
                changed = sub.id
            elif (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in MUTATORS
                and isinstance(sub.func.value, ast.Name)
            ):
                changed = sub.func.value.id
            elif (
                isinstance(sub, ast.Subscript)
                and isinstance(sub.ctx, (ast.Store, ast.Del))
                and isinstance(sub.value, ast.Name)
            ):
                changed = sub.value.id
            if changed is None or changed in local or changed not in self.bound:
                continue
            if changed not in declared and changed not in self.containers:
                continue
            self.runtime_written.setdefault(changed, f"`{name}` (line {getattr(sub, 'lineno', 0)})")
        for stmt in body:
            for inner in child_scopes(stmt):
                self._scope_writes(name, inner, local)


def _is_partial(value: ast.expr, qual: Callable[[ast.expr], str | None]) -> bool:
    return (
        isinstance(value, ast.Call)
        and qual(value.func) == "functools.partial"
        and bool(value.args)
        and isinstance(value.args[0], (ast.Name, ast.Attribute))
    )


def _lambda_as_def(name: str, fn: ast.Lambda) -> ast.FunctionDef:
    """A lambda bound to a name, as the function it is (so helpers written either way are read alike)."""
    body = ast.Return(value=fn.body)
    ast.copy_location(body, fn.body)
    fields: dict[str, Any] = {"name": name, "args": fn.args, "body": [body], "decorator_list": [], "returns": None}
    if sys.version_info >= (3, 12):
        fields["type_params"] = []
    node = ast.FunctionDef(**fields)
    return ast.copy_location(node, fn)


def _is_generator(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(node, (ast.Yield, ast.YieldFrom))
        for node in walk_no_lambda(ast.Module(body=fn.body, type_ignores=[]))
    )
