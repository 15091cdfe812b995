"""The step API as a demanding user drives it: memoization, parallel steps, retries, time, events, children."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import os
import re
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbdurable as nd
import nbdurable.engine._executor as executor_module
from nbdurable.engine._executor import backoff_delay
from tests.helpers import CrashError, interrupt, journal, restart, until

# -- harness ----------------------------------------------------------------------------------------


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_module, "_BACKOFF_BASE", 0.001)


async def settle() -> None:
    """Wait for every run of this process to end (before a restart)."""
    for handle in nd.runs(limit=None):
        if handle.status in ("queued", "running", "sleeping", "waiting"):
            with contextlib.suppress(nd.NbDurableError):
                await handle.result()


async def run_then_replay(path: Path, fn: nd.Function[Any], run_id: str) -> Any:
    """Run ``fn`` (it raises CrashError when ctx.attempt == 0), restart, resume; the resumed result."""
    with pytest.raises(nd.RunFailedError, match="CrashError"):
        await fn.run(run_id=run_id)
    await settle()
    restart(path)
    return await nd.get_run(run_id).resume().result()


def steps_of(run_id: str) -> dict[str, nd.StepRecord]:
    return {s.step_id: s for s in journal().load_steps(run_id)}


# -- memoization and ids ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_completed_step_never_runs_again(journal_path: Path) -> None:
    calls: list[str] = []

    def fetch(x: int) -> dict[str, int]:
        calls.append("fetch")
        return {"x": x}

    async def score(d: dict[str, int]) -> float:
        calls.append("score")
        await asyncio.sleep(0)
        return d["x"] / 2

    @nd.function(id="step-memo", retries=0)
    async def wf(ctx: nd.Context) -> float:
        d = await ctx.step.run("fetch", fetch, 3)
        s = await ctx.step.run("score", score, d)
        if ctx.attempt == 0:
            raise CrashError
        return s

    assert await run_then_replay(journal_path, wf, "memo") == 1.5
    assert calls == ["fetch", "score"]
    # Another run of the same function runs its own steps.
    calls.clear()
    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="memo-2")
    assert calls == ["fetch", "score"]


@pytest.mark.asyncio
async def test_repeated_names_get_stable_counter_suffixes(journal_path: Path) -> None:
    calls: list[int] = []

    def item(i: int) -> int:
        calls.append(i)
        return i * 10

    @nd.function(id="step-counter", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        out = [await ctx.step.run("item", item, i) for i in range(3)]
        out.append(await ctx.step.run("other", item, 9))
        out.append(await ctx.step.run("item", item, 3))
        if ctx.attempt == 0:
            raise CrashError
        return out

    assert await run_then_replay(journal_path, wf, "counter") == [0, 10, 20, 90, 30]
    assert calls == [0, 1, 2, 9, 3]
    recs = journal().load_steps("counter")
    assert [(s.step_id, s.name, s.position) for s in recs] == [
        ("item", "item", 0),
        ("item:1", "item", 1),
        ("item:2", "item", 2),
        ("other", "other", 3),
        ("item:3", "item", 4),
    ]


@pytest.mark.asyncio
async def test_sync_async_and_awaitable_returning_callables(journal_path: Path) -> None:
    async def add(a: int, b: int = 0) -> int:
        await asyncio.sleep(0)
        return a + b

    @nd.function(id="step-callables", retries=0)
    async def wf(ctx: nd.Context) -> list[Any]:
        return [
            await ctx.step.run("sync", lambda a, b: a * b, 6, b=7),
            await ctx.step.run("async", add, 1, b=2),
            await ctx.step.run("partial", functools.partial(add, 10), b=5),
            await ctx.step.run("returns-coroutine", lambda: add(2, 2)),
            await ctx.step.run("builtin", sorted, [3, 1, 2]),
        ]

    assert await wf.run(run_id="callables") == [42, 3, 15, 4, [1, 2, 3]]


@pytest.mark.asyncio
async def test_bad_step_arguments_fail_at_the_call(journal_path: Path) -> None:
    errors: list[str] = []

    @nd.function(id="step-bad-args", retries=0)
    async def wf(ctx: nd.Context) -> None:
        calls: list[Callable[[], object]] = [
            lambda: ctx.step.run("", len),
            lambda: ctx.step.run("x", 5),  # type: ignore[call-overload]
            lambda: ctx.step.run(3, len),  # type: ignore[call-overload]
        ]
        for call in calls:
            try:
                call()
            except TypeError as exc:
                errors.append(str(exc))

    await wf.run(run_id="bad-args")
    assert len(errors) == 3
    assert "non-empty string name" in errors[0]
    assert "must be callable, got int 5" in errors[1] and "not the result of calling it" in errors[1]


async def _fetch(url: str) -> str:
    return url


@pytest.mark.asyncio
async def test_a_step_given_a_called_function_says_to_pass_the_function(journal_path: Path) -> None:
    """step.run("a", fetch(url)) hands over a coroutine: the error names the function and the call to write, for
    step.run, step.ai.wrap and step.parallel, and the coroutine is closed (no "never awaited" warning), none ran."""
    errors: list[str] = []

    @nd.function(id="called-in-place", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> int:
        calls: list[Callable[[], object]] = [
            lambda: ctx.step.run("a", _fetch("u")),  # type: ignore[call-overload]
            lambda: ctx.step.ai.wrap("b", _fetch("u")),  # type: ignore[arg-type]
            lambda: ctx.step.parallel([ctx.step.run("c", _fetch, "u")]),  # type: ignore[list-item]
        ]
        for call in calls:
            try:
                made = call()
                await made  # type: ignore[misc]
            except TypeError as exc:
                errors.append(str(exc))
        return 0

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a coroutine left unawaited would warn when collected
        await wf.run(run_id="called-in-place")
        gc.collect()
    assert len(errors) == 3, errors
    assert "fn is a coroutine, the result of calling _fetch(...) already" in errors[0]
    assert "step.run('a', _fetch, arg1, key=value)" in errors[0] and "Nothing ran" in errors[0]
    assert errors[1].startswith("step.ai.wrap('b', fn): fn is a coroutine")
    assert "as in step.ai.wrap('b', _fetch, arg1" in errors[1]  # the call to write is the API's own
    assert "got 1 coroutine(s), the result of calling step.run(...)" in errors[2]
    assert nd.get_engine().journal.load_steps("called-in-place") == []


@pytest.mark.asyncio
async def test_step_inputs_are_previewed_in_the_journal(journal_path: Path) -> None:
    @nd.function(id="step-preview", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("a", lambda x, y: None, 1, y="two")

    await wf.run(run_id="preview")
    rec = steps_of("preview")["a"]
    assert rec.input_hash
    assert rec.meta == {"input": '[1],{"y":"two"}'}


# -- parallel steps ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_gather_replays_when_steps_finish_in_another_order(journal_path: Path) -> None:
    gates = {name: asyncio.Event() for name in "abc"}
    calls: list[str] = []
    execution = [0]

    async def work(name: str) -> str:
        calls.append(name)
        if execution[0] == 0 and name != "c":
            await asyncio.Event().wait()  # a and b are in flight when the process stops
        await gates[name].wait()
        return name.upper()

    @nd.function(id="step-gather", retries=0)
    async def wf(ctx: nd.Context) -> list[Any]:
        out = list(await asyncio.gather(*(ctx.step.run(n, work, n) for n in "abc")))
        out.append(await ctx.step.run("after", lambda: "done"))
        return out

    gates["c"].set()
    handle = wf.start(run_id="gather")
    await until(lambda: "c" in steps_of("gather"))
    await interrupt("gather")
    assert calls == ["a", "b", "c"]
    restart(journal_path)
    execution[0] = 1
    handle = wf.start(run_id="gather")
    # This time b finishes before a.
    await until(lambda: calls.count("a") == 2 and calls.count("b") == 2)
    gates["b"].set()
    await until(lambda: "b" in steps_of("gather"))
    gates["a"].set()
    assert await handle.result() == ["A", "B", "C", "done"]
    assert calls == ["a", "b", "c", "a", "b"]  # c replayed
    recs = journal().load_steps("gather")
    assert [(s.step_id, s.position, s.output) for s in recs] == [
        ("a", 0, '"A"'),
        ("b", 1, '"B"'),
        ("c", 2, '"C"'),
        ("after", 3, '"done"'),
    ]
    run = journal().get_run("gather")
    assert run is not None and run.warnings is None


@pytest.mark.asyncio
async def test_gather_of_same_named_steps_keeps_ids_by_call_order(journal_path: Path) -> None:
    async def slow_identity(i: int) -> int:
        await asyncio.sleep((5 - i) * 0.005)  # the last started finishes first
        return i

    seen: list[list[int]] = []

    @nd.function(id="step-gather-same-name", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        out = list(await asyncio.gather(*(ctx.step.run("item", slow_identity, i) for i in range(5))))
        seen.append(out)
        if ctx.attempt == 0:
            raise CrashError
        return out

    assert await run_then_replay(journal_path, wf, "same-name") == [0, 1, 2, 3, 4]
    assert seen == [[0, 1, 2, 3, 4]] * 2
    assert {s.step_id: s.output for s in journal().load_steps("same-name")} == {
        "item": "0",
        "item:1": "1",
        "item:2": "2",
        "item:3": "3",
        "item:4": "4",
    }


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is new in Python 3.11")
@pytest.mark.asyncio
async def test_task_group_replays_when_steps_finish_in_another_order(journal_path: Path) -> None:
    calls: list[str] = []
    execution = [0]

    async def work(name: str) -> str:
        calls.append(name)
        if execution[0] == 0:
            # First execution: z, then y finish; x is still in flight when the process stops.
            if name == "x":
                await asyncio.Event().wait()
            await asyncio.sleep(0.02 if name == "y" else 0.0)
        return name * 2

    @nd.function(id="step-taskgroup", retries=0)
    async def wf(ctx: nd.Context) -> list[str]:
        async with asyncio.TaskGroup() as tg:  # type: ignore[attr-defined]
            tasks = [tg.create_task(ctx.step.run(n, work, n)) for n in "xyz"]
        return [t.result() for t in tasks]

    wf.start(run_id="tg")
    await until(lambda: {"y", "z"} <= set(steps_of("tg")))
    await interrupt("tg")
    restart(journal_path)
    execution[0] = 1
    assert await wf.run(run_id="tg") == ["xx", "yy", "zz"]
    assert calls == ["x", "y", "z", "x"]
    assert [(s.step_id, s.position) for s in journal().load_steps("tg")] == [("x", 0), ("y", 1), ("z", 2)]


# -- retries ----------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempt in range(6):
        base = executor_module._BACKOFF_BASE * 2**attempt
        for _ in range(20):
            assert base * 0.5 <= backoff_delay(attempt) <= base
    assert backoff_delay(50) <= executor_module._BACKOFF_CAP
    assert len({backoff_delay(3) for _ in range(20)}) > 1  # jittered


@pytest.mark.asyncio
async def test_a_step_is_retried_until_it_succeeds(journal_path: Path, fast_backoff: None) -> None:
    attempts: list[int] = []
    journaled_between: list[nd.StepRecord] = []

    def flaky() -> str:
        info = nd.current_step()
        assert info is not None
        attempts.append(info.attempt)
        if info.attempt == 1:
            journaled_between.append(steps_of(info.run_id)["flaky"])
        if info.attempt < 2:
            raise ConnectionError(f"try {info.attempt} failed")
        return "ok"

    @nd.function(id="step-retry-ok", retries=3)
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("flaky", flaky)

    assert await wf.run(run_id="retry-ok") == "ok"
    assert attempts == [0, 1, 2]
    # Between attempts the journal says what failed and when the next attempt is due.
    (between,) = journaled_between
    assert (between.status, between.attempt) == ("retrying", 1)
    assert between.error is not None and between.error["type"] == "ConnectionError"
    assert between.error["message"] == "try 0 failed"
    assert between.next_at is not None and between.next_at > between.started_at
    done = steps_of("retry-ok")["flaky"]
    assert (done.status, done.attempt, done.error, done.output) == ("completed", 2, None, '"ok"')


@pytest.mark.asyncio
@pytest.mark.parametrize(("fn_retries", "step_retries", "expected_calls"), [(2, None, 3), (5, 0, 1), (0, 2, 3)])
async def test_retries_per_function_and_per_step(
    journal_path: Path, fast_backoff: None, fn_retries: int, step_retries: int | None, expected_calls: int
) -> None:
    calls: list[int] = []

    def always_fails() -> None:
        calls.append(1)
        raise ValueError("nope")

    @nd.function(id="step-retry-count", retries=fn_retries)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("fails", always_fails, retries=step_retries)

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="retry-count")
    assert len(calls) == expected_calls
    assert (info.value.error_type, info.value.error_message) == ("ValueError", "nope")
    rec = steps_of("retry-count")["fails"]
    assert (rec.status, rec.attempt) == ("failed", expected_calls - 1)


@pytest.mark.asyncio
async def test_non_retriable_error_fails_at_once(journal_path: Path, fast_backoff: None) -> None:
    calls: list[int] = []
    caught: list[nd.StepError] = []

    def refuse() -> None:
        calls.append(1)
        raise nd.NonRetriableError("card declined for good")

    @nd.function(id="step-nonretriable", retries=5)
    async def wf(ctx: nd.Context) -> str:
        try:
            await ctx.step.run("charge", refuse)
        except nd.StepError as exc:
            caught.append(exc)
        return "handled"

    assert await wf.run(run_id="nonretriable") == "handled"
    assert calls == [1]
    (exc,) = caught
    assert exc.error_type.endswith("NonRetriableError")
    assert exc.error_message == "card declined for good"
    assert "after 1 attempt(s)" in str(exc)


@pytest.mark.asyncio
async def test_retry_after_error_waits_that_long(journal_path: Path) -> None:
    times: list[float] = []
    journaled: list[nd.StepRecord] = []

    def rate_limited() -> str:
        times.append(time.time())
        if len(times) == 1:
            raise nd.RetryAfterError("rate limited", "300ms")
        journaled.append(steps_of("retry-after")["call"])
        return "ok"

    @nd.function(id="step-retry-after", retries=1)
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("call", rate_limited)

    assert await wf.run(run_id="retry-after") == "ok"
    assert times[1] - times[0] >= 0.3
    (rec,) = journaled
    assert rec.status == "retrying" and rec.next_at is not None and rec.ended_at is not None
    assert rec.next_at - rec.ended_at == pytest.approx(0.3, abs=0.05)
    assert rec.error is not None and rec.error["type"].endswith("RetryAfterError")


@pytest.mark.asyncio
async def test_retry_after_error_with_a_datetime(journal_path: Path) -> None:
    times: list[float] = []
    due = dt.datetime.now(dt.timezone.utc) + dt.timedelta(milliseconds=250)

    def busy() -> str:
        times.append(time.time())
        if len(times) == 1:
            raise nd.RetryAfterError("busy", due, cause=ConnectionError("503"))
        return "ok"

    @nd.function(id="step-retry-after-dt", retries=1)
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("call", busy)

    assert await wf.run(run_id="retry-after-dt") == "ok"
    assert times[1] >= due.timestamp()


@pytest.mark.asyncio
async def test_retry_after_error_without_retries_left_fails(journal_path: Path) -> None:
    @nd.function(id="step-retry-after-none-left", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("call", functools.partial(_raise, nd.RetryAfterError("later", 60)))

    started = time.monotonic()
    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="retry-after-none")
    assert time.monotonic() - started < 5
    assert info.value.error_type.endswith("RetryAfterError")


@pytest.mark.asyncio
async def test_retry_after_error_with_a_bad_delay_fails_the_step_clearly(journal_path: Path) -> None:
    def impatient() -> None:
        raise nd.RetryAfterError("later", "soon")

    @nd.function(id="step-retry-after-bad-delay", retries=2)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("call", impatient)

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="bad-delay")
    assert "'soon'" in info.value.error_message
    assert "step 'call'" in str(info.value)  # says where
    rec = steps_of("bad-delay").get("call")
    assert rec is not None and rec.status == "failed"  # journaled like any failed step


def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.asyncio
async def test_attempts_survive_a_restart(journal_path: Path, fast_backoff: None) -> None:
    attempts: list[int] = []
    execution = [0]

    async def flaky() -> str:
        info = nd.current_step()
        assert info is not None
        attempts.append(info.attempt)
        if info.attempt == 0:
            raise ValueError("first attempt fails")
        if execution[0] == 0:
            await asyncio.Event().wait()  # the second attempt is in flight when the process stops
        raise ValueError("second attempt fails too")

    @nd.function(id="step-retry-restart", retries=1)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("flaky", flaky)

    wf.start(run_id="retry-restart")
    await until(lambda: attempts == [0, 1])
    await interrupt("retry-restart")
    rec = steps_of("retry-restart")["flaky"]
    assert (rec.status, rec.attempt) == ("retrying", 1)
    restart(journal_path)
    execution[0] = 1
    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="retry-restart")
    # Attempt 1 ran again (it was in flight), then the step had used its one retry: no fresh attempts.
    assert attempts == [0, 1, 1]
    assert info.value.error_message == "second attempt fails too"
    rec = steps_of("retry-restart")["flaky"]
    assert (rec.status, rec.attempt) == ("failed", 1)


@pytest.mark.asyncio
async def test_a_pending_retry_keeps_its_deadline_across_a_restart(journal_path: Path) -> None:
    times: list[float] = []

    def rate_limited() -> str:
        times.append(time.time())
        if len(times) == 1:
            raise nd.RetryAfterError("rate limited", "400ms")
        return "ok"

    @nd.function(id="step-retry-deadline", retries=1)
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("call", rate_limited)

    wf.start(run_id="retry-deadline")
    await until(lambda: "call" in steps_of("retry-deadline"))
    await asyncio.sleep(0.25)
    await interrupt("retry-deadline")
    due = steps_of("retry-deadline")["call"].next_at
    assert due is not None
    restart(journal_path)
    resumed = time.time()
    assert await wf.run(run_id="retry-deadline") == "ok"
    assert times[1] >= due
    assert times[1] - resumed < 0.35  # only the rest of the wait, not a fresh 400ms


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_step_error_adds_no_second_full_stop(journal_path: Path) -> None:
    """A cause whose message ends a sentence (as nbdurable's own do) is not followed by another full stop."""

    def refuse() -> None:
        raise ValueError("the input is not valid.")

    @nd.function(id="one-stop", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("refuse", refuse)

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="one-stop")
    step_error = info.value.__cause__
    assert isinstance(step_error, nd.StepError)
    assert "ValueError: the input is not valid. Catch nd.StepError" in str(step_error)
    assert ".." not in str(step_error)


class PaymentDeclinedError(Exception):
    pass


def charge(card: str) -> None:
    raise PaymentDeclinedError(f"card {card} declined")


@pytest.mark.asyncio
async def test_step_error_keeps_type_message_and_traceback(journal_path: Path) -> None:
    caught: list[nd.StepError] = []

    @nd.function(id="step-error-info", retries=0)
    async def wf(ctx: nd.Context) -> None:
        try:
            await ctx.step.run("charge", charge, "4242")
        except nd.StepError as exc:
            caught.append(exc)
            raise

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="error-info")
    (exc,) = caught
    assert isinstance(exc, nd.NbDurableError)
    assert exc.run_id == "error-info" and exc.step_id == "charge"
    assert exc.error_type == f"{__name__}.PaymentDeclinedError"
    assert exc.error_message == "card 4242 declined"
    assert "in charge" in exc.traceback and "PaymentDeclinedError: card 4242 declined" in exc.traceback
    assert isinstance(exc.__cause__, PaymentDeclinedError)
    assert "run 'error-info', step 'charge'" in str(exc)
    assert "declined. Catch nd.StepError" in str(exc)  # a full stop after the cause's message
    # The run fails with the same details...
    failed = info.value
    assert (failed.error_type, failed.error_message, failed.traceback) == (
        exc.error_type,
        exc.error_message,
        exc.traceback,
    )
    assert "in step 'charge'" in str(failed)
    # ...readable after a restart.
    restart(journal_path)
    with pytest.raises(nd.RunFailedError) as again:
        await nd.get_run("error-info").result()
    assert (again.value.error_type, again.value.error_message, again.value.traceback) == (
        exc.error_type,
        exc.error_message,
        exc.traceback,
    )
    record = nd.get_run("error-info").record
    assert record is not None and record.error is not None and record.error["step_id"] == "charge"


