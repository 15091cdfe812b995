"""Static check for replay nondeterminism in workflow code, before anything runs.

Code outside steps runs again on every replay. If it reads the clock, draws a random
number, makes a UUID, reads a file or the environment, calls the network or an LLM, or
iterates a set of strings, the replay can take another path than the original run. This
module reads ``@nd.function`` workflows and ``%%durable`` cells with :mod:`ast` (nothing is
imported or run) and reports each such place with a code, the reason, and the fix.

It errs on the side of silence: code inside step callables (lambdas, local functions and
module functions given to ``step.run`` / ``step.ai.wrap``) is not workflow code, the
journaled helpers ``step.now()``, ``step.uuid()`` and ``step.random()`` are fine, and a
clock read that only reaches ``print`` or logging is not reported. A linter that cries wolf
gets turned off.

Codes come in families: ND1xx clock, ND2xx randomness and UUIDs, ND3xx I/O (files,
environment, network, subprocesses), ND4xx LLM clients outside ``step.ai``, ND5xx set
iteration, ND6xx mutable globals, ND7xx nondeterministic step names. A finding on a line
carrying ``# nd: ignore`` (or ``# nd: ignore[ND101, ND7]``) is dropped.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._errors import LintError

__all__ = ["RULES", "Finding", "LintError", "lint", "lint_cell", "lint_path"]


@dataclass(frozen=True)
class Finding:
    """One place where workflow code may behave differently on replay.

    ``line`` and ``col`` are 1-based positions in the source given (for a cell: within the
    cell, counting the ``%%durable`` line as line 1). ``cell`` is the 1-based position of
    the cell in the notebook (all cells counted, as JupyterLab shows them) when the
    finding comes from a notebook, and ``path`` the file it was read from.
    """

    code: str
    line: int
    col: int
    message: str
    hint: str
    cell: int | None = None
    path: str | None = None


RULES: dict[str, str] = {
    "ND101": "wall clock read (time.time, time.localtime() ...)",
    "ND102": "monotonic or performance counter read (time.monotonic, perf_counter, loop.time ...)",
    "ND103": "current date or time (datetime.now, utcnow, today, date.today ...)",
    "ND201": "process-global random generator (random.*, unseeded random.Random())",
    "ND202": "numpy or torch random generator (np.random.*, unseeded default_rng())",
    "ND203": "secrets module",
    "ND204": "operating-system entropy (os.urandom, random.SystemRandom)",
    "ND205": "random or time-based UUID (uuid1, uuid4, uuid6, uuid7)",
    "ND301": "file or directory read (open, Path.read_text, os.listdir, pandas.read_csv ...)",
    "ND311": "environment read (os.environ, os.getenv)",
    "ND312": "process or host identity (os.getpid, socket.gethostname ...)",
    "ND321": "network call (requests, httpx, urllib, socket, aiohttp ...)",
    "ND331": "subprocess or shell command (subprocess.*, os.system, !cmd)",
    "ND401": "LLM client call outside step.ai (.chat.completions.create, .messages.create ...)",
    "ND501": "iteration over a set (order of strings changes between processes)",
    "ND502": "set turned into an ordered value (list(s), tuple(s), ''.join(s), s.pop() ...)",
    "ND601": "module or notebook global rebound or bumped by workflow code",
    "ND602": "module or notebook container changed by workflow code",
    "ND603": "module global read by workflow code and changed at run time elsewhere",
    "ND701": "step name built from a nondeterministic value",
    "ND702": "step name built from id() or hash() (differ between processes)",
}

# -- what counts as what ------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A set of names written as one space-separated string (keeps the long tables readable)."""
    return frozenset(text.split())


_WALL_CLOCK = {"time.time", "time.time_ns"}
# These read the clock only when called without a time argument.
_WALL_CLOCK_NOARG = {"time.localtime", "time.gmtime", "time.ctime", "time.asctime"}
_MONOTONIC = {
    f"time.{name}{suffix}"
    for name in ("monotonic", "perf_counter", "process_time", "thread_time")
    for suffix in ("", "_ns")
}
_NOW = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    # `datetime` used without an import in a notebook cell is usually the class.
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "pandas.Timestamp.now",
    "pandas.Timestamp.utcnow",
    "pandas.Timestamp.today",
    "arrow.now",
    "arrow.utcnow",
    "pendulum.now",
    "pendulum.today",
}
_LOOP_GETTERS = {"asyncio.get_event_loop", "asyncio.get_running_loop"}
_RANDOM_FUNCS = _words(
    "random uniform triangular randint randrange choice choices shuffle sample gauss normalvariate "
    "lognormvariate expovariate vonmisesvariate gammavariate betavariate paretovariate weibullvariate "
    "getrandbits randbytes binomialvariate"
)
# numpy.random names that do not draw: seeding, state, and generator constructors (checked apart).
_NUMPY_QUIET = {"seed", "get_state", "set_state", "Generator", "BitGenerator"}
_SEEDED_CTORS = {
    "random.Random",
    "numpy.random.default_rng",
    "numpy.random.RandomState",
    "numpy.random.SeedSequence",
    "numpy.random.PCG64",
    "numpy.random.PCG64DXSM",
    "numpy.random.MT19937",
    "numpy.random.Philox",
    "numpy.random.SFC64",
}
_TORCH_RANDOM = {
    f"torch.{name}"
    for name in _words(
        "rand randn randint randperm rand_like randn_like randint_like multinomial normal bernoulli poisson"
    )
}
_ENTROPY = {"os.urandom", "os.getrandom", "random.SystemRandom"}
_UUIDS = {"uuid.uuid1", "uuid.uuid4", "uuid.uuid6", "uuid.uuid7"}
_FILE_READS = _words(
    "os.listdir os.scandir os.walk os.stat os.lstat os.path.exists os.path.lexists os.path.isfile os.path.isdir "
    "os.path.islink os.path.getsize os.path.getmtime os.path.getctime os.path.getatime glob.glob glob.iglob "
    "numpy.load numpy.loadtxt numpy.genfromtxt numpy.fromfile"
)
_OPENERS = {"builtins.open", "io.open", "codecs.open"}
_ENV_CALLS = {"os.getenv", "os.getenvb"}
_ENV_OBJECTS = {"os.environ", "os.environb"}
_IDENTITY = _words(
    "os.getpid os.getppid os.getlogin socket.gethostname platform.node getpass.getuser threading.get_ident "
    "threading.get_native_id"
)
_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_NETWORK = (
    {f"requests.{verb}" for verb in _HTTP_VERBS}
    | {f"httpx.{verb}" for verb in (*_HTTP_VERBS, "stream")}
    | _words(
        "urllib.request.urlopen urllib.request.urlretrieve urllib3.request socket.socket socket.create_connection "
        "socket.getaddrinfo socket.gethostbyname socket.gethostbyname_ex socket.gethostbyaddr "
        "http.client.HTTPConnection http.client.HTTPSConnection aiohttp.request websockets.connect "
        "asyncio.open_connection smtplib.SMTP smtplib.SMTP_SSL ftplib.FTP"
    )
)
# Constructing these is harmless; calling their request methods is network I/O.
_HTTP_CLIENTS = _words(
    "httpx.Client httpx.AsyncClient requests.Session requests.session aiohttp.ClientSession urllib3.PoolManager"
)
_HTTP_METHODS = {*_HTTP_VERBS, "send", "stream", "fetch", "ws_connect"}
_SUBPROCESS = _words(
    "subprocess.run subprocess.call subprocess.check_call subprocess.check_output subprocess.Popen "
    "subprocess.getoutput subprocess.getstatusoutput os.system os.popen asyncio.create_subprocess_exec "
    "asyncio.create_subprocess_shell pty.spawn"
)
_SUBPROCESS_PREFIXES = ("os.spawn", "os.exec", "os.posix_spawn")
_LLM_QUAL = _words(
    "litellm.completion litellm.acompletion litellm.embedding litellm.aembedding litellm.responses "
    "litellm.aresponses ollama.chat ollama.generate"
)
# Attribute chains that end a model call on the openai / anthropic / google clients.
_LLM_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("completions", "create"),
    ("completions", "parse"),
    ("messages", "create"),
    ("messages", "stream"),
    ("responses", "create"),
    ("responses", "parse"),
    ("responses", "stream"),
    ("embeddings", "create"),
    ("images", "generate"),
    ("models", "generate_content"),
    ("ChatCompletion", "create"),
    ("Completion", "create"),
)
_PATH_CTORS = {"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"}
_PATH_DERIVING = {"joinpath", "with_name", "with_suffix", "with_stem", "expanduser", "absolute", "resolve"}
_PATH_IO = _words(
    "open exists is_file is_dir is_symlink stat lstat iterdir glob rglob walk readlink samefile owner group"
)
_ANY_RECEIVER_READS = {"read_text", "read_bytes"}

