"""The run index: loaded once, then refreshed from the journal's change counter, reporting each change once."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.journal._owner import _identity
from nbdurable.journal._protocol import Write
from nbdurable.server import _index
from nbdurable.server._index import RunIndex, relative_notebook, summary_json
from tests.server.conftest import add_runs, record, step

DEAD_OWNER = f"{socket.gethostname()}:{2**22 + 1}:1"


def live_owner() -> str:
    """An owner that is alive and is not this process (the test runner's parent)."""
    return _identity(os.getppid())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / ".nbdurable" / "journal.db"


@pytest.fixture
def writer(path: Path) -> Iterator[nd.SQLiteJournal]:
    """Another connection, as another process writing the journal would be."""
    journal = nd.SQLiteJournal(path)
    yield journal
    journal.close()


@pytest.fixture
def index(path: Path, writer: nd.SQLiteJournal, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunIndex]:
    monkeypatch.setattr(_index, "_LIVENESS_EVERY", 0.0)
    idx = RunIndex(nd.SQLiteJournal(path), "j", max_runs=100)
    yield idx
    idx.close()


def changed(index: RunIndex, since: int) -> list[tuple[str, str, int]]:
    index.refresh()
    got = index.changes_since(since)
    assert got is not None
    return [(e.run_id, e.status, e.steps.done if e.steps else -1) for e in got]


def test_loading_reports_no_change_and_keeps_no_payloads(index: RunIndex, writer: nd.SQLiteJournal) -> None:
    writer.write([Write("run", run=record("r1", status="completed", result='"big"', source="x = 1"))])
    index.refresh()
    assert index.changes_since(0) == []
    (entry,) = index.entries()
    assert (entry.rec.result, entry.rec.source, entry.rec.event) == (None, None, None)


def test_another_connection_s_writes_show_up_once_each(index: RunIndex, writer: nd.SQLiteJournal) -> None:
    index.refresh()
    owner = live_owner()
    writer.write([Write("run", run=record("r1", status="running", owner=owner))])
    assert changed(index, 0) == [("r1", "running", 0)]
    version = index.version
    assert changed(index, version) == []  # nothing committed since: one PRAGMA, no change
    writer.write([Write("step", step=step("r1", "a", 0, started_at=1.0, ended_at=2.0))])
    assert changed(index, version) == [("r1", "running", 1)]  # a step of an executing run
    version = index.version
    writer.write([Write("run_update", run_id="r1", fields={"status": "completed", "ended_at": 3.0})])
    assert changed(index, version) == [("r1", "completed", 1)]
    version = index.version
    writer.write([Write("run", run=record("r2", status="queued"))])
    assert changed(index, version) == [("r2", "queued", 0)]
    assert [r for r, *_ in changed(index, 0)] == ["r1", "r2"]  # each run once, however often it changed


def test_a_watched_run_that_failed_and_ended_again_between_refreshes_is_seen(
    index: RunIndex, writer: nd.SQLiteJournal
) -> None:
    # A failed run resumed by the server can run and end again before the next refresh: it is never
    # seen unfinished, so only the watch (set by the server's resume) re-reads it.
    writer.write([Write("run", run=record("r1", status="failed"))])
    index.refresh()
    version = index.version
    writer.write([Write("run_update", run_id="r1", fields={"status": "completed", "ended_at": 5.0, "attempt": 2})])
    assert changed(index, version) == []  # unwatched: a final run is not re-read
    index.watch("r1")
    writer.write([Write("run", run=record("r2", status="completed"))])  # any commit moves the change counter
    assert sorted(changed(index, version)) == [("r1", "completed", 0), ("r2", "completed", 0)]
    assert index._watched == set()  # ended, and not executing here: no longer re-read


def test_a_failed_run_resumed_by_another_process_and_ended_between_refreshes_is_seen(
    index: RunIndex, writer: nd.SQLiteJournal
) -> None:
    # Nothing watches it here (another process resumed it): its steps moving is what tells.
    failed_step = step("r1", "a", 0, status="failed", attempt=1, started_at=1.0, ended_at=2.0)
    writer.write([Write("run", run=record("r1", status="failed")), Write("step", step=failed_step)])
    index.refresh()
    version = index.version
    assert index.entries()[0].status == "failed"
    writer.write(
        [
            Write("step", step=step("r1", "a", 0, started_at=3.0, ended_at=4.0, attempt=2)),
            Write("run_update", run_id="r1", fields={"status": "completed", "ended_at": 4.0, "attempt": 2}),
        ]
    )
    assert changed(index, version) == [("r1", "completed", 1)]


def test_a_run_whose_process_died_turns_interrupted_without_a_write(
    index: RunIndex, writer: nd.SQLiteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.write([Write("run", run=record("r1", status="running", owner=live_owner()))])
    index.refresh()
    assert index.entries()[0].status == "running"
    version = index.version
    # The owner dies: nothing is written to the journal, the liveness check notices.
    monkeypatch.setattr(_index, "effective_status", lambda rec, engine=None: "interrupted")
    assert changed(index, version) == [("r1", "interrupted", 0)]


def test_dead_owners_read_as_interrupted(index: RunIndex, writer: nd.SQLiteJournal) -> None:
    writer.write([Write("run", run=record("r1", status="running", owner=DEAD_OWNER))])
    index.refresh()
    assert index.entries()[0].status == "interrupted"


def test_the_index_keeps_the_newest_runs_and_says_it_is_truncated(path: Path) -> None:
    add_runs(path, *[record(f"r{i}", status="completed", created=float(i)) for i in range(8)])
    idx = RunIndex(nd.SQLiteJournal(path), "j", max_runs=5)
    try:
        idx.refresh()
        assert sorted(e.run_id for e in idx.entries()) == ["r3", "r4", "r5", "r6", "r7"]
        assert idx.truncated
        add_runs(path, record("r8", status="completed", created=8.0))
        idx.refresh()
        assert sorted(e.run_id for e in idx.entries()) == ["r4", "r5", "r6", "r7", "r8"]
    finally:
        idx.close()


def test_a_subscriber_too_far_behind_is_told_to_reload(
    path: Path, writer: nd.SQLiteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_index, "_CHANGES_KEPT", 3)
    idx = RunIndex(nd.SQLiteJournal(path), "j", max_runs=100)
    try:
        idx.refresh()
        for i in range(5):
            writer.write([Write("run", run=record(f"r{i}", status="queued"))])
            idx.refresh()
        assert idx.changes_since(0) is None
        assert [e.run_id for e in idx.changes_since(idx.version - 1) or []] == ["r4"]
    finally:
        idx.close()


def test_summary_json(tmp_path: Path, path: Path, writer: nd.SQLiteJournal) -> None:
    root = tmp_path
    options = {"origin": {"notebook": str(root / "nbs" / "a.ipynb"), "cell_id": "c-1"}, "rerun_of": "r0"}
    error = {"type": "ValueError", "message": "bad", "traceback": "Traceback...", "step_id": "s"}
    writer.write(
        [Write("run", run=record("r1", "cell:demo", status="failed", kind="cell", options=options, error=error))]
    )
    ai = {"ai": {"tokens_in": 7, "tokens_out": 3, "cost": 0.5}}
    writer.write([Write("step", step=step("r1", "s", 0, kind="ai", started_at=5.0, ended_at=6.0, meta=ai))])
    idx = RunIndex(nd.SQLiteJournal(path), "j", max_runs=10)
    try:
        idx.refresh()
        (entry,) = idx.entries()
        idx.ensure_steps([entry])
        got = summary_json(entry, "j", root)
    finally:
        idx.close()
    assert got["notebook"] == "nbs/a.ipynb" and got["cell_id"] == "c-1" and got["rerun_of"] == "r0"
    assert got["error"] == {"type": "ValueError", "message": "bad", "step_id": "s"}  # no traceback in listings
    assert (got["steps_done"], got["steps_total"], got["tokens_in"], got["tokens_out"], got["cost"]) == (
        1,
        1,
        7,
        3,
        0.5,
    )
    assert got["updated_at"] >= 6.0
    # A notebook outside the root is not named.
    assert summary_json(entry, "j", root / "nbs" / "elsewhere")["notebook"] is None
    assert relative_notebook("nbs/./a.ipynb", root) == "nbs/a.ipynb"  # Jupyter's own form: relative to the root
    assert relative_notebook("../../etc/passwd", root) is None
    assert relative_notebook(["not", "text"], root) is None
