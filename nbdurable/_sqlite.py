"""The embedded journal: one SQLite file in WAL mode.

Every SQL detail lives here so another database can implement the same
:class:`~nbdurable._journal.Journal` protocol. Two connections: a writer with a
short busy timeout (the engine retries a busy write asynchronously, so the event
loop never blocks long behind another process) and a reader with a longer one
(WAL readers almost never wait).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from ._errors import ConfigError, JournalBusyError, JournalError, JournalVersionError
from ._journal import EventRecord, RunRecord, StepRecord, Write

__all__ = ["SCHEMA_VERSION", "Durability", "SQLiteJournal", "default_journal_path"]

Durability = Literal["normal", "full"]

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

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)
_APP_ID = 0x6E626475  # "nbdu": marks the file as an nbdurable journal

_RUN_COLS = (
    "run_id, function_id, status, event, result, result_tag, error, code_hash, kind, source, options, "
    "parent_run_id, owner, attempt, event_seq, status_reason, warnings, created_at, updated_at, ended_at"
)
_JSON_RUN_FIELDS = frozenset({"event", "error", "options", "warnings"})
_RUN_FIELDS = frozenset(c.strip() for c in _RUN_COLS.split(","))
_STEP_COLS = (
    "step_id, name, position, kind, status, attempt, input_hash, output, output_tag, error, "
    "started_at, ended_at, next_at, meta, code_hash"
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
    return None if text is None else json.loads(text)


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
    return value.hex() if isinstance(value, bytes) else value


def _by_position(step: StepRecord) -> int:
    return step.position


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _prepare_file(path: Path) -> None:
    """Create the folder (0700) and file (0600) so the journal is private from its first byte."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    st = path.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o600)


