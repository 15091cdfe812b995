"""Events at the door: the command line refuses bad input with one line and exit 2 (real processes), and
poison events already in a journal (written by an older release or another tool) never fail a waiting run."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from tests.helpers import reset_engine, until


def cli(
    journal: Path | bytes, *args: str | bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m nbdurable --journal JOURNAL ARGS...`` in a process of its own (arguments may be raw bytes)."""
    command: list[str | bytes] = [sys.executable, "-m", "nbdurable", "--journal", os.fsencode(journal), *args]
    return subprocess.run(command, capture_output=True, timeout=60, env={**os.environ, **(env or {})})


def assert_refused(proc: subprocess.CompletedProcess[bytes], message: str) -> None:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    # One line saying what is wrong (argparse's usage errors print the usage above it).
    lines = err.splitlines()
    assert lines[-1].startswith("nbdurable") and message in lines[-1], err
    assert len(lines) == 1 or lines[0].startswith("usage:"), err


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    reset_engine()
    yield nd.configure(tmp_path / "journal.db", poll_interval=0.02)
    reset_engine()


def _waiting_function() -> nd.Function[Any]:
    @nd.function(id="door-approval")
    async def approval(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event("approval", event="t/approved", timeout="2m")
        return None if got is None else got.data

    return approval


@pytest.mark.asyncio
async def test_a_poison_event_from_the_command_line_is_refused_and_the_waiting_run_goes_on(
    engine: nd.Engine, tmp_path: Path
) -> None:
    handle = _waiting_function().start(run_id="wait-1")
    await until(lambda: handle.status == "waiting", what="the run waiting")
    path = tmp_path / "journal.db"
    # The exact report: the escape below is JSON for a lone surrogate.
    refused = await asyncio.to_thread(cli, path, "send", "t/approved", '{"note": "\\ud800"}')
    assert_refused(refused, "data['note'] is not valid UTF-8 text")
    assert engine.journal.last_event_seq() == 0
    await asyncio.sleep(0.1)
    assert handle.status == "waiting"
    sent = await asyncio.to_thread(cli, path, "send", "t/approved", '{"note": "é ok"}')
    assert sent.returncode == 0, sent.stderr
    assert await handle.result(timeout=10) == {"note": "é ok"}


DEEP = "[" * 60_000 + "]" * 60_000  # one argument may be at most 128 KiB


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["send", "t/x", '{"n": ' + "9" * 5000 + "}"], None, "the payload cannot be used: Exceeds the limit"),
        (["send", "t/x", '{"a": ' + DEEP + "}"], None, "nested too deeply to read"),
        (["send", "t/x", '{"a": ' + "[" * 70 + "]" * 70 + "}"], None, "nested more than 64 levels deep"),
        (["send", "t/x", '{"v": NaN}'], None, "NaN is not JSON"),
        (["send", "t/x", "[1, 2]"], None, "must be a JSON object"),
        (["send", "t/x", "{nope"], None, "not valid JSON"),
        (["send", b"t/\xff", "{}"], None, "is not valid UTF-8"),
        (["send", "t/x", b'{"a": "\xff"}'], None, "the payload is not valid UTF-8"),
        (["send", "t/x", "{}", "--id", b"\xfe"], None, "event id '\\udcfe' is not valid UTF-8"),
        (["send", "t/x", "{}", "--id", "a\nb"], None, "holds control characters"),
        (["send", "t/x", '{"a": "' + "x" * 200 + '"}'], {"NBDURABLE_EVENT_MAX_BYTES": "100"}, "the limit is 100 "),
        (["send", "t/x", "{}"], {"NBDURABLE_EVENT_MAX_DEPTH": "deep"}, "NBDURABLE_EVENT_MAX_DEPTH must be"),
        (["show", b"r\xff"], None, "run id 'r\\udcff' is not valid UTF-8"),
        (["show", "no-such-run"], None, "no run 'no-such-run'"),
        (["cancel", b"r\xff"], None, "is not valid UTF-8"),
        (["cancel", "no-such-run", "--reason", b"\xff"], None, "the reason '\\udcff' is not valid UTF-8"),
        (["list", "--limit", "1" + "0" * 30], None, "expected a number from 0 to 1000000"),
        (["list", "--limit", "-1"], None, "expected a number from 0 to 1000000"),
        (["list", "--status", "bogus"], None, "invalid choice: 'bogus'"),
    ],
)
def test_the_command_line_never_prints_a_traceback_for_bad_input(
    tmp_path: Path, args: list[str | bytes], env: dict[str, str] | None, message: str
) -> None:
    path = tmp_path / "journal.db"
    nd.SQLiteJournal(path).close()  # read commands refuse a missing journal first; here it exists
    assert_refused(cli(path, *args, env=env), message)
    if path.exists():
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_the_command_line_refuses_journals_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert_refused(cli(folder, "list"), "journal")
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    assert_refused(cli(text, "list"), "journal")
    assert text.read_text() == "not a database\n" * 100
    # A file name that is not UTF-8 is a valid path on POSIX: it works.
    odd = os.fsencode(tmp_path) + b"/j\xff.db"
    done = cli(odd, "send", "t/x", "{}")
    assert done.returncode == 0, done.stderr
    assert cli(odd, "list").returncode == 0


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = nd.SQLiteJournal(path)
    from nbdurable.journal._protocol import Write

    runs = [
        nd.RunRecord(f"run-{i:05d}-{'x' * 60}", "f", "completed", created_at=1.0, updated_at=1.0) for i in range(3000)
    ]
    journal.write([Write("run", run=r) for r in runs])
    journal.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdurable", "--journal", str(path), "list", "--limit", "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# -- poison events already in the journal ------------------------------------------------------------