@pytest.mark.asyncio
async def test_builtin_error_types_are_plain_names(journal_path: Path) -> None:
    @nd.function(id="step-error-builtin", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("parse", int, "not a number")

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="builtin")
    assert info.value.error_type == "ValueError"
    assert "invalid literal" in info.value.error_message


@pytest.mark.asyncio
async def test_secrets_in_errors_do_not_reach_the_journal(journal_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-" + uuid.uuid4().hex
    monkeypatch.setenv("STEPTEST_API_KEY", secret)

    def call_api() -> None:
        raise PermissionError(f"401 for Authorization: Bearer {secret}")

    @nd.function(id="step-error-secret", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("call", call_api)

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="secret")
    assert secret not in str(info.value) and secret not in info.value.traceback
    nd.get_engine().journal.close()
    assert secret.encode() not in journal_path.read_bytes()
    wal = Path(f"{journal_path}-wal")
    assert not wal.exists() or secret.encode() not in wal.read_bytes()


@pytest.mark.asyncio
async def test_a_caught_step_failure_replays_from_the_journal(journal_path: Path) -> None:
    calls: list[str] = []
    never = asyncio.Event()
    execution = [0]

    def bad() -> None:
        calls.append("bad")
        raise KeyError("missing")

    async def then() -> str:
        calls.append("then")
        if execution[0] == 0:
            await never.wait()
        return "fallback"

    caught: list[str] = []

    @nd.function(id="step-caught-replay", retries=0)
    async def wf(ctx: nd.Context) -> str:
        try:
            await ctx.step.run("bad", bad)
        except nd.StepError as exc:
            caught.append(exc.error_type)
        return await ctx.step.run("then", then)

    wf.start(run_id="caught")
    await until(lambda: calls == ["bad", "then"])
    await interrupt("caught")
    restart(journal_path)
    execution[0] = 1
    assert await wf.run(run_id="caught") == "fallback"
    assert calls == ["bad", "then", "then"]  # the failed step was not run again
    assert caught == ["KeyError", "KeyError"]  # the same failure, raised again from the journal


@pytest.mark.asyncio
async def test_resuming_a_failed_run_retries_only_the_failed_step(journal_path: Path) -> None:
    calls: list[str] = []
    broken = [True]

    def first() -> int:
        calls.append("first")
        return 1

    def second() -> int:
        calls.append("second")
        if broken[0]:
            raise RuntimeError("bug")
        return 2

    @nd.function(id="step-resume-failed", retries=0)
    async def wf(ctx: nd.Context) -> int:
        return await ctx.step.run("first", first) + await ctx.step.run("second", second)

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="resume-failed")
    # Running it again without resume returns the same failure, running nothing.
    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="resume-failed")
    assert calls == ["first", "second"]
    broken[0] = False
    restart(journal_path)
    assert await nd.get_run("resume-failed").resume().result() == 3
    assert calls == ["first", "second", "second"]


