"""The SQLite journal's file: its schema and migrations, the SQL it runs, how values sit in rows.

Also what reads a journal file without the journal class: the default path, a
read-only connection and the unfinished runs (the doctor's), and the recovery hint
that names ``python -m nbdurable doctor``. ``_sqlite`` (SQLiteJournal) builds on it.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import urllib.parse
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._protocol import EventRecord, RunRecord, StepRecord
from ._rows import MAX_JSON_DEPTH, UNREADABLE, BadText, check_event, check_run, too_deep

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect_readonly",
    "default_journal_path",
    "recovery_hint",
    "run_from_row",
    "unfinished_runs",
]

_V1 = """
CREATE TABLE runs (
    rn INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    function_id TEXT NOT NULL,
    status TEXT NOT NULL,
    event TEXT,
    result TEXT,
    result_tag TEXT,
    error TEXT,
    code_hash TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'function',
    source TEXT,
    options TEXT,
    parent_run_id TEXT,
    owner TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    event_seq INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX runs_by_status ON runs(status, created_at);
CREATE TABLE steps (
    rn INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    name TEXT,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    input_hash TEXT,
    output TEXT,
    output_tag TEXT,
    error TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    next_at REAL,
    meta TEXT,
    code_hash TEXT
);
CREATE UNIQUE INDEX steps_by_run ON steps(rn, step_id);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX events_by_name ON events(name, seq);
CREATE TABLE triggers (
    event_id TEXT NOT NULL,
    function_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (event_id, function_id)
) WITHOUT ROWID;
"""

# Version 2 added the reason a run is in its status and its determinism warnings.
_V2 = """
ALTER TABLE runs ADD COLUMN status_reason TEXT;
ALTER TABLE runs ADD COLUMN warnings TEXT;
"""

# Version 3 added flow control: concurrency leases and their queue, and marks for throttles and limits.
_V3 = """
CREATE TABLE leases (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (scope, key, run_id)
) WITHOUT ROWID;
CREATE INDEX leases_by_holder ON leases(holder);
CREATE TABLE waiters (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    rank REAL NOT NULL,
    holder TEXT NOT NULL DEFAULT '',
    seen_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key, run_id)
) WITHOUT ROWID;
CREATE INDEX waiters_by_rank ON waiters(scope, key, rank);
CREATE TABLE marks (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    ts REAL NOT NULL,
    weight INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX marks_by_key ON marks(scope, key, ts);
"""

# Version 4 made step rows compact (a step is most of a journal): clustered on (run, step id) with no
# separate index, the usual kind ("run") and status ("completed") stored as NULL, hashes as 8-byte blobs.
_V4 = """
CREATE TABLE steps_v4 (
    rn INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    name TEXT,
    position INTEGER NOT NULL,
    kind TEXT,
    status TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    input_hash BLOB,
    output TEXT,
    output_tag TEXT,
    error TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    next_at REAL,
    meta TEXT,
    code_hash BLOB,
    PRIMARY KEY (rn, step_id)
) WITHOUT ROWID;
INSERT INTO steps_v4 SELECT rn, step_id, name, position, NULLIF(kind, 'run'), NULLIF(status, 'completed'), attempt,
    input_hash, output, output_tag, error, started_at, ended_at, next_at, meta, code_hash FROM steps;
DROP TABLE steps;
ALTER TABLE steps_v4 RENAME TO steps;
"""

# Version 5 added run claims: the fencing epoch every claim bumps and every owner write carries, and the
# lease that says until when the owner's claim holds (liveness of owners on other hosts).
_V5 = """
ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_until REAL;
"""

# Version 6 added workers: the queue a run was handed to (None: it runs where it was started), and named
# positions in the event log (how far workers turned events into runs of each function).
_V6 = """
ALTER TABLE runs ADD COLUMN queue TEXT;
CREATE INDEX runs_for_workers ON runs(queue, rn)
    WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'sleeping', 'waiting');
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Version 7 lets a step's output column hold a compressed BLOB (pack_output): the columns stay as they are,
# and the version tells releases that cannot read one to say "upgrade" instead of misreading it.
_V7 = """
-- no statement: what changed is which values a column may hold
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
SCHEMA_VERSION = len(MIGRATIONS)
_ASKED_READONLY = "opened read-only as asked"
_APP_ID = 0x6E626475  # "nbdu": marks the file as an nbdurable journal

_RUN_COLS = (
    "run_id, function_id, status, event, result, result_tag, error, code_hash, kind, source, options, "
    "parent_run_id, owner, attempt, event_seq, status_reason, warnings, created_at, updated_at, ended_at, epoch, "
    "lease_until, queue"
)
_JSON_RUN_FIELDS = frozenset({"event", "error", "options", "warnings"})


def _run_params(r: RunRecord) -> tuple[Any, ...]:
    """A run's values in ``_RUN_COLS`` order: the SQLite and PostgreSQL journals store a run alike."""
    return (
        r.run_id,
        r.function_id,
        r.status,
        _dumps(r.event),
        r.result,
        r.result_tag,
        _dumps(r.error),
        r.code_hash,
        r.kind,
        r.source,
        _dumps(r.options),
        r.parent_run_id,
        r.owner,
        r.attempt,
        r.event_seq,
        r.status_reason,
        _dumps(r.warnings),
        r.created_at,
        r.updated_at,
        r.ended_at,
        r.epoch,
        r.lease_until,
        r.queue,
    )