class SQLiteJournal:
    """A journal in one SQLite file (WAL), safe to share between processes."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        durability: Durability = "normal",
        busy_timeout: float = 30.0,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ConfigError(f"durability must be 'normal' or 'full', got {durability!r}")
        self._path = Path(path).expanduser() if path is not None else default_journal_path()
        self.durability: Durability = durability
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        # run_id -> rowid; rows are never deleted, so this stays true for the journal's lifetime.
        self._rn_cache: dict[str, int] = {}
        try:
            if self._path.exists():
                self._check_foreign()
            _prepare_file(self._path)
            self._writer = self._connect(timeout=0.05)
            self._reader = self._connect(timeout=busy_timeout)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise JournalError(
                f"cannot open the journal at {self._path}: {exc}. If this file is not an nbdurable journal, "
                "point NBDURABLE_JOURNAL (or journal=) at another path."
            ) from exc
        except OSError as exc:
            raise JournalError(f"cannot create the journal at {self._path}: {exc}") from exc

    # -- set-up -------------------------------------------------------------------------------------

    def _connect(self, *, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=" + ("FULL" if self.durability == "full" else "NORMAL"))
        return conn

    def _check_foreign(self) -> None:
        """Refuse another application's SQLite file before touching it (no WAL switch, no schema)."""
        conn = sqlite3.connect(self._path, timeout=self.busy_timeout, isolation_level=None)
        try:
            # One read transaction: another process creating the schema meanwhile is seen whole or not at all.
            conn.execute("BEGIN")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            conn.execute("COMMIT")
        finally:
            conn.close()
        if app_id not in (0, _APP_ID):
            raise JournalError(
                f"{self._path} belongs to another application (SQLite application_id {app_id:#x}); nothing was "
                "changed. Use another path for the journal."
            )
        if version == 0 and tables:
            raise JournalError(
                f"{self._path} is an SQLite database but not an nbdurable journal (it has tables but no journal "
                "version); nothing was changed. Use another path for the journal."
            )
        if version > SCHEMA_VERSION:
            raise JournalVersionError(
                f"the journal at {self._path} has schema version {version}, written by a newer nbdurable; this "
                f"release reads up to version {SCHEMA_VERSION}. Upgrade nbdurable (pip install -U nbdurable) to "
                "open it; nothing was changed."
            )

    def _migrate(self) -> None:
        conn = self._writer
        with self._lock:
            self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
                if version == 0 and tables:
                    raise JournalError(
                        f"{self._path} is an SQLite database but not an nbdurable journal (it has tables but no "
                        "journal version). Use another path for the journal."
                    )
                if app_id not in (0, _APP_ID):
                    raise JournalError(f"{self._path} belongs to another application (application_id {app_id:#x}).")
                if version > SCHEMA_VERSION:
                    raise JournalVersionError(
                        f"the journal at {self._path} has schema version {version}, written by a newer nbdurable; "
                        f"this release reads up to version {SCHEMA_VERSION}. Upgrade nbdurable "
                        "(pip install -U nbdurable) to open it; nothing was changed."
                    )
                for target in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[target].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={target + 1}")
                conn.execute(f"PRAGMA application_id={_APP_ID}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _retry_busy(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, retrying while another process holds the lock (set-up only)."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SQLiteJournal({str(self._path)!r}, durability={self.durability!r})"

    # -- writes -------------------------------------------------------------------------------------

    def write(self, batch: Sequence[Write]) -> None:
        conn = self._writer
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise JournalBusyError(f"the journal at {self._path} is locked by another process") from exc
                raise JournalError(f"cannot write the journal at {self._path}: {exc}") from exc
            try:
                for w in batch:
                    self._apply(conn, w, self._rn_cache)
                conn.execute("COMMIT")
            except BaseException as exc:
                conn.execute("ROLLBACK")
                self._rn_cache.clear()  # a rolled-back insert may have cached a run number
                if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                    raise JournalBusyError(f"the journal at {self._path} is locked by another process") from exc
                if isinstance(exc, sqlite3.Error):
                    raise JournalError(f"cannot write the journal at {self._path}: {exc}") from exc
                raise

    def _rn(self, conn: sqlite3.Connection, run_id: str, cache: dict[str, int]) -> int:
        rn = cache.get(run_id)
        if rn is None:
            row = conn.execute("SELECT rn FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise JournalError(f"run {run_id!r} is not in the journal at {self._path}")
            rn = cache[run_id] = row[0]
        return rn

    def _apply(self, conn: sqlite3.Connection, w: Write, cache: dict[str, int]) -> None:
        if w.op == "step":
            s = w.step
            assert s is not None
            conn.execute(
                f"INSERT OR REPLACE INTO steps (rn, {_STEP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self._rn(conn, s.run_id, cache),
                    s.step_id,
                    None if s.name == s.step_id else s.name,
                    s.position,
                    None if s.kind == "run" else s.kind,
                    None if s.status == "completed" else s.status,
                    s.attempt,
                    _hash_blob(s.input_hash),
                    s.output,
                    s.output_tag,
                    _dumps(s.error),
                    s.started_at,
                    s.ended_at,
                    s.next_at,
                    _dumps(s.meta),
                    _hash_blob(s.code_hash),
                ),
            )
        elif w.op == "run_update":
            fields = dict(w.fields or {})
            bad = set(fields) - _RUN_FIELDS
            if bad:
                raise JournalError(f"unknown run fields {sorted(bad)}")
            fields.setdefault("updated_at", time.time())
            cols = ", ".join(f"{k}=?" for k in fields)
            values = [_dumps(v) if k in _JSON_RUN_FIELDS else v for k, v in fields.items()]
            conn.execute(f"UPDATE runs SET {cols} WHERE run_id=?", (*values, w.run_id))
        elif w.op == "run":
            r = w.run
            assert r is not None
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLS}) VALUES ({','.join('?' * 20)}) "
                "ON CONFLICT(run_id) DO UPDATE SET status=excluded.status, owner=excluded.owner, "
                "attempt=excluded.attempt, updated_at=excluded.updated_at, code_hash=excluded.code_hash, "
                "source=excluded.source, options=excluded.options",
                (
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
                ),
            )
        elif w.op == "trigger":
            conn.execute(
                "INSERT OR IGNORE INTO triggers (event_id, function_id, run_id) VALUES (?,?,?)",
                (w.event_id, w.function_id, w.run_id),
            )
        else:  # pragma: no cover - Write.op is a Literal
            raise JournalError(f"unknown write {w.op!r}")

    def add_event(self, event_id: str, name: str, data: dict[str, Any], ts: float) -> EventRecord | None:
        payload = json.dumps(data, separators=(",", ":"), default=str)
        conn = self._writer
        with self._lock:
            cur = self._retry_busy(
                lambda: conn.execute(
                    "INSERT OR IGNORE INTO events (event_id, name, data, ts) VALUES (?,?,?,?)",
                    (event_id, name, payload, ts),
                )
            )
            if cur.rowcount == 0:
                return None
            return EventRecord(seq=int(cur.lastrowid or 0), event_id=event_id, name=name, data=data, ts=ts)

    def claim_run(self, run_id: str, owner: str, *, expected: str | None) -> bool:
        conn = self._writer
        with self._lock:
            cur = self._retry_busy(
                lambda: conn.execute(
                    "UPDATE runs SET owner=?, updated_at=? WHERE run_id=? AND owner IS ?",
                    (owner, time.time(), run_id, expected),
                )
            )
            return bool(cur.rowcount == 1)

    # -- flow control -------------------------------------------------------------------------------

    def _tx(self, body: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``body`` in one IMMEDIATE transaction on the writer; busy becomes JournalBusyError."""
        conn = self._writer
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise JournalBusyError(f"the journal at {self._path} is locked by another process") from exc
                raise JournalError(f"cannot write the journal at {self._path}: {exc}") from exc
            try:
                result = body(conn)
                conn.execute("COMMIT")
                return result
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                    raise JournalBusyError(f"the journal at {self._path} is locked by another process") from exc
                if isinstance(exc, sqlite3.Error):
                    raise JournalError(f"cannot write the journal at {self._path}: {exc}") from exc
                raise

    def acquire_slot(
        self, scope: str, key: str, run_id: str, holder: str, *, limit: int, rank: float, expires_at: float, now: float
    ) -> tuple[bool, int, int]:
        def body(conn: sqlite3.Connection) -> tuple[bool, int, int]:
            conn.execute("DELETE FROM leases WHERE scope=? AND key=? AND expires_at<?", (scope, key, now))
            # A waiter that stopped asking (its process died) must not keep its place ahead of live ones.
            stale = now - (expires_at - now) if expires_at > now else now
            conn.execute("DELETE FROM waiters WHERE scope=? AND key=? AND seen_at<?", (scope, key, stale))
            held = conn.execute(
                "SELECT 1 FROM leases WHERE scope=? AND key=? AND run_id=?", (scope, key, run_id)
            ).fetchone()
            if held:
                conn.execute(
                    "UPDATE leases SET holder=?, expires_at=? WHERE scope=? AND key=? AND run_id=?",
                    (holder, expires_at, scope, key, run_id),
                )
                busy = conn.execute("SELECT count(*) FROM leases WHERE scope=? AND key=?", (scope, key)).fetchone()[0]
                return True, int(busy), 0
            conn.execute(
                "INSERT INTO waiters (scope, key, run_id, rank, holder, seen_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(scope, key, run_id) DO UPDATE SET holder=excluded.holder, seen_at=excluded.seen_at",
                (scope, key, run_id, rank, holder, now),
            )
            busy = int(conn.execute("SELECT count(*) FROM leases WHERE scope=? AND key=?", (scope, key)).fetchone()[0])
            my_rank = conn.execute(
                "SELECT rank FROM waiters WHERE scope=? AND key=? AND run_id=?", (scope, key, run_id)
            ).fetchone()[0]
            ahead = int(
                conn.execute(
                    "SELECT count(*) FROM waiters WHERE scope=? AND key=? AND (rank<? OR (rank=? AND run_id<?))",
                    (scope, key, my_rank, my_rank, run_id),
                ).fetchone()[0]
            )
            if busy + ahead < limit:
                conn.execute(
                    "INSERT INTO leases (scope, key, run_id, holder, expires_at) VALUES (?,?,?,?,?)",
                    (scope, key, run_id, holder, expires_at),
                )
                conn.execute("DELETE FROM waiters WHERE scope=? AND key=? AND run_id=?", (scope, key, run_id))
                return True, busy + 1, 0
            return False, busy, ahead

        result: tuple[bool, int, int] = self._tx(body)
        return result

    def release_slot(self, scope: str, key: str, run_id: str) -> None:
        def body(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE scope=? AND key=? AND run_id=?", (scope, key, run_id))
            conn.execute("DELETE FROM waiters WHERE scope=? AND key=? AND run_id=?", (scope, key, run_id))

        self._tx(body)

    def slot_holders(self, scope: str, key: str) -> list[str]:
        rows = self._read(
            "SELECT holder FROM leases WHERE scope=? AND key=? "
            "UNION SELECT holder FROM waiters WHERE scope=? AND key=?",
            (scope, key, scope, key),
        )
        return [r[0] for r in rows if r[0]]

    def drop_holder(self, holder: str) -> int:
        def body(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM waiters WHERE holder=?", (holder,))
            return int(conn.execute("DELETE FROM leases WHERE holder=?", (holder,)).rowcount)

        dropped: int = self._tx(body)
        return dropped

    def renew_leases(self, holder: str, expires_at: float) -> None:
        def body(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE leases SET expires_at=? WHERE holder=?", (expires_at, holder))
            conn.execute("UPDATE waiters SET seen_at=? WHERE holder=?", (time.time(), holder))

        self._tx(body)

    def take_mark(
        self,
        scope: str,
        key: str,
        *,
        now: float,
        since: float,
        max_count: int | None,
        max_weight: int | None,
        weight: int,
    ) -> tuple[bool, float | None]:
        def body(conn: sqlite3.Connection) -> tuple[bool, float | None]:
            # Marks older than a day serve no window; dropping them keeps the table small.
            conn.execute("DELETE FROM marks WHERE scope=? AND key=? AND ts<?", (scope, key, now - 86400))
            count, total, oldest = conn.execute(
                "SELECT count(*), coalesce(sum(weight), 0), min(ts) FROM marks WHERE scope=? AND key=? AND ts>=?",
                (scope, key, since),
            ).fetchone()
            if (max_count is not None and count >= max_count) or (max_weight is not None and total >= max_weight):
                return False, oldest
            conn.execute("INSERT INTO marks (scope, key, ts, weight) VALUES (?,?,?,?)", (scope, key, now, weight))
            return True, None

        result: tuple[bool, float | None] = self._tx(body)
        return result

    def add_mark(self, scope: str, key: str, ts: float, weight: int) -> None:
        self._tx(
            lambda conn: conn.execute(
                "INSERT INTO marks (scope, key, ts, weight) VALUES (?,?,?,?)", (scope, key, ts, weight)
            )
        )

    # -- reads --------------------------------------------------------------------------------------

    def _run_from_row(self, row: Sequence[Any]) -> RunRecord:
        return RunRecord(
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
        )

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._reader.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise JournalError(f"cannot read the journal at {self._path}: {exc}") from exc

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._read(f"SELECT {_RUN_COLS} FROM runs WHERE run_id=?", (run_id,))
        return self._run_from_row(rows[0]) if rows else None

    def list_runs(
        self, *, statuses: Sequence[str] | None = None, function_id: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        where: list[str] = []
        params: list[Any] = []
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if function_id is not None:
            where.append("function_id=?")
            params.append(function_id)
        sql = f"SELECT {_RUN_COLS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY rn DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._run_from_row(r) for r in self._read(sql, params)]

    def load_steps(self, run_id: str) -> list[StepRecord]:
        rows = self._read(
            f"SELECT {_STEP_COLS} FROM steps WHERE rn=(SELECT rn FROM runs WHERE run_id=?)",
            (run_id,),
        )
        loads = json.loads
        out = [
            StepRecord(
                run_id,
                r[0],
                r[1] if r[1] is not None else r[0],
                r[2],
                r[3] or "run",
                r[4] or "completed",
                r[5],
                _hash_text(r[6]),
                r[7],
                r[8],
                None if r[9] is None else loads(r[9]),
                r[10],
                r[11],
                r[12],
                None if r[13] is None else loads(r[13]),
                _hash_text(r[14]),
            )
            for r in rows
        ]
        out.sort(key=_by_position)
        return out

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        rows = self._read(
            "SELECT r.run_id, count(s.step_id) FROM runs r LEFT JOIN steps s ON s.rn=r.rn AND s.status IS NULL "
            f"WHERE r.run_id IN ({','.join('?' * len(run_ids))}) GROUP BY r.run_id",
            list(run_ids),
        )
        return {r[0]: r[1] for r in rows}

    def get_event(self, event_id: str) -> EventRecord | None:
        rows = self._read("SELECT seq, event_id, name, data, ts FROM events WHERE event_id=?", (event_id,))
        return EventRecord(rows[0][0], rows[0][1], rows[0][2], json.loads(rows[0][3]), rows[0][4]) if rows else None

    def events_after(self, name: str, after_seq: int, *, limit: int = 100) -> list[EventRecord]:
        rows = self._read(
            "SELECT seq, event_id, name, data, ts FROM events WHERE name=? AND seq>? ORDER BY seq LIMIT ?",
            (name, after_seq, limit),
        )
        return [EventRecord(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def last_event_seq(self) -> int:
        rows = self._read("SELECT max(seq) FROM events")
        return int(rows[0][0] or 0)

    def runs_for_event(self, event_id: str) -> list[tuple[str, str]]:
        rows = self._read("SELECT function_id, run_id FROM triggers WHERE event_id=? ORDER BY function_id", (event_id,))
        return [(r[0], r[1]) for r in rows]

    def change_token(self) -> int:
        # Asked of the writer: its data_version moves only when *another* connection commits, so this
        # process's own step commits never make a poller re-read the journal.
        with self._lock:
            try:
                return int(self._writer.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise JournalError(f"cannot read the journal at {self._path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in (self._writer, self._reader):
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
