"""The Journal protocol's contract: the same cases against memory, SQLite (a real file) and PostgreSQL.

Every backend must behave alike: the engine only talks to the protocol, the memory
journal is only useful for tests if it is an honest stand-in, and a backend that
drifts is caught here. The PostgreSQL cases (marked ``postgres``) run against the
session's private server, each in a fresh schema.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.journal._protocol import (
    PLAIN_CODE_HASH,
    PLAIN_INPUT_HASH,
    PLAIN_OUTPUT,
    PLAIN_OUTPUT_TAG,
    PLAIN_POSITION,
    PLAIN_STEP_ID,
    Write,
)

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> nd.Journal:
    if kind == "postgres":
        return nd.PostgresJournal(request.getfixturevalue("pg_url"))
    if kind == "sqlite":
        return nd.SQLiteJournal(tmp_path / "journal.db")
    return nd.MemoryJournal()


@pytest.fixture(params=BACKENDS)
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[nd.Journal]:
    j = open_backend(request.param, request, tmp_path)
    yield j
    j.close()


@pytest.fixture(params=BACKENDS)
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[nd.Journal, nd.Journal]]:
    """Two connections to one journal, as two processes have (the memory journal: the same object twice)."""
    a = open_backend(request.param, request, tmp_path)
    if request.param == "memory":
        yield a, a
    else:
        b = open_backend(request.param, request, tmp_path)
        yield a, b
        b.close()
    a.close()


def run(run_id: str = "r1", function_id: str = "fn", **fields: object) -> nd.RunRecord:
    return nd.RunRecord(run_id, function_id, **fields)  # type: ignore[arg-type]


def step(run_id: str, step_id: str, position: int, **fields: object) -> nd.StepRecord:
    return nd.StepRecord(run_id=run_id, step_id=step_id, name=fields.pop("name", step_id), position=position, **fields)  # type: ignore[arg-type]


def add_run(j: nd.Journal, record: nd.RunRecord) -> None:
    j.write([Write("run", run=record)])


# -- basics -----------------------------------------------------------------------------------------


def test_implements_the_protocol(journal: nd.Journal) -> None:
    assert isinstance(journal, nd.Journal)
    assert isinstance(journal.location, str) and journal.location


def test_location(tmp_path: Path) -> None:
    sq = nd.SQLiteJournal(tmp_path / "j.db")
    try:
        assert sq.location == str(tmp_path / "j.db")
    finally:
        sq.close()
    assert nd.MemoryJournal().location == ":memory:"


def test_empty_journal(journal: nd.Journal) -> None:
    assert journal.get_run("nope") is None
    assert journal.list_runs() == []
    assert journal.load_steps("nope") == []
    assert journal.step_counts([]) == {}
    assert journal.step_counts(["nope"]) == {}
    assert journal.get_event("nope") is None
    assert journal.events_after("x", 0) == []
    assert journal.last_event_seq() == 0
    assert journal.runs_for_event("nope") == []
    assert journal.claim_run("nope", "me", epoch=0, status="queued", lease_until=None) is None


# -- runs -------------------------------------------------------------------------------------------


def test_run_round_trip_keeps_every_field(journal: nd.Journal) -> None:
    record = run(
        "r1",
        "resolve-ticket",
        status="running",
        event={"name": "support/ticket.created", "data": {"id": 7, "body": "ünïcode ✓"}, "id": "e1", "ts": 1.5},
        result='{"ok":true}',
        result_tag="model:x:Y",
        error={"type": "ValueError", "message": "bad", "traceback": "Traceback..."},
        code_hash="abc123",
        kind="cell",
        source="x = await step.run('a', f)",
        options={"retries": 2},
        parent_run_id="parent",
        owner="host:1:2",
        attempt=3,
        event_seq=42,
        status_reason="because",
        warnings=[{"message": "w", "step_id": None}],
        created_at=100.0,
        updated_at=101.0,
        ended_at=102.0,
    )
    add_run(journal, record)
    assert journal.get_run("r1") == record


def test_writing_an_existing_run_is_refused_and_changes_nothing(journal: nd.Journal) -> None:
    """A "run" write claims a new run id: it never takes over (or overwrites) a run that exists."""
    first = run(status="running", owner="host:1:1", event={"name": "a", "data": {}}, epoch=1, created_at=1.0)
    add_run(journal, first)
    again = run(status="running", owner="host:2:2", event={"name": "other", "data": {}}, epoch=1, created_at=5.0)
    with pytest.raises(nd.ClaimLostError) as info:
        journal.write([Write("run", run=again), Write("step", step=step("r1", "a", 0), epoch=1)])
    assert info.value.run_ids == ("r1",)
    assert info.value.owners == {"r1": "host:1:1"}
    assert journal.get_run("r1") == first
    assert journal.load_steps("r1") == []
    assert len(journal.list_runs()) == 1


def test_run_update(journal: nd.Journal) -> None:
    add_run(journal, run(status="running", updated_at=1.0))
    journal.write(
        [
            Write(
                "run_update",
                run_id="r1",
                fields={"status": "failed", "error": {"type": "X", "message": "m"}, "warnings": [{"message": "w"}]},
            )
        ]
    )
    got = journal.get_run("r1")
    assert got is not None
    assert got.status == "failed"
    assert got.error == {"type": "X", "message": "m"}
    assert got.warnings == [{"message": "w"}]
    # updated_at moves by itself when not given.
    assert got.updated_at > 1.0
    journal.write([Write("run_update", run_id="r1", fields={"updated_at": 7.0, "ended_at": 8.0})])
    got = journal.get_run("r1")
    assert got is not None and (got.updated_at, got.ended_at) == (7.0, 8.0)


def test_a_conditional_run_update_applies_only_unless_the_status_is_one_given(journal: nd.Journal) -> None:
    """How a cancel and a run's last write cannot both win: each applies only if the other has not."""
    final = frozenset({"completed", "failed", "cancelled", "skipped"})
    add_run(journal, run("done", status="completed"))
    add_run(journal, run("live", status="running"))
    cancel = {"status": "cancelled", "status_reason": "late"}
    journal.write([Write("run_update", run_id=r, fields=cancel, unless_status=final) for r in ("done", "live")])
    assert [journal.get_run(r).status for r in ("done", "live")] == ["completed", "cancelled"]  # type: ignore[union-attr]
    finish = {"status": "completed", "result": "1"}
    journal.write([Write("run_update", run_id="live", fields=finish, unless_status=frozenset({"cancelled"}))])
    live = journal.get_run("live")
    assert live is not None and (live.status, live.result, live.status_reason) == ("cancelled", None, "late")


