"""The one step executor (engine/_executor.py): every step kind, replayed, answers what it answered the first time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nbdurable as nd
import nbdurable.engine._executor as executor_module
from nbdurable.engine import registry
from tests.helpers import interrupt, reset_engine, restart, until

KINDS = ("run", "run_async", "retry", "send", "sleep", "value", "wait", "invoke", "parallel", "fail")


async def _mixed_run(path: Path, kinds: list[str]) -> tuple[list[list[Any]], Counter[str]]:
    """Run a workflow made of ``kinds`` until it crashes at its end, restart, resume it: what each execution saw."""
    calls: Counter[str] = Counter()
    seen: list[list[Any]] = []
    tag = uuid.uuid4().hex[:8]

    @nd.function(id=f"mix-child-{tag}")
    async def child(ctx: nd.Context) -> str:
        def make() -> str:
            calls[f"child:{ctx.run_id}"] += 1
            return uuid.uuid4().hex

        out: str = await ctx.step.run("make", make)
        return out

    def fresh(name: str) -> Any:
        def fn() -> str:
            calls[name] += 1
            return uuid.uuid4().hex  # a new value each time it runs: a replay that ran it again would differ

        return fn

    async def one(step: nd.Step, i: int, kind: str) -> Any:
        name = f"{kind}-{i}"
        if kind == "run":
            return await step.run(name, fresh(name))
        if kind == "run_async":

            async def later() -> str:
                await asyncio.sleep(0)
                return str(fresh(name)())

            return await step.run(name, later)
        if kind == "retry":

            def flaky() -> str:
                calls[name] += 1
                if calls[name] == 1:
                    raise ValueError("the first attempt fails")
                return uuid.uuid4().hex

            return await step.run(name, flaky, retries=1)
        if kind == "fail":

            def broken() -> str:
                calls[name] += 1
                raise nd.NonRetriableError(f"step {name} fails for good")

            try:
                await step.run(name, broken)
            except nd.StepError as exc:
                return f"failed: {exc.error_type}"
            raise AssertionError("a failed step must raise StepError")
        if kind == "send":
            return await step.send_event(name, {"name": f"mix/{tag}", "data": {"i": i}})
        if kind == "sleep":
            await step.sleep(name, 0.001)
            return "slept"
        if kind == "value":
            return str(step.uuid())
        if kind == "wait":
            ev = await step.wait_for_event(name, event=f"mix/{tag}", timeout=0.05)
            return None if ev is None else [ev.id, ev.data]
        if kind == "invoke":
            return await step.invoke(name, function=child, data={"i": i})
        assert kind == "parallel"
        a, b = f"{name}-a", f"{name}-b"
        return list(await step.parallel([lambda: step.run(a, fresh(a)), lambda: step.run(b, fresh(b))]))

    @nd.function(id=f"mix-{tag}")
    async def mixed(ctx: nd.Context) -> int:
        results = [await one(ctx.step, i, kind) for i, kind in enumerate(kinds)]
        seen.append(results)
        if len(seen) == 1:
            await asyncio.sleep(3600)  # the first execution stops here: interrupted, as by a dying kernel
        return len(results)

    saved_base = executor_module._BACKOFF_BASE
    executor_module._BACKOFF_BASE = 0.001
    try:
        mixed.start(run_id=f"mix-{tag}")
        await until(lambda: len(seen) == 1, timeout=30, what="the end of the first execution")
        await interrupt(f"mix-{tag}")
        first_calls = Counter(calls)
        restart(path)
        assert await nd.get_run(f"mix-{tag}").resume().result() == len(kinds)
        assert calls == first_calls, "a completed step ran again on replay"
    finally:
        executor_module._BACKOFF_BASE = saved_base
        for handle in nd.runs(limit=None):
            with contextlib.suppress(nd.NbDurableError):
                if handle.status in ("queued", "running", "sleeping", "waiting"):
                    handle.cancel()
        registry().pop(mixed.id, None)
        registry().pop(child.id, None)
    return seen, calls


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=7))
@example(kinds=["send", "wait", "wait", "retry", "parallel", "invoke", "value", "sleep", "fail", "run", "run_async"])
def test_any_mix_of_step_kinds_replays_to_the_same_results_without_running_a_step_again(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[str]
) -> None:
    """Property: a workflow of any mix of step kinds, resumed after its first execution, gets the same value
    from every step (each value is new whenever its code runs) and no completed step's code runs again."""
    path = tmp_path_factory.mktemp("mix") / "journal.db"
    reset_engine()
    nd.configure(path, poll_interval=0.02)
    try:
        seen, calls = asyncio.run(_mixed_run(path, kinds))
    finally:
        reset_engine()
    assert len(seen) == 2
    assert seen[0] == seen[1]
    unclaimed = 0  # events sent and not yet taken by a wait: a wait takes one if there is one, else times out
    for i, kind in enumerate(kinds):
        if kind == "send":
            unclaimed += 1
        elif kind == "wait":
            assert (seen[0][i] is not None) == (unclaimed > 0)
            unclaimed -= seen[0][i] is not None
    for i, kind in enumerate(kinds):
        if kind in ("run", "run_async", "fail"):
            assert calls[f"{kind}-{i}"] == 1
        elif kind == "retry":
            assert calls[f"retry-{i}"] == 2  # one failed attempt, one that completed; none on replay
        elif kind == "parallel":
            assert calls[f"parallel-{i}-a"] == calls[f"parallel-{i}-b"] == 1
    invoked = sum(1 for kind in kinds if kind == "invoke")
    assert sum(n for key, n in calls.items() if key.startswith("child:")) == invoked