# -- durable sleep ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sleep_is_journaled_and_shows_in_the_status(journal_path: Path) -> None:
    @nd.function(id="step-sleep", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.sleep("nap", "200ms")
        await ctx.step.sleep("nap", dt.timedelta(milliseconds=10))
        return "rested"

    started = time.time()
    handle = wf.start(run_id="sleep")
    await until(lambda: handle.status == "sleeping")
    rec = steps_of("sleep")["nap"]
    assert (rec.kind, rec.status) == ("sleep", "sleeping")
    assert rec.next_at == pytest.approx(started + 0.2, abs=0.1)
    run = journal().get_run("sleep")
    assert run is not None and run.status == "sleeping"
    assert await handle.result() == "rested"
    assert time.time() - started >= 0.21
    recs = steps_of("sleep")
    assert set(recs) == {"nap", "nap:1"}
    assert all(r.status == "completed" for r in recs.values())
    assert handle.status == "completed"


@pytest.mark.asyncio
async def test_after_a_restart_only_the_rest_is_slept(journal_path: Path) -> None:
    @nd.function(id="step-sleep-restart", retries=0)
    async def wf(ctx: nd.Context) -> float:
        await ctx.step.sleep("nap", 0.6)
        return await ctx.step.run("woke", time.time)

    wf.start(run_id="sleep-restart")
    await until(lambda: "nap" in steps_of("sleep-restart"))
    deadline = steps_of("sleep-restart")["nap"].next_at
    assert deadline is not None
    await asyncio.sleep(0.3)
    await interrupt("sleep-restart")
    restart(journal_path)
    resumed = time.time()
    woke = await wf.run(run_id="sleep-restart")
    assert woke >= deadline
    assert woke - resumed < 0.55  # a fresh 0.6s sleep would take longer
    assert steps_of("sleep-restart")["nap"].next_at == deadline


@pytest.mark.asyncio
async def test_a_finished_sleep_is_not_slept_again(journal_path: Path) -> None:
    @nd.function(id="step-sleep-replay", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.sleep("nap", "300ms")
        if ctx.attempt == 0:
            raise CrashError
        return "done"

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="sleep-replay")
    slept = steps_of("sleep-replay")["nap"]
    restart(journal_path)
    assert await nd.get_run("sleep-replay").resume().result() == "done"
    # Slept again, the step would have a new start, deadline and end in the journal: it has its first ones.
    assert steps_of("sleep-replay")["nap"] == slept


@pytest.mark.asyncio
async def test_sleep_until(journal_path: Path) -> None:
    errors: list[BaseException] = []

    @nd.function(id="step-sleep-until", retries=0)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.sleep_until("past", dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
        now = ctx.step.now()  # journaled, so the deadlines below are the same on replay
        await ctx.step.sleep_until("soon", now + dt.timedelta(milliseconds=100))
        await ctx.step.sleep_until("iso", (now + dt.timedelta(milliseconds=120)).isoformat())
        await ctx.step.sleep_until("epoch", now.timestamp() + 0.15)
        for bad in (dt.datetime(2030, 1, 1), "tomorrow"):
            try:
                await ctx.step.sleep_until("bad", bad)
            except nd.ConfigError as exc:
                errors.append(exc)
        return "ok"

    started = time.time()
    assert await wf.run(run_id="sleep-until") == "ok"
    assert time.time() - started >= 0.15
    assert len(errors) == 2 and "time zone" in str(errors[0])
    assert set(steps_of("sleep-until")) == {"nd.now", "past", "soon", "iso", "epoch"}


@pytest.mark.asyncio
async def test_a_bad_sleep_duration_is_a_config_error(journal_path: Path) -> None:
    @nd.function(id="step-sleep-bad", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.sleep("nap", "a while")

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="sleep-bad")
    assert info.value.error_type.endswith("ConfigError")
    assert "step.sleep('nap')" in info.value.error_message


# -- waiting for events -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_wait_for_event_returns_the_event(journal_path: Path) -> None:
    @nd.function(id="step-wait", retries=0)
    async def wf(ctx: nd.Context) -> nd.Event | None:
        return await ctx.step.wait_for_event("approval", event="stepwait/approved", timeout="5s")

    handle = wf.start(run_id="wait")
    await until(lambda: handle.status == "waiting")
    run = journal().get_run("wait")
    assert run is not None and run.status == "waiting"
    await nd.send("stepwait/other", {"ignored": True})
    await nd.send("stepwait/approved", {"by": "ada"}, id="approval-1")
    got = await handle.result()
    assert isinstance(got, nd.Event)
    assert (got.name, got.data, got.id) == ("stepwait/approved", {"by": "ada"}, "approval-1")
    assert got.ts > 0
    rec = steps_of("wait")["approval"]
    assert (rec.kind, rec.status) == ("wait", "completed")
    assert rec.meta is not None and rec.meta["event_id"] == "approval-1"


@pytest.mark.asyncio
async def test_wait_for_event_times_out_with_none(journal_path: Path) -> None:
    @nd.function(id="step-wait-timeout", retries=0)
    async def wf(ctx: nd.Context) -> str:
        got = await ctx.step.wait_for_event("approval", event="stepwait-timeout/approved", timeout="150ms")
        return "timed out" if got is None else "approved"

    started = time.monotonic()
    assert await wf.run(run_id="wait-timeout") == "timed out"
    assert time.monotonic() - started >= 0.15
    rec = steps_of("wait-timeout")["approval"]
    assert rec.status == "completed" and rec.output is None


@pytest.mark.asyncio
async def test_if_exp_matches_each_run_to_its_own_event(journal_path: Path) -> None:
    @nd.function(id="step-wait-if", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event(
            "approval",
            event="stepwait-if/approved",
            timeout="5s",
            if_exp="async.data.ticket == event.data.ticket",
        )
        return None if got is None else got.data

    one = wf.start({"ticket": 1}, run_id="if-1")
    two = wf.start({"ticket": 2}, run_id="if-2")
    await until(lambda: one.status == "waiting" and two.status == "waiting")
    await nd.send("stepwait-if/approved", {"ticket": 2, "by": "bo"})
    assert await two.result(timeout=5) == {"ticket": 2, "by": "bo"}
    assert one.status == "waiting"
    await nd.send("stepwait-if/approved", {"ticket": 3})
    await nd.send("stepwait-if/approved", {"ticket": 1, "by": "ada"})
    assert await one.result(timeout=5) == {"ticket": 1, "by": "ada"}


@pytest.mark.asyncio
async def test_an_event_sent_before_the_wait_began_still_matches(journal_path: Path) -> None:
    gate = asyncio.Event()

    @nd.function(id="step-wait-early", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        await ctx.step.run("prepare", gate.wait)
        got = await ctx.step.wait_for_event("approval", event="stepwait-early/approved", timeout="2s")
        return None if got is None else got.data

    handle = wf.start(run_id="early")
    await until(lambda: "prepare" in {s.step_id for s in handle.steps()})
    await nd.send("stepwait-early/approved", {"n": 1})  # the wait has not begun yet
    gate.set()
    assert await handle.result() == {"n": 1}, "matched: a missed event would end the wait at its timeout, with None"


@pytest.mark.asyncio
async def test_an_event_sent_before_the_run_started_does_not_match(journal_path: Path) -> None:
    await nd.send("stepwait-before/approved", {"n": 0})

    @nd.function(id="step-wait-before", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        return await ctx.step.wait_for_event("approval", event="stepwait-before/approved", timeout="100ms")

    assert await wf.run(run_id="before") is None


@pytest.mark.asyncio
async def test_one_event_satisfies_at_most_one_wait_of_a_run(journal_path: Path) -> None:
    gate = asyncio.Event()

    @nd.function(id="step-wait-once", retries=0)
    async def wf(ctx: nd.Context) -> list[Any]:
        await ctx.step.run("ready", gate.wait)
        out = []
        for _ in range(3):
            got = await ctx.step.wait_for_event("next", event="stepwait-once/item", timeout="200ms")
            out.append(None if got is None else got.data["n"])
        return out

    first = wf.start(run_id="once-1")
    second = wf.start(run_id="once-2")
    await until(lambda: first.status == "running" and second.status == "running")
    await nd.send("stepwait-once/item", {"n": 1})
    await nd.send("stepwait-once/item", {"n": 2})
    gate.set()
    # Each run sees each event once; another run may see the same events.
    assert await first.result() == [1, 2, None]
    assert await second.result() == [1, 2, None]
    assert set(steps_of("once-1")) == {"ready", "next", "next:1", "next:2"}


@pytest.mark.asyncio
async def test_parallel_waits_each_get_a_different_event(journal_path: Path) -> None:
    gate = asyncio.Event()

    @nd.function(id="step-wait-parallel", retries=0)
    async def wf(ctx: nd.Context) -> list[Any]:
        await ctx.step.run("ready", gate.wait)
        got = await asyncio.gather(
            *(ctx.step.wait_for_event(n, event="stepwait-parallel/item", timeout="300ms") for n in "abc")
        )
        return [None if e is None else e.data["n"] for e in got]

    handle = wf.start(run_id="parallel-waits")
    await until(lambda: handle.status == "running")
    await nd.send("stepwait-parallel/item", {"n": 1})
    await nd.send("stepwait-parallel/item", {"n": 2})
    gate.set()
    assert sorted(await handle.result(), key=str) == [1, 2, None]


@pytest.mark.asyncio
async def test_waits_replay_and_a_consumed_event_is_not_seen_again(journal_path: Path) -> None:
    @nd.function(id="step-wait-replay", retries=0)
    async def wf(ctx: nd.Context) -> list[tuple[str, dict[str, Any]] | None]:
        a = await ctx.step.wait_for_event("w", event="stepwait-replay/item", timeout="2s")
        if ctx.attempt == 0:
            raise CrashError
        b = await ctx.step.wait_for_event("w", event="stepwait-replay/item", timeout="300ms")
        return [None if e is None else (e.id, e.data) for e in (a, b)]

    handle = wf.start(run_id="wait-replay")
    await until(lambda: handle.status == "waiting")
    await nd.send("stepwait-replay/item", {"n": 1}, id="e1")
    with pytest.raises(nd.RunFailedError):
        await handle.result()
    await nd.send("stepwait-replay/item", {"n": 2}, id="e2")
    restart(journal_path)
    assert await nd.get_run("wait-replay").resume().result() == [("e1", {"n": 1}), ("e2", {"n": 2})]


@pytest.mark.asyncio
async def test_an_event_sent_while_the_process_was_down_is_matched(journal_path: Path) -> None:
    @nd.function(id="step-wait-down", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event("approval", event="stepwait-down/approved", timeout="5s")
        return None if got is None else got.data

    handle = wf.start(run_id="down")
    await until(lambda: handle.status == "waiting")
    await interrupt("down")
    restart(journal_path)
    await nd.send("stepwait-down/approved", {"while": "down"})  # nobody is waiting in this process
    assert await wf.run(run_id="down") == {"while": "down"}


@pytest.mark.asyncio
async def test_a_bad_if_exp_points_at_the_problem(journal_path: Path) -> None:
    errors: list[nd.ExpressionError] = []

    @nd.function(id="step-wait-bad-exp", retries=0)
    async def wf(ctx: nd.Context) -> None:
        try:
            await ctx.step.wait_for_event("w", event="x", timeout="1s", if_exp="async.data.id == ")
        except nd.ExpressionError as exc:
            errors.append(exc)

    await wf.run(run_id="bad-exp")
    (exc,) = errors
    assert isinstance(exc, nd.ConfigError)
    assert exc.position is not None and exc.expression == "async.data.id == "
    assert "^" in str(exc)
    assert steps_of("bad-exp") == {}  # nothing was journaled for it


# -- sending events and invoking functions ----------------------------------------------------------


@pytest.mark.asyncio
async def test_send_event_starts_runs_and_is_idempotent_on_replay(journal_path: Path) -> None:
    received: list[Any] = []

    @nd.function(id="step-send-target", trigger="stepsend/ping", retries=0)
    async def target(ctx: nd.Context) -> Any:
        received.append(ctx.event.data)
        return ctx.event.data

    seen: list[list[str]] = []

    @nd.function(id="step-send-source", retries=0)
    async def source(ctx: nd.Context) -> list[str]:
        ids = await ctx.step.send_event(
            "ping",
            [{"name": "stepsend/ping", "data": {"n": 1}}, nd.Event("stepsend/ping", {"n": 2}, id="explicit")],
        )
        seen.append(ids)
        if ctx.attempt == 0:
            raise CrashError
        return ids

    ids = await run_then_replay(journal_path, source, "sender")
    await settle()
    assert ids == ["sender/ping/0", "explicit"]
    assert seen == [ids, ids]
    events = journal().events_after("stepsend/ping", 0)
    assert [(e.event_id, e.data) for e in events] == [("sender/ping/0", {"n": 1}), ("explicit", {"n": 2})]
    assert sorted(r["n"] for r in received) == [1, 2]  # each target run once
    assert len(nd.runs(function_id="step-send-target")) == 2
    assert steps_of("sender")["ping"].kind == "send"


@pytest.mark.asyncio
async def test_send_event_refuses_bad_events(journal_path: Path) -> None:
    @nd.function(id="step-send-bad", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.send_event("bad", {"data": {}})

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="send-bad")
    assert "ConfigError" in info.value.error_type
    assert "step.send_event('bad')" in info.value.error_message


@pytest.mark.asyncio
async def test_invoke_returns_the_child_result_and_replays(journal_path: Path) -> None:
    child_calls: list[Any] = []

    @nd.function(id="step-invoke-child", retries=0)
    async def child(ctx: nd.Context) -> int:
        child_calls.append(ctx.event.data)
        return int(await ctx.step.run("double", lambda: ctx.event.data["n"] * 2))

    @nd.function(id="step-invoke-parent", retries=0)
    async def parent(ctx: nd.Context) -> int:
        value = await ctx.step.invoke("call", function=child, data={"n": 21})
        if ctx.attempt == 0:
            raise CrashError
        return value

    assert await run_then_replay(journal_path, parent, "parent") == 42
    assert child_calls == [{"n": 21}]
    rec = steps_of("parent")["call"]
    assert rec.kind == "invoke"
    assert rec.meta is not None and rec.meta["child_run_id"] == "parent.call"
    child_run = journal().get_run("parent.call")
    assert child_run is not None
    assert (child_run.function_id, child_run.parent_run_id, child_run.status) == (
        "step-invoke-child",
        "parent",
        "completed",
    )


@pytest.mark.asyncio
async def test_invoke_a_failing_child(journal_path: Path) -> None:
    child_calls: list[int] = []

    @nd.function(id="step-invoke-failing-child", retries=0)
    async def child(ctx: nd.Context) -> None:
        child_calls.append(1)
        await ctx.step.run("boom", _raise, LookupError("boom in child"))

    caught: list[nd.StepError] = []

    @nd.function(id="step-invoke-failing-parent", retries=3)
    async def parent(ctx: nd.Context) -> str:
        try:
            await ctx.step.invoke("call", function=child)
        except nd.StepError as exc:
            caught.append(exc)
            return "child failed"
        return "child succeeded?"

    assert await parent.run(run_id="inv-fail") == "child failed"
    (exc,) = caught
    # The child's own error, as fields (Inngest's StepError.name / .message / .stack).
    assert (exc.error_type, exc.error_message) == ("LookupError", "boom in child")
    assert "boom in child" in exc.traceback and exc.child_run_id == "inv-fail.call"
    assert child_calls == [1]  # a failed child is not started again by the parent's retries
    child_run = journal().get_run("inv-fail.call")
    assert child_run is not None and child_run.status == "failed"


@pytest.mark.asyncio
async def test_invoke_timeout(journal_path: Path) -> None:
    @nd.function(id="step-invoke-slow-child", retries=0)
    async def child(ctx: nd.Context) -> str:
        await ctx.step.sleep("slow", "300ms")
        return "late"

    caught: list[nd.StepError] = []

    @nd.function(id="step-invoke-impatient", retries=0)
    async def parent(ctx: nd.Context) -> str:
        try:
            await ctx.step.invoke("call", function=child, timeout="50ms")
        except nd.StepError as exc:
            caught.append(exc)
            return "gave up"
        return "got it"

    assert await parent.run(run_id="inv-timeout") == "gave up"
    (exc,) = caught
    assert exc.error_type.endswith("InvokeTimeoutError")
    assert "did not finish within 0.05s" in exc.error_message
    # The child goes on and finishes on its own.
    assert await nd.get_run("inv-timeout.call").result(timeout=5) == "late"


# -- journaled values and idempotency keys ----------------------------------------------------------


@pytest.mark.asyncio
async def test_now_uuid_random_are_identical_on_replay(journal_path: Path) -> None:
    seen: list[tuple[Any, ...]] = []

    @nd.function(id="step-values", retries=0)
    async def wf(ctx: nd.Context) -> None:
        values = (ctx.step.now(), ctx.step.uuid(), ctx.step.random(), ctx.step.uuid())
        seen.append(values)
        await ctx.step.run("use", lambda: str(values[1]))
        if ctx.attempt == 0:
            raise CrashError

    before = time.time()
    await run_then_replay(journal_path, wf, "values")
    first, second = seen
    assert first == second
    now, u1, r, u2 = first
    assert isinstance(now, dt.datetime) and now.tzinfo is not None and now.utcoffset() == dt.timedelta(0)
    assert before - 1 <= now.timestamp() <= time.time()
    assert isinstance(u1, uuid.UUID) and u1.version == 4 and u1 != u2
    assert isinstance(r, float) and 0 <= r < 1
    assert [s.step_id for s in journal().load_steps("values")] == ["nd.now", "nd.uuid", "nd.random", "nd.uuid:1", "use"]


@pytest.mark.asyncio
async def test_idempotency_key_is_stable_across_retries_and_restarts(journal_path: Path, fast_backoff: None) -> None:
    seen: list[tuple[int, str]] = []
    execution = [0]

    async def pay() -> str:
        info = nd.current_step()
        assert info is not None
        seen.append((info.attempt, info.idempotency_key))
        if info.attempt == 0:
            raise ConnectionError("gateway timeout")
        if execution[0] == 0:
            await asyncio.Event().wait()  # in flight when the process stops
        return "paid"

    def other() -> str:
        info = nd.current_step()
        assert info is not None and info.step_id == "receipt"
        return info.idempotency_key

    outside: list[nd.StepInfo | None] = []

    @nd.function(id="step-idempotency", retries=3)
    async def wf(ctx: nd.Context) -> str:
        outside.append(nd.current_step())
        await ctx.step.run("pay", pay)
        return await ctx.step.run("receipt", other)

    wf.start(run_id="idem")
    await until(lambda: len(seen) == 2)
    await interrupt("idem")
    restart(journal_path)
    execution[0] = 1
    receipt_key = await wf.run(run_id="idem")
    assert [a for a, _ in seen] == [0, 1, 1]
    assert len({k for _, k in seen}) == 1
    assert receipt_key != seen[0][1]
    assert outside == [None, None]
    assert nd.current_step() is None
    # Another run gets other keys.
    seen.clear()
    other_key = await wf.run(run_id="idem-2")
    assert other_key != receipt_key
    assert seen[0][1] != receipt_key


@pytest.mark.asyncio
async def test_current_step_in_sync_steps_and_tasks_they_start(journal_path: Path) -> None:
    def sync_step() -> str:
        info = nd.current_step()
        assert info is not None
        return info.step_id

    async def spawning_step() -> list[str]:
        async def inner() -> str:
            info = nd.current_step()
            assert info is not None
            return info.step_id

        return list(await asyncio.gather(inner(), asyncio.create_task(inner())))

    @nd.function(id="step-current", retries=0)
    async def wf(ctx: nd.Context) -> list[Any]:
        return [await ctx.step.run("sync", sync_step), await ctx.step.run("spawn", spawning_step)]

    assert await wf.run(run_id="current") == ["sync", ["spawn", "spawn"]]


def test_step_info_is_exported() -> None:
    info = nd.StepInfo("r", "s", 0, "r/s")
    assert info.idempotency_key == "r/s"


def test_step_run_is_typed_for_sync_and_async_callables(tmp_path: Path) -> None:
    """mypy --strict infers what ``await step.run(...)`` returns, for the async callables most steps are."""
    source = tmp_path / "typed_workflow.py"
    source.write_text(
        "import nbdurable as nd\n"
        "\n"
        "async def fetch(x: int) -> str:\n"
        "    return str(x)\n"
        "\n"
        "def parse(x: int) -> str:\n"
        "    return str(x)\n"
        "\n"
        "@nd.function(id='typed')\n"
        "async def wf(ctx: nd.Context) -> str:\n"
        "    a = await ctx.step.run('a', fetch, 1)\n"
        "    b = await ctx.step.run('b', parse, 1)\n"
        "    reveal_type(a)\n"
        "    reveal_type(b)\n"
        "    return a + b\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", os.devnull, str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines = result.stdout.splitlines()
    # mypy spells builtins with or without the module depending on its version.
    assert [line.split("note: ")[1].replace("builtins.", "") for line in lines if "Revealed type" in line] == [
        'Revealed type is "str"',
        'Revealed type is "str"',
    ], result.stdout
    assert result.returncode == 0, result.stdout


# -- step ids are unambiguous ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_step_named_like_a_repeat_is_refused_with_a_rename(journal_path: Path) -> None:
    calls: list[str] = []

    def fetch(tag: str) -> str:
        calls.append(tag)
        return tag

    @nd.function(id="ids-counter-form", retries=0)
    async def wf(ctx: nd.Context) -> list[str]:
        return [
            await ctx.step.run("fetch:1", fetch, "named"),
            await ctx.step.run("fetch", fetch, "first"),
            await ctx.step.run("fetch", fetch, "second"),
        ]

    with pytest.raises(nd.RunFailedError, match=r"step name 'fetch:1' ends in ':<number>'.*e\.g\. 'fetch-1'") as info:
        await wf.run(run_id="ids-1")
    assert info.value.error_type == "nbdurable._errors.ConfigError"
    assert calls == []  # refused at the call, before anything ran


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sleep", "wait", "send", "invoke", "value"])
async def test_every_step_kind_refuses_the_counter_form(journal_path: Path, kind: str) -> None:
    @nd.function(id=f"ids-child-{kind}")
    async def child(ctx: nd.Context) -> int:
        return 1

    @nd.function(id=f"ids-kind-{kind}", retries=0)
    async def wf(ctx: nd.Context) -> None:
        step = ctx.step
        if kind == "sleep":
            await step.sleep("nap:2", "1ms")
        elif kind == "wait":
            await step.wait_for_event("w:3", event="ids/never", timeout="1ms")
        elif kind == "send":
            await step.send_event("s:4", {"name": "ids/sent", "data": {}})
        elif kind == "invoke":
            await step.invoke("i:5", function=child)
        else:
            step._value("v:6", lambda: 1, None)

    with pytest.raises(nd.RunFailedError, match="ends in ':<number>'"):
        await wf.run(run_id=f"ids-{kind}")


@pytest.mark.asyncio
async def test_a_0_1_0_journal_with_such_a_name_replays_and_a_collision_is_said_clearly(journal_path: Path) -> None:
    """nbdurable 0.1.0 accepted a step named 'fetch:1'. A run it journaled keeps replaying; one whose 'fetch:1'
    row two steps shared (the bug) fails with a clear error instead of returning the wrong value."""
    from nbdurable.journal._protocol import Write

    journal = nd.get_engine().journal
    rows = []
    for run_id, steps in {
        "legacy-ok": [("fetch:1", "fetch:1", 0, '"named"'), ("other", "other", 1, '"x"')],
        "legacy-clash": [("fetch:1", "fetch:1", 0, '"named"'), ("fetch", "fetch", 1, '"first"')],
    }.items():
        rows.append(Write("run", run=nd.RunRecord(run_id, "ids-legacy", "running", created_at=1.0, updated_at=1.0)))
        for step_id, name, position, output in steps:
            rows.append(
                Write(
                    "step",
                    step=nd.StepRecord(run_id=run_id, step_id=step_id, name=name, position=position, output=output),
                )
            )
    journal.write(rows)
    ran: list[str] = []

    def fetch(tag: str) -> str:
        ran.append(tag)
        return tag

    @nd.function(id="ids-legacy")
    async def legacy_ok(ctx: nd.Context) -> list[str]:
        named = await ctx.step.run("fetch:1", fetch, "named")
        if ctx.run_id == "legacy-ok":
            return [named, await ctx.step.run("other", fetch, "x")]
        return [named, await ctx.step.run("fetch", fetch, "first"), await ctx.step.run("fetch", fetch, "second")]

    assert await nd.get_run("legacy-ok").resume().result() == ["named", "x"]
    assert ran == []
    with pytest.raises(nd.RunFailedError, match=r"id 'fetch:1' is also the name of another step") as info:
        await nd.get_run("legacy-clash").resume().result()
    assert "Rename the step named 'fetch:1'" in str(info.value.error_message)
    assert ran == []  # the second 'fetch' was stopped before it could be answered with the wrong value


_names = st.text(alphabet="ab:1", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_names, max_size=30), legacy=st.sets(_names, max_size=3))
def test_step_ids_are_unique_and_the_same_on_every_execution(names: list[str], legacy: set[str]) -> None:
    """Property: whatever names a workflow uses (0.1.0 names of the counter form included), the ids it gets
    are distinct, or next_id refuses before an id is shared; and a replay gets the same ids."""
    from nbdurable.engine._runstate import RunState

    def ids() -> list[str] | str:
        state = RunState(None, "prop", None)  # type: ignore[arg-type]
        state.legacy_names = {n for n in legacy if re.search(r":[0-9]+\Z", n)}
        got = []
        try:
            for name in names:
                got.append(state.next_id(name)[0])
        except nd.ConfigError as exc:
            return f"refused after {len(got)}: {exc}"
        return got

    first = ids()
    assert first == ids()
    if isinstance(first, list):
        assert len(set(first)) == len(first)
        assert all(re.search(r":[0-9]+\Z", n) is None or n in legacy for n in names)


@pytest.mark.asyncio
async def test_invoked_children_of_runs_whose_ids_spell_alike_stay_apart(journal_path: Path) -> None:
    """Run 'a' invoking step 'b.c' and run 'a.b' invoking step 'c' both spell the child 'a.b.c'; the second
    must get a child of its own, not the first one's result."""

    @nd.function(id="ids-child-of")
    async def child(ctx: nd.Context) -> str:
        return str(ctx.event.data["parent"])

    @nd.function(id="ids-parent")
    async def parent(ctx: nd.Context) -> str:
        return await ctx.step.invoke(ctx.event.data["step"], function=child, data={"parent": ctx.run_id})

    assert await parent.run({"step": "b.c"}, run_id="a") == "a"
    assert await parent.run({"step": "c"}, run_id="a.b") == "a.b"
    children = {r.run_id: r.parent_run_id for r in journal().list_runs(function_id="ids-child-of")}
    assert children["a.b.c"] == "a" and len(children) == 2
    [own] = [run_id for run_id, p in children.items() if p == "a.b"]
    assert own.startswith("a.b.c#")
    meta = {s.step_id: s.meta for s in journal().load_steps("a.b")}
    assert meta["c"] is not None and meta["c"]["child_run_id"] == own
    # The same id on a replay of the second parent: it reads its own child again.
    restart(journal_path)
    assert await parent.run({"step": "c"}, run_id="a.b") == "a.b"


@pytest.mark.asyncio
async def test_events_sent_by_runs_whose_ids_spell_alike_are_both_kept(journal_path: Path) -> None:
    """Run 'x/y' step 's' and run 'x' step 'y/s' both spell the event id 'x/y/s/0'; neither event is dropped."""

    @nd.function(id="ids-sender")
    async def sender(ctx: nd.Context) -> list[str]:
        return await ctx.step.send_event(ctx.event.data["step"], {"name": "ids/sent", "data": {"by": ctx.run_id}})

    [first] = await sender.run({"step": "s"}, run_id="x/y")
    [second] = await sender.run({"step": "y/s"}, run_id="x")
    assert first == "x/y/s/0" and second.startswith("nd-")
    sent = journal().events_after("ids/sent", 0)
    assert sorted(e.data["by"] for e in sent) == ["x", "x/y"]