def test_a_fenced_update_held_back_by_its_guard_is_not_a_lost_claim(journal: nd.Journal) -> None:
    add_run(journal, run("r", status="cancelled", owner="me", epoch=1))
    finish = Write(
        "run_update", run_id="r", fields={"status": "completed"}, epoch=1, unless_status=frozenset({"cancelled"})
    )
    journal.write([finish])  # the cancel got in first: nothing written, and no error
    got = journal.get_run("r")
    assert got is not None and got.status == "cancelled"
    assert journal.claim_run("r", "new", epoch=1, status="cancelled", lease_until=None) == 2
    with pytest.raises(nd.ClaimLostError) as info:
        journal.write([finish])  # the epoch moved: that is a lost claim
    assert info.value.owners == {"r": "new"}


def test_run_update_of_a_missing_run_changes_nothing(journal: nd.Journal) -> None:
    journal.write([Write("run_update", run_id="ghost", fields={"status": "failed"})])
    assert journal.get_run("ghost") is None
    assert journal.list_runs() == []


def test_run_update_with_an_unknown_field_fails_and_applies_nothing(journal: nd.Journal) -> None:
    add_run(journal, run(status="running"))
    with pytest.raises(nd.JournalError, match="bogus"):
        journal.write(
            [
                Write("step", step=step("r1", "a", 0)),
                Write("run_update", run_id="r1", fields={"status": "failed", "bogus": 1}),
            ]
        )
    # A batch is one transaction: nothing of it may be applied.
    assert journal.load_steps("r1") == []
    got = journal.get_run("r1")
    assert got is not None and got.status == "running"


def test_list_runs_newest_first_with_filters(journal: nd.Journal) -> None:
    for i, (fid, status) in enumerate(
        [("a", "completed"), ("b", "failed"), ("a", "running"), ("a", "completed"), ("b", "completed")]
    ):
        add_run(journal, run(f"r{i}", fid, status=status, created_at=float(i), updated_at=float(i)))
    assert [r.run_id for r in journal.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.run_id for r in journal.list_runs(limit=2)] == ["r4", "r3"]
    assert [r.run_id for r in journal.list_runs(function_id="a")] == ["r3", "r2", "r0"]
    assert [r.run_id for r in journal.list_runs(statuses=["completed"])] == ["r4", "r3", "r0"]
    assert [r.run_id for r in journal.list_runs(statuses=["failed", "running"])] == ["r2", "r1"]
    assert [r.run_id for r in journal.list_runs(statuses=["completed"], function_id="a", limit=1)] == ["r3"]
    assert journal.list_runs(function_id="zzz") == []


def test_list_runs_limit_zero_lists_nothing(journal: nd.Journal) -> None:
    add_run(journal, run("r0"))
    assert journal.list_runs(limit=0) == []


# -- steps ------------------------------------------------------------------------------------------


def test_step_round_trip_keeps_every_field(journal: nd.Journal) -> None:
    add_run(journal, run())
    a = step(
        "r1",
        "fetch:1",
        name="fetch",
        position=3,
        kind="ai",
        status="failed",
        attempt=2,
        input_hash="h1",
        output='"out"',
        output_tag="datetime",
        error={"type": "KeyError", "message": "'k'", "traceback": "tb"},
        started_at=1.0,
        ended_at=2.0,
        next_at=3.0,
        meta={"tokens": {"in": 3, "out": 5}, "input": "[1]"},
        code_hash="c1",
    )
    b = step("r1", "plain", 4)  # name equal to id, empty hashes, no output
    journal.write([Write("step", step=a), Write("step", step=b)])
    assert journal.load_steps("r1") == [a, b]


def test_steps_come_back_in_the_order_first_reached(journal: nd.Journal) -> None:
    add_run(journal, run())
    # Written in completion order (as under gather), loaded in position order.
    journal.write([Write("step", step=step("r1", "c", 2)), Write("step", step=step("r1", "a", 0))])
    journal.write([Write("step", step=step("r1", "b", 1))])
    assert [s.step_id for s in journal.load_steps("r1")] == ["a", "b", "c"]


def test_a_step_written_again_replaces_the_old_record(journal: nd.Journal) -> None:
    add_run(journal, run())
    journal.write([Write("step", step=step("r1", "a", 0, status="retrying", attempt=1, next_at=9.0))])
    journal.write([Write("step", step=step("r1", "a", 0, status="completed", attempt=1, output="5"))])
    (only,) = journal.load_steps("r1")
    assert (only.status, only.attempt, only.output, only.next_at) == ("completed", 1, "5", None)


def test_steps_are_per_run(journal: nd.Journal) -> None:
    add_run(journal, run("r1"))
    add_run(journal, run("r2"))
    journal.write([Write("step", step=step("r1", "a", 0)), Write("step", step=step("r2", "a", 0, output="2"))])
    assert [s.run_id for s in journal.load_steps("r1")] == ["r1"]
    assert journal.load_steps("r2")[0].output == "2"


def test_a_step_of_an_unknown_run_fails_the_whole_batch(journal: nd.Journal) -> None:
    with pytest.raises(nd.JournalError, match="ghost"):
        journal.write([Write("run", run=run("r1")), Write("step", step=step("ghost", "a", 0))])
    assert journal.get_run("r1") is None


def test_run_and_its_steps_in_one_batch(journal: nd.Journal) -> None:
    journal.write([Write("run", run=run("r1")), Write("step", step=step("r1", "a", 0))])
    assert [s.step_id for s in journal.load_steps("r1")] == ["a"]


def test_delete_run_removes_the_run_and_its_steps_only(journal: nd.Journal) -> None:
    add_run(journal, run("r1"))
    add_run(journal, run("r2"))
    journal.write([Write("step", step=step("r1", "a", 0)), Write("step", step=step("r2", "a", 0))])
    journal.write([Write("delete_run", run_id="r1"), Write("delete_run", run_id="never-there")])
    assert journal.get_run("r1") is None and journal.load_steps("r1") == []
    assert [r.run_id for r in journal.list_runs()] == ["r2"] and len(journal.load_steps("r2")) == 1
    # The id can be used again, from scratch.
    journal.write([Write("run", run=run("r1")), Write("step", step=step("r1", "b", 0))])
    assert [s.step_id for s in journal.load_steps("r1")] == ["b"]


def test_large_and_unicode_outputs(journal: nd.Journal) -> None:
    add_run(journal, run())
    big = '"' + "x" * 2_000_000 + '"'
    text = '"日本語 ✓ \\u0000 emoji 🎉"'
    journal.write(
        [Write("step", step=step("r1", "big", 0, output=big)), Write("step", step=step("r1", "u", 1, output=text))]
    )
    steps = journal.load_steps("r1")
    assert steps[0].output == big
    assert steps[1].output == text


