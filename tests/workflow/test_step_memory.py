"""Memory per step is bounded: a long run keeps almost nothing per executed step without a timeline, and a
bounded window of recent steps with one; the timeline reads older steps from the journal and says the same."""

from __future__ import annotations

import asyncio
import functools
import gc
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.engine._runstate import RECENT_BATCH, RECENT_STEPS, ReplayedIds
from nbdurable.timeline._snapshot import build_snapshot

STEPS = 10_000  # long enough that a per-step leak of BOUND bytes (3 MB) dwarfs the run's fixed cost
BOUND = 300  # bytes kept per completed step (memory, not time); measured: about 1 B, 80 B with unique names


def _work(i: int) -> int:
    return i


async def _bytes_per_step(*, unique_names: bool, watched: bool) -> tuple[float, float]:
    """(kept per step while the run is at its last step, kept per step after it ended), after gc."""
    seen: list[int] = []

    @nd.function(id=f"mem-{unique_names}-{watched}", lint="off")
    async def wf(ctx: nd.Context) -> int:
        for i in range(STEPS):
            await ctx.step.run(f"s-{i}" if unique_names else "s", _work, i)
        gc.collect()
        seen.append(tracemalloc.get_traced_memory()[0])
        return STEPS

    unsubscribe = nd.get_engine().subscribe(lambda _notice: None) if watched else None
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        assert await wf.run(run_id=f"mem-{unique_names}-{watched}") == STEPS
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        if unsubscribe is not None:
            unsubscribe()
    return (seen[0] - before) / STEPS, (after - before) / STEPS


@pytest.mark.asyncio
@pytest.mark.parametrize(("unique_names", "watched"), [(False, False), (True, False), (False, True)])
async def test_a_long_run_keeps_little_memory_per_step(journal_path: Path, unique_names: bool, watched: bool) -> None:
    during, after = await _bytes_per_step(unique_names=unique_names, watched=watched)
    assert during < BOUND, f"{during:.0f} B kept per step while the run goes on"
    assert after < BOUND, f"{after:.0f} B kept per step after the run ended"
    state = nd.get_engine().finished[f"mem-{unique_names}-{watched}"]
    assert state.live == {} and state.recent == {} and state.journaled == {}


