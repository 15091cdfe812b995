"""Run handles: reading a run, waiting for it (here or in another process), its steps, resuming it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

import nbdurable as nd
from nbdurable.journal._protocol import Write
from tests.helpers import interrupt, restart, until

REPO = Path(__file__).resolve().parents[2]


class Summary(pydantic.BaseModel):
    words: int
    when: dt.datetime


@pytest.mark.asyncio
async def test_handle_basics(journal_path: Path) -> None:
    gate = asyncio.Event()

    @nd.function(id="run-basics", retries=0)
    async def wf(ctx: nd.Context) -> int:
        await ctx.step.run("wait", gate.wait)
        return 3

    handle = wf.start(run_id="basics")
    before = handle.record
    assert before is None  # not journaled before its task first runs
    assert handle.function_id == "run-basics"
    await until(lambda: handle.status == "running")
    assert repr(handle) == "<RunHandle 'basics' 'run-basics' running>"
    rec = handle.record
    assert rec is not None and rec.run_id == "basics" and rec.status == "running"
    gate.set()
    assert await handle.result() == 3
    assert repr(handle) == "<RunHandle 'basics' 'run-basics' completed>"
    rec = handle.record
    assert rec is not None and rec.status == "completed" and rec.result == "3"


@pytest.mark.asyncio
async def test_steps_in_the_order_first_reached(journal_path: Path) -> None:
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "slow"

    @nd.function(id="run-steps", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("first", lambda: 1)
        ctx.step.uuid()
        await asyncio.gather(ctx.step.run("slow", slow), ctx.step.run("fast", lambda: "fast"))
        await ctx.step.sleep("nap", "10ms")

    handle = wf.start(run_id="steps")
    await until(lambda: ("fast", "completed") in {(s.step_id, s.status) for s in handle.steps()})
    live = {s.step_id: s for s in handle.steps()}
    assert live["slow"].status == "running"  # in flight, known to this process only
    assert live["slow"].ended_at is None and live["slow"].duration is None
    assert live["fast"].status == "completed"
    release.set()
    await handle.result()
    views = handle.steps()
    assert [(v.step_id, v.kind, v.position) for v in views] == [
        ("first", "run", 0),
        ("nd.uuid", "value", 1),
        ("slow", "run", 2),
        ("fast", "run", 3),
        ("nap", "sleep", 4),
    ]
    assert all(v.status == "completed" for v in views)
    assert all(not v.replayed for v in views)
    nap = views[-1]
    assert nap.duration is not None and nap.duration >= 0.01
    with pytest.raises(AttributeError):
        nap.status = "x"  # type: ignore[misc]
    # From the journal alone (after a restart) the same steps.
    restart(journal_path)
    assert [(v.step_id, v.status) for v in nd.get_run("steps").steps()] == [(v.step_id, v.status) for v in views]


@pytest.mark.asyncio
async def test_replayed_steps_are_marked(journal_path: Path) -> None:
    @nd.function(id="run-replayed", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("a", lambda: 1)
        if ctx.attempt == 0:
            raise RuntimeError("first execution ends here")
        await ctx.step.run("b", lambda: 2)

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="replayed")
    handle = nd.get_run("replayed").resume()
    await handle.result()
    assert [(v.step_id, v.replayed) for v in handle.steps()] == [("a", True), ("b", False)]


@pytest.mark.asyncio
async def test_result_timeout_leaves_the_run_going(journal_path: Path) -> None:
    @nd.function(id="run-timeout", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.sleep("nap", "200ms")
        return "done"

    handle = wf.start(run_id="timeout")
    with pytest.raises(asyncio.TimeoutError):
        await handle.result(timeout=0.05)
    assert handle.status == "sleeping"
    assert await handle.result(timeout=5) == "done"


@pytest.mark.asyncio
async def test_results_read_from_the_journal_get_their_types_back(journal_path: Path) -> None:
    when = dt.datetime(2030, 5, 1, 9, 0, tzinfo=dt.timezone.utc)

    @nd.function(id="run-typed", retries=0)
    async def model_wf(ctx: nd.Context) -> Summary:
        return Summary(words=12, when=when)

    @nd.function(id="run-typed-nested", retries=0)
    async def nested_wf(ctx: nd.Context) -> dict[str, dt.datetime]:
        return {"when": when}

    @nd.function(id="run-none", retries=0)
    async def none_wf(ctx: nd.Context) -> None:
        return None

    assert await model_wf.run(run_id="typed") == Summary(words=12, when=when)
    await nested_wf.run(run_id="typed-nested")
    await none_wf.run(run_id="none")
    none_record = nd.get_engine().journal.get_run("none")
    assert none_record is not None and none_record.status == "completed" and none_record.result is None
    restart(journal_path)
    got = await nd.get_run("typed").result()
    assert type(got) is Summary and got == Summary(words=12, when=when)
    assert await nd.get_run("typed-nested").result() == {"when": when}
    assert await model_wf.run(run_id="typed") == Summary(words=12, when=when)
    assert await nd.get_run("none").result() is None


@pytest.mark.asyncio
async def test_failed_results_and_resume(journal_path: Path) -> None:
    broken = [True]

    def risky() -> str:
        if broken[0]:
            raise OSError("disk full")
        return "written"

    @nd.function(id="run-failed", retries=0)
    async def wf(ctx: nd.Context) -> str:
        return str(await ctx.step.run("write", risky))

    handle = wf.start(run_id="failed")
    with pytest.raises(nd.RunFailedError) as info:
        await handle.result()
    err = info.value
    assert err.run_id == "failed"
    assert (err.error_type, err.error_message) == ("OSError", "disk full")
    assert "in step 'write'" in str(err)
    assert "resume" in str(err)  # says what to do next
    restart(journal_path)
    handle = nd.get_run("failed")
    assert handle.status == "failed"
    broken[0] = False
    resumed = handle.resume()
    assert resumed.run_id == "failed"
    assert await resumed.result() == "written"
    assert nd.get_run("failed").status == "completed"
    # Resuming a completed run returns its result without running anything.
    broken[0] = True
    assert await nd.get_run("failed").resume().result() == "written"


@pytest.mark.asyncio
async def test_resume_needs_the_function(journal_path: Path) -> None:
    now = time.time()
    nd.get_engine().journal.write(
        [Write("run", run=nd.RunRecord("lost", "run-undefined-fn", "failed", created_at=now, updated_at=now))]
    )
    with pytest.raises(nd.FunctionNotFoundError, match="'run-undefined-fn'") as info:
        nd.get_run("lost").resume()
    assert "@nd.function(id=...)" in str(info.value)
    with pytest.raises(nd.ConfigError):
        nd.get_engine().resume("never-existed")


@pytest.mark.asyncio
async def test_a_queued_run_nobody_owns_is_interrupted(journal_path: Path) -> None:
    now = time.time()
    nd.get_engine().journal.write(
        [Write("run", run=nd.RunRecord("stranded", "run-stranded", "queued", created_at=now, updated_at=now))]
    )
    handle = nd.get_run("stranded")
    assert handle.status == "queued"
    with pytest.raises(nd.RunInterruptedError):
        await asyncio.wait_for(handle.result(), 5)


WATCHED = textwrap.dedent(
    """
    import asyncio, sys
    import nbdurable as nd

    nd.configure(sys.argv[1])

    @nd.function(id="run-watched", retries=0)
    async def wf(ctx):
        await ctx.step.run("a", lambda: 1)
        await ctx.step.sleep("nap", "600ms")
        if ctx.event.data.get("fail"):
            raise KeyError("from the other process")
        return {"answer": 42}

    asyncio.run(wf.run({"fail": sys.argv[3] == "fail"}, run_id=sys.argv[2]))
    """
)


@pytest.mark.asyncio
@pytest.mark.parametrize("outcome", ["ok", "fail"])
async def test_watch_a_run_executing_in_another_process(journal_path: Path, tmp_path: Path, outcome: str) -> None:
    script = tmp_path / "watched.py"
    script.write_text(WATCHED)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(journal_path), "watched", outcome],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
    )
    try:
        await until(lambda: nd.get_engine().journal.get_run("watched") is not None, timeout=20)
        handle = nd.get_run("watched")
        await until(lambda: handle.status == "sleeping", timeout=10)
        assert handle.function_id == "run-watched"
        with pytest.raises(asyncio.TimeoutError):
            await handle.result(timeout=0.05)
        if outcome == "ok":
            assert await handle.result(timeout=20) == {"answer": 42}
            assert handle.status == "completed"
        else:
            with pytest.raises(nd.RunFailedError) as info:
                await handle.result(timeout=20)
            assert info.value.error_type == "KeyError"
            assert "from the other process" in info.value.error_message
        # A handle cannot cancel a run that already ended elsewhere.
        assert handle.cancel() is False
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        proc.kill()
        proc.communicate()


def test_step_view_duration() -> None:
    view = nd.StepView("s", "s", "run", "completed", 0, 0, 10.0, 12.5, False, None, None)
    assert view.duration == 2.5
    assert nd.StepView("s", "s", "run", "running", 0, 0, 10.0, None, False, None, None).duration is None


def test_run_handle_is_generic() -> None:
    assert nd.RunHandle[Any] is not None


@pytest.mark.asyncio
@pytest.mark.parametrize("resumed", [False, True], ids=["new run", "resumed run"])
async def test_a_cancel_from_another_process_just_after_the_claim_stops_the_run(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch, resumed: bool
) -> None:
    """The first cancel check trusts the change token read before the claim: a cancel another process commits
    right after the claim (before that check) must still move it, and no step may run."""
    ran: list[str] = []
    gate = asyncio.Event()

    async def second() -> None:
        ran.append("second")
        await gate.wait()

    @nd.function(id="claim-window", retries=0)
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("first", lambda: ran.append("first"))
        await ctx.step.run("second", second)

    engine = nd.get_engine()
    if resumed:
        # A run interrupted inside its second step: resuming it claims the existing row (claim_run).
        job.start(run_id="cw")
        await until(lambda: ran == ["first", "second"], what="the second step")
        await interrupt("cw")
        ran.clear()
        engine = restart(journal_path)
    journal = engine.journal
    claim_name = "claim_run" if resumed else "write"  # a new run is claimed by inserting it
    real_claim = getattr(journal, claim_name)
    claimed: list[bool] = []

    def claim_then_cancel_elsewhere(*args: Any, **kwargs: Any) -> Any:
        result = real_claim(*args, **kwargs)
        if not claimed:
            claimed.append(True)
            other = nd.Engine(nd.SQLiteJournal(journal_path))  # another process's view of the same file
            try:
                assert other.cancel("cw", "right after the claim") is True
            finally:
                other.journal.close()
        return result

    monkeypatch.setattr(journal, claim_name, claim_then_cancel_elsewhere)
    handle = engine.resume("cw") if resumed else job.start(run_id="cw")
    with pytest.raises(nd.RunCancelledError) as info:
        await asyncio.wait_for(handle.result(), 5)
    assert claimed and "right after the claim" in info.value.reason
    assert ran == [], "no step runs once another process cancelled the run"
    assert journal.get_run("cw").status == "cancelled"  # type: ignore[union-attr]