def test_step_counts_count_completed_steps(journal: nd.Journal) -> None:
    add_run(journal, run("r1"))
    add_run(journal, run("r2"))
    journal.write(
        [
            Write("step", step=step("r1", "a", 0)),
            Write("step", step=step("r1", "b", 1)),
            Write("step", step=step("r1", "c", 2, status="failed")),
            Write("step", step=step("r1", "d", 3, status="sleeping")),
        ]
    )
    assert journal.step_counts(["r1", "r2", "ghost"]) == {"r1": 2, "r2": 0}


def test_summarize_steps_counts_tokens_and_cost(journal: nd.Journal) -> None:
    add_run(journal, run("r1"))
    add_run(journal, run("r2"))
    ai = {"ai": {"model": "m", "tokens_in": 10, "tokens_out": 4, "cost": 0.25}}
    journal.write(
        [
            Write("step", step=step("r1", "a", 0, started_at=1.0, ended_at=2.0, meta={"input": "x"})),
            Write("step", step=step("r1", "b", 1, kind="ai", started_at=2.0, ended_at=3.5, meta=ai)),
            Write("step", step=step("r1", "c", 2, status="failed", attempt=2, started_at=4.0, ended_at=4.5)),
            Write("step", step=step("r1", "d", 3, status="retrying", attempt=1, started_at=5.0)),
            Write("step", step=step("r1", "now", 4, kind="value", started_at=9.0, ended_at=9.0)),
        ]
    )
    summary = journal.summarize_steps(["r1", "r2", "ghost"])
    assert set(summary) == {"r1", "r2"}
    assert summary["r2"] == nd.StepSummary()
    assert summary["r1"] == nd.StepSummary(
        total=4, done=2, failed=1, attempts=3, last_at=5.0, ai_steps=1, tokens_in=10, tokens_out=4, cost=0.25
    )
    # One AI step whose cost is unknown makes the run's cost unknown, as on the timeline.
    journal.write([Write("step", step=step("r1", "e", 5, kind="ai", started_at=6.0, meta={"ai": {"tokens_in": 1}}))])
    again = journal.summarize_steps(["r1"])["r1"]
    assert (again.ai_steps, again.tokens_in, again.cost, again.last_at) == (2, 11, None, 6.0)


def test_summarize_steps_skips_meta_that_is_not_json(tmp_path: Path) -> None:
    """A damaged meta column costs that step its AI numbers, not the whole listing."""
    import sqlite3

    j = nd.SQLiteJournal(tmp_path / "j.db")
    add_run(j, run("r1"))
    j.write([Write("step", step=step("r1", "a", 0, meta={"ai": {"tokens_in": 3, "cost": 1.0}}))])
    j.write([Write("step", step=step("r1", "b", 1, meta={"ai": {"tokens_in": 5, "cost": 1.0}}))])
    j.close()
    conn = sqlite3.connect(tmp_path / "j.db")
    conn.execute("UPDATE steps SET meta='{\"ai\": {broken' WHERE step_id='b'")
    conn.commit()
    conn.close()
    j = nd.SQLiteJournal(tmp_path / "j.db")
    try:
        summary = j.summarize_steps(["r1"])["r1"]
        assert (summary.total, summary.done, summary.ai_steps, summary.tokens_in, summary.cost) == (2, 2, 1, 3, 1.0)
    finally:
        j.close()


