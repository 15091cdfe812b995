"""The rule tables: codes, what counts as a clock read, randomness, I/O..., and what each finding says.

Everything the linter knows about the outside world lives here, apart from the code that
walks the syntax tree, so a new source of nondeterminism is one line in one table.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import NamedTuple


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
    "ND206": "hash() of text or of objects holding it (salted per process unless PYTHONHASHSEED is fixed)",
    "ND301": "file or directory read (open, Path.read_text, os.listdir, pandas.read_csv, Image.open ...)",
    "ND311": "environment read (os.environ, os.getenv, aliases such as getenv = os.environ.get)",
    "ND312": "process, host or locale facts (os.getpid, socket.gethostname, locale.getlocale, os.getcwd ...)",
    "ND321": "network call (requests, httpx, urllib, socket, aiohttp ...)",
    "ND322": "database or service client call (sqlite3, psycopg, redis, boto3, sqlalchemy, SDK clients ...)",
    "ND331": "subprocess or shell command (subprocess.*, os.system, !cmd)",
    "ND341": "interactive input (input(), getpass.getpass, sys.stdin)",
    "ND401": "LLM client call outside step.ai (.chat.completions.create, .messages.create ...)",
    "ND501": "iteration over a set (order of strings changes between processes)",
    "ND502": "set turned into an ordered value (list(s), tuple(s), ''.join(s), s.pop(), next(iter(s)) ...)",
    "ND503": "completion order (asyncio.as_completed, asyncio.wait FIRST_COMPLETED or timeout, done callbacks)",
    "ND601": "module or notebook global rebound or bumped by workflow code",
    "ND602": "module or notebook container changed by workflow code",
    "ND603": "module global read by workflow code and changed at run time elsewhere",
    "ND604": "module-level stateful object advanced by workflow code (seeded random.Random, itertools.count ...)",
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
    "numpy.load numpy.loadtxt numpy.genfromtxt numpy.fromfile os.access os.readlink os.path.realpath "
    "os.path.samefile shutil.disk_usage shutil.which filecmp.cmp filecmp.dircmp PIL.Image.open torch.load "
    "joblib.load zipfile.ZipFile tarfile.open h5py.File pyarrow.parquet.read_table pyarrow.csv.read_csv "
    "imageio.imread imageio.v3.imread cv2.imread soundfile.read librosa.load"
)
# Every function of these reads files, except the database readers below.
FILE_READ_PREFIXES = ("pandas.read_", "polars.read_", "polars.scan_")
OPENERS = {"builtins.open", "io.open", "codecs.open"}
ENV_CALLS = {"os.getenv", "os.getenvb"}
ENV_OBJECTS = {"os.environ", "os.environb"}
ENV_METHOD_PREFIXES = ("os.environ.", "os.environb.")  # os.environ.get(...), or `getenv = os.environ.get`
IDENTITY = _words(
    "os.getpid os.getppid os.getlogin socket.gethostname platform.node getpass.getuser threading.get_ident "
    "threading.get_native_id os.getcwd os.getcwdb os.cpu_count os.process_cpu_count os.getuid os.geteuid os.getgid "
    "os.getegid os.getgroups os.uname os.getloadavg os.times os.get_terminal_size shutil.get_terminal_size "
    "multiprocessing.cpu_count locale.getlocale locale.getdefaultlocale locale.getpreferredencoding "
    "locale.getencoding locale.localeconv locale.nl_langinfo platform.uname platform.system platform.release "
    "platform.version platform.machine platform.processor platform.platform tzlocal.get_localzone "
    "resource.getrusage os.sched_getaffinity pathlib.Path.cwd pathlib.Path.home"
)
IDENTITY_PREFIXES = ("psutil.",)
# Attributes (not calls) that hold facts of the process or host.
PROCESS_ATTRS = _words("sys.argv time.timezone time.altzone time.tzname time.daylight")
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
USER_INPUT = _words(
    "builtins.input getpass.getpass click.prompt click.confirm typer.prompt typer.confirm rich.prompt.Prompt.ask "
    "rich.prompt.Confirm.ask rich.prompt.IntPrompt.ask rich.prompt.FloatPrompt.ask questionary.text "
    "questionary.select questionary.confirm questionary.checkbox"
)
USER_INPUT_PREFIXES = ("sys.stdin.",)
HASHES = {"builtins.hash"}
# Constructors whose arguments only say how many things run at once: a host fact there (os.cpu_count()) is fine.
CONCURRENCY_SIZERS = _words(
    "asyncio.Semaphore asyncio.BoundedSemaphore threading.Semaphore threading.BoundedSemaphore "
    "concurrent.futures.ThreadPoolExecutor concurrent.futures.ProcessPoolExecutor multiprocessing.Pool "
    "anyio.Semaphore anyio.CapacityLimiter"
)
# Builtins that always return a number (or raise): hash() of what they return is the same in every process.
NUMBER_FUNCS = _words("builtins.len builtins.int builtins.ord builtins.round builtins.float builtins.bool builtins.abs")
# Work handed out in the order it finishes.
COMPLETION_ORDER = _words("asyncio.as_completed concurrent.futures.as_completed")
# These return sets of tasks; with return_when other than ALL_COMPLETED, or a timeout, which tasks are in
# them depends on timing too.
WAITERS = _words("asyncio.wait concurrent.futures.wait")
COMPLETION_METHODS = {"add_done_callback"}
# Deadlines around steps: the original run may have timed out where a replay (journaled, instant) does not.
TIMEOUT_WRAPPERS = {"asyncio.wait_for"}
TIMEOUT_CONTEXTS = _words(
    "asyncio.timeout asyncio.timeout_at async_timeout.timeout anyio.fail_after anyio.move_on_after"
)
# Generators and iterators made at module level remember where they are between runs in one process.
ITERATOR_CTORS = _words(
    "itertools.count itertools.cycle itertools.islice itertools.chain builtins.iter builtins.enumerate "
    "builtins.zip builtins.map builtins.filter builtins.reversed"
)

# -- modules that talk to databases and services


class IOModule(NamedTuple):
    """A client library whose calls do I/O: functions and client methods, apart from the listed exceptions.

    ``lazy`` names build a client without I/O (its methods do I/O); ``quiet`` names (and
    submodules) do no I/O at all; ``io`` names are classes whose construction already does
    I/O. Other classes are taken as lazy clients, other functions as I/O. Exception classes
    (``...Error``, ``...Exception``, ``...Warning``) are quiet.
    """

    code: str
    lazy: frozenset[str] = frozenset()
    quiet: frozenset[str] = frozenset()
    io: frozenset[str] = frozenset()


def _db(lazy: str = "", quiet: str = "", io: str = "", code: str = "ND322") -> IOModule:
    return IOModule(code, _words(lazy), _words(quiet), _words(io))


# The curated table of client libraries (module prefix -> what its calls do). A call of one of their
# functions, or of a method of a client one of them returned, is I/O outside a step.
IO_MODULES: dict[str, IOModule] = {
    "sqlite3": _db(quiet="register_adapter register_converter complete_statement adapt"),
    "aiosqlite": _db(),
    "psycopg": _db(quiet="sql rows types pq errors adapt"),
    "psycopg2": _db(quiet="sql extras extensions errorcodes errors"),
    "psycopg_pool": _db(),
    "asyncpg": _db(),
    "pymysql": _db(quiet="cursors converters escape_string"),
    "MySQLdb": _db(),
    "mysql.connector": _db(),
    "aiomysql": _db(),
    "oracledb": _db(),
    "cx_Oracle": _db(),
    "pyodbc": _db(),
    "snowflake.connector": _db(),
    "duckdb": _db(quiet="typing"),
    "clickhouse_connect": _db(lazy="get_client"),
    "sqlalchemy": _db(
        lazy="create_engine create_async_engine engine_from_config orm.sessionmaker orm.Session orm.scoped_session "
        "ext.asyncio.create_async_engine ext.asyncio.async_sessionmaker ext.asyncio.AsyncSession",
        quiet="text select insert update delete values func and_ or_ not_ literal literal_column column table "
        "bindparam case cast null true false desc asc distinct exists over join outerjoin union union_all "
        "tuple_ schema types sql orm.relationship orm.mapped_column orm.declarative_base orm.DeclarativeBase "
        "orm.Mapped orm.selectinload orm.joinedload orm.aliased event inspect",
    ),
    "redis": _db(lazy="from_url asyncio.from_url", quiet="exceptions commands"),
    "pymongo": _db(quiet="errors ASCENDING DESCENDING"),
    "motor": _db(),
    "elasticsearch": _db(quiet="helpers.expand_action"),
    "opensearchpy": _db(),
    "cassandra": _db(quiet="query"),
    "neo4j": _db(lazy="GraphDatabase.driver AsyncGraphDatabase.driver"),
    "chromadb": _db(lazy="HttpClient PersistentClient Client EphemeralClient"),
    "pinecone": _db(),
    "qdrant_client": _db(quiet="models http.models"),
    "weaviate": _db(lazy="connect_to_local connect_to_custom connect_to_weaviate_cloud", quiet="classes"),
    "lancedb": _db(),
    "boto3": _db(lazy="client resource session.Session", quiet="set_stream_logger setup_default_session"),
    "aioboto3": _db(lazy="Session"),
    "botocore": _db(lazy="session.get_session", quiet="exceptions config"),
    "s3fs": _db(),
    "gcsfs": _db(),
    "google.cloud": _db(quiet="exceptions"),
    "azure": _db(quiet="core.exceptions core.credentials identity"),
    "firebase_admin": _db(lazy="initialize_app get_app", quiet="credentials"),
    "kafka": _db(),
    "confluent_kafka": _db(),
    "aiokafka": _db(),
    "pika": _db(lazy="ConnectionParameters URLParameters PlainCredentials BasicProperties"),
    "nats": _db(),
    "stripe": _db(),
    "slack_sdk": _db(),
    "github": _db(quiet="Auth"),
    "jira": _db(),
    "notion_client": _db(),
    "openai": _db(quiet="types pydantic_function_tool"),
    "anthropic": _db(quiet="types"),
    "paramiko": _db(code="ND321"),
    # LLM frameworks: their model objects are clients whose calls (invoke, ainvoke, stream, batch,
    # embed_documents ...) are model calls.
    **{
        name: _db(code="ND401")
        for name in _words(
            "langchain_openai langchain_anthropic langchain_google_genai langchain_google_vertexai langchain_ollama "
            "langchain_mistralai langchain_groq langchain_aws langchain_cohere langchain_fireworks langchain_together "
            "langchain_community.chat_models langchain_community.llms langchain_community.embeddings"
        )
    },
    "langchain.chat_models": _db(code="ND401", lazy="init_chat_model"),
}
_IO_FIRST = frozenset(name.split(".")[0] for name in IO_MODULES)


def io_call_kind(name: str) -> tuple[str, str] | None:
    """``(code, kind)`` for a call of ``name`` into a client library of IO_MODULES, else None.

    ``kind`` is "io" (the call does I/O and returns a client), "lazy" (builds a client
    without I/O) or "quiet" (no I/O at all).
    """
    parts = name.split(".")
    if parts[0] not in _IO_FIRST:
        return None
    for n in range(len(parts) - 1, 0, -1):
        module = IO_MODULES.get(".".join(parts[:n]))
        if module is not None:
            break
    else:
        return None
    leaf = ".".join(parts[n:])
    last = parts[-1]
    if last.endswith(("Error", "Exception", "Warning")) or any(
        leaf == quiet or leaf.startswith(quiet + ".") for quiet in module.quiet
    ):
        return module.code, "quiet"
    if leaf in module.io:
        return module.code, "io"
    if leaf in module.lazy or last[:1].isupper():
        return module.code, "lazy"
    return module.code, "io"


# Database engines that also run in memory, in the process: `connect(":memory:")` does no I/O.
IN_MEMORY_CONNECTS = _words("sqlite3.connect aiosqlite.connect duckdb.connect")
# Methods of a client that build another client or do nothing outside the process.
HANDLE_QUIET_METHODS = _words(
    "close cursor pipeline pubsub get_paginator get_waiter bucket blob table Table Bucket Object collection "
    "get_collection database get_database with_options with_raw_response with_streaming_response copy "
    "bind bind_tools with_structured_output with_retry with_fallbacks with_config configurable_fields"
)
# Methods of a client whose result is a client too (a connection, a cursor, a result set to fetch from).
CLIENT_METHODS = HANDLE_QUIET_METHODS | _words("connect execute acquire begin session Session find aggregate")
# Database readers and writers that are functions of dataframe libraries.
DB_CALLS = _words(
    "pandas.read_sql pandas.read_sql_query pandas.read_sql_table pandas.read_gbq polars.read_database "
    "polars.read_database_uri"
)
DB_METHODS = {"to_sql", "to_gbq"}
# Sampling methods of dataframes: random unless given random_state (or seed).
SAMPLE_METHODS = {"sample"}
SAMPLE_SEEDS = {"random_state", "seed"}
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
SET_FUNCTIONS = {f"builtins.{kind}.{method}" for kind in ("set", "frozenset") for method in SET_METHODS}
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
    "ND206": (
        "{what} hashes a value whose hash is salted per process (str, bytes, and objects or tuples holding "
        "them, unless PYTHONHASHSEED is fixed): a replay in another process computes another number, so "
        "buckets, names or branches built from it differ",
        "use a stable digest, e.g. zlib.crc32(key.encode()) % n or int(hashlib.sha256(key.encode()).hexdigest(), 16)",
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
        "{what} reads a fact of this process, host or locale, which can be different after a restart or on "
        "the machine that resumes the run",
        "read it inside a step.run(...) callable so the value is journaled, or pass it in the event data",
    ),
    "ND321": (
        "{what} calls the network outside a step; it runs again on every replay and may answer differently",
        "wrap the call in step.run(name, fn, ...) so the response is journaled",
    ),
    "ND322": (
        "{what} calls a database or service outside a step: it runs again on every replay, so a read may "
        "answer differently and a write happens again",
        "move the call into a step.run(name, fn, ...) callable so its result is journaled and a write happens once",
    ),
    "ND331": (
        "{what} runs a subprocess outside a step; it runs again on every replay and may give other output",
        "wrap it in step.run(name, fn, ...) so the output is journaled",
    ),
    "ND341": (
        "{what} asks for input outside a step: every replay asks again and may get another answer, and a run "
        "resumed where no one is typing blocks",
        "ask through an event instead (await step.wait_for_event(...), answered with nd.send), or read the "
        "answer inside a step.run(...) callable so it is journaled",
    ),
    "ND401": (
        "{what} calls a model API outside step.ai: every replay calls the model again, pays again and gets "
        "another answer",
        'use step.ai.wrap("name", {callee}, ...) or step.ai.infer(...) so the response is journaled',
    ),
    "ND501": (
        "iterating over {what}, a set: its order follows hashes that change between processes (strings are "
        "salted, objects hash by address), so replay can reach steps in another order or with other inputs",
        "iterate over sorted(...) of it, or keep a list (dict.fromkeys(items) dedupes and keeps order)",
    ),
    "ND502": (
        "{what}; the order of a set of strings (or of objects) changes between processes, so the result "
        "differs on replay",
        "use sorted(...) of the set instead (or min/max for one element)",
    ),
    "ND503": (
        "{what} hands out work in the order (or by the time) it finishes: on replay the journaled steps "
        "finish at once and in another order, so what follows gets other inputs or takes another path",
        "await the steps with asyncio.gather(...), which returns results in the order given, and choose "
        "among the results in code; for a deadline use step.wait_for_event(..., timeout=...)",
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
    "ND604": (
        "{what}: its state depends on how many times workflow code already ran in this process, so a replay "
        "(or a run resumed in a new process) gets other values than the original run",
        "make it inside the workflow from a fixed seed or the event data (e.g. random.Random(seed)), or use "
        "step.random(), which is journaled",
    ),
    "ND701": (
        "step name built from {what}: on replay the name can differ, then the journaled result is not found "
        "and the step runs again",
        'build step names from stable data (constants, event fields, loop indexes), e.g. f"fetch-{{i}}"',
    ),
    "ND702": (
        "step name built from {what}, which differs between processes, so replay does not find the journaled step",
        "build step names from stable data (constants, event fields, loop indexes)",
    ),
}


class Hit(NamedTuple):
    """A nondeterministic call found by the classifier, before it becomes a finding."""

    code: str
    message: str
    hint: str
    label: str  # short form, used when the value ends up in a step name


def make_hit(code: str, what: str, *, callee: str = "") -> Hit:
    message, hint = MESSAGES[code]
    return Hit(code, message.format(what=what), hint.format(callee=callee), what)


def deadline_hit(what: str) -> Hit:
    """ND503 for a timeout around steps: the first run may have timed out where a replay cannot."""
    return Hit(
        "ND503",
        f"{what} has a deadline: the original run may have timed out there, while a replay answers the step from "
        "the journal at once and does not, so the run takes another path",
        "let the step itself give up (a timeout inside the step.run(...) callable, which raises and is journaled), "
        "or wait with step.wait_for_event(..., timeout=...), which is durable",
        what,
    )