# Iterating through these iterates their argument(s) in order.
_ITER_WRAPPERS = {"builtins.enumerate", "builtins.zip", "builtins.iter", "builtins.list", "builtins.tuple"}
# A comprehension or list given straight to these does not leak its order.
_ORDER_FREE = {
    *(f"builtins.{name}" for name in _words("sorted len sum min max any all set frozenset")),
    "collections.Counter",
}
_CONTAINER_CTORS = {
    "builtins.list": "list",
    "builtins.dict": "dict",
    "builtins.set": "set",
    "collections.defaultdict": "dict",
    "collections.OrderedDict": "dict",
    "collections.Counter": "dict",
    "collections.deque": "deque",
}
_MUTATORS = _words(
    "append extend insert remove pop popitem clear update add discard setdefault sort reverse appendleft "
    "extendleft popleft rotate difference_update intersection_update symmetric_difference_update"
)
# On a notebook variable of unknown type only these surely accumulate across replays.
_CELL_MUTATORS = {"append", "extend", "insert", "appendleft", "extendleft"}
_SET_METHODS = {"union", "intersection", "difference", "symmetric_difference", "copy"}
_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
_OUTPUT_CALLS = _words("builtins.print display IPython.display.display warnings.warn sys.stdout.write sys.stderr.write")
# Values that change nothing on replay when they only reach print or logging.
_VALUE_CODES = _words("ND101 ND102 ND103 ND201 ND202 ND203 ND204 ND205 ND301 ND311 ND312 ND501 ND502 ND603")
_CELL_STATE_HINT = (
    "create it in this cell (e.g. `results = []` above the loop) so every replay starts from the same value, "
    "or keep the value in a step result"
)
_NAMED_STEP_METHODS = {"run", "sleep", "sleep_until", "wait_for_event", "send_event", "invoke", "ai.infer", "ai.wrap"}
_CALLABLE_STEP_METHODS = {"run", "ai.wrap"}
_STEP_METHODS = _NAMED_STEP_METHODS | {"now", "uuid", "random"}
_STEP_NAME_KEYWORDS = ("name", "step_id", "id")

# Names a notebook usually imports in another cell; resolved when nothing else binds them.
_FALLBACK: dict[str, str] = {
    name: name
    for name in _words(
        "time datetime random uuid os secrets requests httpx urllib urllib3 socket subprocess numpy pandas asyncio "
        "pathlib glob io platform getpass aiohttp litellm ollama torch arrow pendulum logging warnings sys "
        "threading collections nbdurable codecs"
    )
}
_FALLBACK.update(
    {
        "np": "numpy",
        "pd": "pandas",
        "nd": "nbdurable",
        "Path": "pathlib.Path",
        "date": "datetime.date",
        "display": "IPython.display.display",
        # `@function(...)` in a snippet such as inspect.getsource(fn), where the import is not shown.
        "function": "nbdurable.function",
    }
)
_BUILTINS = frozenset(vars(builtins))

