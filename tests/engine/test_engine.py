"""The engine: starting runs from events and calls, statuses, cancellation, listings, the feed, determinism."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from nbdurable.engine import registry
from nbdurable.engine._feed import Notice
from nbdurable.journal._owner import _identity, this_owner
from nbdurable.journal._protocol import Write
from tests.helpers import CrashError, interrupt, journal, restart, until

# Linux pids never exceed 2**22, so this process cannot exist.
DEAD_OWNER = f"{socket.gethostname()}:{2**22 + 1}:1"


def add_foreign_run(run_id: str, function_id: str, owner: str | None, status: str = "running") -> None:
    """A run as another process left it in the journal."""
    now = time.time()
    journal().write(
        [
            Write(
                "run",
                run=nd.RunRecord(
                    run_id,
                    function_id,
                    status,
                    {"name": f"{function_id}/run", "data": {"n": 5}, "id": run_id, "ts": now},
                    owner=owner,
                    attempt=1,
                    created_at=now,
                    updated_at=now,
                ),
            )
        ]
    )


# -- starting runs from events ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_send_starts_a_run_of_each_triggered_function(journal_path: Path) -> None:
    seen: list[tuple[str, nd.Event]] = []

    @nd.function(id="eng-send-a", trigger="engsend/created", retries=0)
    async def a(ctx: nd.Context) -> str:
        seen.append(("a", ctx.event))
        return "a:" + str(ctx.event.data["name"])

    @nd.function(id="eng-send-b", trigger=["engsend/other", "engsend/created"], retries=0)
    async def b(ctx: nd.Context) -> str:
        seen.append(("b", ctx.event))
        return "b:" + str(ctx.event.data["name"])

    @nd.function(id="eng-send-unrelated", trigger="engsend/deleted", retries=0)
    async def unrelated(ctx: nd.Context) -> None:
        raise AssertionError("not triggered")

    handles = await nd.send("engsend/created", {"name": "ada"}, id="evt-1")
    assert sorted(h.function_id for h in handles) == ["eng-send-a", "eng-send-b"]
    assert sorted([await h.result() for h in handles]) == ["a:ada", "b:ada"]
    for _, event in seen:
        assert (event.name, event.data, event.id) == ("engsend/created", {"name": "ada"}, "evt-1")
    assert sorted(journal().runs_for_event("evt-1")) == sorted((h.function_id, h.run_id) for h in handles)
    for h in handles:
        rec = h.record
        assert rec is not None and rec.event is not None and rec.event["id"] == "evt-1"
    assert nd.runs(function_id="eng-send-unrelated") == []


@pytest.mark.asyncio
async def test_the_same_event_id_twice_starts_runs_once(journal_path: Path) -> None:
    calls: list[str] = []
    gate = asyncio.Event()

    @nd.function(id="eng-dedupe", trigger="engdedupe/created", retries=0)
    async def wf(ctx: nd.Context) -> int:
        calls.append(ctx.run_id)
        await ctx.step.run("wait", gate.wait)
        return 7

    first = await nd.send("engdedupe/created", {"n": 1}, id="same")
    again_while_running = await nd.send("engdedupe/created", {"n": 2}, id="same")
    assert [h.run_id for h in again_while_running] == [h.run_id for h in first]
    gate.set()
    assert [await h.result() for h in again_while_running] == [7]
    again_after = await nd.send("engdedupe/created", {"n": 3}, id="same")
    assert [h.run_id for h in again_after] == [h.run_id for h in first]
    assert again_after[0].status == "completed"
    assert [await h.result() for h in again_after] == [7]
    assert len(calls) == 1
    stored = journal().get_event("same")
    assert stored is not None and stored.data == {"n": 1}
    assert len(journal().events_after("engdedupe/created", 0)) == 1
    # Also after a restart.
    restart(journal_path)
    assert [h.run_id for h in await nd.send("engdedupe/created", id="same")] == [h.run_id for h in first]
    assert len(calls) == 1


@pytest.mark.asyncio
async def test_wildcard_triggers(journal_path: Path) -> None:
    @nd.function(id="eng-wild", trigger="engwild/*", retries=0)
    async def wf(ctx: nd.Context) -> str:
        return ctx.event.name

    assert [await h.result() for h in await nd.send("engwild/order.created")] == ["engwild/order.created"]
    assert [await h.result() for h in await nd.send("engwild/x")] == ["engwild/x"]
    assert await nd.send("engwildcard/x") == []
    assert await nd.send("other/engwild/x") == []


# -- starting runs from calls -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_start_returns_at_once(journal_path: Path) -> None:
    calls: list[str] = []

    @nd.function(id="eng-start", retries=0)
    async def wf(ctx: nd.Context) -> dict[str, Any]:
        calls.append("body")
        await ctx.step.run("a", lambda: 1)
        return {"data": ctx.event.data, "run_id": ctx.run_id, "attempt": ctx.attempt}

    handle = wf.start({"k": "v"}, run_id="started")
    assert isinstance(handle, nd.RunHandle)
    assert handle.run_id == "started"
    assert calls == []  # nothing ran yet: the run is a task
    assert handle.status in ("queued", "running")
    assert nd.get_run("started").run_id == "started"
    assert await handle.result() == {"data": {"k": "v"}, "run_id": "started", "attempt": 0}
    assert handle.status == "completed"


def test_start_outside_an_event_loop_says_what_to_do(journal_path: Path) -> None:
    @nd.function(id="eng-no-loop", retries=0)
    async def wf(ctx: nd.Context) -> None:
        pass

    with pytest.raises(RuntimeError, match=r"asyncio\.run"):
        wf.start()
    assert asyncio.run(wf.run(run_id="from-asyncio-run")) is None


@pytest.mark.asyncio
async def test_run_ids_are_unique_by_default(journal_path: Path) -> None:
    @nd.function(id="eng-ids", retries=0)
    async def wf(ctx: nd.Context) -> str:
        return ctx.run_id

    a, b = wf.start(), wf.start()
    assert a.run_id != b.run_id
    assert [await a.result(), await b.result()] == [a.run_id, b.run_id]


@pytest.mark.asyncio
async def test_an_existing_run_id_returns_or_resumes_that_run(journal_path: Path) -> None:
    calls: list[str] = []
    gate = asyncio.Event()

    async def work() -> int:
        calls.append("work")
        await gate.wait()
        return 5

    @nd.function(id="eng-existing", retries=0)
    async def wf(ctx: nd.Context) -> int:
        return int(await ctx.step.run("work", work)) * 2

    first = wf.start(run_id="existing")
    second = wf.start(run_id="existing")  # running here: the same run
    await until(lambda: calls == ["work"])
    gate.set()
    assert await first.result() == 10
    assert await second.result() == 10
    assert await wf.run(run_id="existing") == 10  # completed: its result
    restart(journal_path)
    assert await wf.run(run_id="existing") == 10
    assert calls == ["work"]
    assert len(nd.runs(function_id="eng-existing")) == 1


@pytest.mark.asyncio
async def test_bad_start_arguments(journal_path: Path) -> None:
    @nd.function(id="eng-bad-args-a", retries=0)
    async def a(ctx: nd.Context) -> int:
        return 1

    @nd.function(id="eng-bad-args-b", retries=0)
    async def b(ctx: nd.Context) -> int:
        return 2

    await a.run(run_id="taken")
    with pytest.raises(nd.ConfigError, match="belongs to function 'eng-bad-args-a'"):
        b.start(run_id="taken")
    with pytest.raises(nd.ConfigError, match="non-empty string"):
        a.start(run_id="")
    with pytest.raises(nd.ConfigError, match="data must be a dict"):
        a.start([1, 2])  # type: ignore[arg-type]


def test_function_definition_errors() -> None:
    def not_async(ctx: nd.Context) -> None:
        pass

    async def ok(ctx: nd.Context) -> None:
        pass

    with pytest.raises(nd.ConfigError, match="async function"):
        nd.function(id="eng-def-sync")(not_async)  # type: ignore[arg-type]
    with pytest.raises(nd.ConfigError, match="retries"):
        nd.function(id="eng-def-retries", retries=-1)(ok)
    with pytest.raises(nd.ConfigError, match="determinism"):
        nd.function(id="eng-def-det", determinism="sometimes")(ok)  # type: ignore[call-overload]
    with pytest.raises(nd.ConfigError, match="trigger"):
        nd.function(id="eng-def-trigger", trigger=["ok", ""])(ok)
    assert "eng-def-sync" not in registry()


# -- statuses ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_statuses_through_a_run(journal_path: Path) -> None:
    gate = asyncio.Event()

    @nd.function(id="eng-statuses", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.run("work", gate.wait)
        await ctx.step.sleep("nap", "150ms")
        await ctx.step.wait_for_event("approval", event="engstatus/approved", timeout="5s")
        return "done"

    handle = wf.start(run_id="statuses")
    await until(lambda: handle.status == "running")
    assert nd.runs(status="running")[0].run_id == "statuses"
    gate.set()
    await until(lambda: handle.status == "sleeping")
    rec = journal().get_run("statuses")
    assert rec is not None and rec.status == "sleeping" and rec.owner == this_owner()
    await until(lambda: handle.status == "waiting")
    assert [h.run_id for h in nd.runs(status="waiting")] == ["statuses"]
    await nd.send("engstatus/approved")
    assert await handle.result() == "done"
    assert handle.status == "completed"
    rec = journal().get_run("statuses")
    assert rec is not None and rec.status == "completed" and rec.ended_at is not None


@pytest.mark.asyncio
async def test_failed_status(journal_path: Path) -> None:
    @nd.function(id="eng-failed", retries=0)
    async def wf(ctx: nd.Context) -> None:
        raise ZeroDivisionError("outside any step")

    handle = wf.start(run_id="failed")
    with pytest.raises(nd.RunFailedError) as info:
        await handle.result()
    assert handle.status == "failed"
    assert info.value.error_type == "ZeroDivisionError"
    assert "outside any step" in info.value.traceback
    assert [h.run_id for h in nd.runs(status="failed")] == ["failed"]


@pytest.mark.asyncio
async def test_a_run_whose_process_died_is_interrupted_and_resumes(journal_path: Path) -> None:
    calls: list[int] = []

    @nd.function(id="eng-dead-owner", retries=0)
    async def wf(ctx: nd.Context) -> int:
        calls.append(1)
        return int(await ctx.step.run("double", lambda: ctx.event.data["n"] * 2))

    add_foreign_run("dead", "eng-dead-owner", DEAD_OWNER)
    handle = nd.get_run("dead")
    assert handle.status == "interrupted"
    assert [h.run_id for h in nd.runs(status="interrupted")] == ["dead"]
    with pytest.raises(nd.RunInterruptedError, match="resume") as info:
        await handle.result()
    assert info.value.run_id == "dead"
    # Starting it here takes it over.
    assert await wf.run(run_id="dead") == 10
    rec = journal().get_run("dead")
    assert rec is not None and rec.owner == this_owner() and rec.attempt == 2 and rec.status == "completed"


@pytest.mark.asyncio
async def test_a_recycled_pid_is_not_the_dead_owner(journal_path: Path) -> None:
    host, pid, _start = this_owner().split(":")
    add_foreign_run("recycled", "eng-recycled", f"{host}:{pid}:1")  # our pid, another start time
    assert nd.get_run("recycled").status == "interrupted"


@pytest.mark.asyncio
async def test_a_run_owned_by_a_live_process_is_not_taken_over(journal_path: Path) -> None:
    @nd.function(id="eng-live-owner", retries=0)
    async def wf(ctx: nd.Context) -> None:
        raise AssertionError("must not run here")

    add_foreign_run("live", "eng-live-owner", _identity(os.getppid()))
    add_foreign_run("remote", "eng-live-owner", "some-other-host:123:456")
    assert nd.get_run("live").status == "running"
    assert nd.get_run("remote").status == "running"  # another host: assume it is alive
    with pytest.raises(nd.RunOwnedElsewhereError, match=f"process {os.getppid()}"):
        wf.start(run_id="live")
    with pytest.raises(nd.RunOwnedElsewhereError):
        await wf.run(run_id="remote")


@pytest.mark.asyncio
async def test_a_run_left_by_an_earlier_engine_of_this_process_is_interrupted(journal_path: Path) -> None:
    @nd.function(id="eng-self-owner", retries=0)
    async def wf(ctx: nd.Context) -> str:
        return "resumed"

    add_foreign_run("mine", "eng-self-owner", this_owner())
    assert nd.get_run("mine").status == "interrupted"
    assert await wf.run(run_id="mine") == "resumed"


@pytest.mark.asyncio
async def test_interrupting_a_task_journals_interrupted(journal_path: Path) -> None:
    @nd.function(id="eng-interrupt", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("forever", asyncio.Event().wait)

    handle = wf.start(run_id="interrupt")
    await until(lambda: handle.status == "running")
    await interrupt("interrupt")
    assert handle.status == "interrupted"
    rec = journal().get_run("interrupt")
    assert rec is not None and rec.status == "interrupted"
    with pytest.raises(nd.RunInterruptedError):
        await handle.result()


@pytest.mark.asyncio
async def test_configure_refuses_to_switch_journals_under_running_runs(journal_path: Path, tmp_path: Path) -> None:
    gate = asyncio.Event()

    @nd.function(id="eng-switch", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("wait", gate.wait)

    handle = wf.start(run_id="switch")
    with pytest.raises(nd.ConfigError, match="executing"):
        nd.configure(tmp_path / "other.db")
    gate.set()
    await handle.result()
    assert nd.configure(tmp_path / "other.db").journal.location == str(tmp_path / "other.db")


@pytest.mark.asyncio
async def test_a_memory_journal_runs_workflows_too(journal_path: Path) -> None:
    nd.configure(nd.MemoryJournal())

    @nd.function(id="eng-memory", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        return list(await asyncio.gather(*(ctx.step.run(f"s{i}", lambda i=i: i) for i in range(5))))

    assert await wf.run(run_id="mem") == [0, 1, 2, 3, 4]
    assert [s.step_id for s in nd.get_run("mem").steps()] == ["s0", "s1", "s2", "s3", "s4"]


# -- cancellation -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_lets_the_step_in_flight_finish_and_runs_nothing_after(journal_path: Path) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def first() -> str:
        calls.append("first")
        started.set()
        await release.wait()
        return "finished"

    @nd.function(id="eng-cancel", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("first", first)
        await ctx.step.run("second", lambda: calls.append("second"))

    handle = wf.start(run_id="cancel")
    await started.wait()
    assert handle.cancel("user changed their mind") is True
    release.set()
    with pytest.raises(nd.RunCancelledError) as info:
        await handle.result()
    assert info.value.reason == "user changed their mind"
    assert info.value.run_id == "cancel"
    assert calls == ["first"]
    assert handle.status == "cancelled"
    steps = {s.step_id: s for s in journal().load_steps("cancel")}
    assert steps["first"].status == "completed" and steps["first"].output == '"finished"'
    assert "second" not in steps
    rec = journal().get_run("cancel")
    assert rec is not None and rec.status == "cancelled" and rec.status_reason == "user changed their mind"
    assert handle.cancel() is False  # already ended
    # A cancelled run stays cancelled.
    with pytest.raises(nd.RunCancelledError):
        await wf.run(run_id="cancel")
    assert calls == ["first"]


@pytest.mark.asyncio
async def test_cancel_right_after_start(journal_path: Path) -> None:
    calls: list[str] = []

    @nd.function(id="eng-cancel-early", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("a", lambda: calls.append("a"))

    handle = wf.start(run_id="cancel-early")
    assert handle.cancel() is True
    with pytest.raises(nd.RunCancelledError):
        await asyncio.wait_for(handle.result(), 2)
    assert calls == []
    assert handle.status == "cancelled"
    assert "cancel-early" not in nd.get_engine().active


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sleep", "wait"])
async def test_cancel_wakes_a_sleeping_or_waiting_run(journal_path: Path, kind: str) -> None:
    @nd.function(id=f"eng-cancel-{kind}", retries=0)
    async def wf(ctx: nd.Context) -> None:
        if kind == "sleep":
            await ctx.step.sleep("nap", "1h")
        else:
            await ctx.step.wait_for_event("w", event="engcancel/never", timeout="1h")

    handle = wf.start(run_id=f"cancel-{kind}")
    await until(lambda: handle.status in ("sleeping", "waiting"))
    started = time.monotonic()
    handle.cancel()
    with pytest.raises(nd.RunCancelledError):
        await handle.result()
    assert time.monotonic() - started < 30  # not the hour the run sleeps or waits: cancel wakes it


@pytest.mark.asyncio
async def test_cancel_from_another_process_stops_a_waiting_run(journal_path: Path) -> None:
    @nd.function(id="eng-cancel-remote-wait", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.wait_for_event("w", event="engcancel/never", timeout="1h")

    handle = wf.start(run_id="remote-wait")
    await until(lambda: handle.status == "waiting")
    other = nd.Engine(nd.SQLiteJournal(journal_path))  # another process's view of the same journal
    try:
        assert other.cancel("remote-wait", "from the CLI") is True
        with pytest.raises(nd.RunCancelledError) as info:
            await asyncio.wait_for(handle.result(), 3)
        assert "from the CLI" in info.value.reason
        assert other.handle("remote-wait").status == "cancelled"
    finally:
        other.journal.close()


@pytest.mark.asyncio
async def test_cancel_from_another_process_runs_no_further_step(journal_path: Path) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def first() -> None:
        calls.append("first")
        started.set()
        await release.wait()

    @nd.function(id="eng-cancel-remote-steps", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("first", first)
        await ctx.step.run("second", lambda: calls.append("second"))
        await ctx.step.run("third", lambda: calls.append("third"))

    handle = wf.start(run_id="remote-steps")
    await started.wait()
    other = nd.Engine(nd.SQLiteJournal(journal_path))
    try:
        assert other.cancel("remote-steps") is True
    finally:
        other.journal.close()
    release.set()
    with pytest.raises(nd.RunCancelledError):
        await handle.result()
    assert calls == ["first"]


@pytest.mark.asyncio
async def test_cancel_a_run_known_only_from_the_journal(journal_path: Path) -> None:
    add_foreign_run("orphan", "eng-orphan", DEAD_OWNER)
    assert nd.get_run("orphan").cancel("cleanup") is True
    handle = nd.get_run("orphan")
    assert handle.status == "cancelled"
    with pytest.raises(nd.RunCancelledError, match="cleanup"):
        await handle.result()
    assert handle.cancel() is False
    with pytest.raises(nd.ConfigError, match=r"nd.runs\(\)"):
        nd.get_engine().cancel("no-such-run")


# -- listings ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_runs_and_get_run(journal_path: Path) -> None:
    @nd.function(id="eng-list-ok", retries=0)
    async def ok(ctx: nd.Context) -> int:
        return 1

    @nd.function(id="eng-list-bad", retries=0)
    async def bad(ctx: nd.Context) -> None:
        raise ValueError("bad")

    for i in range(3):
        await ok.run(run_id=f"ok-{i}")
    with pytest.raises(nd.RunFailedError):
        await bad.run(run_id="bad-0")
    assert [h.run_id for h in nd.runs()] == ["bad-0", "ok-2", "ok-1", "ok-0"]
    assert [h.run_id for h in nd.runs(limit=2)] == ["bad-0", "ok-2"]
    assert [h.run_id for h in nd.runs(status="completed")] == ["ok-2", "ok-1", "ok-0"]
    assert [h.run_id for h in nd.runs(status="completed", limit=1)] == ["ok-2"]
    assert [h.run_id for h in nd.runs(function_id="eng-list-bad")] == ["bad-0"]
    assert nd.runs(status="cancelled") == []
    handle = nd.get_run("ok-1")
    assert (handle.run_id, handle.function_id, handle.status) == ("ok-1", "eng-list-ok", "completed")
    assert await handle.result() == 1
    with pytest.raises(nd.ConfigError, match=r"no run 'nope'.*nd.runs\(\)"):
        nd.get_run("nope")
    # Another process (engine) sees the same runs.
    other = nd.Engine(nd.SQLiteJournal(journal_path))
    try:
        assert [h.run_id for h in other.runs()] == ["bad-0", "ok-2", "ok-1", "ok-0"]
        assert await other.handle("ok-2").result() == 1
    finally:
        other.journal.close()


# -- the change feed --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_change_feed_reports_a_run(journal_path: Path) -> None:
    notices: list[Notice] = []
    unsubscribe = nd.get_engine().subscribe(notices.append)

    async def slow_a() -> int:
        await asyncio.sleep(0)
        return 1

    @nd.function(id="eng-feed", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("a", slow_a)  # async: announced as started (a view can draw it running)
        await ctx.step.run("b", lambda: 2)  # sync: it ends before any view could draw it, only "finished"
        if ctx.attempt == 0:
            raise CrashError

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="feed")
    kinds = [(n.kind, n.step_id) for n in notices if n.run_id == "feed"]
    assert kinds[0] == ("run_started", None)
    assert kinds[-1] == ("run_finished", None)
    assert ("run_status", None) in kinds
    assert (
        kinds.index(("step_started", "a")) < kinds.index(("step_finished", "a")) < kinds.index(("step_finished", "b"))
    )
    assert ("step_started", "b") not in kinds
    notices.clear()
    await nd.send("engfeed/hello")
    assert any(n.kind == "event" and n.text == "engfeed/hello" for n in notices)
    notices.clear()
    await nd.get_run("feed").resume().result()
    kinds = [(n.kind, n.step_id) for n in notices if n.run_id == "feed"]
    assert ("step_replayed", "a") in kinds and ("step_replayed", "b") in kinds
    assert ("step_started", "a") not in kinds
    unsubscribe()
    notices.clear()
    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="feed-2")
    assert notices == []


@pytest.mark.asyncio
async def test_a_failing_subscriber_cannot_break_a_run(journal_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def broken(_notice: Notice) -> None:
        calls.append("broken")
        raise RuntimeError("subscriber bug")

    nd.get_engine().subscribe(broken)

    @nd.function(id="eng-feed-broken", retries=0)
    async def wf(ctx: nd.Context) -> int:
        return int(await ctx.step.run("a", lambda: 3))

    assert await wf.run(run_id="broken-feed") == 3
    assert calls == ["broken"]  # removed after its first failure
    assert "subscriber failed" in caplog.text


@pytest.mark.asyncio
async def test_a_subscriber_holding_step_notices_gets_the_run_notices_and_a_run_still_keeps_its_steps(
    journal_path: Path,
) -> None:
    """A held subscriber (a timeline with an update scheduled) gets no step notices until it releases, the run's
    other notices all the same; another subscriber gets everything; the run keeps its recent steps in memory
    for the held one, so its next snapshot reads nothing from the journal."""
    engine = nd.get_engine()
    held: list[tuple[str, str | None]] = []
    everything: list[tuple[str, str | None]] = []

    def holder(notice: Notice) -> None:
        held.append((notice.kind, notice.step_id))
        if notice.kind == "step_finished":
            engine.feed.hold(holder)

    unsubscribe = engine.subscribe(holder)
    unsubscribe_all = engine.subscribe(lambda n: everything.append((n.kind, n.step_id)))
    kept: list[bool] = []

    @nd.function(id="eng-feed-hold", retries=0)
    async def wf(ctx: nd.Context) -> None:
        for i in range(5):
            await ctx.step.run(f"s{i}", lambda i=i: i)
        kept.append(not engine.active["hold"].memory_partial and len(engine.active["hold"].recent) == 5)
        engine.feed.release(holder)
        engine.feed.release(holder)  # releasing twice changes nothing
        await ctx.step.run("after", lambda: 0)

    try:
        await wf.run(run_id="hold")
    finally:
        unsubscribe()
        unsubscribe_all()
    steps = [(k, s) for k, s in everything if k == "step_finished"]
    assert steps == [("step_finished", f"s{i}") for i in range(5)] + [("step_finished", "after")]
    assert [(k, s) for k, s in held if k == "step_finished"] == [("step_finished", "s0"), ("step_finished", "after")]
    assert held[0] == ("run_started", None) and held[-1] == ("run_finished", None)
    assert [n for n in held if n[0] == "run_status"] == [n for n in everything if n[0] == "run_status"]
    assert kept == [True]
    assert engine.feed.subscribers == () and engine.feed.step_subscribers == ()
    engine.feed.release(holder)  # not subscribed: nothing to give notices to
    assert engine.feed.step_subscribers == ()


# -- determinism ------------------------------------------------------------------------------------


def double(x: int) -> int:
    return x * 2


@pytest.mark.asyncio
async def test_replay_with_other_inputs_warns_and_uses_the_journal(journal_path: Path) -> None:
    calls: list[int] = []

    def tracked(x: int) -> int:
        calls.append(x)
        return x * 2

    @nd.function(id="eng-det-inputs", retries=0)
    async def wf(ctx: nd.Context) -> int:
        value = await ctx.step.run("double", tracked, 1 if ctx.attempt == 0 else 2)
        if ctx.attempt == 0:
            raise CrashError
        return value

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="det-inputs")
    restart(journal_path)
    with pytest.warns(nd.ReplayDeterminismWarning, match="other inputs") as record:
        assert await nd.get_run("det-inputs").resume().result() == 2
    assert calls == [1]
    text = str(record[0].message)
    assert "run 'det-inputs', step 'double'" in text
    assert "[1]" in text and "[2]" in text
    rec = journal().get_run("det-inputs")
    assert rec is not None and rec.warnings is not None
    assert [w["step_id"] for w in rec.warnings] == ["double"]


@pytest.mark.asyncio
async def test_a_new_step_where_the_journal_has_another_warns(journal_path: Path) -> None:
    @nd.function(id="eng-det-path", retries=0)
    async def wf(ctx: nd.Context) -> str:
        if ctx.attempt == 0:
            await ctx.step.run("left", lambda: "L")
            raise CrashError
        return str(await ctx.step.run("right", lambda: "R"))

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="det-path")
    restart(journal_path)
    notices: list[Notice] = []
    nd.get_engine().subscribe(notices.append)
    with pytest.warns(nd.ReplayDeterminismWarning) as record:
        assert await nd.get_run("det-path").resume().result() == "R"
    messages = [str(w.message) for w in record]
    assert any("new step 'right' reached where the journal has 'left'" in m for m in messages)
    assert any("never reached" in m and "'left'" in m for m in messages)
    assert [n.text for n in notices if n.kind == "warning"] == [m for m in messages if "det-path" in m]


@pytest.mark.asyncio
async def test_a_journaled_step_never_reached_warns(journal_path: Path) -> None:
    @nd.function(id="eng-det-unreached", retries=0)
    async def wf(ctx: nd.Context) -> int:
        a = await ctx.step.run("a", lambda: 1)
        if ctx.attempt == 0:
            await ctx.step.run("b", lambda: 2)
            raise CrashError
        return int(a)

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="det-unreached")
    restart(journal_path)
    with pytest.warns(nd.ReplayDeterminismWarning, match=r"1 journaled step\(s\) were never reached on replay: 'b'"):
        assert await nd.get_run("det-unreached").resume().result() == 1


@pytest.mark.asyncio
async def test_changed_step_code_warns(journal_path: Path) -> None:
    @nd.function(id="eng-det-code", retries=0)
    async def wf(ctx: nd.Context) -> int:
        if ctx.attempt == 0:
            await ctx.step.run("calc", lambda: 1 + 1)
            raise CrashError
        return int(await ctx.step.run("calc", lambda: 40 + 2))

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="det-code")
    restart(journal_path)
    with pytest.warns(nd.ReplayDeterminismWarning, match="code of 1 replayed step"):
        assert await nd.get_run("det-code").resume().result() == 2


@pytest.mark.asyncio
async def test_strict_determinism_raises(journal_path: Path) -> None:
    calls: list[int] = []

    def tracked(x: int) -> int:
        calls.append(x)
        return x

    @nd.function(id="eng-det-strict", retries=0, determinism="strict")
    async def wf(ctx: nd.Context) -> int:
        value = await ctx.step.run("a", tracked, ctx.attempt)
        if ctx.attempt == 0:
            raise CrashError
        await ctx.step.run("b", tracked, 99)
        return int(value)

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="det-strict")
    restart(journal_path)
    with pytest.raises(nd.RunFailedError) as info:
        await nd.get_run("det-strict").resume().result()
    assert info.value.error_type.endswith("NonDeterminismError")
    assert "determinism='strict'" in info.value.error_message
    assert calls == [0]  # neither the diverging step nor anything after it ran


@pytest.mark.asyncio
async def test_parallel_steps_finishing_in_another_order_is_not_divergence(journal_path: Path) -> None:
    execution = [0]

    async def work(name: str, value: int) -> int:
        if execution[0] == 0:
            # First execution: c finishes, then b; a is in flight when the process stops.
            if name == "a":
                await asyncio.Event().wait()
            await asyncio.sleep(0.02 if name == "b" else 0.0)
        return value

    @nd.function(id="eng-det-gather", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        out = list(await asyncio.gather(*(ctx.step.run(n, work, n, i) for i, n in enumerate("abc"))))
        out.append(int(await ctx.step.run("after", lambda: 9)))
        return out

    handle = wf.start(run_id="det-gather")
    await until(lambda: {"b", "c"} <= {s.step_id for s in journal().load_steps("det-gather")})
    assert handle.status == "running"
    await interrupt("det-gather")
    restart(journal_path)
    execution[0] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await wf.run(run_id="det-gather") == [0, 1, 2, 9]
    assert [w for w in caught if issubclass(w.category, nd.ReplayDeterminismWarning)] == []
    rec = journal().get_run("det-gather")
    assert rec is not None and rec.warnings is None
    assert [(s.step_id, s.position) for s in journal().load_steps("det-gather")] == [
        ("a", 0),
        ("b", 1),
        ("c", 2),
        ("after", 3),
    ]


def test_a_script_does_not_import_the_timeline(tmp_path: Path) -> None:
    """Outside a kernel a run never displays, so the timeline's modules are not imported (their cost is ms)."""
    script = tmp_path / "script.py"
    script.write_text(
        "import asyncio, sys\n"
        "import nbdurable as nd\n"
        f"nd.configure({str(tmp_path / 'j.db')!r})\n"
        "@nd.function(id='plain', lint='off')\n"
        "async def wf(ctx):\n"
        "    return await ctx.step.run('one', lambda: 1)\n"
        "assert asyncio.run(wf.run(run_id='r')) == 1\n"
        "assert asyncio.run(nd.get_run('r').result()) == 1\n"
        "print(sorted(m for m in sys.modules if m.startswith(('nbdurable.notebook', 'nbdurable.timeline'))))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _one() -> int:
    return 1


@pytest.mark.asyncio
async def test_runs_executing_together_share_their_step_commits(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several runs in one process commit their steps together (group commit); a lone run commits each at once.

    A run whose steps commit inline never yields between them, so if runs executing together
    committed inline, each step of each run would be a transaction of its own (a worker's 16 runs:
    one round trip per step).
    """

    @nd.function(id="gc-steps")
    async def steps(ctx: nd.Context) -> int:
        return sum([await ctx.step.run(f"s{i}", _one) for i in range(10)])

    j = journal()
    batches: list[int] = []
    write = j.write

    def counting(batch: Any) -> None:
        batches.append(sum(1 for w in batch if w.op == "step"))
        write(batch)

    monkeypatch.setattr(j, "write", counting)
    handles = [steps.start(run_id=f"gc{i}") for i in range(8)]
    assert [await h.result() for h in handles] == [10] * 8
    with_steps = [n for n in batches if n]
    assert sum(with_steps) == 80
    assert len(with_steps) <= 20, with_steps  # committed inline, it would be 80 transactions

    batches.clear()
    assert await steps.run() == 10
    assert [n for n in batches if n] == [1] * 10, batches  # alone: each step inline, at once
