"""The embedded journal: one SQLite file in WAL mode.

Every SQL detail lives here so another database can implement the same
:class:`~nbdurable.journal._protocol.Journal` protocol. Two connections: a writer with a
short busy timeout (the engine retries a busy write asynchronously, so the event
loop never blocks long behind another process) and a reader with a longer one
(WAL readers almost never wait).
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from .._errors import (
    ClaimLostError,
    ConfigError,
    JournalBusyError,
    JournalCorruptError,
    JournalError,
    JournalFullError,
    JournalReadOnlyError,
    JournalVersionError,
)
from . import _files
from ._protocol import (
    PLAIN_CODE_HASH,
    PLAIN_INPUT_HASH,
    PLAIN_NAME,
    PLAIN_OUTPUT,
    PLAIN_OUTPUT_TAG,
    PLAIN_POSITION,
    PLAIN_STEP_ID,
    EventRecord,
    ReplaySteps,
    RunRecord,
    StepRecord,
    StepSummary,
    Write,
)
from ._rows import check_step, meta_ok, run_changes, run_conditions
from ._sqlite_schema import (
    _APP_ID,
    _ASKED_READONLY,
    _JSON_RUN_FIELDS,
    _PLAIN_STEP_SQL,
    _RUN_COLS,
    _SQLITE_BUSY,
    _SQLITE_CANTOPEN,
    _SQLITE_CORRUPT,
    _SQLITE_FULL,
    _SQLITE_IOERR,
    _SQLITE_LOCKED,
    _SQLITE_NOTADB,
    _SQLITE_READONLY,
    _STEP_COLS,
    _STEP_SQL,
    _SUMMARY_SQL,
    MIGRATIONS,
    SCHEMA_VERSION,
    _by_position,
    _code,
    _dumps,
    _event_from_row,
    _hash_blob,
    _hash_text,
    _is_busy,
    _loads,
    _prepare_file,
    _rollback,
    _run_params,
    _short_json,
    _size,
    _tolerant_text,
    connect_readonly,
    default_journal_path,
    pack_output,
    recovery_hint,
    run_from_row,
    unfinished_runs,
    unpack_output,
)

__all__ = [
    "SCHEMA_VERSION",
    "Durability",
    "SQLiteJournal",
    "connect_readonly",
    "default_journal_path",
    "recovery_hint",
    "unfinished_runs",
]

Durability = Literal["normal", "full"]

# What replay reads of a plain step (ReplaySteps.plain, the PLAIN_* order), and whether the columns it does not read
# are as a plain step's are (1 or 0), decided by SQLite so they are not fetched (fetching them was about a quarter
# of a replay's load): NULL where a completed "run" step with only its result has NULL; an integer attempt (an
# integer equals its CAST, a real or a text does not); numbers for the times (every number sorts before every
# text and blob, and REAL columns read numbers back as floats).
_PLAIN_COLS = "step_id, name, position, input_hash, output, output_tag, code_hash"
# meta comes last, after this check (r[8]): a step with inputs keeps their preview there, which replay never reads.
_PLAIN_REST = (
    "kind IS NULL AND status IS NULL AND error IS NULL AND next_at IS NULL "
    "AND attempt = CAST(attempt AS INTEGER) AND started_at < '' AND (ended_at IS NULL OR ended_at < '')"
)


def _from_plain(run_id: str, row: tuple[Any, ...]) -> StepRecord:
    """A plain row's record from what the row holds, for a step gone from the journal since it was loaded."""
    return StepRecord(
        run_id=run_id,
        step_id=row[PLAIN_STEP_ID],
        name=row[PLAIN_NAME] or row[PLAIN_STEP_ID],
        position=row[PLAIN_POSITION],
        input_hash=_hash_text(row[PLAIN_INPUT_HASH]),
        output=row[PLAIN_OUTPUT],
        output_tag=row[PLAIN_OUTPUT_TAG],
        code_hash=_hash_text(row[PLAIN_CODE_HASH]),
    )