def _comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    # The other engine is in this process, so it sees the run's owner alive but not executing it there.
    run = {k: v for k, v in snapshot["run"].items() if k not in ("now", "status")}
    steps = [{k: v for k, v in s.items() if k not in ("replayed",)} for s in snapshot["steps"]]
    return {"run": run, "steps": steps, "steps_omitted": snapshot["steps_omitted"]}


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, as paths with both values: a failure says which field, not 40 pages of diff."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in {'memory' if k in a else 'journal'}" for k in a.keys() ^ b.keys()]
        for k in a.keys() & b.keys():
            out.extend(_differences(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items from memory, {len(b)} from the journal"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} from memory, {b!r} from the journal"]


def _ai_response(i: int) -> dict[str, Any]:
    message = {"role": "assistant", "content": f"answer {i}"}
    return {
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 10, "completion_tokens": i % 7},
        "choices": [{"message": message, "finish_reason": "stop"}],
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("watched", [True, False])
async def test_the_timeline_of_a_long_run_is_the_same_from_memory_and_from_the_journal(
    journal_path: Path, watched: bool
) -> None:
    """With a timeline watching, a snapshot of a live run is built from the steps held in memory (older ones
    only counted); without, from the journal. Either way it equals one built by another process from the
    journal alone: rows, totals, tokens and cost."""
    count = RECENT_STEPS * 2 + 37

    @nd.function(id=f"mem-snap-{watched}", lint="off")
    async def wf(ctx: nd.Context) -> None:
        for i in range(count):
            if i % 5 == 0:
                await ctx.step.ai.wrap(f"ai-{i}", _ai_response, i)
            else:
                await ctx.step.run(f"s-{i}", _work, i)
        await ctx.step.wait_for_event("hold", event="mem/go", timeout="1m")

    engine = nd.get_engine()
    unsubscribe = engine.subscribe(lambda _notice: None) if watched else None
    try:
        handle = wf.start(run_id=f"snap-{watched}")
        # Waiting as journaled, not only in memory: the wait's row commits with the run's new status.
        while (rec := engine.journal.get_run(handle.run_id)) is None or rec.status != "waiting":
            await asyncio.sleep(0.01)
        state = engine.active[handle.run_id]
        assert state.memory_partial is (not watched)
        # Watched: the latest steps stay, at least RECENT_STEPS and at most a batch more (pushed out together).
        assert RECENT_STEPS <= len(state.recent) <= RECENT_STEPS + RECENT_BATCH if watched else not state.recent
        here = build_snapshot(engine, handle.run_id)
        other = nd.Engine(nd.SQLiteJournal(journal_path))  # another process: the journal only
        try:
            there = build_snapshot(other, handle.run_id)
        finally:
            other.journal.close()
        assert _differences(_comparable(here), _comparable(there)) == []
        assert here["run"]["steps_total"] == count + 1 and here["run"]["steps_done"] == count
        assert here["steps_omitted"] == count + 1 - 500
        assert [s["step_id"] for s in here["steps"]][-2:] == [f"s-{count - 1}", "hold"]
        calls = range(0, count, 5)
        assert here["run"]["tokens_in"] == 10 * len(calls)
        assert here["run"]["tokens_out"] == sum(i % 7 for i in calls)
        assert here["run"]["cost"] is not None and here["run"]["cost"] > 0
        await nd.send("mem/go", {})
        await handle.result()
    finally:
        if unsubscribe is not None:
            unsubscribe()


class _Tool:
    def fetch(self, i: int) -> int:
        return i


@pytest.mark.asyncio
async def test_a_long_replay_keeps_little_memory_per_step(journal_path: Path) -> None:
    """Replaying a long run with no timeline lets each journaled record go once answered; which steps replayed is
    still known (handle.steps(), the timeline), and a new callable per step (lambda, closure, partial, bound
    method) replays without running again."""
    count = 6_000
    ran: list[int] = []
    tool = _Tool()

    def step_of(i: int) -> Any:
        kind = i % 4
        if kind == 0:
            return lambda: ran.append(i) or i
        if kind == 1:

            def closure() -> int:
                ran.append(i)
                return i

            return closure
        if kind == 2:
            return functools.partial(lambda j: ran.append(j) or j, i)
        return functools.partial(tool.fetch, i) if i % 8 == 3 else (lambda: ran.append(i) or tool.fetch(i))

    kept: list[float] = []

    @nd.function(id="mem-replay", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> int:
        total = 0
        for i in range(count):
            total += await ctx.step.run(f"k{i % 4}", step_of(i))
        if ctx.attempt == 0 and not kept:
            raise RuntimeError("stop after the steps, the first time")
        gc.collect()
        kept.append(tracemalloc.get_traced_memory()[0])
        return total

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="mem-replay")
    assert len(ran) == count - count // 8  # the bound-method partials do not append
    ran.clear()
    kept.append(0.0)  # the next execution measures
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        handle = nd.get_run("mem-replay").resume()
        assert await handle.result() == sum(range(count))
    finally:
        tracemalloc.stop()
    assert ran == [], "a completed step ran again"
    per_step = (kept[-1] - before) / count
    assert per_step < BOUND, f"{per_step:.0f} B kept per replayed step"
    state = nd.get_engine().finished["mem-replay"]
    assert state.journaled == {} and state.memory_partial
    views = handle.steps()
    assert len(views) == count and all(v.replayed for v in views)
    # k1:7 is the 30th step (position 29); no other step was journaled at its position or with another id there.
    assert state.replayed.has(29, "k1:7") and not state.replayed.has(29, "k1:8") and not state.replayed.has(28, "k1:7")
    assert not state.replayed.has(99_999, "k1:99999") and not state.replayed.has(0, "nope")


_names = st.text(alphabet="ab:0123456789²-", min_size=1, max_size=8)
_replays = st.tuples(st.integers(-2, 40) | st.sampled_from([1 << 24, 10**9, 16_000_000, 200]), _names)


@settings(max_examples=300, deadline=None)
@given(added=st.lists(_replays, max_size=30), probes=st.lists(_replays, max_size=30))
def test_replayed_ids_answer_membership_as_a_set_would(
    added: list[tuple[int, str]], probes: list[tuple[int, str]]
) -> None:
    """The compact record of replayed steps (the hash of the id replayed at each position) says exactly what a set of
    (position, step id) pairs says: another id at a position, a position never replayed, an edited huge position."""
    ids = ReplayedIds()
    for position, step_id in added:
        ids.add(position, step_id)
    pairs = set(added)
    for position, step_id in [*added, *probes, (0, "a"), (-1, "a"), (1 << 24, "a:1")]:
        assert ids.has(position, step_id) is ((position, step_id) in pairs), (position, step_id)
    assert bool(ids) is bool(added)


def test_an_edited_far_position_does_not_make_a_short_replay_allocate_much() -> None:
    """A journal is untrusted: a step claiming position 16,000,000 in a three-step run keeps a few bytes, not 128 MB."""
    ids = ReplayedIds()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for position, step_id in [(0, "a"), (1, "b"), (16_000_000, "c"), (2, "d")]:
            ids.add(position, step_id)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert ids.has(16_000_000, "c") and ids.has(2, "d") and not ids.has(15_999_999, "c")
    assert grown < 64_000, f"{grown} bytes for four replayed steps"