_step_shapes = st.lists(
    st.tuples(
        st.sampled_from(["run", "ai", "value", "sleep"]),
        st.sampled_from(["completed", "failed", "retrying", "sleeping"]),
        st.integers(0, 3),
        st.floats(0, 1e6, allow_nan=False),
        st.none() | st.floats(0, 1e6, allow_nan=False),
        st.none()
        | st.fixed_dictionaries(
            {
                "ai": st.fixed_dictionaries(
                    {"tokens_in": st.integers(0, 10**6), "tokens_out": st.integers(0, 10**6)},
                    optional={"cost": st.none() | st.floats(0, 100, allow_nan=False)},
                )
            }
        ),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=_step_shapes)
def test_summarize_steps_agrees_with_the_memory_journal(journal: nd.Journal, shapes: list) -> None:  # type: ignore[type-arg]
    """Each backend sums where its steps are stored (SQL on SQLite and PostgreSQL); all must agree with memory."""
    mem = nd.MemoryJournal()
    run_id = f"r{uuid.uuid4().hex}"  # the journal is shared by the examples
    for j in (journal, mem):
        add_run(j, run(run_id))
        j.write(
            [
                Write(
                    "step",
                    step=step(
                        run_id,
                        f"s{i}",
                        i,
                        kind=k,
                        status=status,
                        attempt=attempt,
                        started_at=started,
                        ended_at=ended,
                        meta=meta,
                    ),
                )
                for i, (k, status, attempt, started, ended, meta) in enumerate(shapes)
            ]
        )
    a, b = journal.summarize_steps([run_id])[run_id], mem.summarize_steps([run_id])[run_id]
    assert a == dataclasses.replace(b, cost=a.cost) and (a.cost is None) == (b.cost is None)
    if a.cost is not None:
        assert b.cost is not None and abs(a.cost - b.cost) <= 1e-9 * max(1.0, b.cost)


_replay_shapes = st.lists(
    st.tuples(
        st.sampled_from(["run", "ai", "value", "sleep"]),
        st.sampled_from(["completed", "completed", "failed", "retrying", "sleeping"]),
        st.none() | st.text(alphabet='ab"é{}[]1 ', max_size=12),  # output (PostgreSQL text holds no NUL)
        st.none() | st.sampled_from(["datetime", "set"]),  # output tag
        st.sampled_from(["", "0123456789abcdef", "not hex"]),  # input hash
        st.sampled_from(["", "fedcba9876543210", "Not-Hex"]),  # code hash
        st.none() | st.just({"input": "[1]"}),
        st.none() | st.floats(0, 1e6, allow_nan=False),  # next_at
        st.booleans(),  # named as its id
    ),
    max_size=10,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=_replay_shapes)
def test_load_replay_gives_what_load_steps_gives(journal: nd.Journal, shapes: list) -> None:  # type: ignore[type-arg]
    """Replay's load (plain completed steps left as the journal's rows) holds exactly the records load_steps reads,
    and only a completed "run" step with nothing but its result (and its inputs' preview), hashes as bytes, is left
    as a row."""
    run_id = f"r{uuid.uuid4().hex}"  # the journal is shared by the examples
    add_run(journal, run(run_id))
    journal.write(
        [
            Write(
                "step",
                step=step(
                    run_id,
                    f"s:{i}" if named else f"s{i}",
                    i,
                    name="s" if named else f"s{i}",
                    kind=kind,
                    status=status,
                    output=output,
                    output_tag=tag,
                    input_hash=input_hash,
                    code_hash=code_hash,
                    meta=meta,
                    next_at=next_at,
                    started_at=float(i),
                ),
            )
            for i, (kind, status, output, tag, input_hash, code_hash, meta, next_at, named) in enumerate(shapes)
        ]
    )
    loaded = {s.step_id: s for s in journal.load_steps(run_id)}
    replay = journal.load_replay(run_id)
    got = {s.step_id: s for s in replay.records}
    for row in replay.plain:
        assert replay.record is not None
        rec = replay.record(row)
        assert (rec.kind, rec.status, rec.error, rec.next_at, rec.damaged) == ("run", "completed", None, None, ())
        assert rec.meta in (None, {"input": "[1]"})  # a step's inputs' preview: replay never reads it
        assert rec.step_id == row[PLAIN_STEP_ID] and rec.position == row[PLAIN_POSITION]
        assert rec.output == row[PLAIN_OUTPUT] and rec.output_tag == row[PLAIN_OUTPUT_TAG]
        assert (
            rec.code_hash == (row[PLAIN_CODE_HASH] or b"").hex()
            and rec.input_hash == (row[PLAIN_INPUT_HASH] or b"").hex()
        )
        got[rec.step_id] = rec
    assert got == loaded
    assert len(replay.plain) + len(replay.records) == len(loaded)


def test_records_read_are_copies(journal: nd.Journal) -> None:
    """Mutating what a read returned must not change what is stored."""
    add_run(journal, run(event={"name": "a", "data": {"k": 1}}, options={"o": 1}))
    journal.write([Write("step", step=step("r1", "a", 0, meta={"tokens": 1}, error={"type": "E"}))])
    journal.add_event("e1", "n", {"k": 1}, 1.0)

    got = journal.get_run("r1")
    assert got is not None and got.event is not None and got.options is not None
    got.status = "tampered"
    got.event["data"]["k"] = 99
    got.options["o"] = 99
    (s,) = journal.load_steps("r1")
    assert s.meta is not None and s.error is not None
    s.status = "tampered"
    s.meta["tokens"] = 99
    s.error["type"] = "tampered"
    ev = journal.get_event("e1")
    assert ev is not None
    ev.data["k"] = 99
    (listed,) = journal.list_runs()
    listed.status = "tampered"

    fresh = journal.get_run("r1")
    assert fresh is not None
    assert fresh.status == "queued"
    assert fresh.event == {"name": "a", "data": {"k": 1}}
    assert fresh.options == {"o": 1}
    (fresh_step,) = journal.load_steps("r1")
    assert fresh_step.status == "completed"
    assert fresh_step.meta == {"tokens": 1}
    assert fresh_step.error == {"type": "E"}
    fresh_event = journal.get_event("e1")
    assert fresh_event is not None and fresh_event.data == {"k": 1}
    assert journal.events_after("n", 0)[0].data == {"k": 1}


def test_records_written_are_copied(journal: nd.Journal) -> None:
    """Mutating a record after writing it must not change what is stored."""
    record = run(options={"o": 1})
    add_run(journal, record)
    s = step("r1", "a", 0, meta={"m": 1})
    journal.write([Write("step", step=s)])
    data = {"k": 1}
    journal.add_event("e1", "n", data, 1.0)
    record.status = "tampered"
    assert record.options is not None and s.meta is not None
    record.options["o"] = 2
    s.meta["m"] = 2
    data["k"] = 2
    got = journal.get_run("r1")
    assert got is not None and got.status == "queued" and got.options == {"o": 1}
    assert journal.load_steps("r1")[0].meta == {"m": 1}
    ev = journal.get_event("e1")
    assert ev is not None and ev.data == {"k": 1}


# -- events -----------------------------------------------------------------------------------------


def test_events_get_increasing_sequence_numbers(journal: nd.Journal) -> None:
    a = journal.add_event("e1", "app/a", {"i": 1}, 1.0)
    b = journal.add_event("e2", "app/b", {"i": 2}, 2.0)
    c = journal.add_event("e3", "app/a", {"i": 3}, 3.0)
    assert a is not None and b is not None and c is not None
    assert a.seq < b.seq < c.seq
    assert journal.last_event_seq() == c.seq
    assert a == nd.EventRecord(a.seq, "e1", "app/a", {"i": 1}, 1.0)
    assert journal.get_event("e2") == b


def test_an_event_id_is_stored_once(journal: nd.Journal) -> None:
    first = journal.add_event("e1", "app/a", {"i": 1}, 1.0)
    assert first is not None
    assert journal.add_event("e1", "app/a", {"i": 2}, 2.0) is None
    assert journal.add_event("e1", "app/other", {}, 3.0) is None
    assert journal.get_event("e1") == first
    assert journal.last_event_seq() == first.seq
    assert len(journal.events_after("app/a", 0)) == 1


def test_events_after(journal: nd.Journal) -> None:
    seqs = []
    for i in range(10):
        rec = journal.add_event(f"e{i}", "app/even" if i % 2 == 0 else "app/odd", {"i": i}, float(i))
        assert rec is not None
        seqs.append(rec.seq)
    assert [e.data["i"] for e in journal.events_after("app/even", 0)] == [0, 2, 4, 6, 8]
    assert [e.data["i"] for e in journal.events_after("app/even", seqs[4])] == [6, 8]
    assert [e.data["i"] for e in journal.events_after("app/odd", seqs[4], limit=2)] == [5, 7]
    assert journal.events_after("app/even", seqs[-1]) == []
    assert journal.events_after("app/none", 0) == []


def test_event_data_round_trip(journal: nd.Journal) -> None:
    data = {"text": "ünïcode ✓ 🎉", "nested": {"list": [1, 2.5, None, True]}, "empty": {}}
    journal.add_event("e1", "n", data, 1.0)
    ev = journal.get_event("e1")
    assert ev is not None and ev.data == data


def test_triggers(journal: nd.Journal) -> None:
    journal.write(
        [
            Write("run", run=run("r-b", "fn-b")),
            Write("run", run=run("r-a", "fn-a")),
            Write("trigger", event_id="e1", function_id="fn-b", run_id="r-b"),
            Write("trigger", event_id="e1", function_id="fn-a", run_id="r-a"),
        ]
    )
    # Writing the same trigger again is a no-op.
    journal.write([Write("trigger", event_id="e1", function_id="fn-a", run_id="r-a")])
    assert journal.runs_for_event("e1") == [("fn-a", "r-a"), ("fn-b", "r-b")]
    assert journal.runs_for_event("e2") == []


def test_a_second_run_for_the_same_event_and_function_is_refused_whole(journal: nd.Journal) -> None:
    """Two processes turning one event into a run of one function: the second loses, and writes nothing."""
    journal.write(
        [Write("run", run=run("r-a", "fn-a")), Write("trigger", event_id="e1", function_id="fn-a", run_id="r-a")]
    )
    late = run("r-late", "fn-a", owner="host:9:9")
    with pytest.raises(nd.ClaimLostError) as info:
        journal.write([Write("run", run=late), Write("trigger", event_id="e1", function_id="fn-a", run_id="r-late")])
    assert info.value.run_ids == ("r-late",)
    assert journal.get_run("r-late") is None
    assert journal.runs_for_event("e1") == [("fn-a", "r-a")]


# -- ownership and change tokens --------------------------------------------------------------------


def test_claim_run_is_compare_and_set_on_epoch_and_status(journal: nd.Journal) -> None:
    add_run(journal, run(status="queued", attempt=0))
    assert journal.claim_run("r1", "host:1:1", epoch=0, status="queued", lease_until=10.0, fields={"attempt": 1}) == 1
    # Whoever saw the old epoch (or another status) loses, and changes nothing.
    assert journal.claim_run("r1", "host:2:2", epoch=0, status="queued", lease_until=20.0) is None
    assert journal.claim_run("r1", "host:2:2", epoch=1, status="running", lease_until=20.0) is None
    got = journal.get_run("r1")
    assert got is not None
    assert (got.owner, got.epoch, got.lease_until, got.attempt, got.status) == ("host:1:1", 1, 10.0, 1, "queued")
    fields = {"status": "running", "attempt": 2, "status_reason": None}
    assert journal.claim_run("r1", "host:2:2", epoch=1, status="queued", lease_until=20.0, fields=fields) == 2
    got = journal.get_run("r1")
    assert got is not None
    assert (got.owner, got.epoch, got.lease_until, got.attempt, got.status) == ("host:2:2", 2, 20.0, 2, "running")


def test_claim_run_cannot_set_the_claim_itself(journal: nd.Journal) -> None:
    add_run(journal, run())
    with pytest.raises(nd.JournalError, match="epoch"):
        journal.claim_run("r1", "me", epoch=0, status="queued", lease_until=None, fields={"epoch": 9})


def test_fenced_writes_of_a_stale_owner_are_refused_whole(journal: nd.Journal) -> None:
    """A write carrying an old epoch is refused in its transaction; other runs' writes are not applied either."""
    add_run(journal, run("r1", status="running", owner="old", epoch=1))
    add_run(journal, run("r2", status="running", owner="old", epoch=1))
    assert journal.claim_run("r1", "new", epoch=1, status="running", lease_until=None) == 2
    with pytest.raises(nd.ClaimLostError) as info:
        journal.write(
            [
                Write("step", step=step("r2", "b", 0), epoch=1),
                Write("step", step=step("r1", "a", 0), epoch=1),
                Write("run_update", run_id="r1", fields={"status": "failed"}, epoch=1),
            ]
        )
    assert info.value.run_ids == ("r1",)
    assert info.value.owners == {"r1": "new"}
    assert journal.load_steps("r1") == [] and journal.load_steps("r2") == []
    got = journal.get_run("r1")
    assert got is not None and got.status == "running" and got.owner == "new"
    # The new owner's epoch passes; unfenced writes (a cancel from anywhere) always do.
    journal.write([Write("step", step=step("r1", "a", 0), epoch=2), Write("step", step=step("r2", "b", 0), epoch=1)])
    journal.write([Write("run_update", run_id="r1", fields={"status": "cancelled"})])
    assert [s.step_id for s in journal.load_steps("r1")] == ["a"]
    got = journal.get_run("r1")
    assert got is not None and got.status == "cancelled"


def test_a_lone_fenced_step_write_is_refused_for_a_stale_owner(journal: nd.Journal) -> None:
    """One step written alone (a sequential run's commit, the SQLite journal's own path): fenced, or not, as a batch."""
    add_run(journal, run("r1", status="running", owner="old", epoch=1))
    assert journal.claim_run("r1", "new", epoch=1, status="running", lease_until=None) == 2
    with pytest.raises(nd.ClaimLostError) as info:
        journal.write([Write("step", step=step("r1", "a", 0), epoch=1)])
    assert info.value.owners == {"r1": "new"}
    assert journal.load_steps("r1") == []
    journal.write([Write("step", step=step("r1", "a", 0, output="1"), epoch=2)])
    journal.write([Write("step", step=step("r1", "a", 0, output="2"))])  # unfenced: replaces the row
    assert [(s.step_id, s.output) for s in journal.load_steps("r1")] == [("a", "2")]


_rewrite_shapes = st.lists(
    st.tuples(
        st.sampled_from(["run", "run", "ai", "sleep"]),
        st.sampled_from(["completed", "completed", "failed", "retrying", "sleeping"]),
        st.none() | st.text(alphabet='ab"é{}1 ', max_size=8),  # output
        st.none() | st.just("datetime"),  # output tag
        st.sampled_from(["", "0123456789abcdef"]),  # input hash
        st.sampled_from(["", "fedcba9876543210", "Not-Hex"]),  # code hash
        st.none() | st.just({"type": "ValueError", "message": "m"}),  # error
        st.none() | st.just({"input": "[1]"}),  # meta
        st.none() | st.floats(0, 1e6, allow_nan=False),  # next_at
        st.integers(0, 3),  # attempt
    ),
    min_size=1,
    max_size=4,
)


_ERR = {"type": "ValueError", "message": "m"}
_DONE = ("run", "completed", "1", None, "", "fedcba9876543210", None, None, None, 2)  # a plain completed step


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=_rewrite_shapes, fenced=st.booleans())
# A retrying row with every column, then a plain completed one; and completed rows that are plain but for one column.
@example(
    shapes=[("run", "retrying", None, None, "0123456789abcdef", "", _ERR, {"input": "[1]"}, 5.0, 1), _DONE], fenced=True
)
@example(shapes=[_DONE, ("ai", *_DONE[1:])], fenced=False)
@example(shapes=[_DONE, (*_DONE[:3], "datetime", *_DONE[4:])], fenced=True)
@example(shapes=[_DONE, (*_DONE[:4], "0123456789abcdef", *_DONE[5:])], fenced=True)
@example(shapes=[_DONE, (*_DONE[:6], _ERR, *_DONE[7:])], fenced=True)
@example(shapes=[_DONE, (*_DONE[:7], {"input": "[1]"}, *_DONE[8:])], fenced=True)
@example(shapes=[_DONE, (*_DONE[:8], 5.0, _DONE[9])], fenced=True)
def test_a_step_rewritten_alone_reads_back_as_last_written(journal: nd.Journal, shapes: list, fenced: bool) -> None:  # type: ignore[type-arg]
    """Each write of a step replaces its row whole: a plain completed row after a retrying one keeps none of its
    error, meta or next time (the SQLite journal writes plain steps with a statement of their own columns)."""
    run_id = f"r{uuid.uuid4().hex}"  # the journal is shared by the examples
    add_run(journal, run(run_id, epoch=1))
    last = None
    for i, (kind, status, output, tag, input_hash, code_hash, error, meta, next_at, attempt) in enumerate(shapes):
        last = step(
            run_id,
            "s",
            0,
            kind=kind,
            status=status,
            attempt=attempt,
            output=output,
            output_tag=tag,
            input_hash=input_hash,
            code_hash=code_hash,
            error=error,
            meta=meta,
            next_at=next_at,
            started_at=float(i),
            ended_at=float(i) + 0.5,
        )
        journal.write([Write("step", step=last, epoch=1 if fenced else None)])
    assert journal.load_steps(run_id) == [last]