@pytest.mark.asyncio
async def test_a_step_failed_for_good_is_answered_from_the_journal_with_its_error(journal_path: Path) -> None:
    """The executor's failed-step replay: the same StepError (type, message) and the step's code not run again."""
    calls = 0

    @nd.function(id="exec-failed-replay")
    async def flow(ctx: nd.Context) -> str:
        def broken() -> None:
            nonlocal calls
            calls += 1
            raise KeyError("missing")

        try:
            await ctx.step.run("broken", broken, retries=0)
        except nd.StepError as exc:
            seen.append(exc)
            if len(seen) == 1:
                await asyncio.sleep(3600)  # interrupted here, as by a dying kernel
            return f"{exc.error_type}: {exc.error_message} ({exc.step_id})"
        return "no error"

    seen: list[nd.StepError] = []
    flow.start(run_id="exec-failed")
    await until(lambda: len(seen) == 1, what="the step's failure")
    await interrupt("exec-failed")
    restart(journal_path)
    assert await nd.get_run("exec-failed").resume().result() == "KeyError: 'missing' (broken)"
    assert calls == 1
    assert str(seen[0]) == str(seen[1])


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(
    value=_json_values,
    wanted=st.sampled_from([None, str, int, float, bool, dict, list]),
    pad=st.sampled_from(["", " ", "\n", "x", "]", ",1"]),
    before=st.booleans(),
)
@example(value=[[[[]]]], wanted=None, pad="", before=False)
def test_the_replay_fast_path_reads_a_journaled_value_as_json_loads_does(
    value: Any, wanted: Any, pad: str, before: bool
) -> None:
    """plain_value answers only with what json.loads gives (same types, -0.0, NaN), and only when it fits ``wanted``.

    Text it does not answer (padding, trailing data, not JSON, another type) goes to the general decode.
    """
    text = json.dumps(value)
    text = pad + text if before else text + pad
    got = executor_module.plain_value(text, wanted)
    try:
        expected = json.loads(text)
    except ValueError:
        assert got is executor_module._UNREADABLE
        return
    fits = wanted is None or (isinstance(expected, wanted) and not (wanted is int and isinstance(expected, bool)))
    if got is executor_module._UNREADABLE:
        assert (pad.strip() == "" and pad) or not fits, (text, wanted)  # only padding or another type goes the long way
        return
    assert fits and type(got) is type(expected) and json.dumps(got) == json.dumps(expected)
