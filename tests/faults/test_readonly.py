"""A journal this user cannot write: reads work (list, show, the timeline, nd.runs), writes say why not.

The suite runs as root, whom file permissions do not stop, so each case runs in a
forked child that first becomes the unprivileged user ``nobody`` (everything it
needs is imported before the fork); the journal and its folder are given to
nobody, then made read-only: the file (0400), or the folder (0500). Run as
another user, the child stays that user and the journal stays its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import select
import shutil
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
import nbdurable.__main__ as cli
from nbdurable.journal._protocol import RunRecord, StepRecord, Write
from nbdurable.notebook import _display, _magics  # noqa: F401
from nbdurable.timeline._snapshot import build_snapshot

# Imported before the fork: the child, as nobody, may not be able to read the interpreter's files.

ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody") if ROOT else pwd.getpwuid(os.geteuid())


def as_nobody(body: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Run ``body`` in a forked child as the user nobody; its JSON result, or the child's error re-raised.

    Not async: a forked child must not inherit a running event loop.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            if ROOT:
                os.setgroups([])
                os.setgid(NOBODY.pw_gid)
                os.setuid(NOBODY.pw_uid)
            payload = {"ok": body()}
        except BaseException as exc:
            payload = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        with os.fdopen(write_end, "w") as fh:
            fh.write(json.dumps(payload, default=str))
        os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    with os.fdopen(read_end, "rb") as fh:
        while True:
            ready, _, _ = select.select([fh], [], [], timeout)
            if not ready:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError(f"the child as nobody did not answer in {timeout:g}s (a hang)")
            chunk = os.read(fh.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b"{}")
    if "error" in result:
        raise AssertionError(f"as nobody: {result['error']}\n{result.get('traceback', '')}")
    return result.get("ok")


def run_cli(*args: str) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder nobody can reach (pytest's own tmp folders are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="nbd-ro-"))
    os.chmod(base, 0o755)
    yield base
    for root, dirs, _files in os.walk(base):
        for d in dirs:
            os.chmod(Path(root) / d, 0o700)
    shutil.rmtree(base)


def make_journal(folder: Path) -> Path:
    """A journal with a completed run, owned by nobody, closed (checkpointed: no -wal left)."""
    folder.mkdir(mode=0o700)
    path = folder / "journal.db"
    journal = nd.SQLiteJournal(path)
    now = 1_700_000_000.0
    run = RunRecord(
        run_id="done",
        function_id="ro-fn",
        status="completed",
        result="42",
        result_tag="json",
        created_at=now,
        updated_at=now,
        ended_at=now + 1,
    )
    step = StepRecord(
        run_id="done", step_id="fetch", name="fetch", position=0, output="42", started_at=now, ended_at=now + 0.5
    )
    queued = RunRecord(run_id="later", function_id="ro-fn", status="queued", created_at=now, updated_at=now)
    journal.write([Write("run", run=run), Write("step", step=step), Write("run", run=queued)])
    journal.close()
    if ROOT:
        for p in (folder, path):
            os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid)
    return path


def reads_and_writes(path: Path) -> dict[str, Any]:
    """What nobody gets from every read command and every write, on a journal it cannot write."""
    listing = run_cli("--journal", str(path), "list")
    show = run_cli("--journal", str(path), "show", "done")
    send = run_cli("--journal", str(path), "send", "x/y", "{}")
    cancel = run_cli("--journal", str(path), "cancel", "later")
    engine = nd.configure(path)
    runs = [(h.run_id, h.status) for h in nd.runs()]
    snapshot = build_snapshot(engine, "done")
    try:
        engine.send_nowait("x/y", {})
        sent = "sent"
    except nd.JournalReadOnlyError as exc:
        sent = str(exc)
    return {
        "readonly": getattr(engine.journal, "readonly", None),
        "list": listing,
        "show": show,
        "send": send,
        "cancel": cancel,
        "runs": runs,
        "snapshot_status": snapshot["run"]["status"],
        "snapshot_steps": [s["step_id"] for s in snapshot["steps"]],
        "sent": sent,
        "files": sorted(p.name for p in path.parent.iterdir()),
    }


def check(got: dict[str, Any]) -> None:
    assert got["readonly"] is True
    assert got["list"]["code"] == 0, got["list"]
    assert "done\tro-fn\tcompleted\t1 steps" in got["list"]["out"] and "later" in got["list"]["out"]
    assert got["show"]["code"] == 0 and "fetch" in got["show"]["out"], got["show"]
    for write in ("send", "cancel"):
        assert got[write]["code"] == 2, got[write]
        assert "read-only" in got[write]["err"] and "Traceback" not in got[write]["err"], got[write]
    assert got["runs"] == [["later", "queued"], ["done", "completed"]]
    assert got["snapshot_status"] == "completed" and got["snapshot_steps"] == ["fetch"]
    assert "open read-only" in got["sent"] and "write access" in got["sent"]


def test_a_read_only_journal_file_reads_but_refuses_writes(shared: Path) -> None:
    path = make_journal(shared / "j")
    os.chmod(path, 0o400)
    before = path.read_bytes()
    got = as_nobody(lambda: reads_and_writes(path))
    check(got)
    assert got["files"] == ["journal.db"]  # no side file left behind (they would be read-only too)
    assert path.read_bytes() == before


def test_a_journal_in_a_read_only_folder_reads_but_refuses_writes(shared: Path) -> None:
    path = make_journal(shared / "j")
    os.chmod(path.parent, 0o500)
    before = path.read_bytes()
    check(as_nobody(lambda: reads_and_writes(path)))
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o500


def test_a_run_on_a_read_only_journal_fails_at_once_saying_why(shared: Path) -> None:
    path = make_journal(shared / "j")
    os.chmod(path, 0o400)

    def start_a_run() -> str:
        import asyncio

        nd.configure(path)

        @nd.function(id="ro-new", retries=0, lint="off")
        async def wf(ctx: nd.Context) -> int:
            return 1

        try:
            asyncio.run(asyncio.wait_for(wf.run(run_id="new"), 20))
        except nd.JournalReadOnlyError as exc:
            return str(exc)
        return "ran"

    message = as_nobody(start_a_run)
    assert "read-only" in message and str(path) in message


def test_an_older_read_only_journal_says_it_cannot_be_upgraded(shared: Path) -> None:
    path = make_journal(shared / "j")
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=4")
    conn.commit()
    conn.close()
    os.chmod(path, 0o400)

    def open_it() -> str:
        try:
            nd.SQLiteJournal(path)
        except nd.JournalReadOnlyError as exc:
            return str(exc)
        return "opened"

    message = as_nobody(open_it)
    assert "cannot be upgraded" in message and "write access" in message


def test_a_journal_opened_read_only_as_asked_sees_later_commits(tmp_path: Path) -> None:
    """A long-lived reader (the Jupyter server) of an idle journal still sees what a process commits later.

    With no -wal file the journal is idle; opening it ``immutable`` would promise SQLite the
    file never changes, and the reader would keep answering from the past.
    """
    path = tmp_path / "journal.db"
    writer = nd.SQLiteJournal(path)
    writer.write([Write("run", run=RunRecord("r1", "fn", "completed", created_at=1.0, updated_at=1.0))])
    writer.close()
    assert not Path(f"{path}-wal").exists()  # idle: nothing waits in a -wal file
    reader = nd.SQLiteJournal(path, readonly=True)
    try:
        token = reader.change_token()
        writer = nd.SQLiteJournal(path)
        writer.write([Write("run", run=RunRecord("r2", "fn", "queued", created_at=2.0, updated_at=2.0))])
        writer.close()
        assert reader.change_token() != token
        assert [r.run_id for r in reader.list_runs()] == ["r2", "r1"]
        with pytest.raises(nd.JournalReadOnlyError):
            reader.write([Write("run", run=RunRecord("r3", "fn"))])
    finally:
        reader.close()