def test_renewing_leases_moves_only_the_holders_runs(journal: nd.Journal) -> None:
    add_run(journal, run("r1", owner="me", lease_until=1.0))
    add_run(journal, run("r2", owner="other", lease_until=1.0))
    journal.renew_leases("me", 50.0, runs=["r1", "r2"])
    assert [r.lease_until for r in sorted(journal.list_runs(), key=lambda r: r.run_id)] == [50.0, 1.0]


def test_reading_does_not_move_the_change_token(journal: nd.Journal) -> None:
    add_run(journal, run())
    journal.add_event("e1", "n", {}, 1.0)
    token = journal.change_token()
    journal.get_run("r1")
    journal.load_steps("r1")
    journal.list_runs()
    journal.events_after("n", 0)
    journal.step_counts(["r1"])
    assert journal.change_token() == token


def test_memory_change_token_moves_on_every_kind_of_change() -> None:
    journal = nd.MemoryJournal()
    tokens = [journal.change_token()]
    add_run(journal, run())
    tokens.append(journal.change_token())
    journal.add_event("e1", "n", {}, 1.0)
    tokens.append(journal.change_token())
    journal.claim_run("r1", "me", epoch=0, status="queued", lease_until=None)
    tokens.append(journal.change_token())
    journal.write([Write("run_update", run_id="r1", fields={"status": "running"})])
    tokens.append(journal.change_token())
    assert len(set(tokens)) == len(tokens), tokens


