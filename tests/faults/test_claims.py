"""One run, one owner, at every moment: racing processes, a stale owner, a loser that leaves no trace.

Real processes start the same run at the same moment (a file barrier), a real
process is SIGKILLed or SIGSTOPped; a side-effect log outside the journal counts
how many times each step's work was done.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.journal._protocol import RunRecord, StepRecord, Write
from tests.faults.procs import Rig, finish, wait_until

RACERS = 4


def read(path: Path) -> tuple[RunRecord | None, list[StepRecord]]:
    journal = nd.SQLiteJournal(path)
    try:
        return journal.get_run("r"), journal.load_steps("r")
    finally:
        journal.close()


def completed_steps(path: Path) -> list[str]:
    return [s.step_id for s in read(path)[1] if s.status == "completed"]


def settle_race(rig: Rig, racers: list, *, epoch: int, attempt: int) -> tuple[dict, list[dict]]:
    """Wait for the losers (the winner is held in its last step), check the journal, release the winner."""
    wait_until(lambda: sum(res.exists() for _p, res in racers) >= RACERS - 1, "the losers' outcomes")
    wait_until(lambda: rig.entered(f"s{rig.steps - 1}"), "the winner in its last step")
    rec, _steps = read(rig.journal)
    # While the winner runs: the row is exactly as the winner wrote it; no loser wrote failed, an error or an end.
    assert rec is not None
    assert (rec.status, rec.epoch, rec.attempt, rec.error, rec.ended_at) == ("running", epoch, attempt, None, None)
    winner_pid = int(rec.owner.split(":")[1]) if rec.owner else 0
    losers = [finish(p, res) for p, res in racers if res.exists()]
    assert len(losers) == RACERS - 1
    for lost in losers:
        assert lost["outcome"] in ("RunOwnedElsewhereError", "ClaimLostError"), lost
        assert f"process {winner_pid}" in lost["message"], lost["message"]
        assert "cannot run in two processes at once" in lost["message"]
    rig.release.touch()
    winners = [finish(p, res) for p, res in racers if p.pid == winner_pid]
    assert len(winners) == 1 and winners[0]["outcome"] == "completed", winners
    return winners[0], losers


@pytest.mark.crash
def test_processes_racing_on_a_new_run_id_run_each_step_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    racers = rig.race(RACERS, hold=f"s{rig.steps - 1}")
    winner, _losers = settle_race(rig, racers, epoch=1, attempt=1)
    assert winner["value"] == [f"s{i}" for i in range(rig.steps)]
    assert rig.effects_done() == {f"s{i}": 1 for i in range(rig.steps)}
    rec, steps = read(rig.journal)
    assert rec is not None and rec.status == "completed" and rec.owner == winner["owner"] and rec.epoch == 1
    assert [s.step_id for s in steps] == [f"s{i}" for i in range(rig.steps)]


@pytest.mark.crash
def test_processes_racing_to_resume_an_interrupted_run_run_each_step_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    first, _result = rig.spawn(hold="s2")
    wait_until(lambda: rig.entered("s2") and completed_steps(rig.journal) == ["s0", "s1"], "s0 and s1 committed")
    first.kill()
    first.wait(10)
    racers = rig.race(RACERS, hold=f"s{rig.steps - 1}")
    winner, _losers = settle_race(rig, racers, epoch=2, attempt=2)
    assert winner["value"] == [f"s{i}" for i in range(rig.steps)]
    # s0 and s1 were committed by the killed process and replayed; s2 was in flight there before its work.
    assert rig.effects_done() == {f"s{i}": 1 for i in range(rig.steps)}
    rec, _steps = read(rig.journal)
    assert rec is not None and rec.status == "completed" and rec.owner == winner["owner"] and rec.epoch == 2


@pytest.mark.crash
def test_resume_of_a_run_a_live_process_executes_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    proc, result = rig.spawn(hold="s1")
    wait_until(lambda: rig.entered("s1"), "the run inside s1")
    engine = nd.Engine(nd.SQLiteJournal(rig.journal))
    try:
        with pytest.raises(nd.RunOwnedElsewhereError, match=f"process {proc.pid}") as info:
            engine.resume("r")
        assert "cannot run in two processes at once" in str(info.value)
        rec = engine.journal.get_run("r")
        assert rec is not None and rec.status == "running" and rec.epoch == 1
    finally:
        engine.journal.close()
    rig.release.touch()
    assert finish(proc, result)["outcome"] == "completed"


@pytest.mark.crash
def test_a_stopped_owner_whose_run_was_taken_over_cannot_commit(tmp_path: Path) -> None:
    """Owner A (on "another host": its claim lives by its lease) is SIGSTOPped inside s2; its lease expires,
    B takes the run over and completes it; A, continued, has its commit refused and writes nothing."""
    rig = Rig(tmp_path)
    lease = {"NBDURABLE_LEASE_TTL": "1"}
    a, a_result = rig.spawn(env=lease, hold="s2", hostname="elsewhere")
    wait_until(lambda: rig.entered("s2"), "A inside s2")
    os.kill(a.pid, signal.SIGSTOP)
    try:
        rec, _ = read(rig.journal)
        assert rec is not None and rec.lease_until is not None
        wait_until(lambda: time.time() > (rec.lease_until or 0) + 0.1, "A's lease expired")
        b, b_result = rig.spawn(env=lease)
        b_outcome = finish(b, b_result)
        assert b_outcome["outcome"] == "completed", b_outcome
        before = read(rig.journal)
        assert before[0] is not None and before[0].owner == b_outcome["owner"] and before[0].epoch == 2
    finally:
        rig.release.touch()
        os.kill(a.pid, signal.SIGCONT)
    a_outcome = finish(a, a_result)
    assert a_outcome["outcome"] == "ClaimLostError", a_outcome
    assert f"process {b.pid}" in a_outcome["message"]
    assert read(rig.journal) == before  # not one byte of A's after the takeover
    # s2 was in flight in A when it was taken over: at-least-once for it, exactly once for the rest.
    assert rig.effects_done() == {"s0": 1, "s1": 1, "s2": 2, "s3": 1, "s4": 1}


# -- in one process: the epoch moved underneath (as another process's claim would) ------------------


@pytest.fixture(params=["sqlite", "memory"])
def any_journal(request: pytest.FixtureRequest, journal_path: Path) -> nd.Journal:
    if request.param == "memory":
        nd.configure(nd.MemoryJournal(), poll_interval=0.02)
    return nd.get_engine().journal


def take_over(journal: nd.Journal, run_id: str) -> None:
    rec = journal.get_run(run_id)
    assert rec is not None
    other = journal if isinstance(journal, nd.MemoryJournal) else nd.SQLiteJournal(journal.location)
    try:
        assert other.claim_run(run_id, "otherhost:42:7", epoch=rec.epoch, status=rec.status, lease_until=None)
    finally:
        if other is not journal:
            other.close()


@pytest.mark.asyncio
async def test_a_stale_owner_cannot_commit_a_step_or_its_end(any_journal: nd.Journal) -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    async def slow() -> str:
        await gate.wait()
        return "late"

    @nd.function(id="claims-stale", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.run("a", lambda: ran.append("a") or "a")
        late = await ctx.step.run("b", slow)
        await ctx.step.run("c", lambda: ran.append("c") or "c")
        return late

    handle = wf.start(run_id="stale")
    while not (any_journal.load_steps("stale") and handle.status == "running"):
        await asyncio.sleep(0.005)
    take_over(any_journal, "stale")
    before = (any_journal.get_run("stale"), any_journal.load_steps("stale"))
    gate.set()
    with pytest.raises(nd.ClaimLostError, match="process 42 on otherhost") as info:
        await asyncio.wait_for(handle.result(), 10)
    assert "nothing more of it is written here" in str(info.value)
    assert (any_journal.get_run("stale"), any_journal.load_steps("stale")) == before
    assert ran == ["a"]  # c never ran
    assert handle.status == "running"  # as the journal says: its new owner (on another host) runs it


@pytest.mark.asyncio
async def test_a_lost_claim_swallowed_by_workflow_code_still_stops_the_run(any_journal: nd.Journal) -> None:
    ran: list[str] = []
    moved = asyncio.Event()

    async def step_b() -> str:
        take_over(any_journal, "swallow")
        moved.set()
        return "b"

    @nd.function(id="claims-swallow", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> str:
        try:
            await ctx.step.run("b", step_b)
        except Exception:  # the point: workflow code that hides every error
            pass
        await ctx.step.run("c", lambda: ran.append("c") or "c")
        return "done"

    with pytest.raises(nd.ClaimLostError):
        await asyncio.wait_for(wf.run(run_id="swallow"), 10)
    assert moved.is_set() and ran == []
    rec = any_journal.get_run("swallow")
    assert rec is not None and rec.owner == "otherhost:42:7" and rec.status == "running"
    assert any_journal.load_steps("swallow") == []


# -- the claim protocol as a property: whatever the interleaving, only the current claim writes ------

# An operation: (process 0-2, "claim" | "write" | "look"). Each process remembers the epoch and status it
# last saw (a "look" refreshes them, as a process reading the run would) and claims or writes with them.
OPS = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["claim", "write", "look"])), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_only_the_current_claim_ever_writes(tmp_path: Path, kind: str, ops: list[tuple[int, str]]) -> None:
    fresh = tmp_path / f"{uuid.uuid4().hex}.db"  # one journal per example
    journal: nd.Journal = nd.MemoryJournal() if kind == "memory" else nd.SQLiteJournal(fresh)
    try:
        journal.write([Write("run", run=RunRecord("r", "fn", "queued"))])
        seen = dict.fromkeys(range(3), (0, "queued"))
        held: dict[int, int] = {}  # process -> epoch it claimed
        epoch, owner, writes = 0, None, 0
        for n, (p, op) in enumerate(ops):
            if op == "look":
                rec = journal.get_run("r")
                assert rec is not None
                seen[p] = (rec.epoch, rec.status)
            elif op == "claim":
                got = journal.claim_run(
                    "r", f"h:{p}:0", epoch=seen[p][0], status=seen[p][1], lease_until=None, fields={"status": "running"}
                )
                assert (got is not None) == (seen[p][0] == epoch), (seen[p], epoch)  # CAS: wins iff not stale
                if got is not None:
                    epoch, owner = got, p
                    held[p] = got
                    seen[p] = (got, "running")
                    assert got == max(held.values())  # epochs only grow
            elif p in held:
                step = StepRecord(run_id="r", step_id=f"s{n}", name=f"s{n}", position=n)
                refused: nd.ClaimLostError | None = None
                try:
                    journal.write([Write("step", step=step, epoch=held[p])])
                except nd.ClaimLostError as exc:
                    refused = exc
                ok = refused is None
                assert ok == (held[p] == epoch)  # a fenced write lands iff its claim is the current one
                if refused is not None:
                    assert refused.run_ids == ("r",) and refused.owners == {"r": f"h:{owner}:0"}
                writes += ok
        rec = journal.get_run("r")
        assert rec is not None and rec.epoch == epoch
        assert rec.owner == (f"h:{owner}:0" if owner is not None else None)
        assert len(journal.load_steps("r")) == writes
    finally:
        journal.close()
