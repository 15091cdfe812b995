"""The SQLite journal as a file on disk: privacy, WAL, durability, location, schema versions, sharing."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
import nbdurable.journal._sqlite as sqlite_module
from nbdurable.engine import registry
from nbdurable.journal._protocol import Write
from nbdurable.journal._sqlite import _APP_ID, MIGRATIONS, SCHEMA_VERSION, default_journal_path
from tests.helpers import reset_engine

REPO = Path(__file__).resolve().parents[2]
# Linux pids never exceed 2**22, so this process cannot exist.
DEAD_OWNER = f"{socket.gethostname()}:{2**22 + 1}:1"


@pytest.fixture(autouse=True)
def isolated_engine() -> Iterator[None]:
    """No engine leaks between tests; functions defined by a test are forgotten after it."""
    reset_engine()
    saved = dict(registry())
    yield
    registry().clear()
    registry().update(saved)
    reset_engine()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pragma(path: Path, name: str) -> Any:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


# -- privacy ----------------------------------------------------------------------------------------


def test_new_folder_is_0700_and_file_0600(tmp_path: Path) -> None:
    path = tmp_path / "private" / "journal.db"
    j = nd.SQLiteJournal(path)
    try:
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
    finally:
        j.close()


def test_modes_do_not_depend_on_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        j = nd.SQLiteJournal(tmp_path / "open" / "journal.db")
    finally:
        os.umask(old)
    try:
        assert mode(tmp_path / "open") == 0o700
        assert mode(tmp_path / "open" / "journal.db") == 0o600
    finally:
        j.close()


def test_wal_side_files_are_private_too(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    try:
        j.write([Write("run", run=nd.RunRecord("r1", "fn"))])
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()
        assert mode(wal) == 0o600
        assert mode(shm) == 0o600
    finally:
        j.close()


def test_an_existing_journal_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    nd.SQLiteJournal(path).close()
    os.chmod(path, 0o644)
    j = nd.SQLiteJournal(path)
    try:
        assert mode(path) == 0o600
    finally:
        j.close()


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    j = nd.SQLiteJournal(tmp_path / "journal.db")
    try:
        assert mode(tmp_path) == 0o755
    finally:
        j.close()


# -- WAL and durability -----------------------------------------------------------------------------


def test_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    try:
        assert pragma(path, "journal_mode") == "wal"
    finally:
        j.close()


@pytest.mark.parametrize(("durability", "level"), [("normal", 1), ("full", 2)])
def test_synchronous_follows_durability(tmp_path: Path, durability: Any, level: int) -> None:
    j = nd.SQLiteJournal(tmp_path / "journal.db", durability=durability)
    try:
        assert j.durability == durability
        assert durability in repr(j)
        # Both of the journal's connections: the writer commits, the reader may checkpoint.
        for conn in (j._writer, j._reader):
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        j.close()


def test_normal_is_the_default(tmp_path: Path) -> None:
    j = nd.SQLiteJournal(tmp_path / "journal.db")
    try:
        assert j.durability == "normal"
        assert j._writer.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        j.close()


def test_configure_passes_durability(tmp_path: Path) -> None:
    engine = nd.configure(tmp_path / "journal.db", durability="full")
    assert isinstance(engine.journal, nd.SQLiteJournal)
    assert engine.journal.durability == "full"
    assert engine.journal._writer.execute("PRAGMA synchronous").fetchone()[0] == 2


@pytest.mark.parametrize("bad", ["FULL", "off", "extra", ""])
def test_bad_durability_is_a_config_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(nd.ConfigError, match="durability"):
        nd.SQLiteJournal(tmp_path / "journal.db", durability=bad)  # type: ignore[arg-type]
    with pytest.raises(nd.ConfigError, match="durability"):
        nd.configure(tmp_path / "journal2.db", durability=bad)


# -- where the journal lives ------------------------------------------------------------------------


def test_default_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "from-env" / "j.db"
    monkeypatch.setenv("NBDURABLE_JOURNAL", str(target))
    assert default_journal_path() == target
    j = nd.SQLiteJournal()
    try:
        assert j.location == str(target)
        assert target.exists()
    finally:
        j.close()


def test_default_path_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NBDURABLE_JOURNAL", "~/journals/j.db")
    assert default_journal_path() == tmp_path / "journals" / "j.db"


@pytest.mark.parametrize("env", [None, ""])
def test_default_path_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    if env is None:
        monkeypatch.delenv("NBDURABLE_JOURNAL", raising=False)
    else:
        monkeypatch.setenv("NBDURABLE_JOURNAL", env)
    monkeypatch.chdir(tmp_path)
    expected = tmp_path / ".nbdurable" / "journal.db"
    assert default_journal_path() == expected
    j = nd.SQLiteJournal()
    try:
        assert Path(j.location) == expected
        assert mode(expected.parent) == 0o700
        assert mode(expected) == 0o600
    finally:
        j.close()


def test_configure_without_a_path_and_get_engine_use_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBDURABLE_JOURNAL", raising=False)
    monkeypatch.chdir(tmp_path)
    engine = nd.get_engine()  # first use opens the default journal
    assert Path(engine.journal.location) == tmp_path / ".nbdurable" / "journal.db"
    engine = nd.configure()
    assert Path(engine.journal.location) == tmp_path / ".nbdurable" / "journal.db"
    assert nd.get_engine() is engine


def test_configure_accepts_str_paths_and_journals(tmp_path: Path) -> None:
    engine = nd.configure(str(tmp_path / "a.db"))
    assert engine.journal.location == str(tmp_path / "a.db")
    memory = nd.MemoryJournal()
    engine = nd.configure(memory)
    assert engine.journal is memory


# -- schema versions --------------------------------------------------------------------------------


def build_v1(path: Path, *, app_id: bool) -> None:
    """A journal as release 1 wrote it: schema version 1, one run part-way, an event and a trigger."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    if app_id:
        conn.execute(f"PRAGMA application_id={_APP_ID}")
    conn.execute(
        "INSERT INTO runs (run_id, function_id, status, event, code_hash, kind, owner, attempt, event_seq, "
        "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            "old-run",
            "sqlite-migrated-fn",
            "running",
            '{"name":"sqlite-migrated-fn/run","data":{"x":20},"id":"old-run","ts":1.0}',
            "",
            "function",
            DEAD_OWNER,
            1,
            0,
            1.0,
            2.0,
        ),
    )
    conn.execute(
        "INSERT INTO steps (rn, step_id, name, position, kind, status, attempt, output, started_at, ended_at, meta) "
        "VALUES (1, 'a', NULL, 0, 'run', 'completed', 0, '41', 1.5, 1.6, '{\"input\":\"[20]\"}')"
    )
    conn.execute("INSERT INTO events (event_id, name, data, ts) VALUES ('ev1', 'old/event', '{\"k\":1}', 1.0)")
    conn.execute("INSERT INTO triggers VALUES ('ev1', 'sqlite-migrated-fn', 'old-run')")
    conn.close()


