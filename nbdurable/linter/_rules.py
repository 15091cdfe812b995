"""The rule tables: codes, what counts as a clock read, randomness, I/O..., and what each finding says.

Everything the linter knows about the outside world lives here, apart from the code that
walks the syntax tree, so a new source of nondeterminism is one line in one table.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass


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


WALL_CLOCK = {"time.time", "time.time_ns"}
# These read the clock only when called without a time argument.
WALL_CLOCK_NOARG = {"time.localtime", "time.gmtime", "time.ctime", "time.asctime"}
MONOTONIC = {
    f"time.{name}{suffix}"
    for name in ("monotonic", "perf_counter", "process_time", "thread_time")
    for suffix in ("", "_ns")
}
NOW = {
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
LOOP_GETTERS = {"asyncio.get_event_loop", "asyncio.get_running_loop"}
RANDOM_FUNCS = _words(
    "random uniform triangular randint randrange choice choices shuffle sample gauss normalvariate "
    "lognormvariate expovariate vonmisesvariate gammavariate betavariate paretovariate weibullvariate "
    "getrandbits randbytes binomialvariate"
)
# numpy.random names that do not draw: seeding, state, and generator constructors (checked apart).
NUMPY_QUIET = {"seed", "get_state", "set_state", "Generator", "BitGenerator"}
SEEDED_CTORS = {
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
TORCH_RANDOM = {
    f"torch.{name}"
    for name in _words(
        "rand randn randint randperm rand_like randn_like randint_like multinomial normal bernoulli poisson"
    )
}
ENTROPY = {"os.urandom", "os.getrandom", "random.SystemRandom"}
UUIDS = {"uuid.uuid1", "uuid.uuid4", "uuid.uuid6", "uuid.uuid7"}
FILE_READS = _words(
    "os.listdir os.scandir os.walk os.stat os.lstat os.path.exists os.path.lexists os.path.isfile os.path.isdir "
    "os.path.islink os.path.getsize os.path.getmtime os.path.getctime os.path.getatime glob.glob glob.iglob "
    "numpy.load numpy.loadtxt numpy.genfromtxt numpy.fromfile"
)
OPENERS = {"builtins.open", "io.open", "codecs.open"}
ENV_CALLS = {"os.getenv", "os.getenvb"}
ENV_OBJECTS = {"os.environ", "os.environb"}
IDENTITY = _words(
    "os.getpid os.getppid os.getlogin socket.gethostname platform.node getpass.getuser threading.get_ident "
    "threading.get_native_id"
)
HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
NETWORK = (
    {f"requests.{verb}" for verb in HTTP_VERBS}
    | {f"httpx.{verb}" for verb in (*HTTP_VERBS, "stream")}
    | _words(
        "urllib.request.urlopen urllib.request.urlretrieve urllib3.request socket.socket socket.create_connection "
        "socket.getaddrinfo socket.gethostbyname socket.gethostbyname_ex socket.gethostbyaddr "
        "http.client.HTTPConnection http.client.HTTPSConnection aiohttp.request websockets.connect "
        "asyncio.open_connection smtplib.SMTP smtplib.SMTP_SSL ftplib.FTP"
    )
)
# Constructing these is harmless; calling their request methods is network I/O.
HTTP_CLIENTS = _words(
    "httpx.Client httpx.AsyncClient requests.Session requests.session aiohttp.ClientSession urllib3.PoolManager"
)
HTTP_METHODS = {*HTTP_VERBS, "send", "stream", "fetch", "ws_connect"}
SUBPROCESS = _words(
    "subprocess.run subprocess.call subprocess.check_call subprocess.check_output subprocess.Popen "
    "subprocess.getoutput subprocess.getstatusoutput os.system os.popen asyncio.create_subprocess_exec "
    "asyncio.create_subprocess_shell pty.spawn"
)
SUBPROCESS_PREFIXES = ("os.spawn", "os.exec", "os.posix_spawn")
LLM_QUAL = _words(
    "litellm.completion litellm.acompletion litellm.embedding litellm.aembedding litellm.responses "
    "litellm.aresponses ollama.chat ollama.generate"
)
# Attribute chains that end a model call on the openai / anthropic / google clients.
LLM_SUFFIXES: tuple[tuple[str, ...], ...] = (
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
PATH_CTORS = {"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"}
PATH_DERIVING = {"joinpath", "with_name", "with_suffix", "with_stem", "expanduser", "absolute", "resolve"}
PATH_IO = _words(
    "open exists is_file is_dir is_symlink stat lstat iterdir glob rglob walk readlink samefile owner group"
)
ANY_RECEIVER_READS = {"read_text", "read_bytes"}

# Iterating through these iterates their argument(s) in order.
ITER_WRAPPERS = {"builtins.enumerate", "builtins.zip", "builtins.iter", "builtins.list", "builtins.tuple"}
# A comprehension or list given straight to these does not leak its order.
ORDER_FREE = {
    *(f"builtins.{name}" for name in _words("sorted len sum min max any all set frozenset")),
    "collections.Counter",
}
CONTAINER_CTORS = {
    "builtins.list": "list",
    "builtins.dict": "dict",
    "builtins.set": "set",
    "collections.defaultdict": "dict",
    "collections.OrderedDict": "dict",
    "collections.Counter": "dict",
    "collections.deque": "deque",
}
MUTATORS = _words(
    "append extend insert remove pop popitem clear update add discard setdefault sort reverse appendleft "
    "extendleft popleft rotate difference_update intersection_update symmetric_difference_update"
)
# On a notebook variable of unknown type only these surely accumulate across replays.
CELL_MUTATORS = {"append", "extend", "insert", "appendleft", "extendleft"}
SET_METHODS = {"union", "intersection", "difference", "symmetric_difference", "copy"}
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
OUTPUT_CALLS = _words("builtins.print display IPython.display.display warnings.warn sys.stdout.write sys.stderr.write")
# Values that change nothing on replay when they only reach print or logging.
VALUE_CODES = _words("ND101 ND102 ND103 ND201 ND202 ND203 ND204 ND205 ND301 ND311 ND312 ND501 ND502 ND603")
CELL_STATE_HINT = (
    "create it in this cell (e.g. `results = []` above the loop) so every replay starts from the same value, "
    "or keep the value in a step result"
)
NAMED_STEP_METHODS = {"run", "sleep", "sleep_until", "wait_for_event", "send_event", "invoke", "ai.infer", "ai.wrap"}
CALLABLE_STEP_METHODS = {"run", "ai.wrap"}
STEP_METHODS = NAMED_STEP_METHODS | {"now", "uuid", "random"}
STEP_NAME_KEYWORDS = ("name", "step_id", "id")

# Names a notebook usually imports in another cell; resolved when nothing else binds them.
FALLBACK: dict[str, str] = {
    name: name
    for name in _words(
        "time datetime random uuid os secrets requests httpx urllib urllib3 socket subprocess numpy pandas asyncio "
        "pathlib glob io platform getpass aiohttp litellm ollama torch arrow pendulum logging warnings sys "
        "threading collections nbdurable codecs"
    )
}
FALLBACK.update(
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
BUILTINS = frozenset(vars(builtins))


MESSAGES: dict[str, tuple[str, str]] = {
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
class Hit:
    """A nondeterministic call found by the classifier, before it becomes a finding."""

    code: str
    message: str
    hint: str
    label: str  # short form, used when the value ends up in a step name


def make_hit(code: str, what: str, *, callee: str = "") -> Hit:
    message, hint = MESSAGES[code]
    return Hit(code, message.format(what=what), hint.format(callee=callee), what)
