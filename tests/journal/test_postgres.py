"""The PostgreSQL journal against a real server: schema and privileges, faults, ordering, notifications.

What every backend must do alike is in the contract suite (``test_journal.py``); here is
what only a server database has: a schema created by a role that is no superuser,
connections that break, commits from many connections at once, and LISTEN/NOTIFY
waking runs, waits and handles in other processes (here: other journal connections,
which is what another process is to the server).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import nbdurable as nd
from nbdurable.engine import _waits as waits_module
from nbdurable.journal._postgres import split_dsn
from nbdurable.journal._postgres_schema import SCHEMA_VERSION
from nbdurable.journal._protocol import Write
from nbdurable.workflow._function import registry
from tests.helpers import reset_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def journal(pg_url: str) -> Iterator[nd.PostgresJournal]:
    j = nd.PostgresJournal(pg_url)
    yield j
    j.close()


@pytest.fixture
def fresh_engine() -> Iterator[None]:
    reset_engine()
    saved = dict(registry())
    yield
    registry().clear()
    registry().update(saved)
    reset_engine()


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def admin(url: str) -> psycopg.Connection:  # type: ignore[type-arg]
    return psycopg.connect(split_dsn(url)[0], autocommit=True)


# -- schema, privileges, versions ----------------------------------------------------------------------


def test_the_schema_is_created_by_a_role_that_is_no_superuser(journal: nd.PostgresJournal, pg_url: str) -> None:
    with admin(pg_url) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (False,)
        version = conn.execute(f"SELECT value FROM {schema_of(pg_url)}.meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
    assert "(schema" not in journal.location and schema_of(pg_url) in journal.location


def test_a_role_that_may_not_create_the_schema_is_told_what_to_grant(postgres_db: str) -> None:
    role = "r_" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres_db.replace("nbd@", "postgres@"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"REVOKE CREATE ON DATABASE nbd_tests FROM {role}")
    url = postgres_db.replace("nbd@", f"{role}@") + "?schema=nope"
    with pytest.raises(nd.JournalError, match="GRANT CREATE ON DATABASE"):
        nd.PostgresJournal(url)


def test_opening_at_once_migrates_once(pg_url: str) -> None:
    opened: list[nd.PostgresJournal] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(nd.PostgresJournal(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == [] and len(opened) == 6
        opened[0].write([Write("run", run=nd.RunRecord("r1", "fn"))])
        assert all(j.get_run("r1") is not None for j in opened)
    finally:
        for j in opened:
            j.close()


def test_a_schema_of_someone_else_is_refused_untouched(pg_url: str) -> None:
    schema = schema_of(pg_url)
    with admin(pg_url) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.accounts (id int)")
    with pytest.raises(nd.JournalError, match="not an nbdurable journal"):
        nd.PostgresJournal(pg_url)
    with admin(pg_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    assert tables == [("accounts",)]


def test_a_newer_schema_is_refused(journal: nd.PostgresJournal, pg_url: str) -> None:
    with admin(pg_url) as conn:
        conn.execute(f"UPDATE {schema_of(pg_url)}.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(nd.JournalVersionError, match="newer"):
        nd.PostgresJournal(pg_url)


def test_a_read_only_journal_reads_and_refuses_writes(journal: nd.PostgresJournal, pg_url: str) -> None:
    journal.write([Write("run", run=nd.RunRecord("r1", "fn"))])
    reader = nd.PostgresJournal(pg_url, readonly=True)
    try:
        assert reader.get_run("r1") is not None
        with pytest.raises(nd.JournalReadOnlyError):
            reader.write([Write("run", run=nd.RunRecord("r2", "fn"))])
        with pytest.raises(nd.JournalReadOnlyError):
            reader.add_event("e", "n", {}, 1.0)
    finally:
        reader.close()


# -- faults -------------------------------------------------------------------------------------------


def test_a_broken_connection_is_reported_then_replaced(journal: nd.PostgresJournal, pg_url: str) -> None:
    journal.write([Write("run", run=nd.RunRecord("r1", "fn"))])
    writer = journal._writer
    assert writer is not None
    with admin(pg_url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (writer.info.backend_pid,))
    with pytest.raises(nd.JournalUnavailableError, match="cannot be reached"):
        journal.write([Write("step", step=nd.StepRecord(run_id="r1", step_id="a", name="a", position=0))])
    # The engine retries a busy (or unreachable) journal: the next attempt gets a new connection.
    journal.write([Write("step", step=nd.StepRecord(run_id="r1", step_id="a", name="a", position=0))])
    assert [s.step_id for s in journal.load_steps("r1")] == ["a"]


def test_a_value_postgresql_refuses_fails_that_write_not_the_journal(journal: nd.PostgresJournal) -> None:
    journal.write([Write("run", run=nd.RunRecord("r1", "fn"))])
    with pytest.raises(ValueError, match="refused a value") as info:
        journal.write([Write("step", step=nd.StepRecord(run_id="r1", step_id="a\x00b", name="a", position=0))])
    assert not isinstance(info.value, nd.NbDurableError)  # the engine then isolates the write
    journal.write([Write("step", step=nd.StepRecord(run_id="r1", step_id="ok", name="ok", position=1))])


@pytest.mark.asyncio
async def test_one_unstorable_step_fails_alone_in_a_group_commit(pg_url: str, fresh_engine: None) -> None:
    nd.configure(pg_url)

    @nd.function(id="nul")
    async def nul(ctx: nd.Context) -> list[str]:
        async def fine() -> str:
            return await ctx.step.run("fine", lambda: "ok")

        async def bad() -> str:
            try:
                return await ctx.step.run("bad\x00name", lambda: "x", retries=0)
            except nd.NbDurableError as exc:
                return type(exc).__name__

        return list(await asyncio.gather(fine(), bad()))

    assert await nul.run() == ["ok", "SerializationError"]


# -- ordering ----------------------------------------------------------------------------------------


def test_a_reader_following_events_by_seq_misses_none_while_many_connections_send(pg_url: str) -> None:
    """Seqs are taken in commit order: a wait that scanned up to seq n never finds an older event later."""
    senders = [nd.PostgresJournal(pg_url) for _ in range(4)]
    reader = nd.PostgresJournal(pg_url)
    seen: list[int] = []
    done = threading.Event()

    def send(j: nd.PostgresJournal, k: int) -> None:
        for i in range(100):
            j.add_event(f"e{k}-{i}", "tick", {"k": k, "i": i}, time.time())

    def follow() -> None:
        after = 0
        while True:
            # Whether the senders were done is read before the query: an empty answer read just before the last
            # commit, followed by a check of ``done`` made after it, would end the loop one event short.
            finished = done.is_set()
            batch = reader.events_after("tick", after, limit=50)
            seen.extend(e.seq for e in batch)
            after = batch[-1].seq if batch else after
            if finished and not batch:
                break

    threads = [threading.Thread(target=send, args=(j, k)) for k, j in enumerate(senders)]
    follower = threading.Thread(target=follow)
    follower.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    follower.join(timeout=60)
    try:
        assert len(seen) == 400 and len(set(seen)) == 400
        assert seen == sorted(seen)
    finally:
        for j in (*senders, reader):
            j.close()


# -- notifications --------------------------------------------------------------------------------------


def test_other_connections_announce_runs_steps_events_and_slots(journal: nd.PostgresJournal, pg_url: str) -> None:
    heard: list[tuple[str, str]] = []
    journal.subscribe(lambda kind, key: heard.append((kind, key)))
    assert journal.wait_listening()
    other = nd.PostgresJournal(pg_url)
    try:
        other.write([Write("run", run=nd.RunRecord("r1", "fn", queue="default"))])
        other.write([Write("step", step=nd.StepRecord(run_id="r1", step_id="a", name="a", position=0))])
        other.add_event("e1", "app/go", {}, 1.0)
        other.acquire_slot("conc:fn:0", "k", "r1", "me", limit=1, rank=1.0, expires_at=99.0, now=1.0)
        other.release_slot("conc:fn:0", "k", "r1")
        wanted = {("run", "r1"), ("work", "default"), ("steps", "r1"), ("event", "app/go"), ("slot", "conc:fn:0\x1fk")}
        deadline = time.monotonic() + 10
        while not wanted <= set(heard) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert wanted <= set(heard)
        # A journal's own changes are not announced back to it.
        before = len(heard)
        journal.write([Write("run", run=nd.RunRecord("r2", "fn"))])
        other.add_event("e2", "app/later", {}, 2.0)
        while ("event", "app/later") not in heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ("run", "r2") not in heard[before:]
    finally:
        other.close()


class _RunsChannel:
    """What is announced on a schema's runs channel, heard on a plain connection of the test's own."""

    def __init__(self, url: str) -> None:
        self.conn = admin(url)
        self.conn.execute(f'LISTEN "nbdurable_{schema_of(url)}_runs"')
        self.items: list[tuple[str, str]] = []

    def until(self, item: tuple[str, str], timeout: float = 30.0) -> list[tuple[str, str]]:
        """Every (code, run id) heard until ``item`` was (and the rest of its announcement)."""
        deadline = time.monotonic() + timeout
        while item not in self.items and time.monotonic() < deadline:
            for note in self.conn.notifies(timeout=0.1):
                self.items += [(code, key) for code, key in json.loads(note.payload)[1]]
        assert item in self.items, f"{item} was not announced; heard {self.items}"
        return self.items


def test_a_run_nobody_follows_is_not_announced_and_a_late_follower_hears_it(pg_url: str) -> None:
    """Step and run announcements cost only while some process follows the run (issue 14).

    The owner listens (as every engine executing runs does), so it knows who follows. A follower
    that comes late is told at once (it reads the journal again then), and then hears each step live.
    """
    owner, follower = nd.PostgresJournal(pg_url), nd.PostgresJournal(pg_url)
    spy = _RunsChannel(pg_url)
    try:
        owner.subscribe(lambda kind, key: None)
        assert owner.wait_listening()
        owner.write([Write("run", run=nd.RunRecord(r, "fn", owner="me", epoch=1)) for r in ("r1", "r2")])

        def step(run_id: str, i: int) -> None:
            record = nd.StepRecord(run_id=run_id, step_id=f"s{i}", name=f"s{i}", position=i)
            owner.write([Write("step", step=record, epoch=1)])

        for i in range(4):  # spaced beyond the announcements' pace: each would have had its own
            step("r1", i)
            time.sleep(0.15)
        # A change made without the run's epoch (as from another process) is always announced: once it is
        # heard, whatever the owner had to announce before it has been sent.
        owner.write([Write("run_update", run_id="r2", fields={"status_reason": "marker"})])
        heard = spy.until(("r", "r2"))
        assert not [item for item in heard if item[1] == "r1"], heard

        got: list[tuple[str, str]] = []
        follower.subscribe(lambda kind, key: got.append((kind, key)))
        follower.follow_runs("r1")
        assert follower.wait_listening()
        deadline = time.monotonic() + 30
        while ("steps", "r1") not in got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ("steps", "r1") in got and ("run", "r1") in got, got  # told at once, with no new step
        assert [s.step_id for s in follower.load_steps("r1")] == ["s0", "s1", "s2", "s3"]

        got.clear()
        spy.items.clear()
        step("r1", 4)
        step("r2", 0)
        owner.write([Write("run_update", run_id="r2", fields={"status_reason": "second marker"})])
        heard = spy.until(("r", "r2"))
        while ("steps", "r1") not in got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ("steps", "r1") in got, got  # live
        assert ("s", "r2") not in heard, heard  # the run nobody follows still costs nothing
    finally:
        spy.conn.close()
        owner.close()
        follower.close()


@pytest.fixture
def slow_poll_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fallback poll too slow to matter: what wakes a run in these tests is a notification."""
    monkeypatch.setattr(waits_module, "SLOW_POLL", 120.0)