@pytest.mark.parametrize("app_id", [False, True])
def test_migrates_version_1_with_data_intact(tmp_path: Path, app_id: bool) -> None:
    path = tmp_path / "v1.db"
    build_v1(path, app_id=app_id)
    assert pragma(path, "user_version") == 1
    j = nd.SQLiteJournal(path)
    try:
        assert j._reader.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        run = j.get_run("old-run")
        assert run is not None
        assert (run.function_id, run.status, run.owner, run.attempt) == (
            "sqlite-migrated-fn",
            "running",
            DEAD_OWNER,
            1,
        )
        assert run.event == {"name": "sqlite-migrated-fn/run", "data": {"x": 20}, "id": "old-run", "ts": 1.0}
        assert (run.created_at, run.updated_at) == (1.0, 2.0)
        # Columns added after version 1 read as empty.
        assert run.status_reason is None and run.warnings is None
        (a,) = j.load_steps("old-run")
        assert (a.step_id, a.name, a.status, a.output, a.meta) == ("a", "a", "completed", "41", {"input": "[20]"})
        ev = j.get_event("ev1")
        assert ev is not None and ev.data == {"k": 1}
        assert j.runs_for_event("ev1") == [("sqlite-migrated-fn", "old-run")]
        # New columns are writable.
        warned = [{"message": "m", "step_id": None}]
        j.write([Write("run_update", run_id="old-run", fields={"status_reason": "migrated", "warnings": warned})])
        run = j.get_run("old-run")
        assert run is not None and run.status_reason == "migrated" and run.warnings == warned
    finally:
        j.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "application_id") == _APP_ID
    # Opening again does not migrate again.
    nd.SQLiteJournal(path).close()
    assert pragma(path, "user_version") == SCHEMA_VERSION