_STEP_COLS = (
    "step_id, name, position, kind, status, attempt, input_hash, output, output_tag, error, "
    "started_at, ended_at, next_at, meta, code_hash"
)
# rn and the step columns, then the fence: the writer's epoch, rn and the epoch again. The row goes in only while
# the run's epoch is still the writer's, or always when the epoch is NULL (an unfenced write). One statement and one
# parameter tuple for both, built once per step (the hot path of a first run). Plain "?" markers, bound in order:
# numbered ones (?17) with a tuple are deprecated from Python 3.12's sqlite3 on.
_STEP_SQL = (
    f"INSERT OR REPLACE INTO steps (rn, {_STEP_COLS}) SELECT {','.join('?' * 16)} "
    "WHERE ? IS NULL OR EXISTS (SELECT 1 FROM runs WHERE rn=? AND epoch=?)"
)
# A completed "run" step with only its result (most steps): the columns that are NULL for it are left to their
# default (NULL; REPLACE drops the old row whole), and seven fewer parameters are bound (~2 µs of ~24 per step).
_PLAIN_STEP_SQL = (
    "INSERT OR REPLACE INTO steps (rn, step_id, name, position, attempt, output, started_at, ended_at, code_hash) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? "
    "WHERE ? IS NULL OR EXISTS (SELECT 1 FROM runs WHERE rn=? AND epoch=?)"
)


# Step counts, tokens and cost per run in one pass over its steps, without sending them to Python. A step's
# AI record is read only when its meta mentions one, and meta that is not valid JSON is left out, not fatal.
_SUMMARY_SQL = """
SELECT r.run_id, count(s.step_id), sum(s.step_id IS NOT NULL AND s.status IS NULL), sum(s.status = 'failed'),
    sum(s.attempt), max(max(s.started_at, coalesce(s.ended_at, 0))), count(s.ai), sum(s.tokens_in), sum(s.tokens_out),
    count(s.cost), sum(s.cost)
FROM runs r LEFT JOIN (
    SELECT rn, step_id, status, attempt, started_at, ended_at, ai,
        CASE WHEN ai IS NOT NULL THEN CAST(coalesce(json_extract(meta, '$.ai.tokens_in'), 0) AS INTEGER) END
            AS tokens_in,
        CASE WHEN ai IS NOT NULL THEN CAST(coalesce(json_extract(meta, '$.ai.tokens_out'), 0) AS INTEGER) END
            AS tokens_out,
        CASE WHEN ai IS NULL THEN NULL
            WHEN json_type(meta, '$.ai.cost') IN ('integer', 'real') THEN json_extract(meta, '$.ai.cost') END
            AS cost
    FROM (
        SELECT rn, step_id, status, attempt, started_at, ended_at, meta,
            CASE WHEN meta IS NULL OR instr(meta, '"ai"') = 0 OR NOT json_valid(meta) THEN NULL
                WHEN json_type(meta, '$.ai') = 'object' THEN 1 END AS ai
        FROM steps WHERE kind IS NOT 'value' AND rn IN (SELECT rn FROM runs WHERE run_id IN ({marks}))
    )
) s ON s.rn = r.rn
WHERE r.run_id IN ({marks})
GROUP BY r.run_id
"""