_DURABLE_RE = re.compile(r"\s*%%durable(?:[ \t]|\r?\n|$)")
_PRAGMA_RE = re.compile(r"#\s*nd:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
_MAGIC_ASSIGN_RE = re.compile(r"^(\s*)([A-Za-z_][\w\s,]*?)\s*=\s*([!%])(.*)$")

_MESSAGES: dict[str, tuple[str, str]] = {
    "ND101": (
        "{what} reads the wall clock; replay runs it again and gets a later time, so step inputs, names or "
        "branches computed from it differ from the original run",
        "use step.now(), which is journaled, or read the clock inside a step.run(...) callable",
    ),
    "ND102": (
        "{what} reads a monotonic or performance counter; its value differs on every replay and in every process",
        "measure durations inside a step.run(...) callable, or use step.now() for timestamps",
    ),
    "ND103": (
        "{what} reads the current date or time; replay gets another value, so anything derived from it "
        "differs from the original run",
        "use step.now(), which is journaled (UTC, aware), or compute it inside a step.run(...) callable",
    ),
    "ND201": (
        "{what} draws from an unseeded or process-global random generator; replay draws other numbers",
        "use step.random(), which is journaled, draw inside a step.run(...) callable, or use a local "
        "random.Random(seed) with a fixed seed",
    ),
    "ND202": (
        "{what} draws from numpy's or torch's global or unseeded generator; replay draws other numbers",
        "use np.random.default_rng(seed) with a fixed seed, step.random(), or draw inside a step.run(...) callable",
    ),
    "ND203": (
        "{what} makes a fresh secret value; replay makes another one",
        "generate it inside a step.run(...) callable so the value is journaled",
    ),
    "ND204": (
        "{what} reads operating-system entropy; replay gets other bytes",
        "generate it inside a step.run(...) callable, or use step.random() / step.uuid()",
    ),
    "ND205": (
        "{what} makes a random or time-based UUID; replay makes another one",
        "use step.uuid(), which is journaled, or uuid.uuid5(namespace, stable_key) for an id derived from stable data",
    ),
    "ND301": (
        "{what} reads the file system; the contents can change before a replay, and a resumed run may be "
        "in another directory or machine",
        "read it inside a step.run(...) callable so the contents are journaled",
    ),
    "ND311": (
        "{what} reads the environment; a run resumed in another kernel or process may see other values",
        "read it inside a step.run(...) callable, or pass it in the event data",
    ),
    "ND312": (
        "{what} reads the process or host identity, which is different after a restart",
        "read it inside a step.run(...) callable if the run needs it",
    ),
    "ND321": (
        "{what} calls the network outside a step; it runs again on every replay and may answer differently",
        "wrap the call in step.run(name, fn, ...) so the response is journaled",
    ),
    "ND331": (
        "{what} runs a subprocess outside a step; it runs again on every replay and may give other output",
        "wrap it in step.run(name, fn, ...) so the output is journaled",
    ),
    "ND401": (
        "{what} calls a model API outside step.ai: every replay calls the model again, pays again and gets "
        "another answer",
        'use step.ai.wrap("name", {callee}, ...) or step.ai.infer(...) so the response is journaled',
    ),
    "ND501": (
        "iterating over {what}, a set: the order of strings in a set changes between processes (hash "
        "randomization), so replay can reach steps in another order or with other inputs",
        "iterate over sorted(...) of it, or keep a list (dict.fromkeys(items) dedupes and keeps order)",
    ),
    "ND502": (
        "{what}; the order of strings in a set changes between processes, so the result differs on replay",
        "use sorted(...) of the set instead",
    ),
    "ND601": (
        "{what}: the change happens again on every replay and is lost on restart, so the value differs from "
        "the original run",
        "keep the value in a local variable, or return it from a step.run(...) callable and use the result",
    ),
    "ND602": (
        "{what}: it is changed again on every replay and kept across runs in this process, so it differs "
        "from the original run",
        "build a local container inside the workflow, or return values from steps",
    ),
    "ND603": (
        "{what}; after a restart or replay it holds another value than in the original run",
        "pass the value through a step result (return it from step.run) or the event data",
    ),
    "ND701": (
        "step name built from {what}: on replay the name differs, the journaled result is not found and "
        "the step runs again",
        'build step names from stable data (constants, event fields, loop indexes), e.g. f"fetch-{{i}}"',
    ),
    "ND702": (
        "step name built from {what}, which differs between processes, so replay does not find the journaled step",
        "build step names from stable data (constants, event fields, loop indexes)",
    ),
}


@dataclass(frozen=True)
class _Hit:
    """A nondeterministic call found by the classifier, before it becomes a finding."""

    code: str
    message: str
    hint: str
    label: str  # short form, used when the value ends up in a step name


def _hit(code: str, what: str, *, callee: str = "") -> _Hit:
    message, hint = _MESSAGES[code]
    return _Hit(code, message.format(what=what), hint.format(callee=callee), what)


# -- sources and positions ----------------------------------------------------------------------------


@dataclass
class _Source:
    """A piece of source text being linted, and where it came from (file, notebook cell)."""

    text: str
    filename: str
    cell: int | None = None
    path: str | None = None
    shell_lines: tuple[tuple[int, int, str], ...] = ()  # (line, col, command) of `!cmd` lines
    shift_from: int = 0  # lines from here on were parsed with one extra leading space
    lines: list[str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.lines = _LINE_SPLIT_RE.split(self.text)

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
        match = _PRAGMA_RE.search(self.lines[finding.line - 1])
        if match is None:
            return False
        if match.group(1) is None:
            return True
        prefixes = [p.strip().upper() for p in match.group(1).split(",") if p.strip()]
        return any(finding.code.startswith(p) for p in prefixes)


def _parse(text: str, src: _Source) -> ast.Module:
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
    assert isinstance(tree, ast.Module)
    return tree


def _where(src: _Source, line: int | None) -> str:
    parts = [src.filename]
    if src.cell is not None:
        parts.append(f"cell {src.cell}")
    if line is not None:
        parts.append(f"line {line}")
    return ", ".join(parts)


def _neutralize_magics(text: str) -> tuple[str, tuple[tuple[int, int, str], ...]]:
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
        match = _MAGIC_ASSIGN_RE.match(line)
        if match is not None:
            if match.group(3) == "!":
                shell.append((i + 1, match.start(3) + 1, match.group(4).strip()))
            lines[i] = f"{match.group(1)}{match.group(2).rstrip()} = None"
    return "\n".join(lines), tuple(shell)


def _parse_lenient(text: str, src: _Source) -> ast.Module:
    """Parse notebook code, retrying with IPython magics neutralized if plain parsing fails."""
    try:
        return _parse(text, src)
    except LintError:
        cleaned, shell = _neutralize_magics(text)
        if cleaned == text:
            raise
        tree = _parse(cleaned, src)
        src.shell_lines = shell
        return tree


def _mode_reads(mode: ast.expr | None, call: ast.Call) -> bool:
    """open() in a write-only mode does not read; any other mode (or an unknown one) does."""
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return not (any(c in mode.value for c in "wax") and "+" not in mode.value)
    return True


def _is_durable(source: str) -> bool:
    return _DURABLE_RE.match(source) is not None


def _blank_magic_line(source: str) -> str:
    """The cell with its ``%%durable`` line blanked, so the body parses with the same line numbers."""
    match = _DURABLE_RE.match(source)
    assert match is not None
    start = source.index("%%durable")
    end = source.find("\n", start)
    end = len(source) if end == -1 else end
    return source[:start] + source[end:]


# -- name resolution ----------------------------------------------------------------------------------


def _import_bindings(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
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


def _dotted(expr: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"], or None when the chain does not start at a name."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return parts[::-1]
    return None


def _attr_chain(expr: ast.expr) -> list[str]:
    """Trailing attribute names of ``x.a.b`` (["a", "b"]) whatever ``x`` is."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    return parts[::-1]


def _short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _walk_no_lambda(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk that does not enter lambda bodies or nested function and class bodies."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            stack.append(child)


def _bound_names(body: Sequence[ast.stmt], *, into_defs: bool) -> set[str]:
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
                names.update(a.arg for a in _all_args(node.args))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(local for local, _ in _import_bindings(node))
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


def _all_args(args: ast.arguments) -> list[ast.arg]:
    out = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        out.append(args.vararg)
    if args.kwarg:
        out.append(args.kwarg)
    return out


def _globals_declared(body: Sequence[ast.stmt]) -> set[str]:
    """Names a scope declares `global` (its own statements, not those of functions inside it)."""
    names: set[str] = set()
    for node in _walk_no_lambda(ast.Module(body=list(body), type_ignores=[])):
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names


def _child_scopes(node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda]:
    """The functions and lambdas directly inside ``node`` (not inside those)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield child
        else:
            yield from _child_scopes(child)


def _is_int_like(expr: ast.expr) -> bool:
    """Elements whose hash (and so set order) is the same in every process: numbers, bools, tuples of them."""
    if isinstance(expr, ast.Tuple):
        return all(_is_int_like(e) for e in expr.elts)
    return isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float))


# -- module-level facts -------------------------------------------------------------------------------


@dataclass
class _FuncRef:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    src: _Source


class _Module:
    """What the module (or the notebook's plain cells together) binds at top level."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}
        self.bound: set[str] = set()
        self.containers: dict[str, str] = {}
        self.sets: dict[str, str] = {}
        self.http: set[str] = set()
        self.paths: set[str] = set()
        self.functions: dict[str, _FuncRef] = {}
        self.workflows: list[_FuncRef] = []
        self.runtime_written: dict[str, str] = {}
        self._summaries: dict[str, list[Finding]] = {}
        self._assigned_twice: set[str] = set()
        # name -> (hit, line, cell): module globals set at import from the clock or a random source
        self.import_time: dict[str, tuple[_Hit, int, int | None]] = {}

    # name resolution at module level
    def qual(self, expr: ast.expr) -> str | None:
        parts = _dotted(expr)
        if parts is None:
            return None
        head = parts[0]
        if head in self.imports:
            base = self.imports[head]
        elif head in self.bound:
            return None
        elif head in _FALLBACK:
            base = _FALLBACK[head]
        elif head in _BUILTINS:
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
    def build(cls, parts: Sequence[tuple[ast.Module, _Source]], durable_cells: Sequence[ast.Module] = ()) -> _Module:
        module = cls()
        statements = [(stmt, src) for tree, src in parts for stmt in _top_level(tree.body)]
        counts: dict[str, int] = {}
        for stmt, _ in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                module.imports.update(_import_bindings(stmt))
            for name in _bound_names([stmt], into_defs=False) if not isinstance(stmt, ast.Import) else ():
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
                    module.workflows.append(_FuncRef(node, src))
        roots: list[ast.AST] = [ref.node for ref in module.workflows]
        roots.extend(durable_cells)
        module._find_runtime_writes(roots)
        for tree, src in parts:
            module._find_import_time_values(tree, src)
        return module

    def _find_import_time_values(self, tree: ast.Module, src: _Source) -> None:
        """Globals assigned at import from the clock or randomness: a restarted kernel gets other values.

        Only clock and random sources count: configuration read at import (environment, files,
        clients built from them) is meant to be the same after a restart.
        """
        classifier = _Analyzer(self, src, ast.Module(body=[], type_ignores=[]), cell_mode=False, stack=("<module>",))
        for stmt in _top_level(tree.body):
            if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [n for t in targets if isinstance(t, ast.Name) for n in _target_names(t)]
            hits = [
                hit
                for node in _walk_no_lambda(stmt.value)
                if isinstance(node, ast.Call)
                for hit in classifier._classify(node)
                if hit.code[:3] in ("ND1", "ND2")
            ]
            for name in names:
                if hits:
                    self.import_time[name] = (hits[0], stmt.lineno, src.cell)
                else:
                    self.import_time.pop(name, None)

    def _scan(self, stmt: ast.stmt, src: _Source) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.bound.add(stmt.name)
            ref = _FuncRef(stmt, src)
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
        names = [n for t in targets for n in _target_names(t)]
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
        set_desc = _set_desc(value, self.qual, lambda n: self.sets.get(n))
        if set_desc is not None:
            self.sets[name] = f"`{name}`"
        if isinstance(value, ast.Call) and self.qual(value.func) in _HTTP_CLIENTS:
            self.http.add(name)
        if _is_path_expr(value, self.qual, self.paths.__contains__):
            self.paths.add(name)

    def _container_kind(self, value: ast.expr) -> str | None:
        if isinstance(value, (ast.List, ast.ListComp)):
            return "list"
        if isinstance(value, (ast.Dict, ast.DictComp)):
            return "dict"
        if isinstance(value, (ast.Set, ast.SetComp)):
            return "set"
        if isinstance(value, ast.Call):
            return _CONTAINER_CTORS.get(self.qual(value.func) or "")
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
        declared = _globals_declared(body)
        local = (outer | _bound_names(body, into_defs=False) | {a.arg for a in _all_args(fn.args)}) - declared
        for sub in _walk_no_lambda(ast.Module(body=body, type_ignores=[])):
            changed: str | None = None
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)) and sub.id in declared:
                changed = sub.id
            elif (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in _MUTATORS
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
            for inner in _child_scopes(stmt):
                self._scope_writes(name, inner, local)

    def summary(self, name: str, stack: tuple[str, ...]) -> list[Finding]:
        """Findings inside a module function that workflow code calls directly (memoized)."""
        if name in self._summaries:
            return self._summaries[name]
        ref = self.functions[name]
        found = _Analyzer(self, ref.src, ref.node, cell_mode=False, stack=(*stack, name)).run()
        self._summaries[name] = found
        return found


def _top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking into if/try/with/for blocks but not into defs."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
            yield from _top_level(stmt.body)
            yield from _top_level(getattr(stmt, "orelse", []))
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            yield from _top_level(getattr(stmt, "body", []))
            for handler in getattr(stmt, "handlers", []):
                yield from _top_level(handler.body)
            yield from _top_level(getattr(stmt, "orelse", []))
            yield from _top_level(getattr(stmt, "finalbody", []))


def _set_desc(
    expr: ast.expr, qual: Callable[[ast.expr], str | None], set_name: Callable[[str], str | None]
) -> str | None:
    """A short description if ``expr`` is a set whose iteration order may change between processes."""
    if isinstance(expr, ast.Set):
        if all(_is_int_like(e) for e in expr.elts):
            return None
        return f"`{_short(expr)}`"
    if isinstance(expr, ast.SetComp):
        return f"`{_short(expr)}`"
    if isinstance(expr, ast.Name):
        return set_name(expr.id)
    if isinstance(expr, ast.Call):
        name = qual(expr.func)
        if name in ("builtins.set", "builtins.frozenset"):
            if expr.args:
                arg = expr.args[0]
                if isinstance(arg, ast.Call) and qual(arg.func) == "builtins.range":
                    return None
                if isinstance(arg, (ast.List, ast.Tuple, ast.Set)) and all(_is_int_like(e) for e in arg.elts):
                    return None
            return f"`{_short(expr)}`"
        if (
            isinstance(expr.func, ast.Attribute)
            and expr.func.attr in _SET_METHODS
            and _set_desc(expr.func.value, qual, set_name) is not None
        ):
            return f"`{_short(expr)}`"
        return None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)):
        sides = (_set_desc(expr.left, qual, set_name), _set_desc(expr.right, qual, set_name))
        if sides != (None, None):
            return f"`{_short(expr)}`"
    return None


def _is_path_expr(expr: ast.expr, qual: Callable[[ast.expr], str | None], path_name: Callable[[str], bool]) -> bool:
    if isinstance(expr, ast.Name):
        return path_name(expr.id)
    if isinstance(expr, ast.Call):
        name = qual(expr.func)
        if name in _PATH_CTORS or name in {f"{c}.{m}" for c in _PATH_CTORS for m in ("home", "cwd")}:
            return True
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in _PATH_DERIVING:
            return _is_path_expr(expr.func.value, qual, path_name)
        return False
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return _is_path_expr(expr.left, qual, path_name)
    if isinstance(expr, ast.Attribute) and expr.attr == "parent":
        return _is_path_expr(expr.value, qual, path_name)
    return False


# -- the analysis of one workflow ---------------------------------------------------------------------

_Root = ast.FunctionDef | ast.AsyncFunctionDef | ast.Module


class _Analyzer(ast.NodeVisitor):
    """Walks one workflow (a decorated function, a cell body, or a helper it calls) in source order."""

    def __init__(
        self, module: _Module, src: _Source, root: _Root, *, cell_mode: bool, stack: tuple[str, ...] = ()
    ) -> None:
        self.module = module
        self.src = src
        self.root = root
        self.cell_mode = cell_mode
        self.stack = stack
        self.findings: list[Finding] = []
        body = root.body
        params = [] if isinstance(root, ast.Module) else _all_args(root.args)
        self.local_imports: dict[str, str] = {}
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    self.local_imports.update(_import_bindings(node))
        self.global_decls = _globals_declared(body)
        self.local_names = (_bound_names(body, into_defs=True) | {a.arg for a in params}) - self.global_decls
        self.local_names -= set(self.local_imports)
        self.local_aliases = self._find_value_aliases(body)
        self.step_names: set[str] = set()
        self.ctx_names: set[str] = set()
        self.ai_names: set[str] = set()
        if cell_mode:
            self.step_names.add("step")
            self.ctx_names.add("ctx")
        for index, arg in enumerate(params):
            annotation = _short(arg.annotation) if arg.annotation is not None else ""
            if arg.arg == "step" or annotation.endswith("Step"):
                self.step_names.add(arg.arg)
            elif arg.arg == "ctx" or annotation.endswith("Context") or (index == 0 and not stack):
                self.ctx_names.add(arg.arg)
        for stmt in body:
            for node in ast.walk(stmt):
                # A local helper that takes the step as a parameter uses it like the workflow does.
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    for arg in _all_args(node.args):
                        note = _short(arg.annotation) if arg.annotation is not None else ""
                        if arg.arg == "step" or note.endswith("Step"):
                            self.step_names.add(arg.arg)
        self._find_step_aliases(body)
        self.scope = "notebook variable" if cell_mode or src.cell is not None else "module global"
        self.subject = "this cell" if cell_mode else "workflow code"
        self.reachable = self._reachable_defs(body)
        self.output_only = self._output_only_names(body)
        # state while walking
        self.tainted: dict[str, str] = {}
        self.set_vars: dict[str, str] = {}
        self.path_vars: set[str] = set()
        self.http_vars: set[str] = set()
        self.loop_vars: set[str] = set()
        self.bound_so_far: set[str] = set()
        self.bumped_cell_names: set[str] = set()
        self._step_args = 0
        self._output = 0
        self._def_depth = 0
        self._ok_ids: set[int] = set()
        self._handled_ids: set[int] = set()
        self._receivers: set[int] = set()
        self._changed_globals: set[str] = set()
        self._global_reads: dict[str, ast.Name] = {}
        self._import_time_reported: set[str] = set()

    # -- entry

    def run(self) -> list[Finding]:
        for stmt in self.root.body:
            self.visit(stmt)
        for line, col, command in self.src.shell_lines if self.cell_mode else ():
            shown = command.split(" #")[0].strip()  # IPython hands the comment to the shell; don't show it
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            hit = _hit("ND331", f"`!{shown}`" if shown else "a `!` shell line")
            self._add(hit.code, line, col, hit.message, hit.hint)
        for name, node in self._global_reads.items():
            if name in self._changed_globals:
                continue
            where = self.module.runtime_written[name]
            self._emit_at("ND603", node, f"reads module global `{name}`, which {where} changes at run time")
        unique: dict[tuple[str, int, int], Finding] = {}
        for finding in self.findings:
            if not self.src.ignored(finding):
                unique.setdefault((finding.code, finding.line, finding.col), finding)
        return sorted(unique.values(), key=lambda f: (f.line, f.col, f.code))

    # -- pre-passes

    def _find_step_aliases(self, body: Sequence[ast.stmt]) -> None:
        assigns = [n for stmt in body for n in ast.walk(stmt) if isinstance(n, (ast.Assign, ast.AnnAssign))]
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

    def _find_value_aliases(self, body: Sequence[ast.stmt]) -> dict[str, str]:
        """Names assigned once from a dotted name (`now = datetime.now`), followed like imports."""
        counts: dict[str, int] = {}
        candidates: dict[str, ast.expr] = {}
        for stmt in body:
            for node in ast.walk(stmt):
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
            parts = _dotted(value)
            if counts.get(name) != 1 or parts is None or parts[0] in self.local_names:
                continue
            target = self.local_imports.get(parts[0])
            base = ".".join([target, *parts[1:]]) if target else self.module.qual(value)
            if base is not None:
                aliases[name] = base
        return aliases

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
        if self._is_step(func.value) and func.attr in _STEP_METHODS:
            return func.attr
        if self._is_ai(func.value) and func.attr in ("infer", "wrap"):
            return f"ai.{func.attr}"
        return None

    def _split_step_call(self, call: ast.Call, method: str) -> tuple[ast.expr | None, list[ast.expr]]:
        """The step-name argument and the other arguments of a step call."""
        name: ast.expr | None = None
        rest: list[ast.expr] = []
        positional = list(call.args)
        if method in _NAMED_STEP_METHODS and positional and not isinstance(positional[0], ast.Starred):
            name = positional.pop(0)
        rest.extend(positional)
        for kw in call.keywords:
            if name is None and kw.arg in _STEP_NAME_KEYWORDS and method in _NAMED_STEP_METHODS:
                name = kw.value
            else:
                rest.append(kw.value)
        return name, rest

    def _reachable_defs(self, body: Sequence[ast.stmt]) -> set[int]:
        """Local functions that run as workflow code: referenced outside step-callable arguments."""
        defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for stmt in body:
            for node in ast.walk(stmt):
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
                    if method in _CALLABLE_STEP_METHODS:
                        assert method is not None
                        name, rest = self._split_step_call(node, method)
                        if name is not None:
                            stack.append(name)
                        # Callables given to the step run inside it; calls made while building
                        # its arguments run here, in workflow code.
                        for arg in rest:
                            for sub in _walk_no_lambda(arg):
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
                names = [n for t in tgts for n in _target_names(t)]
                simple = all(isinstance(t, ast.Name) for t in tgts)
                assigned.update(names)
                for t in tgts:
                    if not isinstance(t, ast.Name):
                        walk(t, in_output, targets)
                walk(node.value, in_output, names if simple else [])
                if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                    uses.setdefault(node.target.id, []).append((in_output, names))
                return
            if isinstance(node, ast.Call) and self._step_method(node) is not None:
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

    # -- resolution

    def qual(self, expr: ast.expr) -> str | None:
        parts = _dotted(expr)
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
        return _set_desc(expr, self.qual, self._set_name)

    def _is_path(self, expr: ast.expr) -> bool:
        return _is_path_expr(
            expr,
            self.qual,
            lambda n: n in self.path_vars or (n not in self.local_names and n in self.module.paths),
        )

    def _is_http(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.http_vars or (expr.id not in self.local_names and expr.id in self.module.http)
        return isinstance(expr, ast.Call) and self.qual(expr.func) in _HTTP_CLIENTS

    def _is_loop(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.loop_vars
        return isinstance(expr, ast.Call) and self.qual(expr.func) in _LOOP_GETTERS

    def _module_global(self, name: str) -> bool:
        """A name that refers to a module (or notebook) global in workflow code."""
        if name in self.global_decls:
            return True
        return name not in self.local_names and name not in self.local_imports and name in self.module.bound

    def _is_output_call(self, call: ast.Call) -> bool:
        name = self.qual(call.func)
        if name in _OUTPUT_CALLS or (name or "").startswith("logging."):
            return True
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _LOG_METHODS:
            receiver = _attr_chain(func.value) or _dotted(func.value) or []
            last = receiver[-1] if receiver else ""
            return "log" in last.lower()
        return False

    # -- classification

    def _classify(self, call: ast.Call) -> list[_Hit]:
        func = call.func
        name = self.qual(func)
        shown = _short(func)
        plain = name is None or name in (shown, f"builtins.{shown}") or (name.endswith(f".{shown}") and "." in shown)
        what = f"`{shown}()`" if plain else f"`{shown}()` ({name})"
        if name is not None:
            hit = self._classify_qualified(call, name, what)
            if hit is not None:
                return [hit]
            if name == "asyncio.to_thread" and call.args:
                return self._classify_deferred(call, call.args[0], call.args[1:])
        if isinstance(func, ast.Attribute):
            chain = _attr_chain(func)
            if any(tuple(chain[-len(s) :]) == s for s in _LLM_SUFFIXES):
                return [_hit("ND401", what, callee=shown)]
            if func.attr == "open" and self._is_path(func.value):
                mode = call.args[0] if call.args else None
                return [_hit("ND301", what)] if _mode_reads(mode, call) else []
            if func.attr in _ANY_RECEIVER_READS or (func.attr in _PATH_IO and self._is_path(func.value)):
                return [_hit("ND301", what)]
            if func.attr == "run_in_executor" and len(call.args) >= 2:
                return self._classify_deferred(call, call.args[1], call.args[2:])
            if func.attr in _HTTP_METHODS and self._is_http(func.value):
                return [_hit("ND321", what)]
            if func.attr == "time" and self._is_loop(func.value):
                return [_hit("ND102", what)]
        if (
            isinstance(func, ast.Name)
            and func.id in self.module.functions
            and func.id not in self.local_names
            and func.id not in self.local_imports
            and func.id not in self.stack
        ):
            return self._helper_hits(func.id)
        return []

    def _classify_qualified(self, call: ast.Call, name: str, what: str) -> _Hit | None:
        nargs = len(call.args) + len(call.keywords)
        if name in _WALL_CLOCK or (name in _WALL_CLOCK_NOARG and nargs == 0):
            return _hit("ND101", what)
        if name == "time.strftime" and len(call.args) < 2 and not call.keywords:
            return _hit("ND101", what)
        if name in _MONOTONIC:
            return _hit("ND102", what)
        if name in _NOW:
            return _hit("ND103", what)
        if name in _SEEDED_CTORS:
            first = (
                call.args[0] if call.args else next((k.value for k in call.keywords if k.arg in ("seed", "x")), None)
            )
            if first is None or (isinstance(first, ast.Constant) and first.value is None):
                return _hit("ND202" if name.startswith("numpy.") else "ND201", what + " without a seed")
            return None
        if name.startswith("random.") and name[len("random.") :] in _RANDOM_FUNCS:
            return _hit("ND201", what)
        if name.startswith("numpy.random.") and name.count(".") == 2:
            if name.rsplit(".", 1)[1] not in _NUMPY_QUIET:
                return _hit("ND202", what)
            return None
        if name in _TORCH_RANDOM:
            return _hit("ND202", what)
        if name.startswith("secrets.") and name != "secrets.compare_digest":
            return _hit("ND203", what)
        if name in _ENTROPY:
            return _hit("ND204", what)
        if name in _UUIDS:
            return _hit("ND205", what)
        if name in _OPENERS:
            return _hit("ND301", what) if self._open_reads(call) else None
        if name in _FILE_READS or name.startswith("pandas.read_"):
            return _hit("ND301", what)
        if name in _ENV_CALLS:
            return _hit("ND311", what)
        if name in _IDENTITY:
            return _hit("ND312", what)
        if name in _NETWORK:
            return _hit("ND321", what)
        if name in _SUBPROCESS or name.startswith(_SUBPROCESS_PREFIXES):
            return _hit("ND331", what)
        if name in _LLM_QUAL:
            return _hit("ND401", what, callee=_short(call.func))
        return None

    @staticmethod
    def _open_reads(call: ast.Call) -> bool:
        return _mode_reads(call.args[1] if len(call.args) > 1 else None, call)

    def _classify_deferred(self, call: ast.Call, fn: ast.expr, args: list[ast.expr]) -> list[_Hit]:
        """`asyncio.to_thread(fn, ...)` and `loop.run_in_executor(None, fn, ...)` call fn right now."""
        if not isinstance(fn, (ast.Name, ast.Attribute)):
            return []
        synthetic = ast.Call(func=fn, args=args, keywords=[k for k in call.keywords if k.arg is not None])
        ast.copy_location(synthetic, call)
        return self._classify(synthetic)

    def _helper_hits(self, name: str) -> list[_Hit]:
        ref = self.module.functions[name]
        hits: list[_Hit] = []
        seen: set[str] = set()
        for finding in self.module.summary(name, self.stack):
            if finding.code in seen:
                continue
            seen.add(finding.code)
            where = f"line {finding.line}"
            if ref.src.cell is not None and ref.src.cell != self.src.cell:
                where += f" of cell {ref.src.cell}"
            message = f"`{name}()` runs here as workflow code, outside a step; at {where} in it: {finding.message}"
            hint = f'call it through step.run("...", {name}, ...) so its result is journaled, or there: {finding.hint}'
            hits.append(_Hit(finding.code, message, hint, f"`{name}()`"))
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
                found.extend(h.label for h in self._classify(node))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in self.tainted:
                    found.append(f"`{node.id}` ({self.tainted[node.id]})")
                elif self.qual(node) in _ENV_OBJECTS:
                    found.append("`os.environ`")
                elif node.id in self.bumped_cell_names:
                    found.append(f"notebook variable `{node.id}`, changed by this cell")
                elif self._module_global(node.id) and (
                    node.id in self.global_decls or node.id in self.module.runtime_written
                ):
                    found.append(f"global `{node.id}`, changed at run time")
                elif self._module_global(node.id) and node.id in self.module.import_time:
                    found.append(f"`{node.id}` (set at import from {self.module.import_time[node.id][0].label})")
            elif isinstance(node, ast.Attribute) and self.qual(node) in _ENV_OBJECTS:
                found.append("`os.environ`")
                continue
            stack.extend(ast.iter_child_nodes(node))
        return found

    # -- emitting

    def _emit_at(self, code: str, node: ast.AST, what: str, *, callee: str = "", hint: str = "") -> None:
        hit = _hit(code, what, callee=callee)
        self._emit_hit(dataclasses.replace(hit, hint=hint) if hint else hit, node)

    def _emit_hit(self, hit: _Hit, node: ast.AST) -> None:
        if self._output and hit.code in _VALUE_CODES:
            return
        line = getattr(node, "lineno", 1)
        col = self.src.col(line, getattr(node, "col_offset", 0))
        self._add(hit.code, line, col, hit.message, hit.hint)

    def _add(self, code: str, line: int, col: int, message: str, hint: str) -> None:
        self.findings.append(Finding(code, line, col, message, hint, self.src.cell, self.src.path))

    # -- binding bookkeeping

    def _bind(self, target: ast.expr, value: ast.expr | None, sources: list[str]) -> None:
        names = _target_names(target)
        single = isinstance(target, ast.Name)
        for name in names:
            if sources:
                self.tainted[name] = sources[0].strip("`") if len(sources) == 1 else f"{sources[0].strip('`')}, ..."
            else:
                self.tainted.pop(name, None)
            self.set_vars.pop(name, None)
            self.path_vars.discard(name)
            self.http_vars.discard(name)
            self.loop_vars.discard(name)
        if single and value is not None:
            name = names[0]
            if self._set_desc(value) is not None:
                self.set_vars[name] = f"`{name}`"
            if self._is_path(value):
                self.path_vars.add(name)
            if isinstance(value, ast.Call) and self.qual(value.func) in _HTTP_CLIENTS:
                self.http_vars.add(name)
            if isinstance(value, ast.Call) and self.qual(value.func) in _LOOP_GETTERS:
                self.loop_vars.add(name)

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
            and name not in _BUILTINS
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
            self.global_decls = saved | _globals_declared(node.body)
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
        names = [n for t in node.targets for n in _target_names(t)]
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
            reads_itself = any(isinstance(n, ast.Name) and n.id == name for n in _walk_no_lambda(node.value))
            if reads_itself and self._cell_unbound(name):
                self.bumped_cell_names.add(name)
                self._emit_at(
                    "ND601",
                    node.targets[0],
                    f"this cell rebinds notebook variable `{name}` from its own value",
                    hint=_CELL_STATE_HINT,
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
        self.visit(node.target)
        self.bound_so_far.update(_target_names(node.target))

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
                    hint=_CELL_STATE_HINT,
                )
            sources = self._sources(node.value)
            if sources:
                self.tainted[target.id] = sources[0].strip("`")
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            name = target.value.id
            if self._is_global_container(name):
                self._changed_globals.add(name)
                self._receivers.add(id(target.value))
                self._emit_at("ND602", target, f"{self.subject} updates an item of {self.scope} `{name}`")
            elif self._cell_unbound(name):
                self._receivers.add(id(target.value))
                self._emit_at(
                    "ND602", target, f"this cell updates an item of notebook variable `{name}`", hint=_CELL_STATE_HINT
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
        self._check_iteration(node.iter)
        self.visit(node.iter)
        self._store_checks(node.target, node)
        self._bind(node.target, None, self._sources(node.iter))
        self.bound_so_far.update(_target_names(node.target))
        self.visit(node.target)
        for stmt in (*node.body, *node.orelse):
            self.visit(stmt)

    def visit_With(self, node: ast.With) -> None:
        self._visit_with(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._visit_with(node)

    def _visit_with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind(item.optional_vars, item.context_expr, self._sources(item.context_expr))
                self.bound_so_far.update(_target_names(item.optional_vars))
                self.visit(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        self.bound_so_far.update(local for local, _ in _import_bindings(node))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.bound_so_far.update(local for local, _ in _import_bindings(node))

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
        if isinstance(expr, ast.Call) and self.qual(expr.func) in {*_ITER_WRAPPERS, "builtins.map", "builtins.filter"}:
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
        if self._is_output_call(node):
            self.visit(node.func)
            self._output += 1
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self.visit(arg)
            self._output -= 1
            return
        name = self.qual(node.func)
        if name in _ORDER_FREE:
            self._ok_ids.update(id(arg) for arg in node.args)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            receiver = func.value.id
            if func.attr in _MUTATORS and self._is_global_container(receiver):
                self._changed_globals.add(receiver)
                self._receivers.add(id(func.value))
                self._emit_at("ND602", node, f"{self.subject} changes {self.scope} `{receiver}` (.{func.attr})")
            elif func.attr in _CELL_MUTATORS and self._cell_unbound(receiver):
                self._receivers.add(id(func.value))
                self._emit_at(
                    "ND602",
                    node,
                    f"this cell changes notebook variable `{receiver}` (.{func.attr}), defined outside the cell",
                    hint=_CELL_STATE_HINT,
                )
        for hit in self._classify(node):
            self._emit_hit(hit, node)
        self._check_conversion(node, name)
        self.generic_visit(node)

    def _check_conversion(self, node: ast.Call, name: str | None) -> None:
        if id(node) in self._handled_ids or id(node) in self._ok_ids:
            return
        func = node.func
        if name in _ITER_WRAPPERS | {"builtins.reversed"}:
            for arg in node.args:
                desc = self._set_desc(arg)
                if desc is not None:
                    self._emit_at("ND502", node, f"`{_short(node)}` turns the set {desc} into an ordered value")
                    return
        elif isinstance(func, ast.Attribute) and func.attr == "join" and len(node.args) == 1:
            desc = self._set_desc(node.args[0])
            if desc is not None:
                self._emit_at("ND502", node, f"`{_short(node)}` turns the set {desc} into an ordered string")
        elif isinstance(func, ast.Attribute) and func.attr == "pop" and not node.args:
            desc = self._set_desc(func.value)
            if desc is not None:
                self._emit_at("ND502", node, f"`{_short(node)}` takes an arbitrary element of the set {desc}")

    def _visit_step_call(self, node: ast.Call, method: str) -> None:
        name_arg, rest = self._split_step_call(node, method)
        if name_arg is not None:
            self.visit(name_arg)
            self._check_step_name(name_arg)
        callable_args = method in _CALLABLE_STEP_METHODS
        self._step_args += callable_args
        for arg in rest:
            self.visit(arg)
        self._step_args -= callable_args

    def _check_step_name(self, expr: ast.expr) -> None:
        if isinstance(expr, ast.Constant):
            return
        sources = self._sources(expr)
        if sources:
            self._emit_at("ND701", expr, ", ".join(dict.fromkeys(sources)))
        for sub in _walk_no_lambda(expr):
            if isinstance(sub, ast.Call) and self.qual(sub.func) in ("builtins.id", "builtins.hash"):
                self._emit_at("ND702", expr, f"`{_short(sub)}`")
                break

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load) and self.qual(node) in _ENV_OBJECTS:
            self._emit_at("ND311", node, f"`{_short(node)}`")
            return
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load) and self.qual(node.value) in _ENV_OBJECTS:
            self.visit(node.slice)  # writing the environment is not reading it
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        if self.qual(node) in _ENV_OBJECTS:
            self._emit_at("ND311", node, f"`{node.id}` (os.environ)")
            return
        if (
            node.id in self.module.import_time
            and node.id not in self._import_time_reported
            and self._module_global(node.id)
            and node.id not in self.global_decls
        ):
            hit, line, cell = self.module.import_time[node.id]
            where = f"line {line}" if cell is None or cell == self.src.cell else f"line {line} of cell {cell}"
            message = (
                f"reads `{node.id}`, set when the module was imported from {hit.label} ({where}): a restarted "
                f"kernel or process imports it again and gets another value, so replay differs from the "
                f"original run"
            )
            hint = (
                "make the value inside the workflow with step.now() / step.uuid() / step.random(), or inside a "
                "step.run(...) callable, instead of at import"
            )
            before = len(self.findings)
            self._emit_hit(_Hit(hit.code, message, hint, f"`{node.id}`"), node)
            if len(self.findings) > before:
                self._import_time_reported.add(node.id)
        if (
            not self.cell_mode
            and not self._output
            and id(node) not in self._receivers
            and node.id in self.module.runtime_written
            and self._module_global(node.id)
        ):
            self._global_reads.setdefault(node.id, node)


# -- public API ---------------------------------------------------------------------------------------


def lint(source: str, *, filename: str = "<source>") -> list[Finding]:
    """Findings in Python source (its ``@nd.function`` workflows) or in a ``%%durable`` cell.

    A source whose first line is ``%%durable ...`` is read as a cell. So is a cell body given
    without that line, recognised by its use of ``step`` or top-level ``await`` when the
    source defines no workflow. Raises LintError when the source does not parse.
    """
    with _too_deep(filename):
        return _lint_text(_Source(source, filename))


def lint_cell(cell_source: str) -> list[Finding]:
    """Findings in one notebook cell whose first line is ``%%durable NAME``; [] for any other cell."""
    if not _is_durable(cell_source):
        return []
    with _too_deep("<cell>"):
        return _lint_durable(_Source(cell_source, "<cell>"), _Module())


def lint_path(path: str | os.PathLike[str]) -> list[Finding]:
    """Findings in a ``.py`` file or a ``.ipynb`` notebook; raises LintError if it cannot be read."""
    shown = os.fspath(path)
    p = Path(shown)
    if p.suffix not in (".py", ".ipynb"):
        raise LintError(f"{shown}: cannot lint, only .py files and .ipynb notebooks are supported.", path=shown)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise LintError(f"{shown}: cannot lint, no such file. Check the path.", path=shown) from exc
    except IsADirectoryError as exc:
        raise LintError(f"{shown}: cannot lint, it is a directory. Give .py or .ipynb files.", path=shown) from exc
    except UnicodeDecodeError as exc:
        raise LintError(f"{shown}: cannot lint, the file is not UTF-8 text ({exc.reason}).", path=shown) from exc
    except OSError as exc:
        raise LintError(f"{shown}: cannot lint, the file cannot be read: {exc.strerror or exc}.", path=shown) from exc
    with _too_deep(shown):
        if p.suffix == ".ipynb":
            return _lint_notebook(text, shown)
        return _lint_text(_Source(text, shown, path=shown))


@contextlib.contextmanager
def _too_deep(where: str) -> Iterator[None]:
    """Turn a RecursionError on absurdly nested code (the walk is recursive) into a LintError."""
    try:
        yield
    except RecursionError as exc:
        raise LintError(
            f"{where}: cannot lint, the code is nested too deeply to analyse. Split the expression up.", path=None
        ) from exc


def _lint_text(src: _Source) -> list[Finding]:
    if _is_durable(src.text):
        return _lint_durable(src, _Module())
    tree = _parse(src.text, src)
    module = _Module.build([(tree, src)])
    if not module.workflows and _looks_like_cell_body(tree, module):
        return _Analyzer(_Module(), src, tree, cell_mode=True).run()
    findings: list[Finding] = []
    for ref in module.workflows:
        findings.extend(_Analyzer(module, ref.src, ref.node, cell_mode=False).run())
    return sorted(findings, key=lambda f: (f.line, f.col, f.code))


def _lint_durable(src: _Source, module: _Module, tree: ast.Module | None = None) -> list[Finding]:
    if tree is None:
        tree = _parse_cell(src)
    return _Analyzer(module, src, tree, cell_mode=True).run()


def _parse_cell(src: _Source) -> ast.Module:
    """Parse a %%durable cell's body, keeping its line numbers (the magic line is blanked)."""
    text = _blank_magic_line(src.text)
    try:
        return _parse_lenient(text, src)
    except LintError as exc:
        cause = exc.__cause__
        if not (isinstance(cause, SyntaxError) and "outside function" in (cause.msg or "")):
            raise
    # A `return` in the body: parse it as the body of an async def, as the runtime runs it.
    # One space of indentation keeps every column but one; _Source.col takes it back.
    text, shell = _neutralize_magics(text)
    magic = src.text[: src.text.index("%%durable")].count("\n")
    lines = text.split("\n")
    wrapped = [*lines[:magic], "async def __nd_cell__():", *(" " + line for line in lines[magic + 1 :])]
    src.shift_from = magic + 2
    src.shell_lines = shell
    fn = _parse("\n".join(wrapped), src).body[-1]
    assert isinstance(fn, ast.AsyncFunctionDef)
    return ast.Module(body=fn.body, type_ignores=[])


def _looks_like_cell_body(tree: ast.Module, module: _Module) -> bool:
    """A %%durable body passed without its magic line: it uses `step` or awaits at top level."""
    for node in _walk_no_lambda(tree):
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
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise LintError(f"{path}: cannot lint, this JSON has no `cells` list, so it is not a notebook.", path=path)
    plain: list[tuple[ast.Module, _Source]] = []
    durable: list[tuple[ast.Module, _Source]] = []
    for index, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else raw
        if not isinstance(source, str):
            raise LintError(f"{path}: cannot lint, cell {index} has a source that is not text.", path=path)
        src = _Source(source, path, cell=index, path=path)
        if _is_durable(source):
            durable.append((_parse_cell(src), src))
            continue
        if source.lstrip().startswith("%%"):
            continue  # another cell magic: its body is not Python run by this kernel
        try:
            plain.append((_parse_lenient(source, src), src))
        except LintError:
            if ".function(" in source or "@function" in source:
                raise  # it may define a workflow we cannot check
    module = _Module.build(plain, [tree for tree, _ in durable])
    findings: list[Finding] = []
    for ref in module.workflows:
        findings.extend(_Analyzer(module, ref.src, ref.node, cell_mode=False).run())
    for tree, src in durable:
        findings.extend(_lint_durable(src, module, tree))
    return sorted(findings, key=lambda f: (f.cell or 0, f.line, f.col, f.code))
