"""Name resolution and call classification: which call reads the clock, draws randomness, does I/O.

A mixin of the analyzer: it resolves a name to what it stands for (imports, aliases,
locals, module facts) and turns a call into the hits it makes, using the rule tables.
"""

from __future__ import annotations

import ast

from ._module import ModuleFacts
from ._rules import (
    ANY_RECEIVER_READS,
    ENTROPY,
    ENV_CALLS,
    ENV_OBJECTS,
    FILE_READS,
    HTTP_CLIENTS,
    HTTP_METHODS,
    IDENTITY,
    LLM_QUAL,
    LLM_SUFFIXES,
    LOG_METHODS,
    LOOP_GETTERS,
    MONOTONIC,
    NAMED_STEP_METHODS,
    NETWORK,
    NOW,
    NUMPY_QUIET,
    OPENERS,
    OUTPUT_CALLS,
    PATH_IO,
    RANDOM_FUNCS,
    SEEDED_CTORS,
    STEP_METHODS,
    STEP_NAME_KEYWORDS,
    SUBPROCESS,
    SUBPROCESS_PREFIXES,
    TORCH_RANDOM,
    UUIDS,
    WALL_CLOCK,
    WALL_CLOCK_NOARG,
    Finding,
    Hit,
    make_hit,
)
from ._source import Source
from ._syntax import attr_chain, dotted, is_path_expr, mode_reads, set_description, short


