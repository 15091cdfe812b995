"""The analysis of one workflow: a decorated function, a cell body, or a helper it calls.

Walks the code in source order, tracking which names carry a nondeterministic value
(taint), which hold sets, paths or HTTP clients, and which globals change, and turns what
it finds into findings.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from ._classify import Classifier, Origin
from ._module import ModuleFacts
from ._rules import (
    BUILTINS,
    CALLABLE_STEP_METHODS,
    CELL_MUTATORS,
    CELL_STATE_HINT,
    CONCURRENCY_SIZERS,
    ENV_OBJECTS,
    HTTP_CLIENTS,
    ITER_WRAPPERS,
    LOOP_GETTERS,
    MUTATORS,
    ORDER_FREE,
    PROCESS_ATTRS,
    SEEDED_CTORS,
    TIMEOUT_CONTEXTS,
    VALUE_CODES,
    Finding,
    Hit,
    deadline_hit,
    make_hit,
)
from ._source import Source
from ._syntax import (
    all_args,
    bound_names,
    dotted,
    globals_declared,
    import_bindings,
    is_number_annotation,
    is_set_annotation,
    makes_client,
    short,
    target_names,
    top_level,
    walk_no_lambda,
)

Root = ast.FunctionDef | ast.AsyncFunctionDef | ast.Module


class Analyzer(Classifier, ast.NodeVisitor):
    """Walks one workflow (a decorated function, a cell body, or a helper it calls) in source order."""

    def __init__(
        self, module: ModuleFacts, src: Source, root: Root, *, cell_mode: bool, stack: tuple[str, ...] = ()
    ) -> None:
        self.module = module
        self.src = src
        self.root = root
        self.cell_mode = cell_mode
        self.stack = stack
        self.findings: list[Finding] = []
        body = root.body
        params = [] if isinstance(root, ast.Module) else all_args(root.args)
        # Every node of the body, walked once: the pre-passes below pick what they need from it.
        self._nodes: list[ast.AST] = [node for stmt in body for node in ast.walk(stmt)]
        self._resolve_locals(body, params)
        self._find_step_names(body, params)
        self.scope = "notebook variable" if cell_mode or src.cell is not None else "module global"
        self.subject = "this cell" if cell_mode else "workflow code"
        self.reachable = self._reachable_defs(body)
        self.output_only = self._output_only_names(body)
        # state while walking
        self.tainted: dict[str, str] = {}
        self.set_vars: dict[str, str] = {arg.arg: f"`{arg.arg}`" for arg in params if is_set_annotation(arg.annotation)}
        self.number_vars: set[str] = {arg.arg for arg in params if is_number_annotation(arg.annotation)}
        self.path_vars: set[str] = set()
        self.http_vars: set[str] = set()
        self.loop_vars: set[str] = set()
        self.client_vars: dict[str, str] = {}
        self.generator_vars: set[str] = set()
        self.bound_so_far: set[str] = set()
        self.bumped_cell_names: set[str] = set()
        self._step_args = 0
        self._output = 0
        self._def_depth = 0
        self._in_step_name = 0
        self._ok_ids: set[int] = set()
        self._sizing_ids: set[int] = set()  # calls that only size a pool or semaphore (os.cpu_count() there is fine)
        self._handled_ids: set[int] = set()
        self._receivers: set[int] = set()
        self._changed_globals: set[str] = set()
        self._global_reads: dict[str, ast.Name] = {}
        self._import_time_reported: set[str] = set()

    def _resolve_locals(self, body: Sequence[ast.stmt], params: list[ast.arg]) -> None:
        """The names this scope binds itself: imports, locals, `global` declarations, value aliases."""
        self.local_imports: dict[str, str] = {}
        for node in self._nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.local_imports.update(import_bindings(node))
        self.global_decls = globals_declared(body)
        self.local_names = (bound_names(body, into_defs=True) | {a.arg for a in params}) - self.global_decls
        self.local_names -= set(self.local_imports)
        self.local_aliases = self._find_value_aliases()

    def _find_step_names(self, body: Sequence[ast.stmt], params: list[ast.arg]) -> None:
        """The names that hold the step API (`step`, `ctx.step`, aliases) and the context."""
        self.step_names: set[str] = set()
        self.ctx_names: set[str] = set()
        self.ai_names: set[str] = set()
        if self.cell_mode:
            self.step_names.add("step")
            self.ctx_names.add("ctx")
        for index, arg in enumerate(params):
            annotation = short(arg.annotation) if arg.annotation is not None else ""
            if arg.arg == "step" or annotation.endswith("Step"):
                self.step_names.add(arg.arg)
            elif arg.arg == "ctx" or annotation.endswith("Context") or (index == 0 and not self.stack):
                self.ctx_names.add(arg.arg)
        for node in self._nodes:
            # A local helper that takes the step as a parameter uses it like the workflow does.
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                for arg in all_args(node.args):
                    note = short(arg.annotation) if arg.annotation is not None else ""
                    if arg.arg == "step" or note.endswith("Step"):
                        self.step_names.add(arg.arg)
        self._find_step_aliases()

    # -- entry

    def run(self) -> list[Finding]:
        for stmt in self.root.body:
            self.visit(stmt)
        for line, col, command in self.src.shell_lines if self.cell_mode else ():
            shown = command.split(" #")[0].strip()  # IPython hands the comment to the shell; don't show it
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            hit = make_hit("ND331", f"`!{shown}`" if shown else "a `!` shell line")
            self._add(hit.code, line, col, hit.message, hit.hint)
        for name, node in self._global_reads.items():
            if name in self._changed_globals:
                continue
            where = self.module.runtime_written[name]
            self._emit_at("ND603", node, f"reads {self.scope} `{name}`, which {where} changes at run time")
        unique: dict[tuple[str, int, int], Finding] = {}
        for finding in self.findings:
            if not self.src.ignored(finding):
                unique.setdefault((finding.code, finding.line, finding.col), finding)
        return sorted(unique.values(), key=lambda f: (f.line, f.col, f.code))

    # -- pre-passes

    def _find_step_aliases(self) -> None:
        assigns = [n for n in self._nodes if isinstance(n, (ast.Assign, ast.AnnAssign))]
        changed = True
        while changed:
            changed = False
            for node in assigns:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is None or len(targets) != 1 or not isinstance(targets[0], ast.Name):
                    continue
                name = targets[0].id
                if self._is_step(node.value) and name not in self.step_names:
                    self.step_names.add(name)
                    changed = True
                elif self._is_ai(node.value) and name not in self.ai_names:
                    self.ai_names.add(name)
                    changed = True

    def _find_value_aliases(self) -> dict[str, str]:
        """Names assigned once from a dotted name (`now = datetime.now`), followed like imports."""
        counts: dict[str, int] = {}
        candidates: dict[str, ast.expr] = {}
        for node in self._nodes:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                counts[node.id] = counts.get(node.id, 0) + 1
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, (ast.Name, ast.Attribute))
            ):
                candidates[node.targets[0].id] = node.value
        aliases: dict[str, str] = {}
        for name, value in candidates.items():
            parts = dotted(value)
            if counts.get(name) != 1 or parts is None or parts[0] in self.local_names:
                continue
            target = self.local_imports.get(parts[0])
            base = ".".join([target, *parts[1:]]) if target else self.module.qual(value)
            if base is not None:
                aliases[name] = base
        return aliases

    def _reachable_defs(self, body: Sequence[ast.stmt]) -> set[int]:
        """Local functions that run as workflow code: referenced outside step-callable arguments."""
        defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for node in self._nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs.setdefault(node.name, []).append(node)
        if not defs:
            return set()

        def workflow_refs(nodes: Iterable[ast.AST]) -> set[str]:
            refs: set[str] = set()
            stack = list(nodes)
            while stack:
                node = stack.pop()
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    refs.add(node.id)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    stack.extend(node.decorator_list)
                    stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None)
                    continue
                if isinstance(node, ast.Call):
                    method = self._step_method(node)
                    if method in CALLABLE_STEP_METHODS:
                        assert method is not None
                        name, rest = self._split_step_call(node, method)
                        if name is not None:
                            stack.append(name)
                        # Callables given to the step run inside it; calls made while building
                        # its arguments run here, in workflow code.
                        for arg in rest:
                            for sub in walk_no_lambda(arg):
                                if isinstance(sub, ast.Call):
                                    stack.append(sub.func)
                        continue
                stack.extend(ast.iter_child_nodes(node))
            return refs

        reached: set[int] = set()
        pending = workflow_refs(body)
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen or name not in defs:
                continue
            seen.add(name)
            for node in defs[name]:
                reached.add(id(node))
                pending |= workflow_refs(node.body)
        return reached

    def _output_only_names(self, body: Sequence[ast.stmt]) -> set[str]:
        """Names whose every use ends in print or logging (so a clock read into them changes nothing)."""
        uses: dict[str, list[tuple[bool, list[str]]]] = {}  # name -> [(in_output, assigned_to)]
        assigned: set[str] = set()

        def walk(node: ast.AST, in_output: bool, targets: list[str]) -> None:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                uses.setdefault(node.id, []).append((in_output, targets))
                return
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                tgts = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [n for t in tgts for n in target_names(t)]
                simple = all(isinstance(t, ast.Name) for t in tgts)
                assigned.update(names)
                for t in tgts:
                    if not isinstance(t, ast.Name):
                        walk(t, in_output, targets)
                walk(node.value, in_output, names if simple else [])
                if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                    uses.setdefault(node.target.id, []).append((in_output, names))
                return
            if isinstance(node, ast.Call) and (self._step_method(node) is not None or self._gets_step(node)):
                for child in ast.iter_child_nodes(node):
                    walk(child, False, [])  # a step's inputs matter, whatever happens to its result
                return
            if isinstance(node, ast.Call) and self._is_output_call(node):
                walk(node.func, in_output, targets)
                for arg in (*node.args, *(k.value for k in node.keywords)):
                    walk(arg, True, [])
                return
            for child in ast.iter_child_nodes(node):
                walk(
                    child, in_output, [] if isinstance(node, ast.stmt) and not isinstance(child, ast.expr) else targets
                )

        for stmt in body:
            walk(stmt, False, [])
        candidates = {name for name in assigned if name in uses}
        changed = True
        while changed:
            changed = False
            for name in list(candidates):
                ok = all(
                    in_output or (bool(tgts) and all(t in candidates and t != name for t in tgts))
                    for in_output, tgts in uses[name]
                )
                if not ok:
                    candidates.discard(name)
                    changed = True
        return candidates

    def _summary(self, name: str) -> list[Finding]:
        """Findings inside a module function that workflow code calls directly (memoized per module)."""
        found = self.module.summaries.get(name)
        if found is None:
            ref = self.module.functions[name]
            found = Analyzer(self.module, ref.src, ref.node, cell_mode=False, stack=(*self.stack, name)).run()
            self.module.summaries[name] = found
        return found

    # -- emitting

    def _emit_at(self, code: str, node: ast.AST, what: str, *, callee: str = "", hint: str = "") -> None:
        hit = make_hit(code, what, callee=callee)
        self._emit_hit(hit._replace(hint=hint) if hint else hit, node)

    def _emit_hit(self, hit: Hit, node: ast.AST) -> None:
        if self._output and hit.code in VALUE_CODES:
            return
        line = getattr(node, "lineno", 1)
        col = self.src.col(line, getattr(node, "col_offset", 0))
        self._add(hit.code, line, col, hit.message, hit.hint)

    def _add(self, code: str, line: int, col: int, message: str, hint: str) -> None:
        self.findings.append(Finding(code, line, col, message, hint, self.src.cell, self.src.path))

    # -- binding bookkeeping

    def _bind(self, target: ast.expr, value: ast.expr | None, sources: list[Origin] | dict[str, list[Origin]]) -> None:
        """Record what ``target`` now holds: the nondeterminism it carries (per name), sets, paths, clients..."""
        names = target_names(target)
        per_name = sources if isinstance(sources, dict) else self._parts(target, value, sources)
        for name in names:
            found = per_name.get(name, [])
            if found:
                self.tainted[name] = found[0].root
            else:
                self.tainted.pop(name, None)
            self.set_vars.pop(name, None)
            self.path_vars.discard(name)
            self.http_vars.discard(name)
            self.loop_vars.discard(name)
            self.client_vars.pop(name, None)
            self.generator_vars.discard(name)
        if value is not None and isinstance(target, (ast.Tuple, ast.List)) and self._is_wait(value):
            for name in names:  # done, pending = await asyncio.wait(...): two sets of tasks
                self.set_vars[name] = f"`{name}` (tasks from asyncio.wait)"
        if isinstance(target, ast.Name) and value is not None:
            self._bind_kind(target.id, value)

    def _bind_kind(self, name: str, value: ast.expr) -> None:
        if self._set_desc(value) is not None:
            self.set_vars[name] = f"`{name}`"
        if self._is_path(value):
            self.path_vars.add(name)
        if isinstance(value, ast.Call) and self.qual(value.func) in HTTP_CLIENTS:
            self.http_vars.add(name)
        if isinstance(value, ast.Call) and self.qual(value.func) in LOOP_GETTERS:
            self.loop_vars.add(name)
        code = makes_client(value, self.qual, self._client_name)
        if code is not None:
            self.client_vars[name] = code
        if isinstance(value, ast.Call) and self.qual(value.func) in SEEDED_CTORS:
            self.generator_vars.add(name)

    def _parts(self, target: ast.expr, value: ast.expr | None, sources: list[Origin]) -> dict[str, list[Origin]]:
        """Which names of ``target`` carry which sources: `a, b = x, y` unpacks them one by one."""
        if (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
        ):
            out: dict[str, list[Origin]] = {}
            for elt, part in zip(target.elts, value.elts, strict=True):
                out.update(self._parts(elt, part, self._sources(part)))
            return out
        return dict.fromkeys(target_names(target), sources)

    def _loop_parts(self, target: ast.expr, iterated: ast.expr) -> dict[str, list[Origin]]:
        """Which loop variables carry the nondeterminism of what is iterated: an index never does.

        `for i, path in enumerate(os.listdir(d))`: `i` is 0, 1, 2... on every replay; `path`
        is an item of the listing, which can differ. The same for `range(...)` and `zip(...)`.
        """
        name = self.qual(iterated.func) if isinstance(iterated, ast.Call) else None
        pair = isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in target.elts)
        if name == "builtins.range":
            return {}
        if name == "builtins.enumerate" and isinstance(iterated, ast.Call) and iterated.args and pair:
            assert isinstance(target, (ast.Tuple, ast.List))
            if len(target.elts) == 2:
                return self._loop_parts(target.elts[1], iterated.args[0])
        if name == "builtins.zip" and isinstance(iterated, ast.Call) and pair and not iterated.keywords:
            assert isinstance(target, (ast.Tuple, ast.List))
            if len(target.elts) == len(iterated.args):
                out: dict[str, list[Origin]] = {}
                for elt, arg in zip(target.elts, iterated.args, strict=True):
                    out.update(self._loop_parts(elt, arg))
                return out
        sources = self._sources(iterated)
        return dict.fromkeys(target_names(target), sources)

    def _store_checks(self, target: ast.expr, node: ast.stmt) -> None:
        """ND601/ND602 for a target that rebinds a global or stores into a global container."""
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id in self.global_decls:
                self._changed_globals.add(sub.id)
                self._emit_at("ND601", sub, f"{self.subject} rebinds {self.scope} `{sub.id}`")
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            name = target.value.id
            if self._is_global_container(name):
                self._receivers.add(id(target.value))
                self._changed_globals.add(name)
                self._emit_at("ND602", target, f"{self.subject} stores into {self.scope} `{name}`")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._store_checks(elt, node)

    def _is_global_container(self, name: str) -> bool:
        return self._module_global(name) and name in self.module.containers

    def _cell_unbound(self, name: str) -> bool:
        """In a cell: a notebook variable this cell has not (yet) assigned itself."""
        return (
            self.cell_mode
            and self._def_depth == 0
            and name not in self.bound_so_far
            and name not in self.local_imports
            and name not in self.step_names
            and name not in self.ctx_names
            and name not in BUILTINS
        )

    # -- visitors: statements

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_def(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_def(node)

    def _visit_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                self.visit(default)
        self.bound_so_far.add(node.name)
        if id(node) in self.reachable:
            self._def_depth += 1
            saved = self.global_decls
            self.global_decls = saved | globals_declared(node.body)
            for stmt in node.body:
                self.visit(stmt)
            self.global_decls = saved
            self._def_depth -= 1

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                self.visit(default)
        if not self._step_args:
            self.visit(node.body)

    def visit_Assign(self, node: ast.Assign) -> None:
        names = [n for t in node.targets for n in target_names(t)]
        quiet = (
            bool(names)
            and all(isinstance(t, ast.Name) for t in node.targets)
            and all(n in self.output_only for n in names)
        )
        self._output += quiet
        self.visit(node.value)
        self._output -= quiet
        sources = self._sources(node.value)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            reads_itself = any(isinstance(n, ast.Name) and n.id == name for n in walk_no_lambda(node.value))
            if reads_itself and self._cell_unbound(name):
                self.bumped_cell_names.add(name)
                self._emit_at(
                    "ND601",
                    node.targets[0],
                    f"this cell rebinds notebook variable `{name}` from its own value",
                    hint=CELL_STATE_HINT,
                )
        for target in node.targets:
            self._store_checks(target, node)
            self.visit(target)
            self._bind(target, node.value, sources)
        self.bound_so_far.update(names)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._store_checks(node.target, node)
            self._bind(node.target, node.value, self._sources(node.value))
        if isinstance(node.target, ast.Name) and is_set_annotation(node.annotation):
            self.set_vars[node.target.id] = f"`{node.target.id}`"
        self.visit(node.target)
        self.bound_so_far.update(target_names(node.target))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            if target.id in self.global_decls:
                self._changed_globals.add(target.id)
                self._emit_at("ND601", target, f"{self.subject} bumps {self.scope} `{target.id}`")
            elif self._cell_unbound(target.id):
                self.bumped_cell_names.add(target.id)
                self._emit_at(
                    "ND601",
                    target,
                    f"this cell bumps notebook variable `{target.id}`, defined outside the cell",
                    hint=CELL_STATE_HINT,
                )
            sources = self._sources(node.value)
            if sources:
                self.tainted[target.id] = sources[0].root
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            name = target.value.id
            if self._is_global_container(name):
                self._changed_globals.add(name)
                self._receivers.add(id(target.value))
                self._emit_at("ND602", target, f"{self.subject} updates an item of {self.scope} `{name}`")
            elif self._cell_unbound(name):
                self._receivers.add(id(target.value))
                self._emit_at(
                    "ND602", target, f"this cell updates an item of notebook variable `{name}`", hint=CELL_STATE_HINT
                )
        self.visit(target)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                name = target.value.id
                if self._is_global_container(name):
                    self._changed_globals.add(name)
                    self._receivers.add(id(target.value))
                    self._emit_at("ND602", target, f"{self.subject} deletes from {self.scope} `{name}`")
            elif isinstance(target, ast.Name) and target.id in self.global_decls:
                self._changed_globals.add(target.id)
                self._emit_at("ND601", target, f"{self.subject} deletes {self.scope} `{target.id}`")
            self.visit(target)

    def visit_For(self, node: ast.For) -> None:
        self._visit_for(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._visit_for(node)

    def _visit_for(self, node: ast.For | ast.AsyncFor) -> None:
        if not self._order_free(node):
            self._check_iteration(node.iter)
        self.visit(node.iter)
        self._store_checks(node.target, node)
        self._bind(node.target, None, self._loop_parts(node.target, node.iter))
        self.bound_so_far.update(target_names(node.target))
        self.visit(node.target)
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    def _order_free(self, node: ast.For | ast.AsyncFor) -> bool:
        """A loop whose outcome does not depend on the order: each statement acts on the item alone.

        `for task in pending: task.cancel()` or `for p in tmp: os.remove(p)` end the same
        whatever order a set gives; appending, assigning, awaiting, steps or `break` do not.
        """
        if node.orelse or not isinstance(node.target, ast.Name):
            return False
        item = node.target.id
        for stmt in node.body:
            if isinstance(stmt, (ast.Pass, ast.Continue)):
                continue
            if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
                return False
            call = stmt.value
            if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)) for n in ast.walk(call)):
                return False
            if self._step_method(call) is not None or self._is_output_call(call):
                continue
            func = call.func
            on_item = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == item
            plain_function = isinstance(func, (ast.Name, ast.Attribute)) and self.qual(func) is not None
            if not (
                on_item or ((plain_function and not isinstance(func, ast.Attribute)) or self._is_module_call(func))
            ):
                return False
        return True

    def _is_module_call(self, func: ast.expr) -> bool:
        """`os.remove(...)`, `shutil.rmtree(...)`: a function of a module, not a method of a container."""
        name = self.qual(func)
        return name is not None and isinstance(func, ast.Attribute) and name.split(".")[0] not in BUILTINS

    def visit_With(self, node: ast.With) -> None:
        self._visit_with(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._visit_with(node)

    def _visit_with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            deadline = item.context_expr
            if (
                isinstance(deadline, ast.Call)
                and self.qual(deadline.func) in TIMEOUT_CONTEXTS
                and any(self._has_step_call(stmt) for stmt in node.body)
            ):
                self._emit_hit(deadline_hit(f"`{short(deadline)}` around steps"), deadline)
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind(item.optional_vars, item.context_expr, self._sources(item.context_expr))
                self.bound_so_far.update(target_names(item.optional_vars))
                self.visit(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        self.bound_so_far.update(local for local, _ in import_bindings(node))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.bound_so_far.update(local for local, _ in import_bindings(node))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound_so_far.add(node.name)
        self.generic_visit(node)

    # -- visitors: expressions

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target, node.value, self._sources(node.value))
        self.bound_so_far.add(node.target.id)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._visit_comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._visit_comprehension(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node)

    def _visit_comprehension(self, node: ast.ListComp | ast.GeneratorExp | ast.DictComp) -> None:
        if id(node) not in self._ok_ids:
            for gen in node.generators:
                self._check_iteration(gen.iter)
        self.generic_visit(node)

    def _check_iteration(self, expr: ast.expr) -> None:
        desc = self._set_desc(expr)
        if desc is not None:
            self._emit_at("ND501", expr, desc)
            return
        state = self._stateful_of(expr)
        if state is not None and state.iterator:
            self._emit_hit(self._stateful_hit(state, f"iterating `{short(expr)}`"), expr)
            return
        if isinstance(expr, ast.Call) and self.qual(expr.func) in {*ITER_WRAPPERS, "builtins.map", "builtins.filter"}:
            self._handled_ids.add(id(expr))
            args = expr.args[1:] if self.qual(expr.func) in ("builtins.map", "builtins.filter") else expr.args
            for arg in args:
                inner = self._set_desc(arg)
                if inner is not None:
                    self._emit_at("ND501", arg, inner)

    def visit_Call(self, node: ast.Call) -> None:
        method = self._step_method(node)
        if method is not None:
            self._visit_step_call(node, method)
            return
        if self._output and self._gets_step(node):
            # `print(await agent.run(step, task))`: the task becomes step inputs, whatever is printed
            saved, self._output = self._output, 0
            self.visit_Call(node)
            self._output = saved
            return
        if self._is_output_call(node):
            self.visit(node.func)
            self._output += 1
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self.visit(arg)
            self._output -= 1
            return
        name = self.qual(node.func)
        if name in ORDER_FREE:
            self._ok_ids.update(id(arg) for arg in node.args)
        if name in CONCURRENCY_SIZERS:
            # How many run at once changes timing, not what each step returns: replay reads the journal anyway.
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self._sizing_ids.update(id(n) for n in ast.walk(arg) if isinstance(n, ast.Call))
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            receiver = func.value.id
            if func.attr in MUTATORS and self._is_global_container(receiver):
                self._changed_globals.add(receiver)
                self._receivers.add(id(func.value))
                self._emit_at("ND602", node, f"{self.subject} changes {self.scope} `{receiver}` (.{func.attr})")
            elif func.attr in CELL_MUTATORS and self._cell_unbound(receiver):
                self._receivers.add(id(func.value))
                self._emit_at(
                    "ND602",
                    node,
                    f"this cell changes notebook variable `{receiver}` (.{func.attr}), defined outside the cell",
                    hint=CELL_STATE_HINT,
                )
        for hit in self.classify(node):
            if not (hit.code == "ND312" and id(node) in self._sizing_ids):
                self._emit_hit(hit, node)
        self._check_conversion(node, name)
        self.generic_visit(node)

    def _check_conversion(self, node: ast.Call, name: str | None) -> None:
        if id(node) in self._handled_ids or id(node) in self._ok_ids:
            return
        func = node.func
        if name in ITER_WRAPPERS | {"builtins.reversed"}:
            for arg in node.args:
                desc = self._set_desc(arg)
                if desc is not None:
                    self._emit_at("ND502", node, f"`{short(node)}` turns the set {desc} into an ordered value")
                    return
        elif isinstance(func, ast.Attribute) and func.attr == "join" and len(node.args) == 1:
            desc = self._set_desc(node.args[0])
            if desc is not None:
                self._emit_at("ND502", node, f"`{short(node)}` turns the set {desc} into an ordered string")
        elif isinstance(func, ast.Attribute) and func.attr == "pop" and not node.args:
            desc = self._set_desc(func.value)
            if desc is not None:
                self._emit_at("ND502", node, f"`{short(node)}` takes an arbitrary element of the set {desc}")

    def _visit_step_call(self, node: ast.Call, method: str) -> None:
        # A step's name and inputs matter even when its result only reaches print or logging.
        saved, self._output = self._output, 0
        try:
            self._visit_step_parts(node, method)
        finally:
            self._output = saved

    def _visit_step_parts(self, node: ast.Call, method: str) -> None:
        name_arg, rest = self._split_step_call(node, method)
        if name_arg is not None:
            # hash() and id() written in the name are ND702 there, not a value of their own.
            self._in_step_name += 1
            self.visit(name_arg)
            self._check_step_name(name_arg)
            self._in_step_name -= 1
        callable_args = method in CALLABLE_STEP_METHODS
        self._step_args += callable_args
        for arg in rest:
            self.visit(arg)
        self._step_args -= callable_args

    def _check_step_name(self, expr: ast.expr) -> None:
        if isinstance(expr, ast.Constant):
            return
        sources = self._sources(expr)
        if sources:
            shown = list(dict.fromkeys(origin.shown() for origin in sources))
            self._emit_at("ND701", expr, ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else ""))
        for sub in walk_no_lambda(expr):
            if isinstance(sub, ast.Call) and self.qual(sub.func) in ("builtins.id", "builtins.hash"):
                self._emit_at("ND702", expr, f"`{short(sub)}`")
                break

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load):
            name = self.qual(node)
            if name in ENV_OBJECTS:
                self._emit_at("ND311", node, f"`{short(node)}`")
                return
            if name in PROCESS_ATTRS:
                self._emit_at("ND312", node, f"`{short(node)}`")
                return
            key = self._instance_attr(node)
            if key is not None and key in self.module.import_time:
                self._import_time_use(key, node)
        self.generic_visit(node)

    def _import_time_use(self, key: str, node: ast.expr) -> None:
        """The first read of a value made at import (or in an earlier cell) from the clock or randomness."""
        if key in self._import_time_reported:
            return
        hit, line, cell = self.module.import_time[key]
        if cell is None:
            message = (
                f"reads `{key}`, set when the module was imported from {hit.label} (line {line}): a "
                "restarted kernel or process imports it again and gets another value, so replay differs from "
                "the original run"
            )
            hint = (
                "make the value inside the workflow with step.now() / step.uuid() / step.random(), or inside a "
                "step.run(...) callable, instead of at import"
            )
        else:
            place = f"line {line}" if cell == self.src.label else f"line {line} of {cell}"
            message = (
                f"reads `{key}`, set from {hit.label} in an earlier cell ({place}): after a restart that "
                "cell runs again and gives another value, so replay differs from the original run"
            )
            hint = (
                "make the value in this cell with step.now() / step.uuid() / step.random() (journaled), or "
                "inside a step.run(...) callable"
            )
        before = len(self.findings)
        self._emit_hit(Hit(hit.code, message, hint, f"`{key}`"), node)
        if len(self.findings) > before:
            self._import_time_reported.add(key)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        desc = self._set_desc(node.value)
        if desc is not None:
            self._emit_at("ND502", node.value, f"formatting the set {desc} as text puts its elements in an order")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load) and self.qual(node.value) in ENV_OBJECTS:
            self.visit(node.slice)  # writing the environment is not reading it
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        if self.qual(node) in ENV_OBJECTS:
            self._emit_at("ND311", node, f"`{node.id}` (os.environ)")
            return
        if node.id in self.module.import_time and self._module_global(node.id) and node.id not in self.global_decls:
            self._import_time_use(node.id, node)
        if (
            not self._output
            and id(node) not in self._receivers
            and node.id in self.module.runtime_written
            and self._module_global(node.id)
        ):
            self._global_reads.setdefault(node.id, node)


def record_import_time_values(module: ModuleFacts, tree: ast.Module, src: Source) -> None:
    """Globals assigned at import from the clock or randomness: a restarted kernel gets other values.

    Only clock and random sources count: configuration read at import (environment, files,
    clients built from them) is meant to be the same after a restart.
    """
    classifier = Analyzer(module, src, ast.Module(body=[], type_ignores=[]), cell_mode=False, stack=("<module>",))
    for stmt in top_level(tree.body):
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
            continue
        if isinstance(stmt.value, ast.Lambda):
            continue  # a function, run later (a helper), not a value made now
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [n for t in targets if isinstance(t, ast.Name) for n in target_names(t)]
        hits = [
            hit
            for node in walk_no_lambda(stmt.value)
            if isinstance(node, ast.Call)
            for hit in classifier.classify(node)
            if hit.code[:3] in ("ND1", "ND2")
        ]
        for name in names:
            if hits:
                module.import_time[name] = (hits[0], stmt.lineno, src.label)
            else:
                module.import_time.pop(name, None)
            cls = module.instances.get(name)
            if cls is not None:
                _record_instance_values(module, classifier, name, cls)


def _record_instance_values(module: ModuleFacts, classifier: Analyzer, name: str, cls: str) -> None:
    """`bot = Bot()` at import: attributes its __init__ sets from the clock or randomness (`self.id = uuid4()`)."""
    init = module.functions.get(f"{cls}.__init__")
    if init is None:
        return
    for node in walk_no_lambda(ast.Module(body=init.node.body, type_ignores=[])):
        if not isinstance(node, ast.Assign):
            continue
        hits = [
            hit
            for sub in walk_no_lambda(node.value)
            if isinstance(sub, ast.Call)
            for hit in classifier.classify(sub)
            if hit.code[:3] in ("ND1", "ND2")
        ]
        for target in node.targets:
            if (
                hits
                and isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                module.import_time[f"{name}.{target.attr}"] = (hits[0], node.lineno, init.src.label)