def _token_moves(j: nd.Journal, before: int) -> int:
    """The token once it moved from ``before``: at once on SQLite, when the notification arrives on PostgreSQL."""
    deadline = time.monotonic() + 10
    while (token := j.change_token()) == before and time.monotonic() < deadline:
        time.sleep(0.005)
    return token


def test_change_token_moves_when_another_connection_commits(two: tuple[nd.Journal, nd.Journal]) -> None:
    """What another process does (a cancel from the CLI, an event, a claim) is what a poller must notice."""
    a, b = two
    if hasattr(a, "wait_listening"):
        assert a.wait_listening()
    tokens = [a.change_token()]
    add_run(b, run())
    tokens.append(_token_moves(a, tokens[-1]))
    b.add_event("e1", "n", {}, 1.0)
    tokens.append(_token_moves(a, tokens[-1]))
    b.claim_run("r1", "me", epoch=0, status="queued", lease_until=None)
    tokens.append(_token_moves(a, tokens[-1]))
    b.write([Write("run_update", run_id="r1", fields={"status": "cancelled"})])
    tokens.append(_token_moves(a, tokens[-1]))
    assert len(set(tokens)) == len(tokens), tokens
    got = a.get_run("r1")
    assert got is not None and got.status == "cancelled" and got.owner == "me"


def test_timestamps_are_floats(journal: nd.Journal) -> None:
    now = time.time()
    add_run(journal, run(created_at=now, updated_at=now))
    got = journal.get_run("r1")
    assert got is not None and got.created_at == now


def ev(i: int) -> dict[str, object]:
    """A run's trigger event as the engine journals it."""
    return {"name": "doc/typed", "data": {"i": i}, "id": f"e{i}", "ts": 1000.0 + i}


def test_update_run_if_is_compare_and_set_on_the_fields_read(journal: nd.Journal) -> None:
    add_run(journal, run(status="queued", event=ev(0), options={"debounce_key": "k", "until": 1.5}))
    read = journal.get_run("r1")
    assert read is not None
    expect = {"event": read.event, "options": read.options}
    joined = {"event": ev(1), "options": {"debounce_key": "k", "until": 2.5}}
    assert journal.update_run_if("r1", joined, expect=expect, status="queued", trigger=("e1", "fn"))
    assert journal.runs_for_event("e1") == [("fn", "r1")]
    # What was read is stale now: a second writer with it changes nothing, and links no event.
    assert not journal.update_run_if("r1", {"event": ev(2)}, expect=expect, trigger=("e2", "fn"))
    assert journal.runs_for_event("e2") == []
    got = journal.get_run("r1")
    assert got is not None and got.event == ev(1) and got.options == joined["options"]
    # A status or an epoch not the run's refuses; so does an event that already started a run of the function.
    fresh = {"event": got.event, "options": got.options}
    assert not journal.update_run_if("r1", {"status_reason": "x"}, expect=fresh, status="running")
    assert not journal.update_run_if("r1", {"status_reason": "x"}, expect=fresh, epoch=5)
    assert not journal.update_run_if("r1", {"event": ev(3)}, expect=fresh, trigger=("e1", "fn"))
    got = journal.get_run("r1")
    assert got is not None and got.event == ev(1) and got.status_reason is None
    assert journal.update_run_if("r1", {"status_reason": "ok"}, expect={"owner": None, **fresh}, epoch=0)
    with pytest.raises(nd.JournalError, match="nope"):
        journal.update_run_if("r1", {"nope": 1}, expect={})