def run_from_row(row: Sequence[Any]) -> RunRecord:
    """A run record from a row of ``_RUN_COLS``, checked: a journal is untrusted data, and both SQL journals
    store a run alike (``_run_params`` is the other direction)."""
    return check_run(
        RunRecord(
            run_id=row[0],
            function_id=row[1],
            status=row[2],
            event=_loads(row[3]),
            result=row[4],
            result_tag=row[5],
            error=_loads(row[6]),
            code_hash=row[7],
            kind=row[8],
            source=row[9],
            options=_loads(row[10]),
            parent_run_id=row[11],
            owner=row[12],
            attempt=row[13],
            event_seq=row[14],
            status_reason=row[15],
            warnings=_loads(row[16]),
            created_at=row[17],
            updated_at=row[18],
            ended_at=row[19],
            epoch=row[20],
            lease_until=row[21],
            queue=row[22],
        )
    )


def default_journal_path() -> Path:
    """``$NBDURABLE_JOURNAL``, else ``.nbdurable/journal.db`` under the working directory."""
    env = os.environ.get("NBDURABLE_JOURNAL")
    if env:
        return Path(env).expanduser()
    return Path.cwd() / ".nbdurable" / "journal.db"


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _loads(text: str | None) -> Any:
    """A JSON column; one that does not parse reads as UNREADABLE, which _rows then reports (never a crash)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return UNREADABLE
    # Only long text can be deeply nested; what nbdurable writes is never this deep, and every view
    # (the timeline, its JSON) walks these values recursively.
    return UNREADABLE if len(text) > 2 * MAX_JSON_DEPTH and too_deep(value, MAX_JSON_DEPTH) else value


_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _short_json(text: str) -> Any:
    """A replay row's meta decoded for its check: short text by JSON's C scanner alone, anything else as _loads.

    Only a filter for ReplaySteps.plain: text this rejects that _loads would take (surrounding
    whitespace) sends the row the long way, through check_step, never the other way round.
    """
    if len(text) > 2 * MAX_JSON_DEPTH:
        return _loads(text)
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return UNREADABLE
    return value if end == len(text) else UNREADABLE


# A step output at least this long (UTF-8 bytes) is stored compressed when that saves a tenth: model
# replies and documents shrink by half, while short values (most steps) cost one length check.
COMPRESS_FROM = 1024
# The first byte of a compressed output says how it was compressed (1: zlib), so another codec can follow.
_ZLIB = 1
# The most a compressed output may expand to: nbdurable never journals a larger value (engine._serde's
# MAX_PAYLOAD_BYTES), so a BLOB claiming more is damage or a decompression bomb, refused before it is read whole.
MAX_OUTPUT_BYTES = 256 * 1024 * 1024


def pack_output(text: str | None) -> str | bytes | None:
    """A step's output as stored: the text, or a tagged zlib BLOB of it when it is long and that saves a tenth."""
    if text is None or len(text) < COMPRESS_FROM:
        return text
    raw = text.encode("utf-8", "surrogatepass")
    packed = zlib.compress(raw, 6)
    if len(packed) + 1 > len(raw) * 0.9:
        return text  # incompressible (already compressed, random): not worth a decompression on every read
    return bytes((_ZLIB,)) + packed


def unpack_output(value: Any, limit: int | None = None) -> Any:
    """A stored output as text; a BLOB that is not one pack_output wrote, or expands past the limit, is UNREADABLE.

    Decompressed in one bounded call: at most ``limit`` (MAX_OUTPUT_BYTES) + 1 bytes are ever produced, whatever
    the BLOB says. UNREADABLE makes the step's row damaged (_rows.check_step): shown as such, never replayed.
    """
    if type(value) is not bytes:
        return value
    if limit is None:
        limit = MAX_OUTPUT_BYTES
    if not value or value[0] != _ZLIB:
        return UNREADABLE
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(memoryview(value)[1:], limit + 1)
    except zlib.error:
        return UNREADABLE
    if len(raw) > limit or not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        return UNREADABLE  # too big, cut short, or followed by bytes pack_output never writes
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return UNREADABLE


