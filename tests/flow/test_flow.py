"""Flow control in one process: concurrency keys, throttles, rate limits, timeouts, cancel-on, debounce, priority.

Every test runs real runs on a real SQLite journal and measures what happened from the
times its steps record. Tests with several real processes are in test_flow_processes.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from nbdurable.engine import registry
from nbdurable.notebook._magics import durable_line
from nbdurable.testing._llm_server import ScriptedLLMServer, reply
from nbdurable.timeline._render import render_text
from nbdurable.timeline._snapshot import build_snapshot
from tests.helpers import journal, until

# Linux pids never exceed 2**22, so this process cannot exist.
DEAD_OWNER = f"{socket.gethostname()}:{2**22 + 1}:1"
# An owner on another machine: whether it lives cannot be known, so only its lease's TTL frees its slot.
FAR_OWNER = "another-host.invalid:4242:1"


class Steps:
    """Records every step execution: (key, run, step name, start, end), times from ``time.time()``."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, str, float, float]] = []
        self.begun: list[tuple[str, str, str, float]] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def hold(self, key: str, run_id: str, name: str, seconds: float, gate: str | None = None) -> str:
        start = time.time()
        self.begun.append((key, run_id, name, start))
        if gate is not None:
            await self.gates.setdefault(gate, asyncio.Event()).wait()
        await asyncio.sleep(seconds)
        self.done.append((key, run_id, name, start, time.time()))
        return name

    def open(self, gate: str) -> None:
        self.gates.setdefault(gate, asyncio.Event()).set()

    def starts(self, key: str | None = None) -> list[float]:
        return sorted(b[3] for b in self.begun if key is None or b[0] == key)

    def run_order(self) -> list[str]:
        """Run ids in the order their first step began."""
        seen: list[str] = []
        for _key, run, _name, _start in sorted(self.begun, key=lambda b: b[3]):
            if run not in seen:
                seen.append(run)
        return seen


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant (one ending as another begins do not overlap)."""
    points = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    points.sort(key=lambda p: (p[0], p[1]))  # at a tie the end (-1) comes first
    best = now = 0
    for _t, delta in points:
        now += delta
        best = max(best, now)
    return best


async def outcome(handle: nd.RunHandle[Any]) -> str:
    try:
        await handle.result(timeout=20)
    except (nd.NbDurableError, nd.RunCancelledError):  # a cancel is a BaseException, outside the tree
        pass
    return handle.status


# -- options are checked when they are written --------------------------------------------------------


def test_bad_options_are_refused_where_they_are_written() -> None:
    with pytest.raises(nd.ConfigError, match="limit"):
        nd.Concurrency(limit=0)
    with pytest.raises(nd.ConfigError, match="limit"):
        nd.Concurrency(limit=True)
    with pytest.raises(nd.ExpressionError):
        nd.Concurrency(limit=2, key="event.data.")
    with pytest.raises(nd.ExpressionError):
        nd.Concurrency(limit=2, key="async.data.tenant")  # a key is over the trigger event only
    with pytest.raises(nd.ConfigError, match="period"):
        nd.Throttle(limit=1, period="soon")
    with pytest.raises(nd.ConfigError, match="limit"):
        nd.RateLimit(limit=-1, period="1m")
    with pytest.raises(nd.ConfigError, match="finish"):
        nd.Timeouts(finish="forever")
    with pytest.raises(nd.ConfigError, match="event"):
        nd.CancelOn(event="")
    with pytest.raises(nd.ExpressionError):
        nd.CancelOn(event="x/cancel", if_exp="async.data.id ==")
    with pytest.raises(nd.ExpressionError):
        nd.Priority(run="async.data.prio")
    with pytest.raises(nd.ConfigError, match="requests_per_minute"):
        nd.Limit("nothing-limited")
    with pytest.raises(nd.ConfigError, match="tokens_per_minute"):
        nd.Limit("zero", tokens_per_minute=0)


# -- concurrency ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_concurrency_key_limits_each_tenant_separately(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-tenants", retries=0, concurrency=nd.Concurrency(limit=2, key="event.data.tenant"))
    async def job(ctx: nd.Context) -> None:
        tenant = ctx.event.data["tenant"]
        await ctx.step.run("one", steps.hold, tenant, ctx.run_id, "one", 0.03)
        await ctx.step.run("two", steps.hold, tenant, ctx.run_id, "two", 0.03)

    handles = [job.start({"tenant": t}) for t in ["acme"] * 6 + ["globex"] * 3]
    assert [await outcome(h) for h in handles] == ["completed"] * 9
    for tenant in ("acme", "globex"):
        spans = [(s, e) for k, _r, _n, s, e in steps.done if k == tenant]
        assert max_overlap(spans) == 2, f"{tenant}: the limit is reached and never passed"
    # The keys are independent: two of each ran at once.
    assert max_overlap([(s, e) for *_x, s, e in steps.done]) == 4
    # Slots are held per run, not per step: from its first step's start to its last step's end a run keeps
    # its slot, so no more than two runs of a tenant are ever between their first and last step (with
    # slots per step, a third run would start in the gap between another run's two steps).
    for tenant in ("acme", "globex"):
        runs: dict[str, list[float]] = {}
        for k, r, _n, s, e in steps.done:
            if k == tenant:
                runs.setdefault(r, []).extend((s, e))
        assert max_overlap([(min(t), max(t)) for t in runs.values()]) == 2, f"{tenant}: a run lost its slot"


@pytest.mark.asyncio
async def test_several_concurrency_limits_all_hold(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-several",
        retries=0,
        concurrency=[nd.Concurrency(limit=3), nd.Concurrency(limit=1, key="event.data.tenant")],
    )
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, ctx.event.data["tenant"], ctx.run_id, "work", 0.04)

    handles = [job.start({"tenant": t}) for t in "aabbccdd"]
    assert [await outcome(h) for h in handles] == ["completed"] * 8
    assert max_overlap([(s, e) for *_x, s, e in steps.done]) == 3
    for tenant in "abcd":
        assert max_overlap([(s, e) for k, _r, _n, s, e in steps.done if k == tenant]) == 1


@pytest.mark.asyncio
async def test_a_run_queued_on_one_limit_holds_no_slot_of_another(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-no-idle-slot",
        retries=0,
        concurrency=[nd.Concurrency(limit=2), nd.Concurrency(limit=1, key="event.data.tenant")],
    )
    async def job(ctx: nd.Context) -> None:
        data = ctx.event.data
        await ctx.step.run("work", steps.hold, data["tenant"], ctx.run_id, "work", data["hold"])

    a_runs = [job.start({"tenant": "a", "hold": 0.5}) for _ in range(3)]
    await until(lambda: len(steps.begun) == 1)
    await asyncio.sleep(0.05)
    b_run = job.start({"tenant": "b", "hold": 0.05})
    assert [await outcome(h) for h in [*a_runs, b_run]] == ["completed"] * 4
    first_a_end = min(e for k, _r, _n, _s, e in steps.done if k == "a")
    b_start = steps.starts("b")[0]
    # One run executes and the function allows two: tenant b must not wait behind tenant a's queue.
    assert b_start < first_a_end, f"b started {b_start - first_a_end:+.2f}s after the first a run ended"


@pytest.mark.asyncio
async def test_a_run_whose_key_is_missing_fails_saying_which(journal_path: Path) -> None:
    @nd.function(id="fc-no-key", retries=0, concurrency=nd.Concurrency(limit=1, key="event.data.tenant"))
    async def job(ctx: nd.Context) -> str:
        return await ctx.step.run("work", lambda: "ran")

    with pytest.raises(nd.RunFailedError, match="no field 'tenant'") as info:
        await job.run({"user": "ada"})
    assert info.value.error_type.endswith("ExpressionError")
    assert await job.run({"tenant": "acme"}) == "ran", "runs with the key are not affected"


@pytest.mark.asyncio
async def test_queued_run_says_why_and_behind_what(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = Steps()

    @nd.function(id="fc-visible", retries=0, concurrency=nd.Concurrency(limit=2, key="event.data.tenant"))
    async def job(ctx: nd.Context) -> None:
        tenant = ctx.event.data["tenant"]
        await ctx.step.run("work", steps.hold, tenant, ctx.run_id, "work", 0, ctx.event.data.get("gate"))

    busy = [job.start({"tenant": "acme", "gate": "acme"}) for _ in range(2)]
    await until(lambda: len(steps.begun) == 2, what="two acme runs holding the slots")
    queued = []
    for _ in range(4):
        queued.append(job.start({"tenant": "acme"}))
        await asyncio.sleep(0.01)  # distinct queue ranks, in start order
    expected = [f"queued: 2 of 2 slots busy for event.data.tenant='acme', {n} ahead" for n in range(4)]

    def reasons() -> list[str | None]:
        return [(h.record.status_reason if h.record else None) for h in queued]

    await until(lambda: reasons() == expected, what=f"queue reasons {expected}")
    assert [h.status for h in queued] == ["queued"] * 4
    # A reader on its own connection (another kernel, the CLI) sees the same.
    other = nd.SQLiteJournal(journal_path)
    try:
        rec = other.get_run(queued[-1].run_id)
        assert rec is not None and (rec.status, rec.status_reason) == ("queued", expected[-1])
    finally:
        other.close()
    listed = {h.run_id for h in nd.runs(status="queued", function_id="fc-visible")}
    assert listed == {h.run_id for h in queued}
    # `%durable list` shows the reason in its WHY column; the timeline shows it under the run's status.
    durable_line("list --status queued")
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith(queued[-1].run_id))
    assert row.split()[2] == "queued" and row.endswith(expected[-1])
    assert expected[-1] in render_text(build_snapshot(nd.get_engine(), queued[-1].run_id))
    # Another tenant is not queued behind acme.
    globex = job.start({"tenant": "globex"})
    assert await outcome(globex) == "completed"
    assert all(h.status == "queued" for h in queued)
    steps.open("acme")
    assert [await outcome(h) for h in busy + queued] == ["completed"] * 6
    assert [h.record.status_reason for h in queued if h.record] == [None] * 4, "the reason goes once it runs"


@pytest.mark.asyncio
async def test_a_durably_sleeping_run_gives_its_slot_back(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-sleeper", retries=0, concurrency=nd.Concurrency(limit=1))
    async def sleeper(ctx: nd.Context) -> None:
        await ctx.step.run("before", steps.hold, "s", ctx.run_id, "before", 0)
        await ctx.step.sleep("nap", ctx.event.data["nap"])
        await ctx.step.run("after", steps.hold, "s", ctx.run_id, "after", 0)

    first = sleeper.start({"nap": 0.6})
    await until(lambda: first.status == "sleeping", what="first run sleeping")
    second = sleeper.start({"nap": 0.05})  # gets the slot while the first sleeps
    assert await outcome(second) == "completed"
    assert first.status == "sleeping", "the second run finished while the first still slept"
    assert await outcome(first) == "completed", "the first took a slot again after its sleep"
    names = [(r, n) for _k, r, n, _s, _e in sorted(steps.done, key=lambda d: d[3])]
    assert names == [
        (first.run_id, "before"),
        (second.run_id, "before"),
        (second.run_id, "after"),
        (first.run_id, "after"),
    ]


@pytest.mark.asyncio
async def test_a_run_waking_from_a_sleep_queues_for_a_slot_again(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-rewake", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("before", steps.hold, "", ctx.run_id, "before", 0)
        await ctx.step.sleep("nap", ctx.event.data["nap"])
        await ctx.step.run("after", steps.hold, "", ctx.run_id, "after", ctx.event.data["hold"])

    sleeper = job.start({"nap": 0.1, "hold": 0})
    await until(lambda: sleeper.status == "sleeping")
    busy = job.start({"nap": 0, "hold": 0.5})  # takes the slot and keeps it past the first one's wake-up
    assert [await outcome(h) for h in (sleeper, busy)] == ["completed", "completed"]
    assert max_overlap([(s, e) for *_x, s, e in steps.done]) == 1
    done = {(r, n): (s, e) for _k, r, n, s, e in steps.done}
    assert done[(sleeper.run_id, "after")][0] >= done[(busy.run_id, "after")][1]


@pytest.mark.asyncio
async def test_a_slot_of_a_dead_process_on_this_host_comes_back_at_once(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-dead", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0)

    # A lease as a killed kernel left it: an hour to go, but its pid is gone.
    now = time.time()
    ok, _busy, _ahead = journal().acquire_slot(
        "conc:fc-dead:0", "", "ghost", DEAD_OWNER, limit=1, rank=0, expires_at=now + 3600, now=now
    )
    assert ok
    t0 = time.time()
    assert await outcome(job.start()) == "completed"
    assert steps.starts()[0] - t0 < 0.5


@pytest.mark.asyncio
async def test_a_slot_of_another_host_comes_back_after_the_lease_ttl(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-far", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0)

    now = time.time()
    expires = now + 0.8
    ok, _busy, _ahead = journal().acquire_slot(
        "conc:fc-far:0", "", "ghost", FAR_OWNER, limit=1, rank=0, expires_at=expires, now=now
    )
    assert ok
    handle = job.start()
    await until(lambda: (handle.record.status_reason if handle.record else None) is not None, what="queued")
    assert handle.record is not None and handle.record.status_reason == "queued: 1 of 1 slots busy, 0 ahead"
    assert await outcome(handle) == "completed"
    start = steps.starts()[0]
    assert expires <= start < expires + 0.6, "the slot came back when its lease ran out, not before"


@pytest.mark.asyncio
async def test_the_heartbeat_keeps_a_long_runs_slot(journal_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBDURABLE_LEASE_TTL", "0.5")
    steps = Steps()

    @nd.function(id="fc-long", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", ctx.event.data["hold"])

    long = job.start({"hold": 1.6})  # more than three lease lifetimes
    await until(lambda: len(steps.begun) == 1)
    short = job.start({"hold": 0})
    assert [await outcome(h) for h in (long, short)] == ["completed", "completed"]
    assert max_overlap([(s, e) for *_x, s, e in steps.done]) == 1


@pytest.mark.asyncio
async def test_the_heartbeat_renews_a_blocked_runs_lease_then_stops(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A synchronous step holds the event loop: only the heartbeat thread can renew the run's lease. When
    nothing is left to renew it stops, and the next claim starts it again."""
    monkeypatch.setenv("NBDURABLE_LEASE_TTL", "0.6")
    seen: list[tuple[float, float]] = []

    @nd.function(id="fc-lease-renewed", retries=0)
    async def job(ctx: nd.Context) -> None:
        def block() -> None:
            first = journal().get_run(ctx.run_id).lease_until  # type: ignore[union-attr]
            time.sleep(1.0)  # five heartbeats (every ttl / 3)
            seen.append((first or 0.0, journal().get_run(ctx.run_id).lease_until or 0.0))  # type: ignore[union-attr]

        await ctx.step.run("block", block)

    flow = job.engine.flow
    for run_id in ("lease-1", "lease-2"):
        await job.run(run_id=run_id)
        first, later = seen[-1]
        assert later > first + 0.4, f"{run_id}: the lease was renewed while the loop was blocked"
        await until(lambda: flow._beating is None, timeout=3, what="the heartbeat stopped")
    # A child forked while its parent's heartbeat ran inherits the mark, not the thread: it starts its own.
    flow._beating = os.getppid()
    await job.run(run_id="lease-after-fork")
    first, later = seen[-1]
    assert later > first + 0.4, "a heartbeat marked as another process's does not stop this one's from starting"


