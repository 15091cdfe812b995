"""What a module (or a notebook's plain cells together) binds at top level.

Workflows, helper functions, imports and aliases, module containers and sets, and the
globals that code running during a run changes: the facts every workflow is read against.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from ._rules import BUILTINS, CONTAINER_CTORS, FALLBACK, HTTP_CLIENTS, MUTATORS, Finding, Hit
from ._source import Source
from ._syntax import (
    all_args,
    bound_names,
    child_scopes,
    dotted,
    globals_declared,
    import_bindings,
    is_path_expr,
    set_description,
    target_names,
    top_level,
    walk_no_lambda,
)


@dataclass
class FuncRef:
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
        self.paths: set[str] = set()
        self.functions: dict[str, FuncRef] = {}
        self.workflows: list[FuncRef] = []
        self.runtime_written: dict[str, str] = {}
        self.summaries: dict[str, list[Finding]] = {}  # helper name -> its findings (filled by the analyzer)
        self._assigned_twice: set[str] = set()
        # name -> (hit, line, cell): module globals set at import from the clock or a random source
        self.import_time: dict[str, tuple[Hit, int, int | None]] = {}

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
        name = names[0]
        if isinstance(value, (ast.Name, ast.Attribute)):
            alias = self.qual(value)
            if alias is not None and name not in self._assigned_twice:
                # `now = datetime.now`, `env = os.environ`: follow the alias like an import.
                self.imports[name] = alias
                self.bound.discard(name)
                return
        kind = self._container_kind(value)
        if kind is not None:
            self.containers[name] = kind
        set_desc = set_description(value, self.qual, lambda n: self.sets.get(n))
        if set_desc is not None:
            self.sets[name] = f"`{name}`"
        if isinstance(value, ast.Call) and self.qual(value.func) in HTTP_CLIENTS:
            self.http.add(name)
        if is_path_expr(value, self.qual, self.paths.__contains__):
            self.paths.add(name)

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
        pending: list[ast.AST] = list(roots)
        while pending:
            node = pending.pop()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                    ref = self.functions.get(sub.id)
                    if ref is not None and sub.id not in reached:
                        reached[sub.id] = ref.node
                        pending.append(ref.node)
        for ref in self.workflows:
            reached.setdefault(ref.node.name, ref.node)
        for name, fn in reached.items():
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._scope_writes(name, fn, set())

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