def test_a_debounced_event_and_the_start_it_races_never_both_win(two: tuple[nd.Journal, nd.Journal]) -> None:
    """Two connections in two threads: one joins events to a pending run, the other starts that run.

    Each event either joined before the start (the run started with it or a later one) or found the run
    started and was left to start a run of its own: no event is linked to a run that started without it.
    """
    import threading

    sender, runner = two
    add_run(sender, run(status="queued", event=ev(0), options={"debounce_key": "k"}))
    joined: list[int] = []
    left: list[int] = []
    started: list[dict[str, object]] = []

    def send() -> None:
        for i in range(1, 120):
            while True:
                rec = sender.get_run("r1")
                assert rec is not None and rec.options is not None
                if "started_running_at" in rec.options:
                    left.append(i)
                    break
                if sender.update_run_if(
                    "r1",
                    {"event": ev(i), "options": {**rec.options, "last": i}},
                    expect={"event": rec.event, "options": rec.options},
                    status="queued",
                    trigger=(f"e{i}", "fn"),
                ):
                    joined.append(i)
                    break

    def start() -> None:
        time.sleep(0.02)
        while True:
            rec = runner.get_run("r1")
            assert rec is not None and rec.options is not None
            options = {**rec.options, "started_running_at": time.time()}
            if runner.update_run_if("r1", {"options": options}, expect={"event": rec.event, "options": rec.options}):
                assert rec.event is not None
                started.append(rec.event)
                return

    threads = [threading.Thread(target=send), threading.Thread(target=start)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    [took] = started
    last_joined = max(joined, default=0)
    assert took == ev(last_joined), f"the run started with {took}, the last event joined was {last_joined}"
    assert all(i > last_joined for i in left)
    assert sorted(joined + left) == list(range(1, 120))
    assert all(sender.runs_for_event(f"e{i}") == [("fn", "r1")] for i in joined)
    assert not any(sender.runs_for_event(f"e{i}") for i in left)


# -- workers: reserving runs handed to workers, cursors ------------------------------------------------


def test_claim_next_reserves_unowned_worker_runs_oldest_first(journal: nd.Journal) -> None:
    add_run(journal, run("local", "fn", created_at=1.0))  # no queue: runs where it was started, never a worker's
    for i, (queue, status, owner, lease) in enumerate(
        [
            ("default", "queued", None, None),
            ("gpu", "queued", None, None),
            ("default", "running", "dead:1:1", 5.0),  # its owner's lease ran out
            ("default", "running", "live:1:1", 500.0),
            ("default", "completed", None, None),
            ("default", "sleeping", None, None),  # released by a worker that stopped
        ]
    ):
        add_run(
            journal, run(f"w{i}", "fn", status=status, queue=queue, owner=owner, lease_until=lease, created_at=10.0 + i)
        )
    add_run(journal, run("other-fn", "other", queue="default", created_at=20.0))
    got = journal.claim_next("me", queues=None, function_ids=["fn"], now=100.0, lease_until=130.0, limit=10)
    assert [r.run_id for r in got] == ["w0", "w1", "w2", "w5"]
    assert all((r.owner, r.lease_until) == ("me", 130.0) for r in got)
    assert [r.epoch for r in got] == [0, 0, 0, 0]  # the engine's claim_run bumps it
    stored = journal.get_run("w2")
    assert stored is not None and (stored.owner, stored.status) == ("me", "running")
    # Reserved now: nobody else gets them while the lease holds.
    assert journal.claim_next("you", queues=None, function_ids=["fn"], now=101.0, lease_until=131.0, limit=10) == []
    # Once that lease runs out, they can be taken over.
    again = journal.claim_next("you", queues=["default"], function_ids=["fn"], now=200.0, lease_until=230.0, limit=2)
    assert [r.run_id for r in again] == ["w0", "w2"]


def test_claim_next_filters_and_limits(journal: nd.Journal) -> None:
    for i, (fn, queue) in enumerate([("a", "q1"), ("b", "q1"), ("a", "q2"), ("a", "q1")]):
        add_run(journal, run(f"r{i}", fn, queue=queue, created_at=float(i)))
    assert (
        journal.claim_next("me", queues=["q1"], function_ids=["a"], now=1.0, lease_until=9.0, limit=1)[0].run_id == "r0"
    )
    assert [
        r.run_id for r in journal.claim_next("me", queues=["q1"], function_ids=["a"], now=1.0, lease_until=9.0, limit=5)
    ] == ["r3"]
    assert journal.claim_next("me", queues=None, function_ids=[], now=1.0, lease_until=9.0, limit=5) == []
    assert [
        r.run_id
        for r in journal.claim_next("me", queues=None, function_ids=["a", "b"], now=1.0, lease_until=9.0, limit=5)
    ] == ["r1", "r2"]


def test_two_workers_never_reserve_the_same_run(two: tuple[nd.Journal, nd.Journal]) -> None:
    import threading

    a, b = two
    for i in range(60):
        add_run(a, run(f"r{i:02d}", "fn", queue="default", created_at=float(i)))
    got: dict[str, list[str]] = {"a": [], "b": []}

    def take(name: str, j: nd.Journal) -> None:
        while True:
            batch = j.claim_next(name, queues=None, function_ids=["fn"], now=1.0, lease_until=99.0, limit=3)
            if not batch:
                return
            got[name].extend(r.run_id for r in batch)

    threads = [threading.Thread(target=take, args=(n, j)) for n, j in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got["a"] + got["b"]) == [f"r{i:02d}" for i in range(60)]
    assert not set(got["a"]) & set(got["b"])
    owners = {r.run_id: r.owner for r in a.list_runs()}
    assert all(owners[r] == name for name in got for r in got[name])


def test_cursors_move_only_from_where_they_were_seen(journal: nd.Journal) -> None:
    assert journal.get_cursor("dispatch:fn") is None
    assert journal.move_cursor("dispatch:fn", 5, expect=None) is True
    assert journal.move_cursor("dispatch:fn", 9, expect=None) is False  # exists already
    assert journal.move_cursor("dispatch:fn", 9, expect=4) is False  # someone else moved it
    assert journal.get_cursor("dispatch:fn") == 5
    assert journal.move_cursor("dispatch:fn", 9, expect=5) is True
    assert journal.get_cursor("dispatch:fn") == 9
    assert journal.get_cursor("dispatch:other") is None


# -- flow control: slots, queues, windows ------------------------------------------------------------


def test_slots_are_taken_in_rank_order_and_given_back(journal: nd.Journal) -> None:
    now = 100.0
    take = journal.acquire_slot
    assert take("conc:f:0", "", "r1", "p1", limit=2, rank=1.0, expires_at=now + 15, now=now) == (True, 1, 0)
    assert take("conc:f:0", "", "r2", "p1", limit=2, rank=2.0, expires_at=now + 15, now=now) == (True, 2, 0)
    # Full: later runs queue, in rank order whatever order they ask in.
    assert take("conc:f:0", "", "r4", "p2", limit=2, rank=4.0, expires_at=now + 15, now=now) == (False, 2, 0)
    assert take("conc:f:0", "", "r3", "p2", limit=2, rank=3.0, expires_at=now + 15, now=now) == (False, 2, 0)
    assert take("conc:f:0", "", "r4", "p2", limit=2, rank=4.0, expires_at=now + 15, now=now) == (False, 2, 1)
    # Asking again while holding renews: still one slot.
    assert take("conc:f:0", "", "r1", "p1", limit=2, rank=1.0, expires_at=now + 30, now=now) == (True, 2, 0)
    journal.release_slot("conc:f:0", "", "r1")
    # The freed slot goes to the first in the queue, not to whoever asks first.
    assert take("conc:f:0", "", "r4", "p2", limit=2, rank=4.0, expires_at=now + 15, now=now) == (False, 1, 1)
    assert take("conc:f:0", "", "r3", "p2", limit=2, rank=3.0, expires_at=now + 15, now=now) == (True, 2, 0)
    # Other keys and scopes are separate.
    assert take("conc:f:0", "tenant-b", "r9", "p3", limit=1, rank=9.0, expires_at=now + 15, now=now) == (True, 1, 0)
    assert sorted(journal.slot_holders("conc:f:0", "")) == ["p1", "p2"]
    assert journal.slot_holders("conc:f:0", "tenant-b") == ["p3"]


def test_expired_leases_and_dead_holders_free_their_slots(journal: nd.Journal) -> None:
    take = journal.acquire_slot
    assert take("s", "", "r1", "dead", limit=1, rank=1.0, expires_at=110.0, now=100.0)[0] is True
    assert take("s", "", "r2", "live", limit=1, rank=2.0, expires_at=115.0, now=100.0)[0] is False
    # The lease runs out: the next to ask (first in the queue) gets the slot.
    assert take("s", "", "r2", "live", limit=1, rank=2.0, expires_at=126.0, now=111.0) == (True, 1, 0)
    assert take("s", "k", "r3", "dead", limit=1, rank=1.0, expires_at=999.0, now=111.0)[0] is True
    assert take("s", "k", "r4", "dead", limit=1, rank=2.0, expires_at=999.0, now=111.0)[0] is False
    assert journal.drop_holder("dead") == 1
    assert journal.slot_holders("s", "k") == []
    assert take("s", "k", "r5", "live", limit=1, rank=3.0, expires_at=999.0, now=112.0) == (True, 1, 0)


def test_the_heartbeat_keeps_leases_and_queue_places(journal: nd.Journal) -> None:
    take = journal.acquire_slot
    assert take("s", "", "r1", "me", limit=1, rank=1.0, expires_at=110.0, now=100.0)[0] is True
    journal.renew_leases("me", 200.0)
    # Without the renewal this lease would have expired at 110.
    assert take("s", "", "r2", "you", limit=1, rank=2.0, expires_at=150.0, now=150.0) == (False, 1, 0)


def test_windows_count_marks_and_weights(journal: nd.Journal) -> None:
    mark = journal.take_mark
    assert mark("throttle:f", "", now=10.0, since=0.0, max_count=2, max_weight=None, weight=1) == (True, None)
    assert mark("throttle:f", "", now=11.0, since=1.0, max_count=2, max_weight=None, weight=1) == (True, None)
    assert mark("throttle:f", "", now=12.0, since=2.0, max_count=2, max_weight=None, weight=1) == (False, 10.0)
    # The oldest mark leaves the window: room again.
    assert mark("throttle:f", "", now=20.5, since=10.5, max_count=2, max_weight=None, weight=1) == (True, None)
    assert mark("throttle:f", "other", now=12.0, since=2.0, max_count=2, max_weight=None, weight=1) == (True, None)
    # Token budgets: marks carry weights; a check with weight 0 adds nothing that counts.
    journal.add_mark("limit", "m:tok", 30.0, 900)
    assert mark("limit", "m:tok", now=31.0, since=0.0, max_count=None, max_weight=1000, weight=0) == (True, None)
    journal.add_mark("limit", "m:tok", 32.0, 200)
    ok, oldest = mark("limit", "m:tok", now=33.0, since=0.0, max_count=None, max_weight=1000, weight=0)
    assert (ok, oldest) == (False, 30.0)


# Values of every SQLite storage class, for a column edited by hand: what load_steps makes of them, load_replay
# must make too (a plain row's other columns are checked by SQLite without being fetched).
_EDITED = st.sampled_from(
    [
        None, 0, 1, -3, 2**62, 1.5, 0.0, -2.5, 1e300, float("inf"),
        "", "x", "run", "completed", "12", "1.5", "{}", b"", b"\x01", b"\xff\xfe",
        '{"input":"[1]"}', '{"input":5}', ' {"input":"[1]"}', '{"input":"[1]"} ', '{"attempts":[]}', "[]",
    ]
)  # fmt: skip
_COLUMNS = st.sampled_from(
    [
        "name", "position", "kind", "status", "attempt", "input_hash", "output", "output_tag", "error",
        "started_at", "ended_at", "next_at", "meta", "code_hash",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 2), _COLUMNS, _EDITED), min_size=1, max_size=3))