class SQLiteJournal:
    """A journal in one SQLite file (WAL), safe to share between processes.

    Opens read-only (``readonly``, or by itself when the file or its folder cannot be
    written): reads work and every write raises JournalReadOnlyError. Refuses a
    symlink at the path (unless ``follow_symlinks``) and files or a folder owned by
    another user or writable by others (unless ``allow_unsafe_permissions``); both
    default to the NBDURABLE_FOLLOW_SYMLINKS and NBDURABLE_ALLOW_UNSAFE_PERMISSIONS
    environment variables.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        durability: Durability = "normal",
        busy_timeout: float = 30.0,
        readonly: bool | None = None,
        allow_unsafe_permissions: bool | None = None,
        follow_symlinks: bool | None = None,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ConfigError(f"durability must be 'normal' or 'full', got {durability!r}")
        self._path = Path(path).expanduser() if path is not None else default_journal_path()
        self.durability: Durability = durability
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        # run_id -> rowid; rows are never deleted, so this stays true for the journal's lifetime.
        self._rn_cache: dict[str, int] = {}
        self.readonly_reason: str | None = None
        allow = (
            _files.env_flag(_files.ALLOW_UNSAFE_ENV) if allow_unsafe_permissions is None else allow_unsafe_permissions
        )
        follow = _files.env_flag(_files.FOLLOW_SYMLINKS_ENV) if follow_symlinks is None else follow_symlinks
        try:
            self._file, findings = _files.inspect(self._path, allow_unsafe=allow, follow_symlinks=follow)
            refused = [f for f in findings if f.refused]
            if refused:
                raise _files.refusal(self._path, refused)
            self._open(findings, readonly)
        except sqlite3.Error as exc:
            raise self._fault(exc, "open") from exc
        except PermissionError as exc:
            raise JournalReadOnlyError(
                f"cannot create the journal at {self._path}: {exc.strerror} ({exc.filename}). Choose a folder this "
                "user can write (NBDURABLE_JOURNAL or nd.configure(path)), or open an existing journal there."
            ) from exc
        except OSError as exc:
            raise JournalError(f"cannot create the journal at {self._path}: {exc}") from exc

    # -- set-up -------------------------------------------------------------------------------------

    def _open(self, findings: list[_files.Finding], readonly: bool | None) -> None:
        exists = self._file.exists()
        reason = _files.not_writable_reason(self._file) if exists else None
        if readonly or (readonly is None and reason is not None):
            if not exists:
                raise JournalReadOnlyError(f"there is no journal at {self._path} to open read-only")
            self.readonly_reason = reason or _ASKED_READONLY
        if exists:
            self._check_foreign()
        # Tightened only now: a file found not to be a journal is left exactly as it was.
        _files.tighten(findings)
        if self.readonly_reason is not None:
            self._writer = self._reader = self._connect_ro()
            self._check_version_ro()
            return
        _prepare_file(self._file)
        self._writer = self._connect(timeout=0.05)
        self._reader = self._connect(timeout=self.busy_timeout)
        self._migrate()

    def _connect(self, *, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self._file, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=" + ("FULL" if self.durability == "full" else "NORMAL"))
        return conn

    def _connect_ro(self) -> sqlite3.Connection:
        """A connection that never writes.

        ``mode=ro`` reads a live WAL journal (it needs the -shm file, which SQLite creates if the
        folder lets it). When nothing waits in a -wal file the main file is the whole journal, and a
        journal this user cannot write is opened ``immutable``: SQLite then creates no side file at
        all (which a read-only folder would refuse, and which would otherwise be left behind
        read-only). A journal opened read-only only because it was asked to be is never opened
        ``immutable``: that promises SQLite the file does not change, and a long-lived reader (the
        Jupyter server) must see what other processes commit later.
        """
        immutable = self.readonly and self.readonly_reason != _ASKED_READONLY
        return connect_readonly(self._file, timeout=self.busy_timeout, prefer_immutable=immutable)

    def _check_foreign(self) -> None:
        """Refuse another application's SQLite file before touching it (no WAL switch, no schema)."""
        conn = self._connect_ro()
        try:
            # One read transaction: another process creating the schema meanwhile is seen whole or not at all.
            conn.execute("BEGIN")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            conn.execute("COMMIT")
        finally:
            conn.close()
        self._check_identity(version, app_id, tables)

    def _check_identity(self, version: int, app_id: int, tables: int) -> None:
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

    def _check_version_ro(self) -> None:
        version = self._reader.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            raise JournalReadOnlyError(
                f"the journal at {self._path} has schema version {version}, older than this release's "
                f"({SCHEMA_VERSION}), and is read-only here ({self.readonly_reason}), so it cannot be upgraded. "
                "Open it once with write access (any nbdurable command upgrades it), or read it with the release "
                "that wrote it."
            )

    def _migrate(self) -> None:
        conn = self._writer
        with self._lock:
            self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
                self._check_identity(version, app_id, tables)
                for target in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[target].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={target + 1}")
                conn.execute(f"PRAGMA application_id={_APP_ID}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
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

    # -- faults -------------------------------------------------------------------------------------

    def _fault(self, exc: sqlite3.Error, doing: str) -> JournalError:
        """The JournalError for an SQLite failure: its cause in words, and what to do about it."""
        code = _code(exc)
        where = f"cannot {doing} the journal at {self._path}"
        resume = (
            "What was committed before is kept: a run stopped by this resumes from its last committed step "
            "once it is fixed (nd.get_run(run_id).resume() or %durable resume)."
        )
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return JournalBusyError(f"the journal at {self._path} is locked by another process")
        if code == _SQLITE_FULL:
            return JournalFullError(
                f"{where}: the disk is full, or the journal reached a size limit ({exc}). Free some space (or move "
                f"the journal elsewhere with NBDURABLE_JOURNAL). {resume}"
            )
        if code == _SQLITE_READONLY:
            return JournalReadOnlyError(
                f"{where}: it is read-only for this process ({exc}): the file, its folder or the file system cannot "
                "be written. Reading still works. Give this user write access to the file and its folder, or copy "
                f"the journal somewhere writable and point NBDURABLE_JOURNAL at the copy. {resume}"
            )
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return self._corrupt(str(exc))
        if code == _SQLITE_IOERR:
            room = self._room_problem()
            if room is not None:
                return JournalFullError(f"{where}: {room} ({exc}). {resume}")
            return JournalError(
                f"{where}: disk I/O error ({exc}); the disk may be failing or gone, or another program changed the "
                "file. Check the disk, then the journal: python -m nbdurable doctor --journal "
                f"{shlex.quote(str(self._path))}. {resume}"
            )
        if code == _SQLITE_CANTOPEN:
            return JournalError(
                f"{where}: the file cannot be opened ({exc}); it was moved or deleted, or its folder is not "
                "accessible to this user."
            )
        return JournalError(f"{where}: {exc}")

    def _corrupt(self, detail: str) -> JournalCorruptError:
        return JournalCorruptError(f"the journal at {self._path} is damaged ({detail}). {recovery_hint(self._path)}")

    def _room_problem(self) -> str | None:
        """Whether an I/O error is really a lack of room: the file size limit or a full disk."""
        try:
            import resource

            soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        except (ImportError, OSError, ValueError):
            soft = -1
        if soft not in (-1, getattr(resource, "RLIM_INFINITY", -1)):
            largest = max(_size(self._file), _size(Path(f"{self._file}-wal")))
            if largest + 65536 >= soft:
                return f"this process's file size limit (ulimit -f: {soft} bytes) was reached"
        import shutil  # here, not at import: only a failed write asks, and shutil pulls in bz2 and lzma

        try:
            if shutil.disk_usage(self._file.parent).free < 1 << 20:
                return "the disk is full"
        except OSError:
            pass
        return None

    def _check_writable(self) -> None:
        if self.readonly_reason is not None:
            raise JournalReadOnlyError(
                f"the journal at {self._path} is open read-only ({self.readonly_reason}): reading works, writing "
                "does not. Give this user write access to the file and its folder, or copy the journal somewhere "
                "writable and point NBDURABLE_JOURNAL at the copy."
            )

    @contextmanager
    def _decoding(self, what: str) -> Iterator[None]:
        """Stored JSON that no longer parses (a damaged page) is reported as corruption, not a raw ValueError."""
        try:
            yield
        except (ValueError, TypeError) as exc:
            raise self._corrupt(f"{what} cannot be decoded: {exc}") from exc

    @property
    def readonly(self) -> bool:
        """Whether this journal was opened read-only (every write raises JournalReadOnlyError)."""
        return self.readonly_reason is not None

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def file(self) -> Path:
        """The file actually opened (a followed symlink's target)."""
        return self._file

    def __repr__(self) -> str:
        return f"SQLiteJournal({str(self._path)!r}, durability={self.durability!r})"

    # -- writes -------------------------------------------------------------------------------------

    def write(self, batch: Sequence[Write]) -> None:
        # The hot path of every step commit: one transaction, written out here rather than through _tx.
        if self.readonly_reason is not None:
            self._check_writable()
        if len(batch) == 1 and batch[0].op == "step":
            self._write_step(batch[0])
            return
        conn = self._writer
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                lost = self._apply_batch(conn, batch)
                if lost:
                    raise self._lost(lost)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                # After a full disk or an I/O error SQLite has already rolled back: _rollback checks first,
                # so its "no transaction is active" never hides the real cause.
                _rollback(conn)
                self._rn_cache.clear()  # a rolled-back insert may have cached a run number
                raise self._fault(exc, "write") from exc
            except BaseException:
                _rollback(conn)
                self._rn_cache.clear()
                raise

    def _write_step(self, w: Write) -> None:
        """One step's row alone (a sequential run commits each step so): one statement, its own transaction.

        SQLite runs a lone write statement in autocommit mode as a transaction of its own, begun as
        ``BEGIN IMMEDIATE`` begins one (the write lock first, waiting out the busy timeout the same way):
        the row and its fence commit together or not at all, with two statements fewer per step.
        """
        conn, s = self._writer, w.step
        assert s is not None
        with self._lock:
            try:
                # _apply's step write, inlined: this runs once per step of every sequential run.
                rn = self._rn_cache.get(s.run_id)
                if rn is None:
                    rn = self._rn(conn, s.run_id, self._rn_cache)
                if conn.execute(*self._step_write(rn, s, w.epoch)).rowcount != 1:
                    raise self._lost({s.run_id: self._owner_of(conn, s.run_id)})
            except sqlite3.Error as exc:
                _rollback(conn)  # nothing is open after a lone statement; kept in case a run-number read began one
                self._rn_cache.clear()
                raise self._fault(exc, "write") from exc

    def _lost(self, lost: dict[str, str | None]) -> ClaimLostError:
        """The error for writes the journal refused because another process claimed their runs."""
        return ClaimLostError(
            f"the journal at {self._path} refused writes of run(s) {', '.join(map(repr, lost))}: "
            "another process claimed them",
            run_ids=tuple(lost),
            owners=lost,
        )

    def _apply_batch(self, conn: sqlite3.Connection, batch: Sequence[Write]) -> dict[str, str | None]:
        """Apply the writes in order, less those of runs whose claim or fence failed: those runs and their owners."""
        cache = self._rn_cache
        lost: dict[str, str | None] = {}
        for w in batch:
            if lost and w.target in lost:
                continue
            applied = self._insert_run(conn, w) if w.op == "run" else self._apply(conn, w, cache)
            if not applied:
                lost[w.target] = self._owner_of(conn, w.target)
        return lost

    @staticmethod
    def _owner_of(conn: sqlite3.Connection, run_id: str) -> str | None:
        row = conn.execute("SELECT owner FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else row[0]

    def _rn(self, conn: sqlite3.Connection, run_id: str, cache: dict[str, int]) -> int:
        rn = cache.get(run_id)
        if rn is None:
            row = conn.execute("SELECT rn FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise JournalError(f"run {run_id!r} is not in the journal at {self._path}")
            rn = cache[run_id] = row[0]
        return rn

    @staticmethod
    def _insert_run(conn: sqlite3.Connection, w: Write) -> bool:
        """Insert a new run if its id is free (the claim of a new run); False if it exists, nothing changed."""
        r = w.run
        assert r is not None
        cur = conn.execute(
            f"INSERT INTO runs ({_RUN_COLS}) VALUES ({','.join('?' * 23)}) ON CONFLICT(run_id) DO NOTHING",
            _run_params(r),
        )
        return bool(cur.rowcount == 1)

    @staticmethod
    def _step_write(rn: int, s: StepRecord, epoch: int | None) -> tuple[str, tuple[Any, ...]]:
        """The statement that writes step ``s`` and its parameters: the row, then the fence (the epoch, rn, the
        epoch; None: unfenced). A plain completed step (as load_replay's plain rows) binds only the columns it fills."""
        if (
            s.status == "completed"
            and s.kind == "run"
            and not s.input_hash
            and s.output_tag is None
            and s.error is None
            and s.next_at is None
            and s.meta is None
        ):
            return _PLAIN_STEP_SQL, (
                rn,
                s.step_id,
                None if s.name == s.step_id else s.name,
                s.position,
                s.attempt,
                pack_output(s.output),
                s.started_at,
                s.ended_at,
                _hash_blob(s.code_hash) if s.code_hash else None,
                epoch,
                rn,
                epoch,
            )
        return _STEP_SQL, (
            rn,
            s.step_id,
            None if s.name == s.step_id else s.name,
            s.position,
            None if s.kind == "run" else s.kind,
            None if s.status == "completed" else s.status,
            s.attempt,
            _hash_blob(s.input_hash) if s.input_hash else None,
            pack_output(s.output),
            s.output_tag,
            None if s.error is None else _dumps(s.error),
            s.started_at,
            s.ended_at,
            s.next_at,
            None if s.meta is None else _dumps(s.meta),
            _hash_blob(s.code_hash) if s.code_hash else None,
            epoch,
            rn,
            epoch,
        )

    def _apply(self, conn: sqlite3.Connection, w: Write, cache: dict[str, int]) -> bool:
        """Apply one write; False when it is fenced by an epoch the run no longer has (nothing applied).

        The fence is part of the statement itself (one statement per write on the hot path): the
        step row is inserted only WHERE the run's epoch is still the writer's.
        """
        if w.op == "step":
            s = w.step
            assert s is not None
            rn = self._rn(conn, s.run_id, cache)
            return bool(conn.execute(*self._step_write(rn, s, w.epoch)).rowcount == 1)
        if w.op == "run_update":
            fields = run_changes("write", w.fields)
            cols = ", ".join(f"{k}=?" for k in fields)
            values = [_dumps(v) if k in _JSON_RUN_FIELDS else v for k, v in fields.items()]
            where = "run_id=?"
            params: list[Any] = [w.run_id]
            if w.epoch is not None:
                where, params = where + " AND epoch=?", [*params, w.epoch]
            unless = sorted(w.unless_status or ())
            if unless:
                where, params = where + f" AND status NOT IN ({','.join('?' * len(unless))})", [*params, *unless]
            cur = conn.execute(f"UPDATE runs SET {cols} WHERE {where}", (*values, *params))
            if cur.rowcount == 1 or w.epoch is None:
                return True  # unfenced: a status guard that held the update back is the point, not a loss
            if unless:
                # Fenced and guarded: refused by the guard (a cancel got in first) while the claim holds is
                # not a lost claim.
                row = conn.execute("SELECT epoch FROM runs WHERE run_id=?", (w.run_id,)).fetchone()
                return bool(row is not None and row[0] == w.epoch)
            return False
        if w.op == "trigger":
            cur = conn.execute(
                "INSERT OR IGNORE INTO triggers (event_id, function_id, run_id) VALUES (?,?,?)",
                (w.event_id, w.function_id, w.run_id),
            )
            if cur.rowcount == 1:
                return True
            # The event already started a run of this function (another process sent it first): this one lost.
            row = conn.execute(
                "SELECT run_id FROM triggers WHERE event_id=? AND function_id=?", (w.event_id, w.function_id)
            ).fetchone()
            return row is None or row[0] == w.run_id
        if w.op == "delete_run":
            conn.execute("DELETE FROM steps WHERE rn IN (SELECT rn FROM runs WHERE run_id=?)", (w.run_id,))
            conn.execute("DELETE FROM triggers WHERE run_id=?", (w.run_id,))
            conn.execute("DELETE FROM runs WHERE run_id=?", (w.run_id,))
            cache.pop(w.run_id, None)
            return True
        raise JournalError(f"unknown write {w.op!r}")  # pragma: no cover - Write.op is a Literal

    def add_event(self, event_id: str, name: str, data: dict[str, Any], ts: float) -> EventRecord | None:
        self._check_writable()
        payload = json.dumps(data, separators=(",", ":"), default=str)
        conn = self._writer
        with self._lock:
            try:
                cur = self._retry_busy(
                    lambda: conn.execute(
                        "INSERT OR IGNORE INTO events (event_id, name, data, ts) VALUES (?,?,?,?)",
                        (event_id, name, payload, ts),
                    )
                )
            except sqlite3.Error as exc:
                _rollback(conn)
                raise self._fault(exc, "write") from exc
            if cur.rowcount == 0:
                return None
            return EventRecord(seq=int(cur.lastrowid or 0), event_id=event_id, name=name, data=data, ts=ts)

    def claim_run(
        self,
        run_id: str,
        owner: str,
        *,
        epoch: int,
        status: str,
        lease_until: float | None,
        fields: dict[str, Any] | None = None,
    ) -> int | None:
        self._check_writable()
        changes = run_changes("claim_run", fields, claim=True)
        sets = ", ".join(f"{k}=?" for k in changes)
        values = [_dumps(v) if k in _JSON_RUN_FIELDS else v for k, v in changes.items()]

        def body(conn: sqlite3.Connection) -> int | None:
            # The conditional UPDATE is the whole claim (on PostgreSQL: the same UPDATE ... WHERE epoch = $n).
            cur = conn.execute(
                f"UPDATE runs SET owner=?, epoch=epoch+1, lease_until=?, {sets} "
                "WHERE run_id=? AND epoch=? AND status=?",
                (owner, lease_until, *values, run_id, epoch, status),
            )
            if cur.rowcount != 1:
                return None
            return int(conn.execute("SELECT epoch FROM runs WHERE run_id=?", (run_id,)).fetchone()[0])

        claimed: int | None = self._tx(body)
        return claimed

    def update_run_if(
        self,
        run_id: str,
        fields: dict[str, Any],
        *,
        expect: dict[str, Any],
        status: str | None = None,
        epoch: int | None = None,
        trigger: tuple[str, str] | None = None,
    ) -> bool:
        self._check_writable()
        changes = run_changes("update_run_if", fields, expect=expect)
        conditions = run_conditions(expect, status=status, epoch=epoch)
        sets = ", ".join(f"{k}=?" for k in changes)
        values = [_dumps(v) if k in _JSON_RUN_FIELDS else v for k, v in changes.items()]
        # Each expected field as stored (JSON fields as the text _dumps writes); IS also matches NULL.
        where = "".join(f" AND {k} IS ?" for k in conditions)
        params = [_dumps(v) if k in _JSON_RUN_FIELDS else v for k, v in conditions.items()]

        def body(conn: sqlite3.Connection) -> bool:
            if (
                trigger is not None
                and conn.execute("SELECT 1 FROM triggers WHERE event_id=? AND function_id=?", trigger).fetchone()
            ):
                return False
            cur = conn.execute(f"UPDATE runs SET {sets} WHERE run_id=?{where}", (*values, run_id, *params))
            if cur.rowcount != 1:
                return False
            if trigger is not None:
                conn.execute("INSERT INTO triggers (event_id, function_id, run_id) VALUES (?,?,?)", (*trigger, run_id))
            return True

        applied: bool = self._tx(body)
        return applied

    # -- flow control -------------------------------------------------------------------------------

    def _tx(self, body: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``body`` in one IMMEDIATE transaction on the writer; SQLite errors become JournalErrors that say why."""
        self._check_writable()
        conn = self._writer
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise self._fault(exc, "write") from exc
            try:
                result = body(conn)
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                # After a full disk or an I/O error SQLite has already rolled back: _rollback checks first,
                # so its "no transaction is active" never hides the real cause.
                _rollback(conn)
                raise self._fault(exc, "write") from exc
            except BaseException:
                _rollback(conn)
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

    def renew_leases(self, holder: str, expires_at: float, *, runs: Sequence[str] = ()) -> None:
        def body(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE leases SET expires_at=? WHERE holder=?", (expires_at, holder))
            conn.execute("UPDATE waiters SET seen_at=? WHERE holder=?", (time.time(), holder))
            if runs:
                conn.execute(
                    f"UPDATE runs SET lease_until=? WHERE owner=? AND run_id IN ({','.join('?' * len(runs))})",
                    (expires_at, holder, *runs),
                )

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

    # -- workers ------------------------------------------------------------------------------------

    def claim_next(
        self,
        owner: str,
        *,
        queues: Sequence[str] | None,
        function_ids: Sequence[str],
        now: float,
        lease_until: float,
        limit: int,
    ) -> list[RunRecord]:
        if not function_ids or limit < 1:
            return []

        def body(conn: sqlite3.Connection) -> list[Any]:
            where = [
                "queue IS NOT NULL AND status IN ('queued', 'running', 'sleeping', 'waiting')",
                f"function_id IN ({','.join('?' * len(function_ids))})",
                "(owner IS NULL OR lease_until < ?)",
            ]
            params: list[Any] = [*function_ids, now]
            if queues is not None:
                where.append(f"queue IN ({','.join('?' * len(queues))})")
                params.extend(queues)
            rns = [
                r[0]
                for r in conn.execute(
                    f"SELECT rn FROM runs WHERE {' AND '.join(where)} ORDER BY rn LIMIT ?", (*params, limit)
                ).fetchall()
            ]
            if not rns:
                return []
            marks = ",".join("?" * len(rns))
            conn.execute(f"UPDATE runs SET owner=?, lease_until=? WHERE rn IN ({marks})", (owner, lease_until, *rns))
            return conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE rn IN ({marks}) ORDER BY rn", rns).fetchall()

        rows = self._tx(body)
        with self._decoding("a run"):
            return [run_from_row(r) for r in rows]

    def get_cursor(self, name: str) -> int | None:
        rows = self._read("SELECT seq FROM cursors WHERE name=?", (name,))
        return int(rows[0][0]) if rows else None

    def move_cursor(self, name: str, seq: int, *, expect: int | None) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            if expect is None:
                cur = conn.execute("INSERT OR IGNORE INTO cursors (name, seq) VALUES (?, ?)", (name, seq))
            else:
                cur = conn.execute("UPDATE cursors SET seq=? WHERE name=? AND seq=?", (seq, name, expect))
            return bool(cur.rowcount == 1)

        moved: bool = self._tx(body)
        return moved

    # -- reads --------------------------------------------------------------------------------------

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._reader.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "decode to UTF-8" not in str(exc):
                    raise self._fault(exc, "read") from exc
            except sqlite3.Error as exc:
                raise self._fault(exc, "read") from exc
            # A row holds bytes that are not UTF-8 (nbdurable never writes them): read it anyway, flagged
            # (BadText), so one damaged row is shown as unreadable instead of hiding the whole journal.
            self._reader.text_factory = _tolerant_text
            try:
                return self._reader.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._fault(exc, "read") from exc
            finally:
                self._reader.text_factory = str

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._read(f"SELECT {_RUN_COLS} FROM runs WHERE run_id=?", (run_id,))
        with self._decoding(f"run {run_id!r}"):
            return run_from_row(rows[0]) if rows else None

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
        rows = self._read(sql, params)
        with self._decoding("a run"):
            return [run_from_row(r) for r in rows]

    def load_steps(self, run_id: str) -> list[StepRecord]:
        rows = self._read(
            f"SELECT {_STEP_COLS} FROM steps WHERE rn=(SELECT rn FROM runs WHERE run_id=?)",
            (run_id,),
        )
        with self._decoding(f"a step of run {run_id!r}"):
            out = self._steps_from_rows(run_id, rows, _loads)
        out.sort(key=_by_position)
        return out

    def load_replay(self, run_id: str) -> ReplaySteps:
        rows = self._read(
            f"SELECT {_PLAIN_COLS}, {_PLAIN_REST}, meta FROM steps WHERE rn=(SELECT rn FROM runs WHERE run_id=?)",
            (run_id,),
        )
        # Rows in key order, not sorted: replay looks steps up by id (RunState.load keeps, per position, the
        # first row by id, as a stable sort by position would).
        plain: list[tuple[Any, ...]] = []
        others: list[Any] = []
        for r in rows:
            # A completed "run" step with its result (and its inputs' hash and preview), every column of the type
            # nbdurable writes: what check_step would pass unchanged (SQLite checked the columns not read: r[7];
            # anything else goes through check_step). One chain: replay's hot path.
            if (
                r[7] == 1
                and type(r[0]) is str
                and type(r[2]) is int
                and (r[4] is None or type(r[4]) is str)
                and (r[1] is None or type(r[1]) is str)
                and (r[5] is None or type(r[5]) is str)
                and (r[3] is None or type(r[3]) is bytes)
                and (r[6] is None or type(r[6]) is bytes)
                and (r[8] is None or (type(r[8]) is str and meta_ok(_short_json(r[8]))))
            ):
                plain.append(r if r[8] is None else (*r[:8], None))  # the inputs' preview stays in the journal
            else:
                others.append(r[0])
        with self._decoding(f"a step of run {run_id!r}"):
            records = self._steps_from_rows(run_id, self._whole_rows(run_id, others, plain), _loads)

        def whole(some: Sequence[tuple[Any, ...]]) -> list[StepRecord]:
            return self._plain_records(run_id, some)

        return ReplaySteps(records=records, plain=plain, whole=whole)

    def _whole_rows(self, run_id: str, step_ids: list[Any], plain: list[tuple[Any, ...]]) -> list[Any]:
        """All columns of the run's steps ``step_ids`` (every step but the ``plain`` ones when some id cannot be
        asked for: one that is not valid UTF-8 reads back as other text)."""
        if not step_ids:
            return []
        found: list[Any] = []
        for start in range(0, len(step_ids), 500):  # well under SQLite's limit on bound parameters
            chunk = step_ids[start : start + 500]
            found.extend(
                self._read(
                    f"SELECT {_STEP_COLS} FROM steps WHERE rn=(SELECT rn FROM runs WHERE run_id=?) "
                    f"AND step_id IN ({','.join('?' * len(chunk))})",
                    (run_id, *chunk),
                )
            )
        if len(found) == len(step_ids):
            return found
        kept = {r[PLAIN_STEP_ID] for r in plain}
        everything = self._read(
            f"SELECT {_STEP_COLS} FROM steps WHERE rn=(SELECT rn FROM runs WHERE run_id=?)", (run_id,)
        )
        return [r for r in everything if not (type(r[0]) is str and r[0] in kept)]

    def _plain_records(self, run_id: str, rows: Sequence[tuple[Any, ...]]) -> list[StepRecord]:
        """StepRecords of plain rows (ReplaySteps.whole), their other columns read now, in one query per 500."""
        with self._decoding(f"a step of run {run_id!r}"):
            found = self._steps_from_rows(
                run_id, self._whole_rows(run_id, [r[PLAIN_STEP_ID] for r in rows], []), _loads
            )
        by_id = {rec.step_id: rec for rec in found}
        return [by_id.get(r[PLAIN_STEP_ID]) or _from_plain(run_id, r) for r in rows]

    @staticmethod
    def _steps_from_rows(run_id: str, rows: list[Any], loads: Callable[[str], Any]) -> list[StepRecord]:
        # Each row is checked (_rows.check_step): a value nbdurable never writes is replaced and named.
        return [
            # Positional, in the columns' order: this runs once per step on every load (replay's hot path), and
            # keyword arguments cost ~0.3 us more per row. Everywhere else StepRecord is built with keywords.
            check_step(
                StepRecord(
                    run_id,
                    r[0],
                    r[1] if r[1] is not None else r[0],
                    r[2],
                    r[3] or "run",
                    r[4] or "completed",
                    r[5],
                    _hash_text(r[6]),
                    r[7] if type(r[7]) is not bytes else unpack_output(r[7]),
                    r[8],
                    None if r[9] is None else loads(r[9]),
                    r[10],
                    r[11],
                    r[12],
                    None if r[13] is None else loads(r[13]),
                    _hash_text(r[14]),
                )
            )
            for r in rows
        ]

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        rows = self._read(
            "SELECT r.run_id, count(s.step_id) FROM runs r LEFT JOIN steps s ON s.rn=r.rn AND s.status IS NULL "
            f"WHERE r.run_id IN ({','.join('?' * len(run_ids))}) GROUP BY r.run_id",
            list(run_ids),
        )
        return {r[0]: r[1] for r in rows}

    def summarize_steps(self, run_ids: Sequence[str]) -> dict[str, StepSummary]:
        out: dict[str, StepSummary] = {}
        ids = list(dict.fromkeys(run_ids))
        for start in range(0, len(ids), 500):  # well under SQLite's limit on bound parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._read(_SUMMARY_SQL.format(marks=marks), [*chunk, *chunk]):
                ai_steps, priced = int(row[6] or 0), int(row[9] or 0)
                out[row[0]] = StepSummary(
                    total=int(row[1]),
                    done=int(row[2] or 0),
                    failed=int(row[3] or 0),
                    attempts=int(row[4] or 0),
                    last_at=row[5],
                    ai_steps=ai_steps,
                    tokens_in=int(row[7] or 0),
                    tokens_out=int(row[8] or 0),
                    cost=float(row[10] or 0.0) if ai_steps and priced == ai_steps else None,
                )
        return out

    def get_event(self, event_id: str) -> EventRecord | None:
        rows = self._read("SELECT seq, event_id, name, data, ts FROM events WHERE event_id=?", (event_id,))
        return _event_from_row(rows[0]) if rows else None

    def events_after(self, name: str | None, after_seq: int, *, limit: int = 100) -> list[EventRecord]:
        if name is None:
            rows = self._read(
                "SELECT seq, event_id, name, data, ts FROM events WHERE seq>? ORDER BY seq LIMIT ?", (after_seq, limit)
            )
        else:
            rows = self._read(
                "SELECT seq, event_id, name, data, ts FROM events WHERE name=? AND seq>? ORDER BY seq LIMIT ?",
                (name, after_seq, limit),
            )
        # An event row nbdurable never wrote (edited, damaged) is skipped rather than delivered.
        return [e for r in rows if (e := _event_from_row(r)) is not None]

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
                raise self._fault(exc, "read") from exc

    def close(self) -> None:
        with self._lock:
            for conn in (self._writer, self._reader):
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