# -- throttle and rate limit ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_throttle_spaces_starts_and_drops_none(journal_path: Path) -> None:
    steps = Steps()
    period = 0.3

    @nd.function(id="fc-throttle", retries=0, throttle=nd.Throttle(limit=1, period=period, key="event.data.tenant"))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, ctx.event.data["tenant"], ctx.run_id, "work", 0)

    handles = [job.start({"tenant": t}) for t in "aaabbb"]
    last = handles[2]
    await until(
        lambda: "throttled" in ((last.record.status_reason or "") if last.record else ""), what="throttled reason"
    )
    assert last.status == "queued"
    assert last.record is not None and last.record.status_reason is not None
    assert last.record.status_reason.startswith("queued: throttled to 1 start(s) per 0.3 for event.data.tenant='a'")
    assert [await outcome(h) for h in handles] == ["completed"] * 6
    for tenant in "ab":
        starts = steps.starts(tenant)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(g >= period - 0.02 for g in gaps), f"{tenant}: starts {gaps} apart, period {period}"
        # Delayed, not stalled: a bound far above the period, so only a stall (not a slow machine) fails it.
        assert all(g < period + 3 for g in gaps), f"{tenant}: delayed, not stalled ({gaps})"
    # Keys are throttled apart: the first run of one tenant did not wait a period behind the other's.
    assert abs(steps.starts("a")[0] - steps.starts("b")[0]) < period - 0.02


