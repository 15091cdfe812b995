"""The timeline snapshot: built from memory for runs here, from the journal for others, and both agree."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from nbdurable.timeline._render import render_html, render_text
from nbdurable.timeline._snapshot import build_snapshot
from tests.helpers import restart


def _comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    run = {k: v for k, v in snapshot["run"].items() if k not in ("now",)}
    steps = [{k: v for k, v in s.items() if k not in ("replayed",)} for s in snapshot["steps"]]
    return {"run": run, "steps": steps, "steps_omitted": snapshot["steps_omitted"], "actions": snapshot["actions"]}


@pytest.mark.asyncio
async def test_snapshot_from_memory_equals_snapshot_from_the_journal(journal_path: Path) -> None:
    @nd.function(id="snap-same", retries=1, lint="off")
    async def wf(ctx: nd.Context) -> str:
        a = await ctx.step.run("a", lambda x: {"x": x}, 1)
        await ctx.step.sleep("nap", 0.01)
        got = await ctx.step.wait_for_event("w", event="snap/go", timeout="5s")
        assert got is not None
        return str(await ctx.step.run("b", lambda: a["x"] + got.data["n"]))

    handle = wf.start(run_id="same")
    while handle.status != "waiting":
        await asyncio.sleep(0.01)
    await nd.send("snap/go", {"n": 41})
    assert await handle.result() == "42"
    from_memory = build_snapshot(nd.get_engine(), "same")
    restart(journal_path)  # a new engine: the run is known only from the journal
    from_journal = build_snapshot(nd.get_engine(), "same")
    assert _comparable(from_memory) == _comparable(from_journal)
    assert [s["step_id"] for s in from_memory["steps"]] == ["a", "nap", "w", "b"]
    wait = next(s for s in from_memory["steps"] if s["step_id"] == "w")
    assert '"n":41' in wait["output_preview"], "the event a wait received is shown"
    assert from_memory["run"]["status"] == "completed" and from_memory["run"]["steps_done"] == 4


@pytest.mark.asyncio
async def test_snapshot_of_a_long_run_keeps_the_last_rows_and_counts_the_rest(journal_path: Path) -> None:
    @nd.function(id="snap-long", lint="off")
    async def wf(ctx: nd.Context) -> None:
        for i in range(30):
            await ctx.step.run(f"s{i}", lambda: None)

    await wf.run(run_id="long")
    snap = build_snapshot(nd.get_engine(), "long", max_steps=10)
    assert snap["steps_omitted"] == 20 and snap["run"]["steps_total"] == 30
    assert [s["step_id"] for s in snap["steps"]] == [f"s{i}" for i in range(20, 30)]


@pytest.mark.asyncio
async def test_sequential_steps_commit_inline_but_let_other_tasks_run(journal_path: Path) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    @nd.function(id="snap-inline", lint="off")
    async def wf(ctx: nd.Context) -> int:
        for i in range(300):
            await ctx.step.run(f"s{i}", lambda: None)
        return 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    assert await wf.run(run_id="inline") == 1
    task.cancel()
    # Synchronous steps commit without a loop turn, yet the run yields every 64 commits.
    assert ticks - before >= 300 // 64
    assert len(nd.get_engine().journal.load_steps("inline")) == 300


@pytest.mark.asyncio
async def test_an_inline_commit_that_finds_the_journal_locked_waits_in_the_queue(journal_path: Path) -> None:
    gate = asyncio.Event()

    async def step_body() -> int:
        await gate.wait()
        return 7

    @nd.function(id="snap-locked", lint="off")
    async def wf(ctx: nd.Context) -> int:
        return int(await ctx.step.run("s", step_body))

    handle = wf.start(run_id="locked")
    await asyncio.sleep(0.05)  # the step is now waiting at the gate
    other = sqlite3.connect(journal_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock when the step commits
    gate.set()
    await asyncio.sleep(0.3)
    assert handle.status == "running", "the step waits for the lock instead of failing"
    assert nd.get_engine().journal.load_steps("locked") == []
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(handle.result(), 10) == 7
    assert [s.step_id for s in nd.get_engine().journal.load_steps("locked")] == ["s"]


def test_a_wait_on_one_field_suggests_that_field() -> None:
    from nbdurable.timeline._snapshot import _suggested_data

    assert _suggested_data('async.data.call_id == "c-1"') == {"call_id": "c-1", "approved": True}
    assert _suggested_data('async.data.thread_id == "ticket \\"17\\""') == {"thread_id": 'ticket "17"'}
    assert _suggested_data("async.data.n == 3") is None
    assert _suggested_data('async.data.a == "x" && async.data.b == "y"') is None
    assert _suggested_data(None) is None


@pytest.mark.asyncio
async def test_a_run_cancelled_while_it_waits_is_not_shown_waiting(journal_path: Path) -> None:
    @nd.function(id="snap-cancelled", lint="off")
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("a", lambda: 1)
        await ctx.step.wait_for_event("w", event="snap/never", timeout="1h")

    handle = wf.start(run_id="cancelled")
    while handle.status != "waiting":
        await asyncio.sleep(0.01)
    assert build_snapshot(nd.get_engine(), "cancelled")["run"]["waiting_for"]["event"] == "snap/never"
    nd.get_engine().cancel("cancelled", "not needed")
    with pytest.raises(nd.RunCancelledError):
        await handle.result()
    here = build_snapshot(nd.get_engine(), "cancelled")
    restart(journal_path)
    for snap in (here, build_snapshot(nd.get_engine(), "cancelled")):
        assert snap["run"]["status"] == "cancelled"
        assert snap["run"]["waiting_for"] is None
        assert snap["actions"]["send_event"] is False and snap["actions"]["cancel"] is False
        wait = next(s for s in snap["steps"] if s["step_id"] == "w")
        assert wait["status"] == "cancelled", wait
        assert wait["ended_at"] is not None and wait["ended_at"] <= snap["run"]["ended_at"] + 1e-6


@pytest.mark.asyncio
async def test_every_failed_attempt_of_a_retried_step_is_shown_with_its_error_and_backoff(journal_path: Path) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise nd.RetryAfterError(f"upstream busy ({len(calls)})", 0.2)
        return "ok"

    @nd.function(id="snap-flaky", retries=2, lint="off")
    async def wf(ctx: nd.Context) -> str:
        return str(await ctx.step.run("fetch", flaky))

    assert await wf.run(run_id="flaky") == "ok"
    here = build_snapshot(nd.get_engine(), "flaky")
    restart(journal_path)
    for snap in (here, build_snapshot(nd.get_engine(), "flaky")):
        fetch = snap["steps"][0]
        assert fetch["status"] == "completed" and fetch["attempt"] == 3 and fetch["max_attempts"] == 3
        attempts = fetch["attempts"]
        assert [a["attempt"] for a in attempts] == [1, 2]
        assert [a["error"] for a in attempts] == [
            {"type": "nbdurable._errors.RetryAfterError", "message": "upstream busy (1)"},
            {"type": "nbdurable._errors.RetryAfterError", "message": "upstream busy (2)"},
        ]
        for a in attempts:
            assert a["retry_at"] - a["ended_at"] == pytest.approx(0.2, abs=0.05)
        # the row covers the whole step, backoffs included, not just its last attempt
        assert fetch["started_at"] == attempts[0]["started_at"]
        assert fetch["ended_at"] - fetch["started_at"] >= 0.4
        html = render_html(snap)
        assert "completed (attempt 3 of 3)" in html
        assert (
            "Attempt 1 failed after " in html
            and ": nbdurable._errors.RetryAfterError: upstream busy (1); retried " in html
        )
        text = render_text(snap, max_rows=None, step_errors=True)
        assert "Attempt 2 failed after " in text


@pytest.mark.asyncio
async def test_a_failed_run_resumed_here_shows_its_new_ending_not_the_old_error(journal_path: Path) -> None:
    """The record a resumed run was loaded with holds the earlier failure: the snapshot must not show it."""
    answers = iter([RuntimeError("first try"), 7])

    def flaky() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise nd.NonRetriableError(str(answer))
        return answer

    @nd.function(id="snap-resumed", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> int:
        return int(await ctx.step.run("w", flaky))

    with pytest.raises(nd.RunFailedError):
        await wf.start(run_id="snap-resumed").result()
    assert await nd.get_run("snap-resumed").resume().result() == 7
    engine = nd.get_engine()
    here = build_snapshot(engine, "snap-resumed")
    other = nd.Engine(nd.SQLiteJournal(journal_path))
    try:
        there = build_snapshot(other, "snap-resumed")
    finally:
        other.journal.close()
    assert here["run"]["status"] == there["run"]["status"] == "completed"
    assert here["run"]["error"] is None and there["run"]["error"] is None
    assert here["run"]["ended_at"] == there["run"]["ended_at"]
    assert "first try" not in render_text(here)


@pytest.mark.asyncio
async def test_a_failed_run_resumed_shows_no_error_while_it_runs_again(journal_path: Path) -> None:
    """Seen from another process while the resumed run executes, the earlier failure is not its state."""
    gate = asyncio.Event()
    tries = iter([True, False])

    async def flaky() -> int:
        if next(tries):
            raise nd.NonRetriableError("first try")
        await gate.wait()
        return 7

    @nd.function(id="snap-running-again", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> int:
        return int(await ctx.step.run("w", flaky))

    with pytest.raises(nd.RunFailedError):
        await wf.start(run_id="snap-running-again").result()
    handle = nd.get_run("snap-running-again").resume()
    other = nd.Engine(nd.SQLiteJournal(journal_path))
    try:
        while (rec := other.journal.get_run("snap-running-again")) is None or rec.status != "running":
            await asyncio.sleep(0.01)
        assert (rec.error, rec.ended_at) == (None, None), "the journal still shows the earlier ending"
        there = build_snapshot(other, "snap-running-again")  # (its status: another engine of this process)
        assert (there["run"]["error"], there["run"]["ended_at"]) == (None, None)
    finally:
        gate.set()
        other.journal.close()
    assert await handle.result() == 7
