"""Journal faults end runs clearly, and nothing hangs.

A child process hits a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail
with EFBIG as on a full disk) or SQLite's page cap (SQLITE_FULL); a journal is
truncated under a running process; bytes of a journal file are flipped. Each
run must end with a JournalError subclass naming the cause and what to do, its
``result()`` must return (a hang fails through the harness's timeouts), and a
later resume must continue from what was committed.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import string
import subprocess
import sys
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.journal._protocol import Write
from tests.faults.procs import ROOT, Rig, finish, wait_until


def payload(name: str, size: int) -> str:
    """A step's result in _owner_worker.py: printable text the journal cannot compress much."""
    chars = string.ascii_letters + string.digits + string.punctuation
    return name + "".join(random.Random(name).choices(chars, k=size))


def committed(path: Path) -> list[str]:
    journal = nd.SQLiteJournal(path)
    try:
        return [s.step_id for s in journal.load_steps("r") if s.status == "completed"]
    finally:
        journal.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbdurable", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def resume_and_check(rig: Rig, before: list[str]) -> None:
    """A fresh process resumes the run: it completes, and no step committed before the fault ran again."""
    proc, result = rig.spawn(size=3000)
    outcome = finish(proc, result)
    assert outcome["outcome"] == "completed", outcome
    assert outcome["value"] == [payload(f"s{i}", 3000) for i in range(rig.steps)]
    done = rig.effects_done()
    for step in before:
        assert done[step] == 1, (step, done)
    # The step whose commit failed ran in both processes (at-least-once for the step in flight); no other.
    assert sum(done.values()) == rig.steps + 1, done


@pytest.mark.parametrize(
    ("fault", "cause"),
    [({"fsize": 80000}, "file size limit (ulimit -f"), ({"max_pages": 12}, "the disk is full")],
    ids=["rlimit-fsize", "sqlite-full"],
)
def test_a_full_disk_mid_run_ends_the_run_clearly_and_resume_continues(
    tmp_path: Path, fault: dict[str, int], cause: str
) -> None:
    rig = Rig(tmp_path, steps=40)
    proc, result = rig.spawn(size=3000, **fault)
    outcome = finish(proc, result)
    assert outcome["outcome"] == "JournalFullError", outcome
    assert cause in outcome["message"]
    assert "resumes from its last committed step" in outcome["message"]
    assert "cannot rollback" not in outcome["message"] and "Traceback" not in outcome["stderr"]
    before = committed(rig.journal)
    assert 0 < len(before) < rig.steps
    assert before == [f"s{i}" for i in range(len(before))]
    resume_and_check(rig, before)


def test_a_journal_truncated_under_a_running_process_ends_the_run_as_damaged(tmp_path: Path) -> None:
    rig = Rig(tmp_path, steps=30)
    proc, result = rig.spawn(size=3000, hold="s20")
    wait_until(lambda: rig.entered("s20"), "the run inside s20")
    # Everything into the main file first, so cutting it loses committed pages.
    conn = sqlite3.connect(rig.journal)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(rig.journal, "r+b") as fh:
        fh.truncate(8192)
    rig.release.touch()
    outcome = finish(proc, result)
    assert outcome["outcome"] == "JournalCorruptError", outcome
    assert "is damaged" in outcome["message"] and ".recover" in outcome["message"]
    assert "Traceback" not in outcome["stderr"]
    doctor = cli("doctor", "--journal", str(rig.journal))
    assert doctor.returncode == 1, doctor
    assert ".recover" in doctor.stdout and "Traceback" not in doctor.stdout + doctor.stderr


# -- damaged files, read in this process ------------------------------------------------------------


def make_journal(path: Path) -> None:
    journal = nd.SQLiteJournal(path)
    try:
        run = nd.RunRecord(run_id="r", function_id="fn", status="completed", event={"name": "a", "data": {"k": 1}})
        journal.write([Write("run", run=run)])
    finally:
        journal.close()


def test_a_damaged_header_is_refused_as_corrupt_with_the_recovery_command(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    make_journal(path)
    data = bytearray(path.read_bytes())
    data[0:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))
    with pytest.raises(nd.JournalCorruptError, match="is damaged") as info:
        nd.SQLiteJournal(path)
    assert f"sqlite3 {path} .recover | sqlite3 " in str(info.value)
    listing = cli("--journal", str(path), "list")
    assert listing.returncode == 2 and "is damaged" in listing.stderr
    assert "Traceback" not in listing.stderr + listing.stdout
    doctor = cli("doctor", "--journal", str(path))
    assert doctor.returncode == 1 and "damaged" in doctor.stdout, doctor


