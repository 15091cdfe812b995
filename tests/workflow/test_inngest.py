"""Inngest parity: the behaviours Inngest's own test cases expect, run against nbdurable's API.

Each test names the case of inngest-py's ``tests/test_inngest/test_function/cases/`` it follows.
Where durability matters, real processes are killed with SIGKILL and the run resumed in another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from tests.helpers import CrashError, journal, restart, until

WORKER = Path(__file__).parent.parent / "_inngest_worker.py"
ROOT = Path(__file__).parents[2]


class MyError(Exception):
    pass


def worker(mode: str, journal_path: Path, log: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), mode, str(journal_path), str(log)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# -- on_failure (cases/on_failure.py) ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_on_failure_runs_a_handler_run_with_the_failed_runs_event_and_error(journal_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def handler(ctx: nd.Context) -> str:
        seen["event"] = ctx.event
        seen["run_id"] = ctx.run_id
        seen["attempt"] = ctx.attempt
        return str(await ctx.step.run("report", lambda: "reported " + ctx.event.data["error"]["message"]))

    @nd.function(id="inn-on-failure", trigger="inn/failing", retries=0, on_failure=handler)
    async def fn(ctx: nd.Context) -> None:
        seen["failed_run"] = ctx.run_id
        raise MyError("intentional failure")

    [handle] = await nd.send("inn/failing", data={"foo": 1})
    with pytest.raises(nd.RunFailedError) as info:
        await handle.result()
    assert info.value.error_type.endswith("MyError") and info.value.error_message == "intentional failure"
    rec = journal().get_run(handle.run_id)
    assert rec is not None and rec.options is not None
    handler_id = rec.options["on_failure_run"]
    assert await nd.get_run(handler_id).result() == "reported intentional failure"
    assert seen["run_id"] == handler_id != seen["failed_run"] == handle.run_id
    assert seen["attempt"] == 0
    event: nd.Event = seen["event"]
    assert event.name == "nd/function.failed"
    assert event.data["function_id"] == "inn-on-failure" and event.data["run_id"] == handle.run_id
    error = event.data["error"]
    assert error["type"].endswith("MyError") and error["message"] == "intentional failure"
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert "test_inngest.py" in error["traceback"] and "_engine.py" not in error["traceback"]
    assert event.data["event"]["name"] == "inn/failing" and event.data["event"]["data"] == {"foo": 1}
    child = journal().get_run(handler_id)
    assert child is not None and child.function_id == "inn-on-failure/on-failure"
    assert child.parent_run_id == handle.run_id and child.status == "completed"
    assert [s.step_id for s in journal().load_steps(handler_id)] == ["report"]


@pytest.mark.asyncio
async def test_on_failure_is_not_run_for_runs_that_complete_or_are_cancelled(journal_path: Path) -> None:
    calls: list[str] = []

    async def handler(ctx: nd.Context) -> None:
        calls.append(ctx.event.data["run_id"])

    gate = asyncio.Event()

    @nd.function(id="inn-on-failure-not", retries=0, on_failure=handler)
    async def fn(ctx: nd.Context) -> int:
        if ctx.event.data.get("wait"):
            await gate.wait()
            await ctx.step.run("after", lambda: 1)
        return 1

    assert await fn.run() == 1
    handle = fn.start({"wait": True}, run_id="cancelled-one")
    await asyncio.sleep(0.05)
    assert handle.cancel("no longer needed")
    gate.set()
    with pytest.raises(nd.RunCancelledError):
        await handle.result()
    await asyncio.sleep(0.05)
    assert calls == []
    assert [r.function_id for r in nd.runs()].count("inn-on-failure-not/on-failure") == 0


def test_on_failure_must_be_async() -> None:
    def handler(ctx: nd.Context) -> None:
        pass

    with pytest.raises(nd.ConfigError, match=r"on_failure= takes an async function"):

        @nd.function(id="inn-on-failure-sync", on_failure=handler)  # type: ignore[arg-type]
        async def fn(ctx: nd.Context) -> None:
            pass


@pytest.mark.crash
def test_a_failure_handler_killed_part_way_resumes_in_another_process(tmp_path: Path) -> None:
    db, log = tmp_path / "journal.db", tmp_path / "log.jsonl"
    first = worker("failure-kill", db, log)
    assert first.returncode == -9, first.stderr
    assert [e["what"] for e in lines(log)] == ["work", "handler"]
    second = worker("resume", db, log)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[-1]) == {"failing:failure:1": "intentional failure"}
    # The handler's completed step replayed: it ran once, in the first process.
    assert [e["what"] for e in lines(log)] == ["work", "handler"]
    assert lines(log)[1]["failed_run"] == "failing"


# -- function-level retries (cases/retry_after_error.py, non_retriable_error.py) ------------------------


@pytest.mark.asyncio
async def test_an_error_in_the_body_re_executes_it_with_completed_steps_memoized(journal_path: Path) -> None:
    step_calls: list[str] = []
    attempts: list[int] = []

    def work(name: str) -> str:
        step_calls.append(name)
        return name.upper()

    @nd.function(id="inn-fn-retry", retries=2)
    async def fn(ctx: nd.Context) -> list[str]:
        attempts.append(ctx.attempt)
        a = await ctx.step.run("a", work, "a")
        if ctx.attempt == 0:
            raise nd.RetryAfterError("fn-1", 0.05)
        b = await ctx.step.run("b", work, "b")
        if ctx.attempt == 1:
            raise nd.RetryAfterError("fn-2", 0.05)
        return [a, b]

    assert await fn.run(run_id="fn-retry") == ["A", "B"]
    assert attempts == [0, 1, 2]
    assert step_calls == ["a", "b"]  # each step ran once; the retries replayed them
    rec = journal().get_run("fn-retry")
    assert rec is not None and rec.status == "completed" and rec.attempt == 3
    assert rec.options is not None and rec.options["body_retries"] == 2
    assert rec.options["retry_error"]["message"] == "fn-2"


@pytest.mark.asyncio
async def test_body_retries_run_out_and_the_run_fails_with_the_last_error(journal_path: Path) -> None:
    attempts: list[int] = []

    @nd.function(id="inn-fn-retry-out", retries=1)
    async def fn(ctx: nd.Context) -> None:
        attempts.append(ctx.attempt)
        raise nd.RetryAfterError(f"try {ctx.attempt}", 0.01)

    with pytest.raises(nd.RunFailedError) as info:
        await fn.run(run_id="fn-retry-out")
    assert attempts == [0, 1]
    assert info.value.error_message == "try 1"


@pytest.mark.asyncio
async def test_non_retriable_and_step_errors_in_the_body_fail_the_run_at_once(journal_path: Path) -> None:
    attempts: list[str] = []

    def broken() -> None:
        raise MyError("step broke")

    @nd.function(id="inn-fn-nonretriable", retries=3)
    async def fn(ctx: nd.Context) -> None:
        attempts.append(ctx.event.data["how"])
        if ctx.event.data["how"] == "non-retriable":
            raise nd.NonRetriableError("give up")
        await ctx.step.run("broken", broken, retries=0)

    with pytest.raises(nd.RunFailedError, match="give up"):
        await fn.run({"how": "non-retriable"})
    with pytest.raises(nd.RunFailedError, match="step broke"):
        await fn.run({"how": "step"})
    assert attempts == ["non-retriable", "step"]


@pytest.mark.asyncio
async def test_a_cancel_ends_the_backoff_of_a_body_retry(journal_path: Path) -> None:
    @nd.function(id="inn-fn-retry-cancel", retries=2)
    async def fn(ctx: nd.Context) -> None:
        raise nd.RetryAfterError("much later", "1h")

    handle = fn.start(run_id="fn-retry-cancel")

    def sleeping() -> bool:
        rec = journal().get_run("fn-retry-cancel")
        return rec is not None and rec.status == "sleeping"

    await until(sleeping, what="the run sleeping for its retry")
    rec = journal().get_run("fn-retry-cancel")
    assert rec is not None and "retry 1 of 2" in (rec.status_reason or "")
    assert handle.status == "sleeping"
    assert handle.cancel("stop")
    with pytest.raises(nd.RunCancelledError):
        await handle.result()


@pytest.mark.crash
def test_a_body_retry_survives_a_kill_during_its_backoff(tmp_path: Path) -> None:
    db, log = tmp_path / "journal.db", tmp_path / "log.jsonl"
    first = worker("retry-kill", db, log)
    assert first.returncode == -9, first.stderr
    assert [e["what"] for e in lines(log)] == ["a", "body"]
    second = worker("resume", db, log)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[-1]) == {"retrying": "b"}
    events = lines(log)
    assert [e["what"] for e in events] == ["a", "body", "body", "b"]  # step "a" ran once, in the first process
    raised, retried = events[1], events[2]
    assert retried["pid"] != raised["pid"]
    assert retried["attempt"] >= 1
    # The journaled retry time was kept across the kill: the body ran again no earlier than it.
    assert retried["t"] >= raised["t"] + 1.5


# -- nested steps (cases/nested_step_run.py) -----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("swallow", [False, True])
async def test_a_step_called_inside_a_step_fails_the_run_without_retries(journal_path: Path, swallow: bool) -> None:
    counts = {"step_1": 0, "step_2": 0, "after": 0, "caught": 0}

    @nd.function(id=f"inn-nested-{swallow}", retries=5)
    async def fn(ctx: nd.Context) -> None:
        async def step_1() -> None:
            counts["step_1"] += 1

            async def step_2() -> None:
                counts["step_2"] += 1

            try:
                await ctx.step.run("step_2", step_2)
            except nd.NestedStepError:
                counts["caught"] += 1
                if not swallow:
                    raise

        await ctx.step.run("step_1", step_1)
        counts["after"] += 1

    with pytest.raises(nd.RunFailedError) as info:
        await fn.run(run_id=f"nested-{swallow}")
    assert info.value.error_type == "nbdurable._errors.NestedStepError"
    assert "step 'step_2' was called inside the function of step 'step_1'" in info.value.error_message
    assert counts == {"step_1": 1, "step_2": 0, "after": 0, "caught": 1}
    [step] = journal().load_steps(f"nested-{swallow}")
    assert step.step_id == "step_1" and step.status == "failed" and step.attempt == 0


# -- invoke (cases/invoke_failure.py, invoke_by_id.py) -------------------------------------------------


child_runs: list[str] = []


async def _failing_child(ctx: nd.Context) -> None:
    child_runs.append(ctx.run_id)
    raise MyError("oh no")


@pytest.mark.asyncio
async def test_a_failed_child_reaches_the_parent_with_its_own_error(journal_path: Path) -> None:
    child = nd.function(id="inn-invokee-fails", retries=0)(_failing_child)
    raised: list[nd.StepError] = []
    child_runs.clear()

    @nd.function(id="inn-invoker", retries=1)
    async def parent(ctx: nd.Context) -> None:
        try:
            await ctx.step.invoke("invoke", function=child)
        except nd.StepError as err:
            raised.append(err)
            if ctx.attempt == 0:
                raise nd.RetryAfterError("again: the failed invoke replays from the journal", 0.01) from None
            raise

    with pytest.raises(nd.RunFailedError) as info:
        await parent.run(run_id="invoker")
    assert info.value.error_type.endswith("MyError") and info.value.error_message == "oh no"
    err, again = raised
    assert err.error_type.endswith("MyError") and err.error_message == "oh no"
    assert "_failing_child" in err.traceback and "_engine.py" not in err.traceback
    assert err.child_run_id == "invoker.invoke"
    assert err.error_class is MyError and isinstance(err.__cause__, MyError)
    # Replayed, the same error comes from the journal, without the class (a journal never names one).
    assert child_runs == ["invoker.invoke"]
    assert (again.error_type, again.error_message, again.child_run_id) == (err.error_type, "oh no", "invoker.invoke")
    assert again.traceback == err.traceback
    assert again.error_class is None


@pytest.mark.asyncio
async def test_invoke_by_function_id(journal_path: Path) -> None:
    @nd.function(id="inn/invokee-by-id", retries=0)
    async def child(ctx: nd.Context) -> dict[str, dict[str, int]]:
        return {"foo": {"bar": ctx.event.data["n"]}}

    @nd.function(id="inn-invoker-by-id", retries=0)
    async def parent(ctx: nd.Context) -> Any:
        return await ctx.step.invoke("invoke", function="inn/invokee-by-id", data={"n": 1})

    assert await parent.run() == {"foo": {"bar": 1}}


@pytest.mark.crash
@pytest.mark.asyncio
async def test_invoke_by_id_waits_for_the_process_that_serves_the_function(journal_path: Path, tmp_path: Path) -> None:
    @nd.function(id="inn-invoker-remote", retries=0)
    async def parent(ctx: nd.Context) -> Any:
        return await ctx.step.invoke("double", function="inngest-remote-double", data={"n": 21})

    handle = parent.start(run_id="remote-parent")
    await asyncio.sleep(0.1)
    child = journal().get_run("remote-parent.double")
    assert child is not None and child.status == "queued" and child.function_id == "inngest-remote-double"
    log = tmp_path / "log.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), "serve", str(journal_path), str(log), cwd=str(ROOT)
    )
    assert await asyncio.wait_for(handle.result(), 60) == 42
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    rec = journal().get_run("remote-parent.double")
    assert rec is not None and rec.status == "completed" and rec.parent_run_id == "remote-parent"


# -- the logger (cases/logger.py) ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_logger_speaks_again_once_the_memoized_steps_are_used_up(
    journal_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raised = {"fn": False}

    @nd.function(id="inn-logger", retries=1)
    async def fn(ctx: nd.Context) -> None:
        ctx.logger.info("function start")
        await ctx.step.run("step_1", lambda: ctx.logger.info("step_1"))
        ctx.logger.info("log before function-level raise")
        if not raised["fn"]:
            raised["fn"] = True
            raise nd.RetryAfterError("again", 0.01)
        await ctx.step.run("step_2", lambda: ctx.logger.info("step_2"))
        ctx.logger.info("function end")

    with caplog.at_level(logging.INFO, logger="nbdurable.run"):
        await fn.run(run_id="logger")
    said = [r.getMessage().split("] ", 1)[1] for r in caplog.records if r.name == "nbdurable.run"]
    assert said == [
        "function start",
        "step_1",
        "log before function-level raise",
        "log before function-level raise",
        "step_2",
        "function end",
    ]


# -- tracebacks (cases/on_failure.py: "the SDK's internal code doesn't appear") --------------------------


@pytest.mark.asyncio
async def test_a_failed_runs_traceback_shows_the_users_frames(journal_path: Path) -> None:
    def deep() -> None:
        raise MyError("from user code")

    @nd.function(id="inn-traceback", retries=0)
    async def fn(ctx: nd.Context) -> None:
        deep()

    with pytest.raises(nd.RunFailedError) as info:
        await fn.run(run_id="traceback")
    shown, full = info.value.traceback, info.value.traceback_full
    assert shown.startswith("Traceback (most recent call last):")
    assert 'test_inngest.py", line' in shown and "in deep" in shown and "MyError: from user code" in shown
    assert "nbdurable" not in shown.replace("nbdurable.run", "")
    assert "_engine.py" in full and "in deep" in full
    restart(journal_path)
    with pytest.raises(nd.RunFailedError) as again:
        await nd.get_run("traceback").result()
    assert again.value.traceback == shown and again.value.traceback_full == full


# -- strict divergence (cases/parallel_step_disappears.py, unexpected_step_during_targeting.py) ---------


@pytest.mark.asyncio
async def test_strict_mode_fails_at_the_step_found_where_another_was_journaled(journal_path: Path) -> None:
    ran: list[str] = []

    def step(name: str) -> None:
        ran.append(name)

    @nd.function(id="inn-strict-disappears", retries=0, determinism="strict")
    async def fn(ctx: nd.Context) -> None:
        names = ["1a", "1b", "1c"] if ctx.attempt == 0 else ["1a", "1b"]
        await asyncio.gather(*[ctx.step.run(n, step, n) for n in names])
        if ctx.attempt == 0:
            raise CrashError
        await ctx.step.run("after", step, "after")

    with pytest.raises(nd.RunFailedError):
        await fn.run(run_id="strict")
    with pytest.raises(nd.RunFailedError) as info:
        await nd.get_run("strict").resume().result()
    assert info.value.error_type == "nbdurable._errors.NonDeterminismError"
    assert "new step 'after' reached where the journal has '1c' (position 2)" in info.value.error_message
    assert ran == ["1a", "1b", "1c"]  # the unexpected step never ran
    assert isinstance(info.value.__cause__, nd.NonDeterminismError)
    cause = info.value.__cause__
    assert (cause.run_id, cause.step_id, cause.journaled_step, cause.found_step) == ("strict", "after", "1c", "after")


# -- cancel_on (cases/cancel.py, no_cancel_if_exp_not_match.py) ------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("cancel_id", "status"), [(123, "cancelled"), (456, "completed")])
async def test_cancel_on_with_an_if_exp_as_inngest(journal_path: Path, cancel_id: int, status: str) -> None:
    done: list[bool] = []

    @nd.function(
        id=f"inn-cancel-{cancel_id}",
        trigger=f"inn/cancel-{cancel_id}",
        retries=0,
        cancel_on=nd.CancelOn(event=f"inn/cancel-{cancel_id}.cancel", if_exp="async.data.id == event.data.id"),
    )
    async def fn(ctx: nd.Context) -> None:
        await asyncio.sleep(0.3)  # no step: the cancel arrives while the body runs
        done.append(True)

    [handle] = await nd.send(f"inn/cancel-{cancel_id}", data={"id": 123})
    await asyncio.sleep(0.05)
    await nd.send(f"inn/cancel-{cancel_id}.cancel", data={"id": cancel_id})
    if status == "cancelled":
        with pytest.raises(nd.RunCancelledError):
            await handle.result()
    else:
        assert await handle.result() is None
    assert done == [True]  # the body's own code went on to its end either way, as in Inngest
    rec = journal().get_run(handle.run_id)
    assert rec is not None and rec.status == status


# -- parallel modes (cases/parallel_mode_default.py, parallel_mode_race.py) -------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "order"), [("wait", ["a.1", "b.1", "a.2", "b.2"]), ("race", ["a.1", "a.2", "b.1", "b.2"])]
)
async def test_parallel_modes_as_inngest(journal_path: Path, mode: str, order: list[str]) -> None:
    seen: list[str] = []

    async def record(name: str, pause: float) -> str:
        await asyncio.sleep(pause)
        seen.append(name)
        return name

    @nd.function(id=f"inn-parallel-{mode}", retries=1)
    async def fn(ctx: nd.Context) -> tuple[Any, ...]:
        async def fast_group() -> list[str]:
            return [await ctx.step.run("a.1", record, "a.1", 0), await ctx.step.run("a.2", record, "a.2", 0)]

        async def slow_group() -> list[str]:
            return [await ctx.step.run("b.1", record, "b.1", 0.2), await ctx.step.run("b.2", record, "b.2", 0.2)]

        results = await ctx.step.parallel((fast_group, slow_group), mode=mode)  # type: ignore[arg-type]
        if ctx.attempt == 0:
            raise nd.RetryAfterError("again: the group replays", 0.01)
        return results

    assert await fn.run(run_id=f"parallel-{mode}") == (["a.1", "a.2"], ["b.1", "b.2"])
    assert seen == order  # the retry replayed the group: no step ran twice


@pytest.mark.asyncio
async def test_parallel_refuses_a_bad_mode_or_branches(journal_path: Path) -> None:
    @nd.function(id="inn-parallel-bad", retries=0)
    async def fn(ctx: nd.Context) -> None:
        if ctx.event.data["bad"] == "mode":
            await ctx.step.parallel((lambda: ctx.step.run("a", lambda: 1),), mode="all")  # type: ignore[arg-type]
        else:
            await ctx.step.parallel(["not a callable"])  # type: ignore[list-item]

    with pytest.raises(nd.RunFailedError, match="mode must be 'wait' or 'race'"):
        await fn.run({"bad": "mode"})
    with pytest.raises(nd.RunFailedError, match="takes a sequence of callables"):
        await fn.run({"bad": "branches"})


# -- singleton (cases/singleton_skip.py, singleton_cancel.py) -------------------------------------------


@pytest.mark.asyncio
async def test_singleton_skip_skips_a_new_run_while_one_runs(journal_path: Path) -> None:
    started: list[str] = []

    @nd.function(id="inn-singleton-skip", trigger="inn/single-skip", retries=0, singleton=nd.Singleton(mode="skip"))
    async def fn(ctx: nd.Context) -> str:
        started.append(ctx.run_id)
        await ctx.step.sleep("zzz", "300ms")
        return "slept"

    first, second = (await nd.send("inn/single-skip"))[0], (await nd.send("inn/single-skip"))[0]
    assert await first.result() == "slept"
    with pytest.raises(nd.RunCancelledError) as info:
        await second.result()
    assert started == [first.run_id]
    assert f"skipped: singleton: run {first.run_id!r} is running" in info.value.reason
    rec = journal().get_run(second.run_id)
    assert rec is not None and rec.status == "skipped" and first.run_id in (rec.status_reason or "")
    # Once the first has ended, the next run runs.
    [third] = await nd.send("inn/single-skip")
    assert await third.result() == "slept"


@pytest.mark.asyncio
async def test_singleton_cancel_replaces_the_running_run(journal_path: Path) -> None:
    started: list[str] = []

    @nd.function(
        id="inn-singleton-cancel",
        trigger="inn/single-cancel",
        retries=0,
        singleton=nd.Singleton(key="event.data.user", mode="cancel"),
    )
    async def fn(ctx: nd.Context) -> str:
        started.append(ctx.event.data["n"])
        await ctx.step.sleep("zzz", "300ms")
        return f"done {ctx.event.data['n']}"

    [first] = await nd.send("inn/single-cancel", data={"user": "ann", "n": 1})
    [other_key] = await nd.send("inn/single-cancel", data={"user": "bob", "n": 2})
    await until(lambda: first.status == "sleeping", what="the first run sleeping")
    [second] = await nd.send("inn/single-cancel", data={"user": "ann", "n": 3})
    with pytest.raises(nd.RunCancelledError) as info:
        await first.result()
    assert f"cancelled by singleton for event.data.user='ann': run {second.run_id!r} replaces it" in info.value.reason
    assert await second.result() == "done 3"
    assert await other_key.result() == "done 2"  # another key is another singleton
    assert sorted(started) == [1, 2, 3]


def test_singleton_refuses_a_bad_mode() -> None:
    with pytest.raises(nd.ConfigError, match="must be 'skip' or 'cancel'"):
        nd.Singleton(mode="queue")  # type: ignore[arg-type]


@pytest.mark.crash
@pytest.mark.asyncio
async def test_singleton_holds_across_processes(journal_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), "singleton", str(journal_path), str(log), cwd=str(ROOT)
    )
    try:
        await until(lambda: any(e["what"] == "holding" for e in lines(log)), timeout=30, what="the other process")

        @nd.function(id="inngest-singleton", retries=0, singleton=nd.Singleton(mode="skip"))
        async def fn(ctx: nd.Context) -> str:
            return "ran here"

        with pytest.raises(nd.RunCancelledError, match="skipped: singleton: run 'held-elsewhere' is running"):
            await fn.run(run_id="here")
    finally:
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    assert await fn.run(run_id="here-later") == "ran here"  # the other process's run ended: its slot is free


# -- event batching (Inngest's batch_events) ------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_full_batch_starts_at_once_with_its_events_in_order(journal_path: Path) -> None:
    got: list[tuple[Any, ...]] = []

    @nd.function(
        id="inn-batch-full", trigger="inn/batch-full", retries=0, batch_events=nd.BatchEvents(max_size=3, timeout="1h")
    )
    async def fn(ctx: nd.Context) -> list[int]:
        got.append((ctx.event.data["n"], [e.data["n"] for e in ctx.events]))
        return [int(await ctx.step.run("sum", lambda: sum(e.data["n"] for e in ctx.events)))]

    handles = [(await nd.send("inn/batch-full", data={"n": n}))[0] for n in (1, 2, 3)]
    assert len({h.run_id for h in handles}) == 1  # one run took the three events
    assert await asyncio.wait_for(handles[0].result(), 10) == [6]
    assert got == [(1, [1, 2, 3])]
    [fourth] = await nd.send("inn/batch-full", data={"n": 4})
    assert fourth.run_id != handles[0].run_id and fourth.status in ("queued", "running")
    assert fourth.cancel("not waiting an hour")


@pytest.mark.asyncio
async def test_a_batch_starts_when_its_timeout_passes_and_keys_batch_apart(journal_path: Path) -> None:
    got: dict[str, list[int]] = {}

    @nd.function(
        id="inn-batch-timeout",
        trigger="inn/batch-timeout",
        retries=0,
        batch_events=nd.BatchEvents(max_size=10, timeout="300ms", key="event.data.user"),
    )
    async def fn(ctx: nd.Context) -> int:
        got[ctx.event.data["user"]] = [e.data["n"] for e in ctx.events]
        return len(ctx.events)

    handles = [
        (await nd.send("inn/batch-timeout", data={"user": user, "n": n}))[0]
        for user, n in [("ann", 1), ("bob", 2), ("ann", 3)]
    ]
    assert handles[0].run_id == handles[2].run_id != handles[1].run_id
    assert await asyncio.wait_for(handles[0].result(), 10) == 2
    assert await asyncio.wait_for(handles[1].result(), 10) == 1
    assert got == {"ann": [1, 3], "bob": [2]}


def test_batch_events_refuses_bad_options() -> None:
    with pytest.raises(nd.ConfigError, match="max_size"):
        nd.BatchEvents(max_size=0, timeout="1s")
    with pytest.raises(nd.ConfigError, match="cannot go together"):

        @nd.function(
            id="inn-batch-bad", batch_events=nd.BatchEvents(max_size=2, timeout="1s"), debounce=nd.Debounce("1s")
        )
        async def fn(ctx: nd.Context) -> None:
            pass


@pytest.mark.crash
def test_a_batch_survives_a_kill_before_its_timeout(tmp_path: Path) -> None:
    db, log = tmp_path / "journal.db", tmp_path / "log.jsonl"
    first = worker("batch-kill", db, log)
    assert first.returncode == -9, first.stderr
    assert lines(log) == []  # the batch had not started
    second = worker("resume", db, log)
    assert second.returncode == 0, second.stderr
    assert list(json.loads(second.stdout.splitlines()[-1]).values()) == [[1, 2]]
    assert [e["what"] for e in lines(log)] == ["batch"]