@pytest.mark.asyncio
async def test_throttle_allows_limit_starts_in_any_period(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-throttle-2", retries=0, throttle=nd.Throttle(limit=2, period="400ms"))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0)

    handles = [job.start() for _ in range(6)]
    assert [await outcome(h) for h in handles] == ["completed"] * 6
    starts = steps.starts()
    assert all(c - a >= 0.4 - 0.02 for a, c in zip(starts, starts[2:], strict=False)), starts
    # Two starts per period: the second was not held back a period (a limit of 1 would hold it 0.4 s).
    assert starts[1] - starts[0] < 0.4 - 0.02, starts


@pytest.mark.asyncio
async def test_rate_limit_skips_extra_runs_and_keeps_them_in_the_journal(journal_path: Path) -> None:
    ran: list[int] = []

    def note(n: int) -> str:
        ran.append(n)
        return "ok"

    @nd.function(
        id="fc-rate",
        trigger="fcrate/ping",
        retries=0,
        rate_limit=nd.RateLimit(limit=2, period="1m", key="event.data.tenant"),
    )
    async def job(ctx: nd.Context) -> str:
        return await ctx.step.run("work", note, ctx.event.data["n"])

    handles = []
    for n, tenant in enumerate(["a", "a", "a", "b", "a", "a"]):
        handles.extend(await nd.send("fcrate/ping", {"tenant": tenant, "n": n}))
    statuses = [await outcome(h) for h in handles]
    assert statuses == ["completed", "completed", "skipped", "completed", "skipped", "skipped"]
    assert sorted(ran) == [0, 1, 3], "skipped runs never ran a step"
    with pytest.raises(nd.RunCancelledError, match="rate limit"):
        await handles[2].result()
    stored = {r.run_id: r for r in journal().list_runs(function_id="fc-rate")}
    assert len(stored) == 6, "every run is in the journal"
    skipped = [stored[h.run_id] for h in handles if h.status == "skipped"]
    for rec in skipped:
        assert rec.status == "skipped" and rec.ended_at is not None
        assert rec.status_reason == "skipped: rate limit of 2 run(s) per 1m for event.data.tenant='a'"
        assert rec.event is not None and rec.event["data"]["tenant"] == "a", "its event is kept"
    assert {h.run_id for h in nd.runs(status="skipped")} == {r.run_id for r in skipped}


# -- timeouts ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_start_timeout_cancels_a_run_queued_too_long(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-start-timeout",
        retries=0,
        concurrency=nd.Concurrency(limit=1),
        timeouts=nd.Timeouts(start=0.3),
    )
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0, ctx.event.data.get("gate"))

    blocker = job.start({"gate": "g"})
    await until(lambda: len(steps.begun) == 1)
    t0 = time.time()
    late = job.start()
    with pytest.raises(nd.RunCancelledError, match=r"queued longer than start=0\.3"):
        await late.result(timeout=5)
    assert 0.3 <= time.time() - t0 < 1.2
    assert late.status == "cancelled"
    rec = late.record
    assert rec is not None and rec.status == "cancelled"
    assert rec.status_reason == "timed out: queued longer than start=0.3"
    assert [s.step_id for s in late.steps()] == [], "it never started"
    steps.open("g")
    assert await outcome(blocker) == "completed", "a run that started in time is not cancelled by start="
    # The cancelled run gave back its place in the queue: the next one runs at once.
    assert await outcome(job.start()) == "completed"