POISON: list[tuple[str, str]] = [
    # (how the data column was written, as SQL, what it is)
    ('\'{"note":"\\ud800"}\'', "a lone surrogate, as nbdurable 0.1.0 stored it"),
    ("'{\"v\":NaN}'", "NaN"),
    ("'not json at all'", "text that is not JSON"),
    ("CAST(X'7B226E223A22FF227D' AS TEXT)", "bytes that are not UTF-8"),
    ("'[1,2]'", "JSON that is not an object"),
    ("'" + '{"a":' * 5000 + "1" + "}" * 5000 + "'", "nesting deeper than Python can read"),
    ('\'{"a":' + "[" * 80 + "]" * 80 + "}'", "nesting over the limit"),
]


def _insert_poison(path: Path, name: str) -> None:
    """Write events as another tool (or an older release) could: straight into the table, no checks."""
    with sqlite3.connect(path) as conn:
        for i, (sql, _what) in enumerate(POISON):
            conn.execute(
                f"INSERT INTO events (event_id, name, data, ts) VALUES (?, ?, {sql}, 1e12)",
                (f"poison-{i}", name),
            )
        conn.execute(
            "INSERT INTO events (event_id, name, data, ts) VALUES (CAST(X'6964FF' AS TEXT), ?, '{}', 1e12)", (name,)
        )


@pytest.mark.asyncio
async def test_poison_events_in_the_journal_are_skipped_with_a_warning_not_a_failure(
    engine: nd.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    approval = _waiting_function()
    handle = approval.start(run_id="poisoned")
    await until(lambda: handle.status == "waiting", what="the run waiting")
    _insert_poison(path, "t/approved")
    await asyncio.sleep(0.2)  # several polls over the poison
    assert handle.status == "waiting"
    # A restart while they are there: the resumed wait skips them as well, it does not fail.
    assert engine.interrupt("poisoned")
    with pytest.raises(nd.RunInterruptedError):
        await handle.result()
    reset_engine()
    engine = nd.configure(path, poll_interval=0.02)
    resumed = engine.resume("poisoned")
    await until(lambda: resumed.status == "waiting", what="the resumed run waiting")
    await asyncio.sleep(0.1)
    assert resumed.status == "waiting"
    await nd.send("t/approved", {"ok": True})
    assert await resumed.result(timeout=10) == {"ok": True}
    # Rows that read fine but break the rules are skipped with a warning each; unreadable rows (not JSON,
    # not an object, not UTF-8, past the journal's nesting limit) are left out of every read.
    warnings = [w["message"] for w in nd.get_run("poisoned").record.warnings or []]
    assert len(warnings) == 3, warnings
    assert all("skipped event 't/approved'" in w and "from the journal" in w for w in warnings)
    assert any("is not valid UTF-8 text" in w for w in warnings)
    assert any("is nan, which JSON cannot hold" in w for w in warnings)
    assert any("nested more than 64 levels deep" in w for w in warnings)
    [wait] = [s for s in nd.get_run("poisoned").steps() if s.step_id == "approval"]
    assert wait.status == "completed" and wait.meta is not None
    assert wait.meta["event_seq"] == len(POISON) + 2
