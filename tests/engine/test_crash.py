"""Crash safety with real processes: SIGKILL at every step boundary, then resume in a new process.

Every case runs on SQLite and on PostgreSQL (the session's private server, a fresh schema per test).
"""

from __future__ import annotations

import collections
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.crashkit import CrashRig

pytestmark = pytest.mark.crash

# 23 steps that run user code, a gather of 5, a sleep, an event sent and a wait.
WORKFLOW: list[list[Any]] = [
    ["run", "fetch"],
    ["run", "parse"],
    ["uuid", "ticket"],
    ["gather", "fan", 5],
    ["run", "merge"],
    ["sleep", "cool-down", 0.05],
    ["run", "score"],
    ["send", "announce"],
    ["wait", "approval", "crash/approval"],
    *[["run", f"tail-{i}"] for i in range(12)],
]
STEP_EXECUTIONS = 1 + 1 + 1 + 5 + 1 + 1 + 12


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The journal each crash test runs on: an SQLite file (None: the rig's own), or a fresh PostgreSQL schema."""
    return str(request.getfixturevalue("pg_url")) if request.param == "postgres" else None


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The result of an uncrashed run, to compare crashed-and-resumed runs against."""
    rig = CrashRig(tmp_path_factory.mktemp("reference"), WORKFLOW)
    assert rig.run() == 0
    result: dict[str, Any] = rig.result()
    assert set(rig.effects().values()) == {1}
    assert len(rig.effects()) == STEP_EXECUTIONS
    return result


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    # The journaled uuid differs between two independent runs; everything else must match.
    return {k: v for k, v in result.items() if k != "ticket"}


def check_resumed(rig: CrashRig, reference: dict[str, Any], committed: set[str], in_flight_max: int = 1) -> None:
    """Completed steps (journaled before the kill) ran once; steps in flight at the kill at most twice."""
    result = rig.result()
    assert _comparable(result) == _comparable(reference)
    effects = rig.effects()
    assert sorted(effects) == sorted(rig.expected_steps()), "every step ran"
    repeated = []
    for name, count in effects.items():
        if name in committed:
            assert count == 1, f"completed step {name} ran {count} times"
        else:
            assert count <= 2, f"the step in flight ({name}) ran {count} times"
            if count == 2:
                repeated.append(name)
    assert len(repeated) <= in_flight_max, f"more steps repeated than were in flight: {repeated}"
    journal = rig.open()
    try:
        run = journal.get_run(rig.run_id)
        assert run is not None and run.status == "completed"
        steps = {s.step_id: s for s in journal.load_steps(rig.run_id)}
        # The journaled uuid is the one the first execution saw (it reached the side-effect step).
        assert result["ticket"] == steps["ticket"].output.strip('"')  # type: ignore[union-attr]
    finally:
        journal.close()


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("op", range(1, STEP_EXECUTIONS + 1))
def test_kill_at_each_step_boundary_then_resume(
    tmp_path: Path, reference: dict[str, Any], backend: str | None, op: int, phase: str
) -> None:
    rig = CrashRig(tmp_path, WORKFLOW, journal=backend)
    assert rig.run({"op": op, "phase": phase}) < 0, "the worker killed itself"
    committed = rig.completed_steps()
    assert all(c == 1 for c in rig.effects().values())
    assert rig.run() == 0
    # Up to 5 steps are in flight at once inside the gather; elsewhere exactly one.
    check_resumed(rig, reference, committed, in_flight_max=5)


def test_kill_during_durable_sleep_sleeps_only_the_rest(
    tmp_path: Path, reference: dict[str, Any], backend: str | None
) -> None:
    ops = [op if op[0] != "sleep" else ["sleep", "cool-down", 1.5] for op in WORKFLOW]
    rig = CrashRig(tmp_path, ops, journal=backend)
    rig.kill_when("sleeping")
    committed = rig.completed_steps()
    journal = rig.open()
    sleep = {s.step_id: s for s in journal.load_steps(rig.run_id)}["cool-down"]
    journal.close()
    assert sleep.status == "sleeping" and sleep.next_at is not None
    assert rig.run() == 0
    check_resumed(rig, reference, committed, in_flight_max=0)
    journal = rig.open()
    done = {s.step_id: s for s in journal.load_steps(rig.run_id)}["cool-down"]
    journal.close()
    assert done.status == "completed"
    assert done.next_at == sleep.next_at, "the journaled deadline was kept, not restarted"
    assert done.ended_at is not None and done.ended_at >= sleep.next_at


def test_event_sent_while_process_is_dead_is_matched_on_resume(
    tmp_path: Path, reference: dict[str, Any], backend: str | None
) -> None:
    rig = CrashRig(tmp_path, WORKFLOW, journal=backend)
    rig.kill_when("waiting")
    committed = rig.completed_steps()
    rig.answer_waits()  # the "user" answers while no process runs the workflow
    assert rig.run(answer_waits=False) == 0
    check_resumed(rig, reference, committed, in_flight_max=0)
    assert rig.result()["approval"] == {"answer": 42}


def test_kill_in_the_middle_of_a_multi_megabyte_commit(tmp_path: Path) -> None:
    ops: list[list[Any]] = [["run", "before"], ["big", "blob", 24_000_000], ["run", "after"]]
    rig = CrashRig(tmp_path, ops)  # SQLite's own atomicity: the file and its WAL (PostgreSQL's is the server's)
    proc = rig.popen()
    wal = Path(str(rig.journal) + "-wal")
    # Kill once the WAL has grown past 4 MB: the 24 MB transaction is being written, not yet committed.
    while proc.poll() is None:
        if wal.exists() and wal.stat().st_size > 4_000_000:
            proc.kill()
            break
    proc.wait()
    assert proc.returncode < 0, "killed mid-commit (the commit had not finished)"
    conn = sqlite3.connect(rig.journal)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    journal = rig.open()
    steps = {s.step_id: s.status for s in journal.load_steps(rig.run_id)}
    journal.close()
    assert steps == {"before": "completed"}, "the half-written blob left no step behind"
    assert rig.run() == 0
    assert rig.result() == {"before": 0, "blob": 24_000_000, "after": 4}
    effects = rig.effects()
    assert effects["before"] == 1 and effects["after"] == 1 and effects["blob"] == 2


# -- property: generated workflows, generated kill points ---------------------------------------------

op_strategy = st.one_of(
    st.tuples(st.just("run")),
    st.tuples(st.just("gather"), st.integers(min_value=2, max_value=4)),
    st.tuples(st.just("sleep")),
    st.tuples(st.just("uuid")),
)


def _build(ops: list[tuple[Any, ...]]) -> list[list[Any]]:
    out: list[list[Any]] = [["run", "start"]]  # at least one side effect to die in
    for i, op in enumerate(ops):
        if op[0] == "gather":
            out.append(["gather", f"g{i}", op[1]])
        elif op[0] == "sleep":
            out.append(["sleep", f"s{i}", 0.01])
        else:
            out.append([op[0], f"{op[0]}{i}"])
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(op_strategy, min_size=1, max_size=8),
    kill_frac=st.floats(min_value=0, max_value=1),
    phase=st.sampled_from(["before", "after"]),
)
def test_property_any_workflow_any_kill_point(
    tmp_path_factory: pytest.TempPathFactory,
    backend: str | None,
    ops: list[tuple[Any, ...]],
    kill_frac: float,
    phase: str,
) -> None:
    spec = _build(ops)
    # The examples share the backend's journal: each one its own run ids.
    tag = uuid.uuid4().hex[:8]
    reference = CrashRig(tmp_path_factory.mktemp("ref"), spec, run_id=f"ref-{tag}", journal=backend)
    assert reference.run() == 0
    total = sum(reference.effects().values())
    rig = CrashRig(tmp_path_factory.mktemp("crash"), spec, run_id=f"crash-{tag}", journal=backend)
    op = 1 + int(kill_frac * (total - 1))
    assert rig.run({"op": op, "phase": phase}) < 0
    committed = rig.completed_steps()
    assert rig.run() == 0
    assert _comparable_generated(rig.result()) == _comparable_generated(reference.result())
    counts: collections.Counter[str] = rig.effects()
    assert sorted(counts) == sorted(reference.effects())
    widest = max([op[1] for op in ops if op[0] == "gather"] + [1])
    assert sum(1 for c in counts.values() if c == 2) <= widest
    for name, count in counts.items():
        assert count == 1 if name in committed else count <= 2, (name, count)


def _comparable_generated(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("uuid")}