@pytest.mark.asyncio
async def test_a_cancel_from_another_process_wakes_a_sleeping_run(
    pg_url: str, fresh_engine: None, slow_poll_off: None
) -> None:
    nd.configure(pg_url)

    @nd.function(id="sleeper")
    async def sleeper(ctx: nd.Context) -> None:
        await ctx.step.sleep("nap", 600)

    handle = sleeper.start()
    while handle.status != "sleeping":
        await asyncio.sleep(0.01)
    other = nd.Engine(nd.PostgresJournal(pg_url))
    try:
        assert other.cancel(handle.run_id, "from elsewhere") is True
    finally:
        other.journal.close()
    with pytest.raises(nd.RunCancelledError, match="from elsewhere"):
        await asyncio.wait_for(handle.result(), 60)


@pytest.mark.asyncio
async def test_an_event_from_another_process_wakes_a_wait(pg_url: str, fresh_engine: None, slow_poll_off: None) -> None:
    nd.configure(pg_url)

    @nd.function(id="waiter")
    async def waiter(ctx: nd.Context) -> int:
        ev = await ctx.step.wait_for_event("answer", event="app/answer", timeout=600)
        assert ev is not None
        return int(ev.data["n"])

    handle = waiter.start()
    while handle.status != "waiting":
        await asyncio.sleep(0.01)
    other = nd.Engine(nd.PostgresJournal(pg_url))
    try:
        other.send_nowait("app/answer", {"n": 42})
    finally:
        other.journal.close()
    assert await asyncio.wait_for(handle.result(), 60) == 42


@pytest.mark.asyncio
async def test_steps_replay_after_a_restart(pg_url: str, fresh_engine: None, tmp_path: Path) -> None:
    nd.configure(pg_url)
    calls: list[int] = []

    @nd.function(id="fan")
    async def fan(ctx: nd.Context) -> int:
        values = await asyncio.gather(*[ctx.step.run(f"p{i}", lambda i=i: calls.append(i) or i) for i in range(20)])
        return sum(values)

    assert await fan.run(run_id="r") == sum(range(20))
    reset_engine()
    engine = nd.configure(pg_url)
    assert await engine.start(fan, run_id="r", reexecute=True).result() == sum(range(20))
    assert sorted(calls) == list(range(20))  # the second execution replayed every step
