"""Cancellation cannot be swallowed or dropped: every cancel path either ends the run ``cancelled`` or
``cancel()`` returns False (real SQLite files; cancels from other processes are real processes)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from tests.helpers import until


def journal_steps(run_id: str) -> dict[str, nd.StepRecord]:
    return {s.step_id: s for s in nd.get_engine().journal.load_steps(run_id)}


@pytest.mark.asyncio
async def test_except_exception_in_the_workflow_does_not_swallow_a_cancel(journal_path: Path) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    ran: list[int] = []

    async def work(i: int) -> int:
        ran.append(i)
        if i == 0:
            started.set()
            await release.wait()
        return i

    @nd.function(id="cancel-swallow", retries=0)
    async def wf(ctx: nd.Context) -> str:
        for i in range(5):
            try:
                await ctx.step.run(f"work-{i}", work, i)
            except Exception:  # the pattern that used to eat the cancel
                continue
        return "completed anyway"

    handle = wf.start(run_id="swallow")
    await started.wait()
    assert handle.cancel("stop") is True
    release.set()
    with pytest.raises(nd.RunCancelledError, match="stop"):
        await handle.result()
    assert ran == [0]
    assert handle.status == "cancelled"
    assert not issubclass(nd.RunCancelledError, Exception)


@pytest.mark.asyncio
async def test_except_run_cancelled_error_catches_it_for_cleanup_and_the_run_still_ends_cancelled(
    journal_path: Path,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def slow() -> str:
        started.set()
        await release.wait()
        return "slow done"

    @nd.function(id="cancel-cleanup", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.run("slow", slow)
        try:
            await ctx.step.run("next", lambda: seen.append("next ran"))
        except nd.RunCancelledError as exc:
            seen.append(f"cleanup: {exc.reason}")
            try:
                await ctx.step.run("after", lambda: seen.append("a step after the cancel ran"))
            except nd.RunCancelledError:
                seen.append("no step runs after a cancel")
            return "returned normally from the handler"
        return "not cancelled"

    handle = wf.start(run_id="cleanup")
    await started.wait()
    handle.cancel("user")
    release.set()
    with pytest.raises(nd.RunCancelledError):
        await handle.result()
    assert seen == ["cleanup: user", "no step runs after a cancel"]
    assert handle.status == "cancelled"
    assert journal_steps("cleanup")["slow"].output == '"slow done"'  # the step in flight finished and is kept


@pytest.mark.asyncio
async def test_a_cancel_while_the_last_step_runs_ends_the_run_cancelled(journal_path: Path) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def last() -> str:
        started.set()
        await release.wait()
        return "done"

    @nd.function(id="cancel-last", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.run("first", lambda: 1)
        return await ctx.step.run("last", last)

    handle = wf.start(run_id="last")
    await started.wait()
    assert handle.cancel("too late?") is True
    release.set()
    with pytest.raises(nd.RunCancelledError, match="too late"):
        await handle.result()
    rec = nd.get_engine().journal.get_run("last")
    assert rec is not None and rec.status == "cancelled" and rec.result is None
    assert journal_steps("last")["last"].status == "completed"  # its work is journaled, never redone
    assert handle.cancel() is False


CANCELLER = textwrap.dedent(
    """
    import json, random, sys, time
    import nbdurable as nd
    journal, plan = sys.argv[1], json.loads(sys.argv[2])
    engine = nd.Engine(nd.SQLiteJournal(journal))
    start = time.monotonic()
    out = {}
    for run_id, at in sorted(plan.items(), key=lambda item: item[1]):
        time.sleep(max(0.0, at - (time.monotonic() - start)))
        out[run_id] = engine.cancel(run_id, "raced")
    print(json.dumps(out))
    """
)


@pytest.mark.asyncio
async def test_a_cancel_from_another_process_racing_the_end_of_runs_is_never_true_then_completed(
    journal_path: Path, tmp_path: Path
) -> None:
    """Another process cancels runs at random moments around their last step and their end: for every run,
    cancel() said True exactly when the run ended cancelled."""
    rng = random.Random(7)
    durations = {f"race-{i}": rng.uniform(0.0, 0.6) for i in range(40)}

    async def last(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @nd.function(id="cancel-race", retries=0)
    async def wf(ctx: nd.Context) -> float:
        return await ctx.step.run("last", last, ctx.event.data["seconds"])

    handles = [wf.start({"seconds": s}, run_id=run_id) for run_id, s in durations.items()]
    await until(lambda: all(h.status == "running" for h in handles), what="runs started")
    script = tmp_path / "canceller.py"
    script.write_text(CANCELLER)
    plan = {run_id: rng.uniform(0.0, 0.9) for run_id in durations}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(journal_path),
        json.dumps(plan),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    said = json.loads(out)
    for handle in handles:
        try:
            await handle.result(timeout=20)
        except nd.RunCancelledError:
            pass
    final = {h.run_id: nd.get_engine().journal.get_run(h.run_id).status for h in handles}  # type: ignore[union-attr]
    assert {run_id: said[run_id] for run_id in final} == {run_id: s == "cancelled" for run_id, s in final.items()}
    assert set(final.values()) <= {"cancelled", "completed"}


@pytest.mark.asyncio
async def test_the_cli_cancelling_a_run_in_its_last_step_ends_it_cancelled(journal_path: Path) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def last() -> str:
        started.set()
        await release.wait()
        return "done"

    @nd.function(id="cancel-cli", retries=0)
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("last", last)

    handle = wf.start(run_id="cli-last")
    await started.wait()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nbdurable",
        "--journal",
        str(journal_path),
        "cancel",
        "cli-last",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and b"run cli-last cancelled" in out, err
    release.set()  # the step finishes after the cancel; no further step call would notice it
    with pytest.raises(nd.RunCancelledError, match="cancelled from the command line"):
        await handle.result()
    assert nd.get_run("cli-last").status == "cancelled"


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["timeout", "cancel_on"])
async def test_a_finish_timeout_or_cancel_on_during_the_last_step_ends_the_run_cancelled(
    journal_path: Path, how: str
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def last() -> str:
        started.set()
        await release.wait()
        return "done"

    options: dict[str, Any] = (
        {"timeouts": nd.Timeouts(finish="0.3s")}
        if how == "timeout"
        else {"cancel_on": nd.CancelOn(event="cancel/stop", if_exp="async.data.id == event.data.id")}
    )

    @nd.function(id=f"cancel-{how}", retries=0, **options)
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("last", last)

    handle = wf.start({"id": 1}, run_id=f"late-{how}")
    await started.wait()
    if how == "timeout":
        await asyncio.sleep(0.4)
    else:
        await nd.send("cancel/stop", {"id": 1})
    release.set()
    with pytest.raises(nd.RunCancelledError, match="timed out" if how == "timeout" else "cancelled by event"):
        await handle.result()
    assert handle.status == "cancelled"


@pytest.mark.asyncio
async def test_an_interrupt_swallowed_by_the_workflow_still_stops_it_resumable(journal_path: Path) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    ran: list[str] = []

    async def first() -> None:
        started.set()
        await release.wait()

    @nd.function(id="cancel-interrupt", retries=0)
    async def wf(ctx: nd.Context) -> str:
        try:
            await ctx.step.run("first", first)
        except BaseException:  # swallows Ctrl-C's CancelledError
            pass
        await ctx.step.run("second", lambda: ran.append("second"))
        return "done"

    handle = wf.start(run_id="interrupted")
    await started.wait()
    assert nd.get_engine().interrupt("interrupted") is True
    with pytest.raises(nd.RunInterruptedError):
        await handle.result()
    assert ran == []
    assert nd.get_run("interrupted").status == "interrupted"
    release.set()
    ran.clear()
    started.clear()
    resumed = nd.get_run("interrupted").resume()
    await started.wait()
    release.set()
    assert await resumed.result() == "done"
    assert ran == ["second"]


@pytest.mark.asyncio
async def test_a_cancel_inside_a_task_group_ends_the_run_cancelled(journal_path: Path) -> None:
    if sys.version_info < (3, 11):
        pytest.skip("asyncio.TaskGroup is Python 3.11+")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    @nd.function(id="cancel-taskgroup", retries=0)
    async def wf(ctx: nd.Context) -> None:
        async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
            group.create_task(ctx.step.sleep("nap", "1h"))
            group.create_task(ctx.step.wait_for_event("w", event="cancel/never", timeout="1h"))

    handle = wf.start(run_id="group")
    await until(lambda: handle.status in ("sleeping", "waiting"), what="the run waiting")
    handle.cancel("group")
    with pytest.raises(nd.RunCancelledError):
        await handle.result(timeout=10)
    assert handle.status == "cancelled"


@pytest.mark.asyncio
async def test_a_queued_run_cancelled_behind_others_never_runs(journal_path: Path) -> None:
    release = asyncio.Event()
    ran: list[str] = []

    async def hold(run_id: str) -> None:
        ran.append(run_id)
        await release.wait()

    @nd.function(id="cancel-queued", retries=0, concurrency=nd.Concurrency(limit=1))
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("hold", hold, ctx.run_id)

    first = wf.start(run_id="q-first")
    await until(lambda: ran == ["q-first"], what="the first run holding the slot")
    second, third = wf.start(run_id="q-second"), wf.start(run_id="q-third")
    await until(lambda: second.status == "queued" and third.status == "queued", what="both queued")
    assert third.cancel("not needed") is True  # behind another waiter: woken, not left to its next poll
    with pytest.raises(nd.RunCancelledError):
        await third.result(timeout=10)
    release.set()
    await first.result()
    await second.result()
    assert ran == ["q-first", "q-second"]
