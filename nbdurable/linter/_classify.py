"""Name resolution and call classification: which call reads the clock, draws randomness, does I/O.

A mixin of the analyzer: it resolves a name to what it stands for (imports, aliases,
locals, module facts) and turns a call into the hits it makes, using the rule tables.
"""

from __future__ import annotations

import ast
from typing import NamedTuple

from ._module import ModuleFacts, Stateful
from ._rules import (
    ANY_RECEIVER_READS,
    COMPLETION_METHODS,
    COMPLETION_ORDER,
    DB_CALLS,
    DB_METHODS,
    ENTROPY,
    ENV_CALLS,
    ENV_METHOD_PREFIXES,
    ENV_OBJECTS,
    FILE_READ_PREFIXES,
    FILE_READS,
    HANDLE_QUIET_METHODS,
    HASHES,
    HTTP_CLIENTS,
    HTTP_METHODS,
    IDENTITY,
    IDENTITY_PREFIXES,
    LLM_QUAL,
    LLM_SUFFIXES,
    LOG_METHODS,
    LOOP_GETTERS,
    MONOTONIC,
    NAMED_STEP_METHODS,
    NETWORK,
    NOW,
    NUMBER_FUNCS,
    NUMPY_QUIET,
    OPENERS,
    OUTPUT_CALLS,
    PATH_IO,
    RANDOM_FUNCS,
    SAMPLE_METHODS,
    SAMPLE_SEEDS,
    SEEDED_CTORS,
    STEP_METHODS,
    STEP_NAME_KEYWORDS,
    SUBPROCESS,
    SUBPROCESS_PREFIXES,
    TIMEOUT_WRAPPERS,
    TORCH_RANDOM,
    USER_INPUT,
    USER_INPUT_PREFIXES,
    UUIDS,
    WAITERS,
    WALL_CLOCK,
    WALL_CLOCK_NOARG,
    Finding,
    Hit,
    deadline_hit,
    make_hit,
)
from ._source import Source
from ._syntax import (
    all_args,
    attr_chain,
    client_code,
    dotted,
    io_call,
    is_int_like,
    is_path_expr,
    mode_reads,
    set_description,
    short,
    walk_no_lambda,
)


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
    number_vars: set[str]  # parameters annotated int, float or bool: their hash is the same in every process
    path_vars: set[str]
    http_vars: set[str]
    loop_vars: set[str]
    bumped_cell_names: set[str]
    client_vars: dict[str, str]  # local name -> rule code of the database or service client it holds
    generator_vars: set[str]  # local names holding a random generator (random.Random(seed), default_rng(seed))
    _in_step_name: int  # > 0 while reading a step's name (hash() there is ND702, not ND206)

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

    def _gets_step(self, call: ast.Call) -> bool:
        """A call given the step API or the context (`agent.run(step, task)`, `grade(ctx.step, case)`).

        It runs steps with what it is given, so its other arguments are step inputs.
        """
        for arg in (*call.args, *(k.value for k in call.keywords)):
            value = arg.value if isinstance(arg, ast.Starred) else arg
            if self._is_step(value) or self._is_ai(value):
                return True
            if isinstance(value, ast.Name) and value.id in self.ctx_names:
                return True
        return False

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

    def _is_number(self, expr: ast.expr) -> bool:
        """A value hash() maps alike in every process: a number literal, a parameter annotated as a number, what
        len/int/ord/round/float/bool return, or arithmetic on those."""
        if is_int_like(expr) or (isinstance(expr, ast.Name) and expr.id in self.number_vars):
            return True
        if isinstance(expr, ast.Call) and self.qual(expr.func) in NUMBER_FUNCS:
            return True
        if isinstance(expr, ast.BinOp):
            return self._is_number(expr.left) and self._is_number(expr.right)
        return isinstance(expr, ast.UnaryOp) and self._is_number(expr.operand)

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
        """The nondeterministic things one call does (usually none, at most one per callee)."""
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
            return self._classify_method(call, func, what, shown)
        if isinstance(func, ast.Name) and func.id in self.module.stateful and self._module_global(func.id):
            return []  # calling a generator object is a TypeError, not a draw
        if (
            isinstance(func, ast.Name)
            and func.id in self.module.functions
            and func.id not in self.local_names
            and func.id not in self.local_imports
            and func.id not in self.stack
        ):
            return self._helper_hits(func.id)
        return []

    def _classify_method(self, call: ast.Call, func: ast.Attribute, what: str, shown: str) -> list[Hit]:
        """A call of ``receiver.method(...)`` whose receiver is not a module: files, clients, generators."""
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
        if func.attr in COMPLETION_METHODS:
            return [make_hit("ND503", what)]
        if func.attr in DB_METHODS:
            return [make_hit("ND322", what)]
        if func.attr in SAMPLE_METHODS and self._unseeded_sample(call, func.value):
            return [make_hit("ND202", f"{what} without random_state")]
        state = self._stateful_of(func.value)
        if state is not None:
            return [self._stateful_hit(state, what)]
        method = self._instance_method(func)
        if method is not None:
            return self._helper_hits(method, shown=short(func))
        if func.attr not in HANDLE_QUIET_METHODS and not func.attr.startswith("__"):
            code = client_code(func.value, self.qual, self._client_name)
            if code is not None:
                return [make_hit(code, what, callee=shown)]
        return []

    def _classify_qualified(self, call: ast.Call, name: str, what: str) -> Hit | None:
        """A call of a function known by its qualified name (``time.time``, ``os.getenv``...)."""
        hit = self._classify_time_and_randomness(call, name, what)
        if hit is None:
            hit = self._classify_io(call, name, what)
        if hit is None:
            hit = self._classify_order(call, name, what)
        return hit

    def _classify_time_and_randomness(self, call: ast.Call, name: str, what: str) -> Hit | None:
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
        if name in HASHES and call.args and not self._is_number(call.args[0]) and not self._in_step_name:
            return make_hit("ND206", what)
        if name == "builtins.next" and call.args:
            state = self._stateful_of(call.args[0])
            if state is not None:
                return self._stateful_hit(state, what)
        return None

    def _classify_io(self, call: ast.Call, name: str, what: str) -> Hit | None:
        if name in OPENERS:
            return make_hit("ND301", what) if self._open_reads(call) else None
        if name in DB_CALLS:
            return make_hit("ND322", what)
        if name in FILE_READS or name.startswith(FILE_READ_PREFIXES):
            return make_hit("ND301", what)
        if name in ENV_CALLS or name.startswith(ENV_METHOD_PREFIXES):
            return make_hit("ND311", what)
        if name in IDENTITY or name.startswith(IDENTITY_PREFIXES):
            return make_hit("ND312", what)
        if name in NETWORK:
            return make_hit("ND321", what)
        if name in SUBPROCESS or name.startswith(SUBPROCESS_PREFIXES):
            return make_hit("ND331", what)
        if name in USER_INPUT or name.startswith(USER_INPUT_PREFIXES):
            return make_hit("ND341", what)
        if name in LLM_QUAL:
            return make_hit("ND401", what, callee=short(call.func))
        found = io_call(call, name)
        if found is not None and found[1] == "io":
            return make_hit(found[0], what)
        return None

    def _classify_order(self, call: ast.Call, name: str, what: str) -> Hit | None:
        """Completion order: as_completed, wait() that returns early, wait_for() around a step."""
        if name in COMPLETION_ORDER:
            return make_hit("ND503", what)
        if name in WAITERS:
            early = [k for k in call.keywords if k.arg == "timeout" or k.arg == "return_when"]
            if len(call.args) > 1 or any(not _is_all_completed(k.value) for k in early):
                return make_hit("ND503", what)
        if name in TIMEOUT_WRAPPERS and any(self._has_step_call(arg) for arg in call.args[:1]):
            return deadline_hit(f"{what} around a step")
        return None

    def _has_step_call(self, expr: ast.AST) -> bool:
        return any(isinstance(n, ast.Call) and self._step_method(n) is not None for n in walk_no_lambda(expr))

    def _unseeded_sample(self, call: ast.Call, receiver: ast.expr) -> bool:
        """``df.sample(5)`` or ``df.sample(frac=...)`` without ``random_state``: numpy's global generator draws.

        ``rng.sample(items, k)`` of a ``random.Random`` takes the population and ``k``: not this.
        """
        if any(k.arg in SAMPLE_SEEDS for k in call.keywords) or self._stateful_of(receiver) is not None:
            return False
        if any(k.arg == "k" for k in call.keywords) or len(call.args) > 1:
            return False
        if isinstance(receiver, ast.Call) and self.qual(receiver.func) in SEEDED_CTORS:
            return False
        return not (isinstance(receiver, ast.Name) and receiver.id in self.generator_vars)

    def _stateful_of(self, expr: ast.expr) -> Stateful | None:
        if isinstance(expr, ast.Name) and expr.id in self.module.stateful and self._module_global(expr.id):
            return self.module.stateful[expr.id]
        return None

    def _stateful_hit(self, state: Stateful, what: str) -> Hit:
        where = (
            f"line {state.line}"
            if state.label is None or state.label == self.src.label
            else (f"line {state.line} of {state.label}")
        )
        label = f"{what} of `{state.shown}`"
        if state.code != "ND604":
            hit = make_hit(state.code, f"{what} (a `{state.shown}` made at {where}, without a seed)")
            return Hit(hit.code, hit.message, hit.hint, label)
        hit = make_hit("ND604", f"{what} advances `{state.shown}`, made when the module was loaded ({where})")
        if state.iterator:
            hint = (
                "make the iterator or counter inside the workflow (a local itertools.count(), or the loop index of "
                "enumerate(...)), so every replay starts it from the beginning"
            )
            return Hit(hit.code, hit.message, hint, label)
        return Hit(hit.code, hit.message, hit.hint, label)

    def _client_name(self, name: str) -> str | None:
        if name in self.client_vars:
            return self.client_vars[name]
        if name not in self.local_names:
            return self.module.clients.get(name)
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

    def _instance_method(self, func: ast.Attribute) -> str | None:
        """``bot.greet`` where ``bot = Bot()`` at top level: the method ``Bot.greet``, read like a helper."""
        receiver = func.value
        if not isinstance(receiver, ast.Name) or not self._module_global(receiver.id):
            return None
        cls = self.module.instances.get(receiver.id)
        method = f"{cls}.{func.attr}"
        return method if cls is not None and method in self.module.functions and method not in self.stack else None

    def _instance_attr(self, node: ast.Attribute) -> str | None:
        """``bot.session_id`` where ``bot = Bot()`` at top level, as the key its import-time value is kept under."""
        receiver = node.value
        if isinstance(receiver, ast.Name) and receiver.id in self.module.instances and self._module_global(receiver.id):
            return f"{receiver.id}.{node.attr}"
        return None

    def _helper_hits(self, name: str, *, shown: str = "") -> list[Hit]:
        ref = self.module.functions[name]
        hits: list[Hit] = []
        seen: set[str] = set()
        for finding in self._summary(name):
            if finding.code in seen:
                continue
            seen.add(finding.code)
            where = f"line {finding.line}"
            if ref.src.label is not None and ref.src.label != self.src.label:
                where += f" of {ref.src.label}"
            called = shown or name
            message = f"`{called}()` runs here as workflow code, outside a step; at {where} in it: {finding.message}"
            if _takes_step(ref.node):
                hint = f"fix it there ({where}): {finding.hint}"  # it calls steps itself: it is workflow code
            else:
                hint = (
                    f'call it through step.run("...", {name}, ...) so its result is journaled, or there: {finding.hint}'
                )
            hits.append(Hit(finding.code, message, hint, f"`{called}()`"))
        return hits

    def _is_wait(self, value: ast.expr) -> bool:
        call = value.value if isinstance(value, ast.Await) else value
        return isinstance(call, ast.Call) and self.qual(call.func) in WAITERS

    def _sources(self, expr: ast.expr) -> list[Origin]:
        """Nondeterministic things the value of ``expr`` depends on, with where each comes from."""
        found: list[Origin] = []
        stack: list[ast.AST] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Call):
                if self._step_method(node) is not None:
                    continue  # a step's result is journaled
                found.extend(Origin("", f"{h.label}, line {node.lineno}") for h in self.classify(node))
                if not self._in_step_name and self.qual(node.func) == "builtins.id":
                    found.append(Origin("", f"`{short(node)}`, an address that differs in every process"))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                origin = self._name_origin(node.id)
                if origin is not None:
                    found.append(origin)
            elif isinstance(node, ast.Attribute) and self.qual(node) in ENV_OBJECTS:
                found.append(Origin("", "`os.environ`"))
                continue
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                key = self._instance_attr(node)
                if key is not None and key in self.module.import_time:
                    hit, line, _ = self.module.import_time[key]
                    found.append(Origin(key, f"{hit.label}, run at import (line {line})"))
                    continue
            stack.extend(ast.iter_child_nodes(node))
        return found

    def _name_origin(self, name: str) -> Origin | None:
        if name in self.tainted:
            return Origin(name, self.tainted[name])
        if self.qual(ast.Name(id=name, ctx=ast.Load())) in ENV_OBJECTS:
            return Origin("", "`os.environ`")
        if name in self.bumped_cell_names:
            return Origin(name, "a notebook variable this cell changes")
        if self._module_global(name) and (name in self.global_decls or name in self.module.runtime_written):
            return Origin(name, "a global changed at run time")
        if self._module_global(name) and name in self.module.import_time:
            hit, line, _ = self.module.import_time[name]
            return Origin(name, f"{hit.label}, run at import (line {line})")
        return None


class Origin(NamedTuple):
    """Where a nondeterministic value comes from: ``root`` (a call and its line), reached through ``via``."""

    via: str  # the name that carries it here, or "" when the call is right here
    root: str

    def shown(self) -> str:
        return f"`{self.via}` (from {self.root})" if self.via else self.root


def _takes_step(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A helper given the step API (a parameter named `step` or annotated `Step`, or the context)."""
    for arg in all_args(fn.args):
        note = short(arg.annotation) if arg.annotation is not None else ""
        if arg.arg in ("step", "ctx") or note.endswith(("Step", "Context")):
            return True
    return False


def _is_all_completed(value: ast.expr) -> bool:
    """``return_when=ALL_COMPLETED`` (the default) or ``timeout=None``."""
    if isinstance(value, ast.Constant):
        return value.value is None or value.value == "ALL_COMPLETED"
    parts = dotted(value)
    return parts is not None and parts[-1] == "ALL_COMPLETED"