class Classifier:
    """Resolves names and classifies calls for one workflow; the analyzer fills in the state it reads."""

    module: ModuleFacts
    src: Source
    stack: tuple[str, ...]
    local_imports: dict[str, str]
    local_aliases: dict[str, str]
    local_names: set[str]
    global_decls: set[str]
    step_names: set[str]
    ctx_names: set[str]
    ai_names: set[str]
    tainted: dict[str, str]
    set_vars: dict[str, str]
    path_vars: set[str]
    http_vars: set[str]
    loop_vars: set[str]
    bumped_cell_names: set[str]

    def _summary(self, name: str) -> list[Finding]:
        """The findings inside module function ``name`` (the analyzer runs one on it)."""
        raise NotImplementedError

    # -- resolution

    def _is_step(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.step_names
        return (
            isinstance(expr, ast.Attribute)
            and expr.attr == "step"
            and isinstance(expr.value, ast.Name)
            and expr.value.id in self.ctx_names
        )

    def _is_ai(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.ai_names
        return isinstance(expr, ast.Attribute) and expr.attr == "ai" and self._is_step(expr.value)

    def _step_method(self, call: ast.Call) -> str | None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return None
        if self._is_step(func.value) and func.attr in STEP_METHODS:
            return func.attr
        if self._is_ai(func.value) and func.attr in ("infer", "wrap"):
            return f"ai.{func.attr}"
        return None

    def _split_step_call(self, call: ast.Call, method: str) -> tuple[ast.expr | None, list[ast.expr]]:
        """The step-name argument and the other arguments of a step call."""
        name: ast.expr | None = None
        rest: list[ast.expr] = []
        positional = list(call.args)
        if method in NAMED_STEP_METHODS and positional and not isinstance(positional[0], ast.Starred):
            name = positional.pop(0)
        rest.extend(positional)
        for kw in call.keywords:
            if name is None and kw.arg in STEP_NAME_KEYWORDS and method in NAMED_STEP_METHODS:
                name = kw.value
            else:
                rest.append(kw.value)
        return name, rest

    def qual(self, expr: ast.expr) -> str | None:
        parts = dotted(expr)
        if parts is None:
            return None
        head = parts[0]
        if head in self.local_imports:
            base = self.local_imports[head]
        elif head in self.local_aliases:
            base = self.local_aliases[head]
        elif head in self.local_names or head in self.step_names or head in self.ctx_names:
            return None
        else:
            return self.module.qual(expr)
        return ".".join([base, *parts[1:]])

    def _set_name(self, name: str) -> str | None:
        if name in self.set_vars:
            return self.set_vars[name]
        if name not in self.local_names:
            return self.module.sets.get(name)
        return None

    def _set_desc(self, expr: ast.expr) -> str | None:
        return set_description(expr, self.qual, self._set_name)

    def _is_path(self, expr: ast.expr) -> bool:
        return is_path_expr(
            expr,
            self.qual,
            lambda n: n in self.path_vars or (n not in self.local_names and n in self.module.paths),
        )

    def _is_http(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.http_vars or (expr.id not in self.local_names and expr.id in self.module.http)
        return isinstance(expr, ast.Call) and self.qual(expr.func) in HTTP_CLIENTS

    def _is_loop(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.loop_vars
        return isinstance(expr, ast.Call) and self.qual(expr.func) in LOOP_GETTERS

    def _module_global(self, name: str) -> bool:
        """A name that refers to a module (or notebook) global in workflow code."""
        if name in self.global_decls:
            return True
        return name not in self.local_names and name not in self.local_imports and name in self.module.bound

    def _is_output_call(self, call: ast.Call) -> bool:
        name = self.qual(call.func)
        if name in OUTPUT_CALLS or (name or "").startswith("logging."):
            return True
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in LOG_METHODS:
            receiver = attr_chain(func.value) or dotted(func.value) or []
            last = receiver[-1] if receiver else ""
            return "log" in last.lower()
        return False

    # -- classification

    def classify(self, call: ast.Call) -> list[Hit]:
        func = call.func
        name = self.qual(func)
        shown = short(func)
        plain = name is None or name in (shown, f"builtins.{shown}") or (name.endswith(f".{shown}") and "." in shown)
        what = f"`{shown}()`" if plain else f"`{shown}()` ({name})"
        if name is not None:
            hit = self._classify_qualified(call, name, what)
            if hit is not None:
                return [hit]
            if name == "asyncio.to_thread" and call.args:
                return self._classify_deferred(call, call.args[0], call.args[1:])
        if isinstance(func, ast.Attribute):
            chain = attr_chain(func)
            if any(tuple(chain[-len(s) :]) == s for s in LLM_SUFFIXES):
                return [make_hit("ND401", what, callee=shown)]
            if func.attr == "open" and self._is_path(func.value):
                mode = call.args[0] if call.args else None
                return [make_hit("ND301", what)] if mode_reads(mode, call) else []
            if func.attr in ANY_RECEIVER_READS or (func.attr in PATH_IO and self._is_path(func.value)):
                return [make_hit("ND301", what)]
            if func.attr == "run_in_executor" and len(call.args) >= 2:
                return self._classify_deferred(call, call.args[1], call.args[2:])
            if func.attr in HTTP_METHODS and self._is_http(func.value):
                return [make_hit("ND321", what)]
            if func.attr == "time" and self._is_loop(func.value):
                return [make_hit("ND102", what)]
        if (
            isinstance(func, ast.Name)
            and func.id in self.module.functions
            and func.id not in self.local_names
            and func.id not in self.local_imports
            and func.id not in self.stack
        ):
            return self._helper_hits(func.id)
        return []

    def _classify_qualified(self, call: ast.Call, name: str, what: str) -> Hit | None:
        nargs = len(call.args) + len(call.keywords)
        if name in WALL_CLOCK or (name in WALL_CLOCK_NOARG and nargs == 0):
            return make_hit("ND101", what)
        if name == "time.strftime" and len(call.args) < 2 and not call.keywords:
            return make_hit("ND101", what)
        if name in MONOTONIC:
            return make_hit("ND102", what)
        if name in NOW:
            return make_hit("ND103", what)
        if name in SEEDED_CTORS:
            first = (
                call.args[0] if call.args else next((k.value for k in call.keywords if k.arg in ("seed", "x")), None)
            )
            if first is None or (isinstance(first, ast.Constant) and first.value is None):
                return make_hit("ND202" if name.startswith("numpy.") else "ND201", what + " without a seed")
            return None
        if name.startswith("random.") and name[len("random.") :] in RANDOM_FUNCS:
            return make_hit("ND201", what)
        if name.startswith("numpy.random.") and name.count(".") == 2:
            if name.rsplit(".", 1)[1] not in NUMPY_QUIET:
                return make_hit("ND202", what)
            return None
        if name in TORCH_RANDOM:
            return make_hit("ND202", what)
        if name.startswith("secrets.") and name != "secrets.compare_digest":
            return make_hit("ND203", what)
        if name in ENTROPY:
            return make_hit("ND204", what)
        if name in UUIDS:
            return make_hit("ND205", what)
        if name in OPENERS:
            return make_hit("ND301", what) if self._open_reads(call) else None
        if name in FILE_READS or name.startswith("pandas.read_"):
            return make_hit("ND301", what)
        if name in ENV_CALLS:
            return make_hit("ND311", what)
        if name in IDENTITY:
            return make_hit("ND312", what)
        if name in NETWORK:
            return make_hit("ND321", what)
        if name in SUBPROCESS or name.startswith(SUBPROCESS_PREFIXES):
            return make_hit("ND331", what)
        if name in LLM_QUAL:
            return make_hit("ND401", what, callee=short(call.func))
        return None

    @staticmethod
    def _open_reads(call: ast.Call) -> bool:
        return mode_reads(call.args[1] if len(call.args) > 1 else None, call)

    def _classify_deferred(self, call: ast.Call, fn: ast.expr, args: list[ast.expr]) -> list[Hit]:
        """`asyncio.to_thread(fn, ...)` and `loop.run_in_executor(None, fn, ...)` call fn right now."""
        if not isinstance(fn, (ast.Name, ast.Attribute)):
            return []
        synthetic = ast.Call(func=fn, args=args, keywords=[k for k in call.keywords if k.arg is not None])
        ast.copy_location(synthetic, call)
        return self.classify(synthetic)

    def _helper_hits(self, name: str) -> list[Hit]:
        ref = self.module.functions[name]
        hits: list[Hit] = []
        seen: set[str] = set()
        for finding in self._summary(name):
            if finding.code in seen:
                continue
            seen.add(finding.code)
            where = f"line {finding.line}"
            if ref.src.cell is not None and ref.src.cell != self.src.cell:
                where += f" of cell {ref.src.cell}"
            message = f"`{name}()` runs here as workflow code, outside a step; at {where} in it: {finding.message}"
            hint = f'call it through step.run("...", {name}, ...) so its result is journaled, or there: {finding.hint}'
            hits.append(Hit(finding.code, message, hint, f"`{name}()`"))
        return hits

    def _sources(self, expr: ast.expr) -> list[str]:
        """Nondeterministic things the value of ``expr`` depends on (for taint and step names)."""
        found: list[str] = []
        stack: list[ast.AST] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Call):
                if self._step_method(node) is not None:
                    continue  # a step's result is journaled
                found.extend(h.label for h in self.classify(node))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in self.tainted:
                    found.append(f"`{node.id}` ({self.tainted[node.id]})")
                elif self.qual(node) in ENV_OBJECTS:
                    found.append("`os.environ`")
                elif node.id in self.bumped_cell_names:
                    found.append(f"notebook variable `{node.id}`, changed by this cell")
                elif self._module_global(node.id) and (
                    node.id in self.global_decls or node.id in self.module.runtime_written
                ):
                    found.append(f"global `{node.id}`, changed at run time")
                elif self._module_global(node.id) and node.id in self.module.import_time:
                    found.append(f"`{node.id}` (set at import from {self.module.import_time[node.id][0].label})")
            elif isinstance(node, ast.Attribute) and self.qual(node) in ENV_OBJECTS:
                found.append("`os.environ`")
                continue
            stack.extend(ast.iter_child_nodes(node))
        return found