@pytest.mark.asyncio
async def test_a_run_from_a_version_1_journal_resumes(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    build_v1(path, app_id=True)
    nd.configure(path)
    calls: list[str] = []

    def add_one(x: int) -> int:
        calls.append("a")
        return x + 1

    def double(x: int) -> int:
        calls.append("b")
        return x * 2

    @nd.function(id="sqlite-migrated-fn", retries=0)
    async def wf(ctx: nd.Context) -> int:
        a = await ctx.step.run("a", add_one, ctx.event.data["x"])
        return await ctx.step.run("b", double, a)

    assert nd.get_run("old-run").status == "interrupted"  # its process is gone
    assert await wf.run(run_id="old-run") == 82
    assert calls == ["b"]  # "a" was replayed from the version-1 journal


def test_a_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    j.write([Write("run", run=nd.RunRecord("r1", "fn", "completed"))])
    j.close()
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", (*MIGRATIONS, "ALTER TABLE runs ADD COLUMN x TEXT; BROKEN SQL"))
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(nd.JournalError):
        nd.SQLiteJournal(path)
    gc.collect()
    assert pragma(path, "user_version") == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    finally:
        conn.close()
    assert "x" not in columns
    monkeypatch.undo()
    j = nd.SQLiteJournal(path)
    try:
        assert j.get_run("r1") is not None
    finally:
        j.close()


def test_a_later_migration_applies_only_what_is_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    j.write([Write("run", run=nd.RunRecord("r1", "fn", "completed"))])
    j.close()
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", (*MIGRATIONS, "ALTER TABLE runs ADD COLUMN future TEXT"))
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    j = nd.SQLiteJournal(path)
    try:
        run = j.get_run("r1")
        assert run is not None and run.status == "completed"
    finally:
        j.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_a_journal_from_a_newer_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    j.write([Write("run", run=nd.RunRecord("r1", "fn", "completed"))])
    j.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(nd.JournalVersionError) as info:
        nd.SQLiteJournal(path)
    message = str(info.value)
    assert str(path) in message
    assert f"version {SCHEMA_VERSION + 1}" in message
    assert f"up to version {SCHEMA_VERSION}" in message
    assert "Upgrade nbdurable" in message
    assert isinstance(info.value, nd.JournalError)
    with pytest.raises(nd.JournalVersionError):
        nd.configure(path)
    gc.collect()
    assert path.read_bytes() == before
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_an_sqlite_file_that_is_not_a_journal_gets_a_clear_error_and_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.execute("INSERT INTO customers VALUES ('ada')")
    conn.commit()
    conn.close()
    os.chmod(path, 0o644)
    before = path.read_bytes()
    with pytest.raises(nd.JournalError, match="not an nbdurable journal") as info:
        nd.SQLiteJournal(path)
    assert str(path) in str(info.value)
    assert "another path" in str(info.value)
    gc.collect()
    assert tables(path) == {"customers"}
    # Not switched to WAL or otherwise rewritten: the file is someone else's.
    assert pragma(path, "journal_mode") == "delete"
    assert path.read_bytes() == before
    assert mode(path) == 0o644  # not even its permissions: the message says nothing was changed


def test_a_file_that_is_not_sqlite_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(nd.JournalError) as info:
        nd.SQLiteJournal(path)
    assert str(path) in str(info.value)
    assert "NBDURABLE_JOURNAL" in str(info.value)
    assert path.read_text().startswith("these are my notes")


def test_a_database_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id=1234")
    conn.execute("PRAGMA user_version=1")
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(nd.JournalError, match="another application"):
        nd.SQLiteJournal(path)


def test_a_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(nd.JournalError, match=str(tmp_path)):
        nd.SQLiteJournal(tmp_path)


def test_an_empty_file_becomes_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    j = nd.SQLiteJournal(path)
    try:
        j.write([Write("run", run=nd.RunRecord("r1", "fn"))])
        assert j.get_run("r1") is not None
    finally:
        j.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION


# -- sharing: locks, other connections, other processes ---------------------------------------------


def hold_lock(path: Path) -> sqlite3.Connection:
    """Another process's connection holding the write lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def release(conn: sqlite3.Connection) -> None:
    conn.execute("ROLLBACK")
    conn.close()


def test_a_write_into_a_locked_journal_is_a_busy_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    lock = hold_lock(path)
    try:
        started = time.monotonic()
        with pytest.raises(nd.JournalBusyError, match="locked by another process") as info:
            j.write([Write("run", run=nd.RunRecord("r1", "fn"))])
        # The writer does not block the event loop for long: the engine retries instead.
        assert time.monotonic() - started < 2
        assert str(path) in str(info.value)
    finally:
        release(lock)
    j.write([Write("run", run=nd.RunRecord("r1", "fn"))])
    assert j.get_run("r1") is not None
    j.close()


def test_events_wait_for_a_lock_to_clear_and_claims_say_busy_at_once(tmp_path: Path) -> None:
    """A claim is one short transaction like a step commit: busy at once, the engine retries it from the loop."""
    path = tmp_path / "journal.db"
    j = nd.SQLiteJournal(path)
    j.write([Write("run", run=nd.RunRecord("r1", "fn"))])
    lock = hold_lock(path)
    try:
        with pytest.raises(nd.JournalBusyError):
            j.claim_run("r1", "me", epoch=0, status="queued", lease_until=None)
        threading.Timer(0.2, lambda: release(lock)).start()
        assert j.add_event("e1", "n", {}, 1.0) is not None
        assert j.claim_run("r1", "me", epoch=0, status="queued", lease_until=None) == 1
    finally:
        j.close()


@pytest.mark.asyncio
async def test_a_run_rides_out_a_lock_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    nd.configure(path)

    @nd.function(id="sqlite-locked-ride", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        return [await ctx.step.run(f"s{i}", lambda i=i: i) for i in range(20)]

    lock = hold_lock(path)
    asyncio.get_running_loop().call_later(0.3, lambda: release(lock))
    assert await wf.run(run_id="locked") == list(range(20))
    steps = nd.get_run("locked").steps()
    assert [s.step_id for s in steps] == [f"s{i}" for i in range(20)]
    assert {s.status for s in steps} == {"completed"}


@pytest.mark.asyncio
async def test_a_lock_held_too_long_fails_with_a_message_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    engine = nd.Engine(nd.SQLiteJournal(path), busy_timeout=0.3)

    async def wf(ctx: nd.Context) -> int:
        return await ctx.step.run("a", lambda: 1)

    fn = nd.Function(wf, id="sqlite-locked-forever", retries=0, engine=engine)
    lock = hold_lock(path)
    try:
        with pytest.raises(nd.JournalBusyError) as info:
            await asyncio.wait_for(fn.run(run_id="stuck"), 10)
    finally:
        release(lock)
    try:
        assert "gave up after 0.3s" in str(info.value)
        assert "stop it" in str(info.value)
        assert "database is locked" not in str(info.value)
        # Nothing was journaled as failed: once the lock is gone the same run id simply runs.
        assert await asyncio.wait_for(fn.run(run_id="stuck"), 10) == 1
    finally:
        engine.journal.close()


WORKER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    import nbdurable as nd

    path, tag, n, go, durability = sys.argv[1:6]
    n = int(n)
    nd.configure(path, durability=durability)

    def square(i):
        if i == 0:
            # Every process stays inside its first step until all four are in theirs, so the
            # runs are certain to overlap and the next 199 commits of each collide.
            open(go + "." + tag, "w").close()
            while not all(os.path.exists(go + "." + str(k)) for k in range(4)):
                time.sleep(0.001)
        return i * i

    @nd.function(id="sqlite-mp-" + tag, retries=0)
    async def wf(ctx):
        total = 0
        for i in range(n):
            total += await ctx.step.run(f"s{i}", square, i)
            if i % 50 == 0:
                await ctx.step.send_event(f"tick{i}", {"name": "sqlite-mp/tick", "data": {"tag": tag, "i": i}})
        return total

    print(asyncio.run(wf.run(run_id="run-" + tag)))
    """
)


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_four_processes_write_one_journal_at_once(tmp_path: Path, durability: str) -> None:
    """With "full" every commit syncs, holds the lock longer, and the processes really collide."""
    path = tmp_path / "shared.db"
    nd.SQLiteJournal(path).close()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    n = 200
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "error::UserWarning"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), str(k), str(n), str(go), durability],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    expected = sum(i * i for i in range(n))
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err.lower(), err
        assert p.returncode == 0, err
        assert out.strip() == str(expected), (out, err)
    j = nd.SQLiteJournal(path)
    try:
        spans = []
        for k in range(4):
            run = j.get_run(f"run-{k}")
            assert run is not None and run.status == "completed"
            steps = j.load_steps(f"run-{k}")
            assert [s.step_id for s in steps if s.kind == "run"] == [f"s{i}" for i in range(n)]
            assert all(s.status == "completed" for s in steps)
            assert [s.output for s in steps if s.kind == "run"] == [str(i * i) for i in range(n)]
            spans.append((steps[0].started_at, steps[-1].ended_at or 0.0))
        # The four runs were writing at the same time (otherwise this tests nothing).
        assert max(a for a, _ in spans) < min(b for _, b in spans), spans
        ticks = j.events_after("sqlite-mp/tick", 0, limit=1000)
        assert sorted((e.data["tag"], e.data["i"]) for e in ticks) == sorted(
            (str(k), i) for k in range(4) for i in range(0, n, 50)
        )
        assert j._reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        j.close()
