"""The journal on PostgreSQL: many processes on many machines share one journal.

The same :class:`~nbdurable.journal._protocol.Journal` protocol as SQLite, with the same
rows (``_postgres_schema.py``), so the engine does not know which one it talks to.

**Why synchronous, on the event loop's thread.** The engine already turns every
write made in one turn of the loop into one batch (group commit), so what a
commit costs is one round trip to the server plus the server's commit. A
dedicated database thread would add two thread hops to each commit (measured in
docs/benchmarks.md: more than the round trip itself on loopback) and the GIL
would still serialize the Python work; psycopg's async connection runs on the
same loop but adds a task switch per query. So the loop thread sends short
statements on one connection (the *writer*), each commit is one round trip
(a single step: one prepared statement in autocommit; a group commit: one
pipeline holding BEGIN, the statements and COMMIT), and nothing ever holds a
transaction open across an ``await``. Work that must not wait behind the loop
(the lease heartbeat thread, the change notifier) uses a small
``psycopg_pool`` pool.

**Claims and fences** are the SQLite journal's three statements (see the
architecture doc): insert-if-absent, a conditional ``UPDATE ... WHERE epoch = ...``,
and every fenced write checking the epoch in its own statement, under a
``FOR SHARE`` lock of the run row so a claim cannot commit between the check and
the write. A failed claim or fence raises inside the statement (``nbd_lost``),
which rolls back the whole batch in the same round trip.

**Notifications** (``_postgres_notify.py``): each commit notes what it changed;
a background thread announces it with ``NOTIFY``, coalesced, never on the
commit's own round trip, on two channels (work for every process; runs and steps
only for runs some process follows, and only to processes that follow), and a listener thread
turns what others announce into ``change_token()`` moves and ``subscribe``
callbacks. The statements and the
conversions between records and rows are in ``_postgres_sql.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

try:
    import psycopg
    import psycopg.conninfo
    import psycopg_pool
except ImportError as _missing:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"the PostgreSQL journal needs psycopg 3 and psycopg-pool: pip install 'nbdurable[postgres]' ({_missing})"
    ) from _missing

from .._errors import (
    ClaimLostError,
    ConfigError,
    JournalBusyError,
    JournalError,
    JournalReadOnlyError,
    JournalUnavailableError,
    JournalVersionError,
)
from ._backends import redact_dsn
from ._postgres_notify import Notices
from ._postgres_schema import MIGRATIONS, SCHEMA_VERSION
from ._postgres_sql import (
    DEFAULT_SCHEMA,
    Statements,
    check_conninfo,
    check_schema,
    field_value,
    split_dsn,
    step_params,
    steps_from_rows,
)
from ._protocol import EventRecord, ReplaySteps, RunRecord, StepRecord, StepSummary, Write
from ._rows import check_event, run_changes, run_conditions
from ._sqlite_schema import _RUN_COLS, _loads, _run_params, run_from_row

__all__ = ["DEFAULT_SCHEMA", "PostgresJournal", "split_dsn"]

# Journals still open at interpreter exit are closed then, so what they committed is announced before the
# process goes (a script that sends an event or cancels a run and returns).
_open_journals: weakref.WeakSet[PostgresJournal] = weakref.WeakSet()


@atexit.register
def _close_open_journals() -> None:
    for journal in list(_open_journals):
        with contextlib.suppress(Exception):
            journal.close()


Durability = Literal["normal", "full"]


class PostgresJournal:
    """A journal in a PostgreSQL database, shared by every process (and machine) that connects to it.

    ``dsn`` is a ``postgresql://`` URL or a libpq ``key=value`` string; ``schema``
    (default ``nbdurable``, or the URL's ``?schema=`` parameter) holds its tables,
    created on first use with this role's privileges (``CREATE`` on the database, or
    an existing schema it may create in). ``durability="full"`` waits for each
    commit to reach the server's disk (``synchronous_commit=on``); ``"normal"`` (the
    default, as on SQLite) lets the server flush a fraction of a second later
    (``synchronous_commit=off``): a killed client or worker loses nothing, a crash
    of the database server may lose the last commits.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        durability: Durability = "normal",
        readonly: bool = False,
        busy_timeout: float = 30.0,
        pool_size: int = 4,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ConfigError(f"durability must be 'normal' or 'full', got {durability!r}")
        try:
            conninfo, url_schema = split_dsn(dsn)
            check_conninfo(conninfo)
        except psycopg.ProgrammingError as exc:
            said = str(exc).strip()
            for raw in {dsn, dsn.partition("?")[0]}:
                said = said.replace(raw, redact_dsn(raw))  # libpq quotes the string, password and all
            raise ConfigError(
                f"not a PostgreSQL connection string: {redact_dsn(dsn)} ({said}). Fix the value given to "
                "nd.configure, --journal or NBDURABLE_JOURNAL (postgresql://user@host:5432/db, or host=... dbname=...)"
            ) from None
        self.schema = check_schema(schema or url_schema or os.environ.get("NBDURABLE_PG_SCHEMA") or DEFAULT_SCHEMA)
        self.durability: Durability = durability
        self.readonly_reason = "opened read-only as asked" if readonly else None
        self.busy_timeout = busy_timeout
        self._conninfo = conninfo
        self._display = redact_dsn(dsn) if "schema=" in dsn else redact_dsn(dsn) + f" (schema {self.schema})"
        self._sql = Statements(self.schema)
        self._events_lock_key = (
            int.from_bytes(uuid.uuid5(uuid.NAMESPACE_URL, "nbdurable-events:" + self.schema).bytes[:8], "big") >> 1
        )
        self._lock = threading.RLock()
        self._closed = False
        self._writer: psycopg.Connection[Any] | None = None
        self._pool_size = max(1, pool_size)
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._notices = Notices(conninfo, f"nbdurable_{self.schema}"[:63], lock=self._lock, pooled=self._pooled)
        self._writer = self._connect()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise
        _open_journals.add(self)

    # -- connections --------------------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        # A lock held by another process's short transaction is waited for a moment; longer means something
        # is stuck, and the engine retries (JournalBusyError) from the loop instead of blocking it.
        conn.execute("SET lock_timeout = '2s'")
        conn.execute("SET synchronous_commit = " + ("on" if self.durability == "full" else "off"))
        if self.readonly_reason is not None:
            conn.execute("SET default_transaction_read_only = on")

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, application_name="nbdurable", connect_timeout=10)
        except psycopg.Error as exc:
            raise self._fault(exc, "connect to") from None
        conn.prepare_threshold = 1
        try:
            self._configure(conn)
        except psycopg.Error as exc:
            conn.close()
            raise self._fault(exc, "connect to") from None
        return conn

    def _conn(self) -> psycopg.Connection[Any]:
        """The writer connection, reopened if it broke (the caller holds the lock)."""
        if self._closed:
            raise JournalError(f"the journal at {self.location} is closed")
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            self._writer = None
            conn = self._writer = self._connect()
        return conn

    def _get_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        with self._lock:
            if self._pool is None:
                self._pool = psycopg_pool.ConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True, "application_name": "nbdurable", "connect_timeout": 10},
                    configure=self._configure,
                    open=True,
                    name=f"nbdurable-{self.schema}",
                    timeout=self.busy_timeout,
                )
            return self._pool

    @contextlib.contextmanager
    def _pooled(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool, for threads that must not wait behind the loop's writer."""
        try:
            with self._get_pool().connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout as exc:
            raise JournalUnavailableError(f"cannot {doing} the journal at {self.location}: {exc}") from None
        except psycopg.Error as exc:
            raise self._fault(exc, doing) from None

    # -- faults -------------------------------------------------------------------------------------

    def _fault(self, exc: psycopg.Error, doing: str) -> JournalError:
        """The JournalError for a psycopg failure: its cause in words, and what to do about it."""
        where = f"cannot {doing} the journal at {self.location}"
        state = getattr(exc, "sqlstate", None) or ""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, psycopg.OperationalError) and (state == "" or state.startswith("08") or state == "57P01"):
            return JournalUnavailableError(
                f"{where}: the database server cannot be reached ({detail}). Check that it runs and that this "
                "machine can reach it; what was committed before is kept, and the run resumes from its last "
                "committed step once the server is back."
            )
        if state in ("40001", "40P01", "55P03", "57014"):
            return JournalBusyError(f"the journal at {self.location} is locked by another process ({detail})")
        if state == "42501":
            return JournalError(
                f"{where}: this role lacks a privilege ({detail}). The journal needs to create its schema "
                f"{self.schema!r} (GRANT CREATE ON DATABASE <db> TO <role>), or an existing schema it may create "
                f"tables in (CREATE SCHEMA {self.schema} AUTHORIZATION <role>)."
            )
        if state == "25006":
            return JournalReadOnlyError(f"{where}: the journal is read-only here ({detail})")
        if state in ("53100", "53200"):
            from .._errors import JournalFullError

            return JournalFullError(f"{where}: the database server is out of room ({detail})")
        return JournalError(f"{where}: {detail}")

    def _check_writable(self) -> None:
        if self.readonly_reason is not None:
            raise JournalReadOnlyError(
                f"the journal at {self.location} is open read-only ({self.readonly_reason}): reading works, "
                "writing does not."
            )

    @property
    def readonly(self) -> bool:
        return self.readonly_reason is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def location(self) -> str:
        return self._display

    def __repr__(self) -> str:
        return f"PostgresJournal({self._display!r}, durability={self.durability!r})"

    # -- schema -------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Create or upgrade the schema, in one transaction that every other process opening it waits for."""
        s = self._sql.s
        with self._lock:
            conn = self._conn()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("nbdurable:schema:" + self.schema,))
                    version = self._version(conn)
                    if version > SCHEMA_VERSION:
                        raise JournalVersionError(
                            f"the journal at {self.location} has schema version {version}, written by a newer "
                            f"nbdurable; this release reads up to version {SCHEMA_VERSION}. Upgrade nbdurable to "
                            "open it; nothing was changed."
                        )
                    if version < SCHEMA_VERSION and self.readonly_reason is not None:
                        raise JournalReadOnlyError(
                            f"the journal at {self.location} has schema version {version}, older than this "
                            f"release's ({SCHEMA_VERSION}), and is open read-only, so it cannot be upgraded. Open it "
                            "once with write access."
                        )
                    if version == SCHEMA_VERSION:
                        return
                    if version == 0:
                        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                    for target in range(version, SCHEMA_VERSION):
                        conn.execute(MIGRATIONS[target].replace("{s}", s))
                        conn.execute(
                            f"INSERT INTO {s}.meta (key, value) VALUES ('schema_version', %s) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (str(target + 1),),
                        )
                    conn.execute(
                        f"INSERT INTO {s}.meta (key, value) VALUES ('application', 'nbdurable') "
                        "ON CONFLICT (key) DO NOTHING"
                    )
            except psycopg.Error as exc:
                raise self._fault(exc, "open") from None

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        """The schema's version: 0 when there is no schema (or an empty one); refuses someone else's schema."""
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, (SELECT count(*) FROM pg_tables WHERE schemaname = %s)",
            (f"{self._sql.s}.meta", self.schema),
        ).fetchone()
        assert row is not None
        has_meta, tables = bool(row[0]), int(row[1])
        if not has_meta:
            if tables:
                raise JournalError(
                    f"the schema {self.schema!r} at {redact_dsn(self._conninfo)} holds tables that are not an "
                    "nbdurable journal; nothing was changed. Choose another schema (?schema=name in the URL)."
                )
            return 0
        found = dict(conn.execute(f"SELECT key, value FROM {self._sql.s}.meta").fetchall())
        if found.get("application") != "nbdurable":
            raise JournalError(
                f"the schema {self.schema!r} is not an nbdurable journal; nothing was changed. Choose another schema."
            )
        try:
            return int(found.get("schema_version", "0"))
        except ValueError:
            raise JournalError(f"the journal at {self.location} has an unreadable schema version") from None

    # -- writes -------------------------------------------------------------------------------------

    def write(self, batch: Sequence[Write]) -> None:
        # The hot path of every step commit: one round trip whatever the batch holds.
        self._check_writable()
        if not batch:
            return
        with self._lock:
            conn = self._conn()
            try:
                try:
                    if len(batch) == 1:
                        self._apply(conn, batch[0])
                    else:
                        with conn.pipeline(), conn.transaction():
                            for w in batch:
                                self._apply(conn, w)
                except psycopg.Error as exc:
                    if getattr(exc, "sqlstate", None) != "NB001":
                        raise
                    raise self._lost(conn, batch) from None
            except psycopg.DataError as exc:
                # A value the database refuses (a NUL character, a number out of range): not the journal's fault;
                # the engine then writes the batch one write at a time, so only that write fails.
                raise ValueError(f"PostgreSQL refused a value: {str(exc).strip()}") from None
            except psycopg.Error as exc:
                if getattr(exc, "sqlstate", None) == "NB002":
                    raise JournalError(
                        f"run {exc.diag.message_primary!r} is not in the journal at {self.location}"
                    ) from None
                raise self._fault(exc, "write") from None
        self._notices.written(batch)

    def _apply(self, conn: psycopg.Connection[Any], w: Write) -> None:
        q = self._sql
        if w.op == "step":
            s = w.step
            assert s is not None
            if w.epoch is not None:
                conn.execute(q.fenced_step, (s.run_id, w.epoch, *step_params(s), s.run_id), prepare=True)
            else:
                conn.execute(q.step, (s.run_id, *step_params(s), s.run_id), prepare=True)
        elif w.op == "run":
            r = w.run
            assert r is not None
            conn.execute(q.insert_run, (*_run_params(r), r.run_id), prepare=True)
        elif w.op == "run_update":
            self._update_run(conn, w)
        elif w.op == "trigger":
            conn.execute(
                q.trigger,
                (w.event_id, w.function_id, w.run_id, w.run_id, w.event_id, w.function_id, w.run_id),
                prepare=True,
            )
        elif w.op == "delete_run":
            conn.execute(q.delete_run, (w.run_id, w.run_id, w.run_id))
        else:  # pragma: no cover - Write.op is a Literal
            raise JournalError(f"unknown write {w.op!r}")

    def _update_run(self, conn: psycopg.Connection[Any], w: Write) -> None:
        fields = run_changes("write", w.fields)
        s = self._sql.s
        sets = ", ".join(f"{k} = %s" for k in fields)
        values = [field_value(k, v) for k, v in fields.items()]
        # A status guard (unless_status): how a cancel and a run's last write cannot both win.
        guard, guarded = ("", ()) if not w.unless_status else (" AND status <> ALL(%s)", (sorted(w.unless_status),))
        if w.epoch is None:
            conn.execute(
                f"UPDATE {s}.runs SET {sets} WHERE run_id = %s{guard}", (*values, w.run_id, *guarded), prepare=True
            )
            return
        # Nothing updated: a lost claim (raised), unless only the guard held it back while the claim holds.
        check = f"{s}.nbd_fence(%s, %s)" if guard else f"{s}.nbd_lost(%s)"
        conn.execute(
            f"WITH u AS (UPDATE {s}.runs SET {sets} WHERE run_id = %s AND epoch = %s{guard} RETURNING 1) "
            f"SELECT {check} WHERE NOT EXISTS (SELECT 1 FROM u)",
            (*values, w.run_id, w.epoch, *guarded, w.run_id, *((w.epoch,) if guard else ())),
            prepare=True,
        )

    def _lost(self, conn: psycopg.Connection[Any], batch: Sequence[Write]) -> ClaimLostError:
        """Which runs of a refused batch lost their claim (all of them, with their owners); nothing is applied.

        The batch failed on its first lost run; the rest is tried again in transactions that are always
        rolled back, taking out each lost run in turn. Rare (a claim was taken over), so it can cost more.
        """
        lost: dict[str, str | None] = {}
        while True:
            rest = [w for w in batch if w.target not in lost]
            try:
                with conn.pipeline(), conn.transaction(force_rollback=True):
                    for w in rest:
                        self._apply(conn, w)
                break
            except psycopg.Error as exc:
                if getattr(exc, "sqlstate", None) != "NB001":
                    raise
                run_id = exc.diag.message_primary or ""
                lost[run_id] = exc.diag.message_detail or None
                if not rest or run_id not in {w.target for w in rest}:
                    break
        return ClaimLostError(
            f"the journal at {self.location} refused writes of run(s) {', '.join(map(repr, lost))}: another "
            "process claimed them",
            run_ids=tuple(lost),
            owners=lost,
        )

    def add_event(self, event_id: str, name: str, data: dict[str, Any], ts: float) -> EventRecord | None:
        self._check_writable()
        payload = json.dumps(data, separators=(",", ":"), default=str)
        with self._lock:
            conn = self._conn()
            try:
                # The advisory lock makes event commits follow seq order, so a reader that saw seq n has seen
                # every event below it (waits scan "after the last seq seen").
                row = conn.execute(
                    self._sql.add_event, (event_id, name, payload, ts, self._events_lock_key), prepare=True
                ).fetchone()
            except psycopg.DataError as exc:
                raise ConfigError(f"event {name!r}: PostgreSQL refused a value ({str(exc).strip()})") from None
            except psycopg.Error as exc:
                raise self._fault(exc, "write") from None
            if row is None:
                return None
            self._notices.note("event", name)
        self._notices.announce()
        return EventRecord(seq=int(row[0]), event_id=event_id, name=name, data=data, ts=ts)

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
        s = self._sql.s
        sets = ", ".join(f"{k} = %s" for k in changes)
        values = [field_value(k, v) for k, v in changes.items()]
        with self._lock:
            conn = self._conn()
            try:
                row = conn.execute(
                    f"UPDATE {s}.runs SET owner = %s, epoch = epoch + 1, lease_until = %s, {sets} "
                    "WHERE run_id = %s AND epoch = %s AND status = %s RETURNING epoch",
                    (owner, lease_until, *values, run_id, epoch, status),
                    prepare=True,
                ).fetchone()
            except psycopg.DataError as exc:
                raise ValueError(f"PostgreSQL refused a value: {str(exc).strip()}") from None
            except psycopg.Error as exc:
                raise self._fault(exc, "write") from None
            if row is None:
                return None
            self._notices.watch(run_id)
            self._notices.note_run(run_id)  # the process it was taken from finds out at its next fenced write
        self._notices.announce()
        return int(row[0])

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
        s = self._sql.s
        sets = ", ".join(f"{k} = %s" for k in changes)
        # Each expected field as stored (JSON fields as the text _dumps writes); NULL matches None.
        where = "".join(f" AND {k} IS NOT DISTINCT FROM %s" for k in conditions)
        params = [field_value(k, v) for k, v in conditions.items()]
        values = [field_value(k, v) for k, v in changes.items()]
        applied = False
        with self._lock:
            conn = self._conn()
            try:
                with conn.transaction():
                    # The trigger first: a second process linking the same event waits for this one's commit.
                    if (
                        trigger is not None
                        and not conn.execute(
                            f"INSERT INTO {s}.triggers (event_id, function_id, run_id) VALUES (%s, %s, %s) "
                            "ON CONFLICT DO NOTHING RETURNING 1",
                            (*trigger, run_id),
                        ).fetchone()
                    ):
                        raise psycopg.Rollback()
                    if not conn.execute(
                        f"UPDATE {s}.runs SET {sets} WHERE run_id = %s{where} RETURNING 1", (*values, run_id, *params)
                    ).fetchone():
                        raise psycopg.Rollback()
                    applied = True
            except psycopg.DataError as exc:
                raise ValueError(f"PostgreSQL refused a value: {str(exc).strip()}") from None
            except psycopg.Error as exc:
                raise self._fault(exc, "write") from None
            if applied:
                self._notices.note_run(run_id, own=epoch is not None)
                if epoch is None:  # not the run's own write: its owner hears it on the work channel
                    self._notices.note("run", run_id)
        self._notices.announce()
        return applied

    # -- flow control -------------------------------------------------------------------------------

    def _call(self, query: str, params: Sequence[Any], doing: str = "write") -> Any:
        """One statement on the writer connection (autocommit: it is its own transaction)."""
        self._check_writable()
        with self._lock:
            conn = self._conn()
            try:
                return conn.execute(query, params, prepare=True).fetchone()
            except psycopg.Error as exc:
                raise self._fault(exc, doing) from None

    def acquire_slot(
        self, scope: str, key: str, run_id: str, holder: str, *, limit: int, rank: float, expires_at: float, now: float
    ) -> tuple[bool, int, int]:
        row = self._call(self._sql.acquire_slot, (scope, key, run_id, holder, limit, rank, expires_at, now))
        return bool(row[0]), int(row[1]), int(row[2])

    def release_slot(self, scope: str, key: str, run_id: str) -> None:
        s = self._sql.s
        self._check_writable()
        with self._lock:
            conn = self._conn()
            try:
                cur = conn.execute(
                    f"WITH l AS (DELETE FROM {s}.leases WHERE scope = %s AND key = %s AND run_id = %s RETURNING 1) "
                    f"DELETE FROM {s}.waiters WHERE scope = %s AND key = %s AND run_id = %s "
                    "RETURNING (SELECT count(*) FROM l)",
                    (scope, key, run_id, scope, key, run_id),
                    prepare=True,
                )
                cur.fetchall()
            except psycopg.Error as exc:
                raise self._fault(exc, "write") from None
            self._notices.note("slot", scope + "\x1f" + key)
        self._notices.announce()

    def slot_holders(self, scope: str, key: str) -> list[str]:
        s = self._sql.s
        rows = self._rows(
            f"SELECT holder FROM {s}.leases WHERE scope = %s AND key = %s "
            f"UNION SELECT holder FROM {s}.waiters WHERE scope = %s AND key = %s",
            (scope, key, scope, key),
        )
        return [r[0] for r in rows if r[0]]

    def drop_holder(self, holder: str) -> int:
        s = self._sql.s
        self._check_writable()
        with self._lock:
            conn = self._conn()
            try:
                cur = conn.execute(
                    f"WITH w AS (DELETE FROM {s}.waiters WHERE holder = %s) DELETE FROM {s}.leases WHERE holder = %s",
                    (holder, holder),
                    prepare=True,
                )
                dropped = cur.rowcount
            except psycopg.Error as exc:
                raise self._fault(exc, "write") from None
            if dropped:
                self._notices.note("slot", "*")
        self._notices.announce()
        return int(dropped)

    def renew_leases(self, holder: str, expires_at: float, *, runs: Sequence[str] = ()) -> None:
        # Called by the heartbeat thread: on a pooled connection, so it never waits behind the loop's writer.
        # SKIP LOCKED: a run row locked right now is being written by its owner, which is proof of life enough;
        # waiting for it could deadlock against a group commit that locks the same rows in another order.
        self._check_writable()
        s = self._sql.s
        with self._pooled("write") as conn:
            conn.execute(
                f"WITH l AS (UPDATE {s}.leases SET expires_at = %s WHERE holder = %s), "
                f"w AS (UPDATE {s}.waiters SET seen_at = %s WHERE holder = %s) "
                f"UPDATE {s}.runs SET lease_until = %s WHERE rn IN (SELECT rn FROM {s}.runs "
                "WHERE owner = %s AND run_id = ANY(%s) FOR UPDATE SKIP LOCKED)",
                (expires_at, holder, time.time(), holder, expires_at, holder, list(runs)),
                prepare=True,
            )

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
        row = self._call(self._sql.take_mark, (scope, key, now, since, max_count, max_weight, weight))
        return bool(row[0]), None if row[1] is None else float(row[1])

    def add_mark(self, scope: str, key: str, ts: float, weight: int) -> None:
        self._call(
            f"INSERT INTO {self._sql.s}.marks (scope, key, ts, weight) VALUES (%s, %s, %s, %s) RETURNING 1",
            (scope, key, ts, weight),
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
        """One statement: candidates locked with SKIP LOCKED, so workers asking at once get different runs."""
        if not function_ids or limit < 1:
            return []
        s = self._sql.s
        rows = self._call_all(
            f"UPDATE {s}.runs SET owner = %s, lease_until = %s WHERE rn IN ("
            f"SELECT rn FROM {s}.runs WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'sleeping', "
            "'waiting') AND function_id = ANY(%s) AND (%s::text[] IS NULL OR queue = ANY(%s)) "
            "AND (owner IS NULL OR lease_until < %s) ORDER BY rn LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"RETURNING {_RUN_COLS}",
            (owner, lease_until, list(function_ids), None if queues is None else list(queues),
             None if queues is None else list(queues), now, limit),
        )  # fmt: skip
        runs = [run_from_row(r) for r in rows]
        runs.sort(key=lambda r: r.created_at)
        return runs

    def get_cursor(self, name: str) -> int | None:
        rows = self._rows(f"SELECT seq FROM {self._sql.s}.cursors WHERE name = %s", (name,))
        return int(rows[0][0]) if rows else None

    def move_cursor(self, name: str, seq: int, *, expect: int | None) -> bool:
        s = self._sql.s
        if expect is None:
            rows = self._call_all(
                f"INSERT INTO {s}.cursors (name, seq) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING RETURNING 1",
                (name, seq),
            )
        else:
            rows = self._call_all(
                f"UPDATE {s}.cursors SET seq = %s WHERE name = %s AND seq = %s RETURNING 1", (seq, name, expect)
            )
        return bool(rows)

    def _call_all(self, query: str, params: Sequence[Any]) -> list[Any]:
        self._check_writable()
        with self._lock:
            conn = self._conn()
            try:
                return conn.execute(query, params, prepare=True).fetchall()
            except psycopg.Error as exc:
                raise self._fault(exc, "write") from None

    # -- reads --------------------------------------------------------------------------------------

    def _rows(self, query: str, params: Sequence[Any] = (), *, prepare: bool | None = None) -> list[Any]:
        with self._lock:
            conn = self._conn()
            try:
                return conn.execute(query, params, prepare=prepare).fetchall()
            except psycopg.DataError as exc:
                raise ConfigError(f"PostgreSQL refused a value in a query: {str(exc).strip()}") from None
            except psycopg.Error as exc:
                raise self._fault(exc, "read") from None

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._rows(self._sql.get_run, (run_id,), prepare=True)
        return run_from_row(rows[0]) if rows else None

    def list_runs(
        self, *, statuses: Sequence[str] | None = None, function_id: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        where: list[str] = []
        params: list[Any] = []
        if statuses:
            where.append("status = ANY(%s)")
            params.append(list(statuses))
        if function_id is not None:
            where.append("function_id = %s")
            params.append(function_id)
        query = f"SELECT {_RUN_COLS} FROM {self._sql.s}.runs"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY rn DESC"
        if limit is not None:
            query += " LIMIT %s"
            params.append(int(limit))
        return [run_from_row(r) for r in self._rows(query, params)]

    def load_steps(self, run_id: str) -> list[StepRecord]:
        return steps_from_rows(run_id, self._rows(self._sql.load_steps, (run_id,), prepare=True))

    def load_replay(self, run_id: str) -> ReplaySteps:
        return ReplaySteps(records=self.load_steps(run_id))

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        s = self._sql.s
        rows = self._rows(
            f"SELECT r.run_id, count(st.step_id) FROM {s}.runs r LEFT JOIN {s}.steps st "
            "ON st.rn = r.rn AND st.status IS NULL WHERE r.run_id = ANY(%s) GROUP BY r.run_id",
            (list(run_ids),),
        )
        return {r[0]: int(r[1]) for r in rows}

    def summarize_steps(self, run_ids: Sequence[str]) -> dict[str, StepSummary]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return {}
        s = self._sql.s
        rows = self._rows(
            "SELECT r.run_id, count(st.step_id), count(st.step_id) FILTER (WHERE st.status IS NULL), "
            "count(*) FILTER (WHERE st.status = 'failed'), coalesce(sum(st.attempt), 0), "
            "max(greatest(st.started_at, coalesce(st.ended_at, 0))) FILTER (WHERE st.step_id IS NOT NULL), "
            "count(*) FILTER (WHERE st.ai), "
            "coalesce(sum(st.ai_tokens_in) FILTER (WHERE st.ai), 0), "
            "coalesce(sum(st.ai_tokens_out) FILTER (WHERE st.ai), 0), "
            "count(st.ai_cost) FILTER (WHERE st.ai), sum(st.ai_cost) FILTER (WHERE st.ai) "
            f"FROM {s}.runs r LEFT JOIN {s}.steps st ON st.rn = r.rn AND st.kind IS DISTINCT FROM 'value' "
            "WHERE r.run_id = ANY(%s) GROUP BY r.run_id",
            (ids,),
        )
        out: dict[str, StepSummary] = {}
        for row in rows:
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
        rows = self._rows(
            f"SELECT seq, event_id, name, data, ts FROM {self._sql.s}.events WHERE event_id = %s", (event_id,)
        )
        return check_event(rows[0][0], rows[0][1], rows[0][2], _loads(rows[0][3]), rows[0][4]) if rows else None

    def events_after(self, name: str | None, after_seq: int, *, limit: int = 100) -> list[EventRecord]:
        s = self._sql.s
        if name is None:
            rows = self._rows(
                f"SELECT seq, event_id, name, data, ts FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s",
                (after_seq, limit),
                prepare=True,
            )
        else:
            rows = self._rows(
                f"SELECT seq, event_id, name, data, ts FROM {s}.events WHERE name = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (name, after_seq, limit),
                prepare=True,
            )
        return [e for r in rows if (e := check_event(r[0], r[1], r[2], _loads(r[3]), r[4])) is not None]

    def last_event_seq(self) -> int:
        rows = self._rows(f"SELECT coalesce(max(seq), 0) FROM {self._sql.s}.events", prepare=True)
        return int(rows[0][0])

    def runs_for_event(self, event_id: str) -> list[tuple[str, str]]:
        rows = self._rows(
            f"SELECT function_id, run_id FROM {self._sql.s}.triggers WHERE event_id = %s ORDER BY function_id",
            (event_id,),
        )
        return [(r[0], r[1]) for r in rows]

    # -- notifications ------------------------------------------------------------------------------

    def change_token(self) -> int:
        """Moves when another process changed a run this journal writes for (or anything, for a reader).

        Local: no round trip, so the engine can ask before every step. The listener thread counts what
        other processes announce; it also moves when the listener (re)connects, since announcements may
        have been missed meanwhile. A journal that has not written for a run yet is a reader (the server
        extension, a listing): while it keeps asking it follows every run (see ``follow_runs``), so
        owners announce every run's changes and steps. (The engine adds a slow poll of
        its own for journals that notify, in case announcements never arrive, as behind a pooler that
        drops LISTEN.)
        """
        return self._notices.change_token()

    def subscribe(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``callback(kind, key)`` for each change another process announces (from a background thread).

        Kinds: ``run`` (a run's row: status, claim, cancel; key: run id), ``steps`` (a run's steps), ``event``
        (key: its name), ``slot`` (a concurrency slot freed; key: scope and key joined by U+001F, or ``*``),
        ``work`` (a run handed to workers; key: its queue, or ``*``). Also ``reconnect`` with an empty key when
        announcements may have been missed (the listener reconnected), and ``following`` when it began to
        follow runs (what changed before was not heard; the change token does not move for it). ``run`` and
        ``steps`` of runs executing elsewhere come only for runs followed here (``follow_runs``), or every
        run while this journal is a reader that asks ``change_token``; a change
        another process makes to a run executing here (a cancel) always comes. Returns a function that
        unsubscribes.
        """
        return self._notices.subscribe(callback)

    def follow_runs(self, run_id: str | None = None) -> Callable[[], None]:
        """Hear a run's changes and steps (every run's without ``run_id``) until the returned function is called.

        For a process that watches runs executing elsewhere (a handle waiting for a worker's run, its
        timeline). The listener listens to the runs channel, then asks the run's owner (whoever it is or
        will be) on the work channel to announce it, renewing the request while it follows; the owner
        announces it once as soon as it hears the request, so what was committed before is read again,
        and announces nothing of a run nobody follows. When the listener starts listening it announces
        ``following``, so what changed before is looked at again. Workers follow nothing, so they do no
        work for each other's steps.
        """
        return self._notices.follow_runs(run_id)

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Block until the listener is connected and listening (tests use it before relying on it).

        Also until it listens to the runs channel, or not, as runs are followed or not, has asked for the
        runs followed here, and has heard who follows the runs executing here (about a second after it
        connects: until then this journal announces every run it executes).
        """
        return self._notices.wait_listening(timeout)

    # -- closing ------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        # What was committed is announced before the process goes (a CLI cancel, a worker stopping).
        self._notices.close()
        self._closed = True
        with self._lock:
            if self._writer is not None:
                with contextlib.suppress(psycopg.Error):
                    self._writer.close()
                self._writer = None
            if self._pool is not None:
                with contextlib.suppress(Exception):
                    self._pool.close(timeout=5)
                self._pool = None