def _tolerant_text(raw: bytes) -> str:
    """Text of a row whose bytes are not UTF-8: readable with replacement characters, and flagged."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadText(raw.decode("utf-8", "replace"))


def _hash_blob(text: str) -> bytes | str | None:
    """Hex hashes are stored as raw bytes (half the size); anything else as it is."""
    if not text:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text


def _hash_text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.hex() if isinstance(value, bytes) else value  # anything else is caught by _rows.check_step


def _by_position(step: StepRecord) -> int:
    return step.position


def _event_from_row(row: Sequence[Any]) -> EventRecord | None:
    """An event row, or None when it holds what nbdurable never writes (edited or damaged): it is left out.

    Text that was not UTF-8 counts as damaged too (read with replacement characters, it would reach a
    wait changed). A row that reads fine but breaks the rules events are sent under (a lone surrogate,
    NaN, too deep) is the engine's to skip, with a warning on the waiting run.
    """
    seq, event_id, name, text, ts = row
    if isinstance(text, BadText):
        return None
    return check_event(seq, event_id, name, _loads(text), ts)


# SQLite's primary result codes that mean something to a user (the extended code's low byte).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 5, 6, 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26
# Python before 3.11 gives no error code: the messages SQLite uses for each of them.
_CODE_BY_MESSAGE = (
    ("locked", _SQLITE_BUSY),
    ("busy", _SQLITE_BUSY),
    ("readonly", _SQLITE_READONLY),
    ("read-only", _SQLITE_READONLY),
    ("disk is full", _SQLITE_FULL),
    ("malformed", _SQLITE_CORRUPT),
    ("not a database", _SQLITE_NOTADB),
    ("disk i/o error", _SQLITE_IOERR),
    ("unable to open", _SQLITE_CANTOPEN),
)


def _code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code for ``exc``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    return next((c for words, c in _CODE_BY_MESSAGE if words in text), None)


def _is_busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: SQLite already rolled back after a full disk or an I/O error."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is broken; the error that got us here is the one to report


def _ro_uri(path: Path, *, immutable: bool = False) -> str:
    # Quoted from the bytes: a file name that is not UTF-8 is a valid path on POSIX.
    return "file:" + urllib.parse.quote(os.fsencode(path)) + "?mode=ro" + ("&immutable=1" if immutable else "")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _prepare_file(path: Path) -> None:
    """Create the folder (0700) and file (0600) so the journal is private from its first byte.

    The file is created with O_EXCL and O_NOFOLLOW: a symlink planted at the path meanwhile is never
    followed, and another process creating the journal at the same moment is no error.
    """
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    if not os.path.lexists(path):
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            os.close(os.open(path, flags, 0o600))
        except FileExistsError:
            pass  # created by another process just now: checked below like any existing file


def recovery_hint(path: Path) -> str:
    """What to do with a damaged journal: keep it, recover what can be read into a new file, use that."""
    quoted = shlex.quote(str(path))
    fixed = shlex.quote(str(path.with_name(path.stem + "-recovered.db")))
    return (
        "Stop the processes using it and keep a copy of it; then recover what can be read with the sqlite3 "
        f"command-line tool: sqlite3 {quoted} .recover | sqlite3 {fixed}, and use the recovered file "
        f"(NBDURABLE_JOURNAL={fixed}). python -m nbdurable doctor --journal {quoted} checks a journal."
    )


def unfinished_runs(conn: sqlite3.Connection) -> list[tuple[str, str, str | None, float | None, int]]:
    """(run id, status, owner, lease_until, epoch) of every unfinished run, read through ``conn`` (any version)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    claim = "lease_until, epoch" if version >= 5 else "NULL, 0"
    return [
        (r[0], r[1], r[2], r[3], int(r[4] or 0))
        for r in conn.execute(
            f"SELECT run_id, status, owner, {claim} FROM runs "
            "WHERE status IN ('queued', 'running', 'sleeping', 'waiting') ORDER BY rn"
        ).fetchall()
    ]


def connect_readonly(path: Path, *, timeout: float = 30.0, prefer_immutable: bool = False) -> sqlite3.Connection:
    """An SQLite connection to ``path`` that never writes to it (see ``SQLiteJournal._connect_ro``)."""
    wal = Path(f"{path}-wal")

    def connect(immutable: bool) -> sqlite3.Connection:
        return sqlite3.connect(
            _ro_uri(path, immutable=immutable), uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )

    if prefer_immutable and not wal.exists():
        return connect(True)
    conn = connect(False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if _size(wal) > 0:
            raise  # commits wait in the -wal file, which cannot be read without its -shm
    return connect(True)
