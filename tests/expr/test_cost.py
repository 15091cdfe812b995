"""The cost budget: no expression, whatever the data, runs long on the event loop or builds huge values."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.expr import Estimate, Limits, compile_expression, default_limits, set_default_limits
from tests.helpers import journal, until

# Each of these once ran for seconds on the event loop (issue 10): nested maps over literal lists
# (290 characters, more than 20 s) and a pairwise exists over the 2,000 items of an event (5 s).
DIGITS = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
NESTED_MAPS = (
    f"{DIGITS}.map(a, {DIGITS}.map(b, {DIGITS}.map(c, {DIGITS}.map(d, {DIGITS}.map(e, "
    f"{DIGITS}.map(f, a + b + c + d + e + f)))))).size() > 0"
)
PAIRWISE = "async.data.items.exists(a, async.data.items.exists(b, a.id != b.id && a.sku == b.sku))"
ITEMS = [{"id": i, "sku": f"sku-{i}"} for i in range(2000)]


def candidate(items: list[Any]) -> dict[str, Any]:
    return {"event": {"data": {}}, "async": {"name": "x", "data": {"items": items}}}


# --------------------------------------------------------------------------- compile time


def test_nested_maps_over_literal_lists_are_refused_at_compile_time() -> None:
    assert len(NESTED_MAPS) < 300
    with pytest.raises(nd.ExpressionError) as info:
        compile_expression(NESTED_MAPS)
    message = str(info.value)
    assert "costs at least" in message and f"cost limit of {default_limits().cost}" in message
    assert NESTED_MAPS[:40] in message  # names the expression
    assert info.value.expression == NESTED_MAPS


def test_the_static_estimate_counts_literal_loops_and_leaves_data_loops_open() -> None:
    # map over a literal list of 3: the map and its 3 literals... every node is counted once up front,
    # each iteration pays 1 plus the body's nodes.
    expr = compile_expression("[1, 2, 3].map(x, x * 2)")
    assert expr.cost == Estimate(least=5 + 3 * 4 + 0, most=5 + 3 * 4) or expr.cost.least == expr.cost.most
    assert compile_expression("[1, 2, 3].map(x, x * 2)").evaluate({}) == [2, 4, 6]
    data_loop = compile_expression("event.data.items.map(x, x * 2)")
    assert data_loop.cost.most is None and data_loop.cost.least < 10
    assert compile_expression("event.data.x == 1").cost == Estimate(least=5, most=5)
    # exists stops at the first true item, so only one iteration is certain
    assert compile_expression(f"{DIGITS}.exists(x, x == 0)").cost.least < 20


def test_an_expression_just_under_the_limit_compiles_and_one_over_does_not() -> None:
    source = f"{DIGITS}.map(a, {DIGITS}.map(b, a + b)).size()"
    least = compile_expression(source, limits=Limits(cost=100_000)).cost.least
    assert compile_expression(source, limits=Limits(cost=least)).evaluate({}) == 10
    with pytest.raises(nd.ExpressionError, match=f"costs at least {least} units"):
        compile_expression(source, limits=Limits(cost=least - 1))


# --------------------------------------------------------------------------- evaluation


def test_a_pairwise_exists_over_a_large_event_stops_at_the_budget() -> None:
    expression = compile_expression(PAIRWISE)
    # CPU time of this thread: the work the budget bounds (wall time also counts waiting for a busy core).
    started = time.thread_time()
    with pytest.raises(nd.ExpressionError) as info:
        expression.matches(candidate(ITEMS))
    elapsed = time.thread_time() - started
    message = str(info.value)
    assert f"cost limit of {default_limits().cost} units" in message
    assert PAIRWISE in message
    assert info.value.position == PAIRWISE.rindex("exists")  # the inner loop ran out
    assert elapsed < 2.0  # was 5 s; the bound is generous on purpose, this is no benchmark
    with pytest.raises(nd.ExpressionError, match="cost limit"):
        expression.evaluate(candidate(ITEMS))
    # small events still evaluate
    assert expression.matches(candidate([*ITEMS[:20], {"id": -1, "sku": "sku-3"}])) is True
    assert expression.matches(candidate(ITEMS[:20])) is False


def test_going_over_the_budget_is_not_hidden_by_or_and_or_by_exists() -> None:
    costly = "async.data.items.exists(a, async.data.items.exists(b, a.id == -b.id - 1))"
    for source in (f"{costly} || true", f"false && {costly} || {costly}", f"[1].exists(x, {costly})"):
        with pytest.raises(nd.ExpressionError, match="cost limit"):
            compile_expression(source).matches(candidate(ITEMS))
    # an error that || may ignore still is ignored
    assert compile_expression("async.data.missing == 1 || true").matches(candidate([])) is True


@pytest.mark.parametrize(
    ("source", "data"),
    [
        ("async.data.a == async.data.b", {"a": list(range(100_000)), "b": list(range(100_000))}),
        (
            "async.data.a == async.data.b",
            {"a": {str(i): i for i in range(50_000)}, "b": {str(i): i for i in range(50_000)}},
        ),
        ("-1 in async.data.a", {"a": list(range(200_000))}),
        ("'x' in async.data.a", {"a": [str(i) for i in range(200_000)]}),
        ("async.data.a.map(x, async.data.a.map(y, x + y))", {"a": list(range(300))}),
        ("async.data.a.filter(x, x in async.data.a)", {"a": list(range(500))}),
        ("async.data.a.all(x, !x.contains('zz'))", {"a": ["ab" * 5000] * 200}),
        ("async.data.a.exists_one(x, x == -1)", {"a": list(range(100_000))}),
    ],
)
def test_work_that_grows_with_the_data_is_paid_for(source: str, data: dict[str, Any]) -> None:
    expression = compile_expression(source)
    with pytest.raises(nd.ExpressionError, match="cost limit"):
        expression.evaluate({"async": {"data": data}, "event": {}})
    # the same expression with room enough gives the answer
    roomy = compile_expression(source, limits=Limits(cost=100_000_000))
    roomy.evaluate({"async": {"data": data}, "event": {}})


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3000), cost=st.integers(10, 8000))
def test_the_budget_is_counted_exactly(n: int, cost: int) -> None:
    # event.data.l.map(x, x): 4 nodes up front (map, two selects, a name), 1 + n // 8 to copy the
    # list, then 2 per item (the iteration and the body's one node).
    expression = compile_expression("event.data.l.map(x, x)", limits=Limits(cost=cost))
    needed = 4 + (1 + n // 8) + 2 * n
    variables = {"event": {"data": {"l": list(range(n))}}}
    if needed <= cost:
        assert expression.evaluate(variables) == list(range(n))
    else:
        with pytest.raises(nd.ExpressionError, match=f"cost limit of {cost} units"):
            expression.evaluate(variables)


def test_strings_and_lists_built_by_concatenation_are_bounded() -> None:
    doubling = "[event.data.s].map(a, [a + a].map(b, [b + b].map(c, [c + c].map(d, d + d))))"
    limits = Limits(cost=10_000_000, size=50_000)
    with pytest.raises(nd.ExpressionError) as info:
        compile_expression(doubling, limits=limits).evaluate({"event": {"data": {"s": "x" * 4000}}})
    assert "a string of 64000 characters, over the size limit of 50000" in str(info.value)
    with pytest.raises(nd.ExpressionError, match="a list of 60000 items, over the size limit of 50000"):
        compile_expression("event.data.l + event.data.l", limits=limits).evaluate(
            {"event": {"data": {"l": [0] * 30_000}}}
        )
    # under the size limit, but doubling still costs: the cost limit stops it first
    # the text built is paid for too (one unit per 100 characters): 40,000 then 80,000 is over 1,000
    with pytest.raises(nd.ExpressionError, match="cost limit of 1000 units"):
        compile_expression(doubling, limits=Limits(cost=1000, size=10**7)).evaluate(
            {"event": {"data": {"s": "x" * 20_000}}}
        )
    assert compile_expression(doubling).evaluate({"event": {"data": {"s": "ab"}}}) == [[[["ab" * 16]]]]


def test_deeply_nested_data_gives_an_expression_error() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    expression = compile_expression("event.data.a == event.data.b", limits=Limits(cost=10**9))
    with pytest.raises(nd.ExpressionError, match="nested too deeply"):
        expression.evaluate({"event": {"data": {"a": deep, "b": deep}}})


# --------------------------------------------------------------------------- parsing


def test_long_texts_are_refused_before_parsing() -> None:
    limit = default_limits().length
    fits = " || ".join(["event.data.x == 1"] * 200)[: limit - 20]
    fits = fits[: fits.rindex(" ||")]
    compile_expression(fits)
    too_long = fits + " || event.data.x == 1" * 20
    with pytest.raises(nd.ExpressionError, match=f"characters long, over the limit of {limit}"):
        compile_expression(too_long)
    started = time.thread_time()  # the work done, not the wait for a busy core
    with pytest.raises(nd.ExpressionError):
        compile_expression("(" * 10_000_000)
    assert time.thread_time() - started < 1.0


# --------------------------------------------------------------------------- configuration


def test_limits_are_configurable_per_expression_and_for_the_process(default_limits: Limits) -> None:
    assert default_limits == Limits()
    pairwise_small = candidate(ITEMS[:100])
    with pytest.raises(nd.ExpressionError):
        compile_expression(PAIRWISE).evaluate(pairwise_small)
    assert compile_expression(PAIRWISE, limits=Limits(cost=1_000_000)).evaluate(pairwise_small) is False
    set_default_limits(cost=1_000_000)
    assert compile_expression(PAIRWISE).evaluate(pairwise_small) is False
    assert compile_expression(PAIRWISE).limits.cost == 1_000_000
    with pytest.raises(nd.ConfigError, match="positive int"):
        Limits(cost=0)
    with pytest.raises(nd.ConfigError, match="unknown expression limit"):
        set_default_limits(time=3)


def test_the_cost_limit_can_come_from_the_environment(tmp_path: Path) -> None:
    code = (
        "import json; from nbdurable.expr import compile_expression, default_limits;"
        "print(json.dumps(default_limits().cost))"
    )
    env = {**os.environ, "NBDURABLE_EXPR_COST_LIMIT": "123456"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == 123456
    env["NBDURABLE_EXPR_COST_LIMIT"] = "lots"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "NBDURABLE_EXPR_COST_LIMIT='lots' is not a positive integer" in bad.stderr


# --------------------------------------------------------------------------- on the event loop


class LoopWatchdog:
    """Measures the longest stretch the event loop was blocked, by a task that wakes every millisecond.

    Both in wall time (what other tasks wait) and in CPU time of the loop's thread between two
    wake-ups (the work that blocked it): on a shared, loaded machine the process may wait for a
    core, which stretches wall time without any work blocking the loop.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(0.001)
            now, now_cpu = time.perf_counter(), time.thread_time()
            self.longest = max(self.longest, now - last)
            self.longest_cpu = max(self.longest_cpu, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    def __enter__(self) -> LoopWatchdog:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.mark.asyncio
async def test_costly_if_exp_and_poison_events_never_stall_the_loop_or_fail_the_wait(journal_path: Path) -> None:
    @nd.function(id="expr-cost-wait", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event("approval", event="exprcost/approved", timeout="20s", if_exp=PAIRWISE)
        return None if got is None else got.data["note"]

    handle = wf.start(run_id="costly")
    await until(lambda: handle.status == "waiting")
    # A full garbage collection of the whole test session's heap can pause the loop too; it is not
    # what this test is about, so the objects alive now are set aside from the collector meanwhile.
    gc.collect()
    gc.freeze()
    try:
        await send_poison_then_the_real_event(handle)
    finally:
        gc.unfreeze()


async def send_poison_then_the_real_event(handle: nd.RunHandle[Any]) -> None:
    with LoopWatchdog() as watchdog:
        for i in range(12):  # each over the budget: skipped, not a failure of the run
            await nd.send("exprcost/approved", {"items": ITEMS, "note": f"poison {i}"})
            await asyncio.sleep(0.01)
        duplicate = [*ITEMS[:50], {"id": -1, "sku": "sku-7"}]
        await nd.send("exprcost/approved", {"items": duplicate, "note": "the real one"})
        assert await handle.result(timeout=15) == "the real one"
    # Loading events from the journal counts too; before the budget one evaluation held the loop
    # for 5 s. Generous bounds on purpose (this is no benchmark): a loaded machine must not fail it.
    assert watchdog.longest_cpu < 0.25, f"the loop was blocked by {watchdog.longest_cpu:.3f} s of work"
    assert watchdog.longest < 2.0, f"the loop was blocked for {watchdog.longest:.3f} s"
    record = journal().get_run("costly")
    assert record is not None and record.status == "completed"
    skipped = [w["message"] for w in record.warnings or [] if "if_exp goes over its limits" in w["message"]]
    assert len(skipped) == 1 and "cost limit" in skipped[0]  # said once, not once per poison event