def test_load_replay_checks_every_column_of_an_edited_row(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, str, object]]
) -> None:
    """Property: whatever an edited journal holds in any column of a plain step's row, load_replay gives what
    load_steps gives (a damaged row among the records, marked, never plain), including the columns it does not
    fetch for plain rows."""
    import contextlib
    import sqlite3

    path = tmp_path_factory.mktemp("edited") / "journal.db"
    journal = nd.SQLiteJournal(path)
    try:
        add_run(journal, run("r"))
        journal.write(
            [
                Write("step", step=step("r", f"s{i}", i, output=f'"v{i}"', code_hash="0123456789abcdef", ended_at=2.0))
                for i in range(3)
            ]
        )
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            for index, column, value in edits:
                with contextlib.suppress(sqlite3.IntegrityError):  # NULL in a NOT NULL column: SQLite keeps none
                    conn.execute(f"UPDATE steps SET {column}=? WHERE step_id=?", (value, f"s{index}"))
        loaded = {s.step_id: s for s in journal.load_steps("r")}
        replay = journal.load_replay("r")
        got = {s.step_id: s for s in replay.records}
        for row in replay.plain:
            rec = replay.record(row)
            assert rec.damaged == () and (rec.kind, rec.status, rec.error, rec.next_at) == (
                "run",
                "completed",
                None,
                None,
            ), rec
            assert rec.meta is None or type(rec.meta) is dict, rec  # as written (an inputs' preview), never damaged
            assert type(rec.attempt) is int and type(rec.started_at) is float
            assert rec.ended_at is None or type(rec.ended_at) is float
            got[rec.step_id] = rec
        assert got == loaded
        assert len(replay.plain) + len(replay.records) == 3
        assert [r.step_id for r in replay.whole(replay.plain)] == [row[PLAIN_STEP_ID] for row in replay.plain]
    finally:
        journal.close()