@pytest.mark.asyncio
async def test_start_timeout_holds_for_every_run_in_the_queue(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-start-timeout-many",
        retries=0,
        concurrency=nd.Concurrency(limit=1),
        timeouts=nd.Timeouts(start=0.3),
    )
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0, ctx.event.data.get("gate"))

    blocker = job.start({"gate": "g"})
    await until(lambda: len(steps.begun) == 1)
    t0 = time.time()
    late = [job.start() for _ in range(4)]
    assert [await outcome(h) for h in late] == ["cancelled"] * 4
    assert time.time() - t0 < 1.5, "each queued run was cancelled near its own deadline, not when it reached the head"
    steps.open("g")
    assert await outcome(blocker) == "completed"


@pytest.mark.asyncio
async def test_cancelling_queued_runs_ends_them_at_once(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-cancel-queue", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0, ctx.event.data.get("gate"))

    blocker = job.start({"gate": "g"})
    await until(lambda: len(steps.begun) == 1)
    queued = [job.start() for _ in range(4)]
    await until(lambda: all(h.record is not None and h.record.status_reason for h in queued), what="all queued")
    t0 = time.time()
    for h in reversed(queued):  # the last in line first: none of them is the one polling the journal
        assert h.cancel("no longer needed")
    assert [await outcome(h) for h in queued] == ["cancelled"] * 4
    assert time.time() - t0 < 1.0
    assert [h.record.status_reason for h in queued if h.record] == ["no longer needed"] * 4
    steps.open("g")
    assert await outcome(blocker) == "completed"
    assert await outcome(job.start()) == "completed", "no cancelled run kept a place in the queue"
    assert len(steps.begun) == 2


@pytest.mark.asyncio
async def test_a_queued_run_cancelled_through_the_journal_never_runs(journal_path: Path) -> None:
    """A cancel written by another process (a kernel, the CLI) reaches a run while it is queued."""
    steps = Steps()

    @nd.function(id="fc-cancel-elsewhere", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0, ctx.event.data.get("gate"))

    blocker = job.start({"gate": "g"})
    await until(lambda: len(steps.begun) == 1)
    queued = job.start()
    await until(lambda: queued.record is not None and queued.record.status_reason is not None)
    elsewhere = nd.Engine(nd.SQLiteJournal(journal_path))
    try:
        assert elsewhere.cancel(queued.run_id, "cancelled from another kernel")
    finally:
        elsewhere.journal.close()
    with pytest.raises(nd.RunCancelledError, match="cancelled from another kernel"):
        await queued.result(timeout=3)
    steps.open("g")
    assert await outcome(blocker) == "completed"
    await asyncio.sleep(0.1)
    assert len(steps.begun) == 1, "the cancelled run never ran its step"
    rec = journal().get_run(queued.run_id)
    assert rec is not None and rec.status == "cancelled"


@pytest.mark.asyncio
async def test_a_queued_runs_reason_follows_the_queue(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-reason-moves", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        gate = ctx.event.data.get("gate")
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0, gate)

    first = job.start({"gate": "first"})
    await until(lambda: len(steps.begun) == 1)
    queued = []
    for n in range(4):
        queued.append(job.start({"gate": f"q{n}"}))
        await asyncio.sleep(0.01)
    last = queued[-1]

    def reason() -> str | None:
        return last.record.status_reason if last.record else None

    await until(lambda: reason() == "queued: 1 of 1 slots busy, 3 ahead", what="3 ahead")
    steps.open("first")
    steps.open("q0")
    await until(lambda: len(steps.begun) == 3, what="two more runs started")
    # Two runs left the queue; the last one's reason catches up (runs behind the head of this process's
    # queue look at the journal every few seconds, so the count may lag that long).
    await until(lambda: reason() == "queued: 1 of 1 slots busy, 1 ahead", timeout=6, what="1 ahead")
    for n in range(1, 4):
        steps.open(f"q{n}")
    assert [await outcome(h) for h in [first, *queued]] == ["completed"] * 5


@pytest.mark.asyncio
async def test_finish_timeout_cancels_a_durable_sleep(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-finish", retries=0, timeouts=nd.Timeouts(finish=0.5))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("before", steps.hold, "", ctx.run_id, "before", 0)
        await ctx.step.sleep("nap", "1h")
        await ctx.step.run("after", steps.hold, "", ctx.run_id, "after", 0)

    t0 = time.time()
    handle = job.start()
    with pytest.raises(nd.RunCancelledError, match=r"running longer than finish=0\.5"):
        await handle.result(timeout=5)
    assert 0.5 <= time.time() - t0 < 2.0
    rec = handle.record
    assert rec is not None and rec.status_reason == "timed out: running longer than finish=0.5"
    assert [name for _k, _r, name, _s, _e in steps.done] == ["before"]


@pytest.mark.asyncio
async def test_finish_timeout_lets_the_step_in_flight_finish(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-finish-inflight", retries=0, timeouts=nd.Timeouts(finish="300ms"))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("slow", steps.hold, "", ctx.run_id, "slow", 0.7)
        await ctx.step.run("after", steps.hold, "", ctx.run_id, "after", 0)

    handle = job.start()
    assert await outcome(handle) == "cancelled"
    assert [name for _k, _r, name, _s, _e in steps.done] == ["slow"]
    journaled = {s.step_id: s.status for s in journal().load_steps(handle.run_id)}
    assert journaled == {"slow": "completed"}, "the step in flight finished and was journaled"


@pytest.mark.asyncio
async def test_finish_timeout_counts_from_the_first_start_not_from_the_queue(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-finish-queued",
        retries=0,
        concurrency=nd.Concurrency(limit=1),
        timeouts=nd.Timeouts(finish=0.6),
    )
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", ctx.event.data["hold"])

    first = job.start({"hold": 0.45})
    await until(lambda: len(steps.begun) == 1)
    second = job.start({"hold": 0.3})  # queued about 0.45 s, then runs 0.3 s: 0.75 s after creation
    assert [await outcome(h) for h in (first, second)] == ["completed", "completed"]


# -- cancel_on -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_on_cancels_matching_runs_only(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-cancel-on",
        retries=0,
        cancel_on=[nd.CancelOn(event="fccancel/order.cancelled", if_exp="async.data.order == event.data.order")],
    )
    async def job(ctx: nd.Context) -> None:
        order = str(ctx.event.data["order"])
        await ctx.step.run("before", steps.hold, order, ctx.run_id, "before", 0)
        await ctx.step.sleep("nap", 0.8)
        await ctx.step.run("after", steps.hold, order, ctx.run_id, "after", 0)

    one, two = job.start({"order": 1}), job.start({"order": 2})
    await until(lambda: one.status == "sleeping" and two.status == "sleeping", what="both runs sleeping")
    await nd.send("fccancel/order.cancelled", {"order": 1})
    with pytest.raises(nd.RunCancelledError, match=r"fccancel/order\.cancelled"):
        await one.result(timeout=5)
    assert await outcome(two) == "completed"
    assert one.record is not None and one.record.status_reason is not None
    assert "async.data.order == event.data.order" in one.record.status_reason
    assert sorted((k, n) for k, _r, n, _s, _e in steps.done) == [
        ("1", "before"),
        ("2", "after"),
        ("2", "before"),
    ]


@pytest.mark.asyncio
async def test_cancel_on_lets_the_step_in_flight_finish_and_runs_nothing_after(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(id="fc-cancel-inflight", retries=0, cancel_on=[nd.CancelOn(event="fccancel/stop")])
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("slow", steps.hold, "", ctx.run_id, "slow", 0, "gate")
        await ctx.step.run("after", steps.hold, "", ctx.run_id, "after", 0)

    handle = job.start()
    await until(lambda: len(steps.begun) == 1)
    await nd.send("fccancel/stop")
    await asyncio.sleep(0.05)
    steps.open("gate")
    assert await outcome(handle) == "cancelled"
    assert [name for _k, _r, name, _s, _e in steps.done] == ["slow"]
    assert {s.step_id: s.status for s in journal().load_steps(handle.run_id)} == {"slow": "completed"}


@pytest.mark.asyncio
async def test_cancel_on_cancels_a_queued_run(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-cancel-queued",
        retries=0,
        concurrency=nd.Concurrency(limit=1),
        cancel_on=[nd.CancelOn(event="fccancel/drop", if_exp="async.data.n == event.data.n")],
    )
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", steps.hold, "", ctx.run_id, "work", 0, ctx.event.data.get("gate"))

    blocker = job.start({"n": 0, "gate": "g"})
    await until(lambda: len(steps.begun) == 1)
    queued = job.start({"n": 1})
    await until(lambda: queued.record is not None and queued.record.status_reason is not None)
    await nd.send("fccancel/drop", {"n": 1})
    assert await outcome(queued) == "cancelled"
    steps.open("g")
    assert await outcome(blocker) == "completed"
    assert len(steps.begun) == 1, "the cancelled run never started"


@pytest.mark.asyncio
async def test_cancel_on_timeout_ends_the_listening(journal_path: Path) -> None:
    @nd.function(id="fc-cancel-window", retries=0, cancel_on=[nd.CancelOn(event="fccancel/late", timeout=0.2)])
    async def job(ctx: nd.Context) -> str:
        await ctx.step.sleep("nap", 0.6)
        return await ctx.step.run("after", lambda: "done")

    handle = job.start()
    await asyncio.sleep(0.35)
    await nd.send("fccancel/late")
    assert await handle.result(timeout=5) == "done", "an event after the cancel_on timeout does not cancel"


@pytest.mark.asyncio
async def test_a_queued_run_cancelled_elsewhere_stays_cancelled_when_its_queue_moves(journal_path: Path) -> None:
    """Its process rewrites a queued run's reason each time the queue moves: that write never reopens a cancel.

    Before, the rewrite set the status back to "queued" over the other process's "cancelled", and the
    run went on to take the slot and complete (found by a flaky two-process test).
    """
    hold = asyncio.Event()

    @nd.function(id="fc-cancel-queue-moves", retries=0, concurrency=nd.Concurrency(limit=1))
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("work", hold.wait)

    holder = job.start(run_id="cqm-holder")
    await until(lambda: holder.status == "running")
    queued = job.start(run_id="cqm-queued")
    await until(lambda: (job.engine.journal.get_run("cqm-queued") or nd.RunRecord("", "")).status_reason is not None)
    other = nd.Engine(nd.SQLiteJournal(journal_path))  # another process's view of the same journal
    try:
        assert other.cancel("cqm-queued", "from elsewhere") is True
        # What its own process writes when the queue moves (a run ahead left, a slot freed), before it polls.
        await job.engine.flow._set_reason(job.engine.active["cqm-queued"], "queued: the queue moved")
        assert other.handle("cqm-queued").status == "cancelled"
    finally:
        other.journal.close()
    hold.set()
    with pytest.raises(nd.RunCancelledError) as info:
        await asyncio.wait_for(queued.result(), 5)
    assert "from elsewhere" in info.value.reason
    await holder.result()
    assert job.engine.journal.get_run("cqm-queued").status == "cancelled"  # type: ignore[union-attr]


# -- debounce and priority -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_debounce_runs_once_per_key_with_the_last_event(journal_path: Path) -> None:
    seen: list[tuple[str, int, float]] = []

    def note(user: str, n: int) -> int:
        seen.append((user, n, time.time()))
        return n

    @nd.function(
        id="fc-debounce", trigger="fcdebounce/typed", retries=0, debounce=nd.Debounce(1.0, key="event.data.user")
    )
    async def job(ctx: nd.Context) -> int:
        return await ctx.step.run("seen", note, ctx.event.data["user"], ctx.event.data["n"])

    handles: list[nd.RunHandle[Any]] = []
    # Events 0.1 s apart against a 1 s quiet period: a loaded machine can stretch a gap, not tenfold.
    for n in range(4):
        handles.extend(await nd.send("fcdebounce/typed", {"user": "ada", "n": n}))
        await asyncio.sleep(0.1)
    last_ada = time.time() - 0.1
    handles.extend(await nd.send("fcdebounce/typed", {"user": "bob", "n": 9}))
    assert len({h.run_id for h in handles[:4]}) == 1, "ada's events all went to one pending run"
    assert handles[0].status == "queued"
    assert await handles[0].result(timeout=5) == 3
    assert await handles[4].result(timeout=5) == 9
    assert sorted((u, n) for u, n, _t in seen) == [("ada", 3), ("bob", 9)]
    ada_ran = next(t for u, _n, t in seen if u == "ada")
    assert ada_ran >= last_ada + 1.0 - 0.02, "it started only after a quiet period"
    assert len(journal().list_runs(function_id="fc-debounce")) == 2
    # After the run started, a new event begins a new debounce.
    again = await nd.send("fcdebounce/typed", {"user": "ada", "n": 10})
    assert again[0].run_id != handles[0].run_id
    assert await again[0].result(timeout=5) == 10


@pytest.mark.asyncio
async def test_priority_jumps_the_concurrency_queue(journal_path: Path) -> None:
    steps = Steps()

    @nd.function(
        id="fc-priority",
        retries=0,
        concurrency=nd.Concurrency(limit=1),
        priority=nd.Priority(run="event.data.prio"),
    )
    async def job(ctx: nd.Context) -> None:
        data = ctx.event.data
        await ctx.step.run("work", steps.hold, str(data["prio"]), ctx.run_id, "work", 0.01, data.get("gate"))

    blocker = job.start({"prio": 0, "gate": "block"})
    await until(lambda: len(steps.begun) == 1)
    by_prio = {}
    for prio in (0, 10, 5, 100, -5):
        by_prio[prio] = job.start({"prio": prio})
        await asyncio.sleep(0.01)  # later starts rank later, unless their priority puts them ahead
    await until(
        lambda: all(h.record is not None and h.record.status_reason for h in by_prio.values()), what="all queued"
    )
    assert by_prio[100].record is not None
    assert by_prio[100].record.status_reason == "queued: 1 of 1 slots busy, 0 ahead"
    steps.open("block")
    assert [await outcome(h) for h in [blocker, *by_prio.values()]] == ["completed"] * 6
    order = steps.run_order()[1:]
    assert order == [by_prio[p].run_id for p in (100, 10, 5, 0, -5)]


# -- shared step limits ----------------------------------------------------------------------------------


def prefill(name: str, kind: str, expiring_in: list[float], weight: int = 1) -> list[float]:
    """Marks as earlier requests (from any process) left them, aging out of the 60 s window at the given times."""
    now = time.time()
    for dt in expiring_in:
        journal().add_mark("limit", f"{name}:{kind}", now - 60.0 + dt, weight)
    return [now + dt for dt in expiring_in]


@pytest.mark.asyncio
async def test_a_step_that_names_a_limit_waits_for_it(journal_path: Path) -> None:
    nd.Limit("fc-api", requests_per_minute=2)
    calls: list[float] = []

    @nd.function(id="fc-limit", retries=0)
    async def job(ctx: nd.Context) -> None:
        for i in range(2):
            await ctx.step.run(f"call-{i}", lambda: calls.append(time.time()), limit="fc-api")
        await ctx.step.run("unlimited", lambda: calls.append(time.time()))

    frees = prefill("fc-api", "req", [0.4, 0.8])  # two requests made 59.6 and 59.2 s ago
    t0 = time.time()
    await job.run()
    assert len(calls) == 3
    # Each wrong answer waits a whole minute (the window) more: bounds of seconds tell them apart on a busy machine.
    assert frees[0] <= calls[0] < frees[0] + 5, "the first call waited for the window to have room"
    assert frees[1] <= calls[1] < frees[1] + 5
    assert calls[2] - calls[1] < 5, "a step without a limit does not wait"
    assert calls[1] - t0 >= 0.8 - 0.02


@pytest.mark.asyncio
async def test_a_limit_given_as_an_object_waits_too(journal_path: Path) -> None:
    limit = nd.Limit("fc-api-obj", requests_per_minute=1)
    calls: list[float] = []

    @nd.function(id="fc-limit-obj", retries=0)
    async def job(ctx: nd.Context) -> None:
        await ctx.step.run("call", lambda: calls.append(time.time()), limit=limit)

    frees = prefill("fc-api-obj", "req", [0.4])
    await job.run()
    assert frees[0] <= calls[0] < frees[0] + 5  # a wrong answer would wait the window's minute again


@pytest.mark.asyncio
async def test_ai_steps_use_the_limit_named_after_their_provider(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-flow-limit")
    nd.Limit("openai", requests_per_minute=100, tokens_per_minute=1000)
    with ScriptedLLMServer([reply("one", usage=(100, 50)), reply("two", usage=(10, 5))]) as server:
        model = nd.ai.openai("gpt-4o", base_url=server.openai_base_url)
        answered: list[float] = []

        @nd.function(id="fc-ai-limit", retries=0)
        async def job(ctx: nd.Context) -> None:
            for i in range(2):
                await ctx.step.ai.infer(f"ask-{i}", model=model, body={"messages": [{"role": "user", "content": "hi"}]})
                await ctx.step.run(f"answered-{i}", lambda: answered.append(time.time()))

        # 1,000 tokens spent 59.5 s ago: the budget is gone until that ages out.
        frees = prefill("openai", "tok", [0.5], weight=1000)
        await job.run()
        assert server.count == 2
    assert answered[0] >= frees[0], "the first call waited for the token budget"
    # Had the 150 tokens not left room, the next call would wait for a minute's budget.
    assert answered[1] - answered[0] < 5, "150 tokens spent leave room for the next call"
    conn = sqlite3.connect(journal_path)
    try:
        spent = conn.execute(
            "SELECT weight FROM marks WHERE scope='limit' AND key='openai:tok' AND ts>=? ORDER BY ts", (frees[0] - 60,)
        ).fetchall()
    finally:
        conn.close()
    assert [w for (w,) in spent if w] == [1000, 150, 15], "each call's tokens count against the budget"


@pytest.mark.asyncio
async def test_a_step_naming_no_defined_limit_passes_it_to_its_function(journal_path: Path) -> None:
    @nd.function(id="fc-limit-kwarg", retries=0)
    async def job(ctx: nd.Context) -> int:
        return await ctx.step.run("page", lambda limit: limit * 2, limit=21)

    assert await job.run() == 42


def test_options_are_kept_on_the_function_and_checked_for_type() -> None:
    fn = nd.function(
        id="fc-options",
        concurrency=nd.Concurrency(limit=3, key="event.data.tenant"),
        timeouts=nd.Timeouts(finish="1h"),
        cancel_on=nd.CancelOn(event="fcopt/stop"),
    )(_noop)
    try:
        assert fn.concurrency == (nd.Concurrency(limit=3, key="event.data.tenant"),)
        assert fn.timeouts == nd.Timeouts(finish="1h")
        assert fn.cancel_on == (nd.CancelOn(event="fcopt/stop"),)
        assert fn.has_flow_control
        with pytest.raises(nd.ConfigError, match=r"concurrency= takes nd\.Concurrency"):
            nd.function(id="fc-options-bad", concurrency=nd.Throttle(limit=1, period=1))(_noop)  # type: ignore[call-overload]
    finally:
        registry().pop("fc-options", None)
        registry().pop("fc-options-bad", None)


async def _noop(ctx: nd.Context) -> None:
    return None