def test_damaged_stored_json_is_reported_as_unreadable_naming_the_run(tmp_path: Path) -> None:
    """SQLite still reads the file; the row holds JSON nbdurable never wrote: shown as unreadable, never run."""
    path = tmp_path / "journal.db"
    make_journal(path)
    data = path.read_bytes()
    stored = b'{"name":"a","data":{"k":1}}'
    assert data.count(stored) == 1
    path.write_bytes(data.replace(stored, b"{" * len(stored)))
    journal = nd.SQLiteJournal(path)
    try:
        run = journal.get_run("r")
        assert run is not None and run.damaged == ("event",)
        assert [r.run_id for r in journal.list_runs()] == ["r"]  # one damaged row does not hide the others
    finally:
        journal.close()
    shown = cli("--journal", str(path), "show", "r")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown
    assert "unreadable" in shown.stdout and "column event" in shown.stdout, shown.stdout


def test_a_damaged_table_page_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    make_journal(path)
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='runs'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * size] = 0x77  # not a b-tree page type
    path.write_bytes(bytes(data))
    journal = nd.SQLiteJournal(path)
    try:
        with pytest.raises(nd.JournalCorruptError, match="is damaged"):
            journal.list_runs()
    finally:
        journal.close()
    doctor = cli("doctor", "--journal", str(path))
    assert doctor.returncode == 1 and "integrity check failed" in doctor.stdout, doctor


# -- in this process: SQLITE_FULL on the writer, through the engine's queue ---------------------------


def cap(journal: nd.Journal, extra_pages: int) -> None:
    writer = journal._writer  # type: ignore[attr-defined]
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages + extra_pages}")


def test_a_failed_commit_is_a_journal_error_and_the_connection_still_works(tmp_path: Path) -> None:
    """SQLite rolls back by itself after SQLITE_FULL: the error says "full", not "cannot rollback"."""
    journal = nd.SQLiteJournal(tmp_path / "journal.db")
    try:
        journal.write([Write("run", run=nd.RunRecord("r", "fn"))])
        cap(journal, 1)
        big = [
            Write(
                "step",
                step=nd.StepRecord(
                    run_id="r", step_id=f"s{i}", name=f"s{i}", position=i, output=payload(f"s{i}", 50_000)
                ),
            )
            for i in range(3)
        ]
        with pytest.raises(nd.JournalFullError, match="disk is full") as info:
            journal.write(big)
        assert "rollback" not in str(info.value)
        assert journal.load_steps("r") == []  # all or nothing
        cap(journal, 10_000)
        journal.write(big)
        assert len(journal.load_steps("r")) == 3
    finally:
        journal.close()


@pytest.mark.asyncio
async def test_a_full_journal_during_a_gather_ends_the_run_and_every_branch(journal_path: Path) -> None:
    entered: list[int] = []

    async def branch(i: int) -> str:
        entered.append(i)
        await asyncio.sleep(0.01)
        return payload(f"b{i}", 40_000)  # text the journal cannot compress much

    @nd.function(id="faults-gather-full", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> int:
        await ctx.step.run("first", lambda: 1)
        cap(nd.get_engine().journal, 2)
        parts = await asyncio.gather(*(ctx.step.run(f"b{i}", branch, i) for i in range(6)))
        await ctx.step.run("after", lambda: entered.append(99))
        return len(parts)

    with pytest.raises(nd.JournalFullError):
        await asyncio.wait_for(wf.run(run_id="full"), 30)
    assert 99 not in entered
    cap(nd.get_engine().journal, 100_000)
    handle = nd.get_run("full")
    assert handle.status == "interrupted"
    assert [s.step_id for s in handle.steps() if s.status == "completed"] == ["first"]


def test_read_commands_do_not_create_a_journal(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "journal.db"
    for command in (["list"], ["show", "r"], ["cancel", "r"]):
        done = cli("--journal", str(missing), *command)
        assert done.returncode == 2 and "there is no journal at" in done.stderr, done
    assert not (tmp_path / "nowhere").exists()
