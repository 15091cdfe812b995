"""The API's operations without HTTP: listing, filters and pagination over several journals, finding runs,
timelines, and the actions that run in the server process."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.engine import registry
from nbdurable.server._errors import ApiError
from nbdurable.server._journals import JournalSet
from nbdurable.server._service import ListQuery, Service, decode_cursor, encode_cursor
from nbdurable.timeline._snapshot import build_snapshot
from tests.server.conftest import add_runs, record, step

A = "a/.nbdurable/journal.db"
B = "b/.nbdurable/journal.db"


@pytest.fixture
def service(root: Path) -> Iterator[Service]:
    svc = Service(JournalSet(root))
    yield svc
    svc.journals.close()


def listing(service: Service, **query: Any) -> dict[str, Any]:
    return service.list_runs(ListQuery(**{k: None if v is None else str(v) for k, v in query.items()}))


def ids(page: dict[str, Any]) -> list[str]:
    return [r["run_id"] for r in page["runs"]]


def test_filters_and_counts(root: Path, service: Service) -> None:
    add_runs(
        root / A,
        record("a1", "fetch", status="completed", created=1.0),
        record("a2", "fetch", status="failed", created=2.0, error={"type": "KeyError", "message": "no 'price' field"}),
        record("a3", "cell:report", status="queued", created=3.0, status_reason="queued: 2 of 2 slots busy"),
    )
    add_runs(root / B, record("b1", "fetch", status="cancelled", created=4.0))
    assert ids(listing(service)) == ["b1", "a3", "a2", "a1"]
    assert ids(listing(service, status="failed,cancelled")) == ["b1", "a2"]
    assert ids(listing(service, function="fetch", journal=A)) == ["a2", "a1"]
    assert ids(listing(service, text="PRICE")) == ["a2"]  # searches error messages, case-insensitively
    assert ids(listing(service, text="slots busy")) == ["a3"]
    page = listing(service, journal=B)
    assert page["counts"] == {"cancelled": 1} and page["total"] == 1 and page["errors"] == []
    assert listing(service)["counts"] == {"completed": 1, "failed": 1, "queued": 1, "cancelled": 1}
    assert {r["journal"] for r in listing(service)["runs"]} == {A, B}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "done"}, "unknown status done"),
        ({"limit": "0"}, "limit must be"),
        ({"limit": "many"}, "limit must be"),
        ({"limit": "501"}, "limit must be"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": encode_cursor((1.0, "j", "r"))[:-2] + "!!"}, "cursor"),
        ({"text": "x" * 501}, "text parameter"),
    ],
)
def test_bad_listing_parameters_are_400(query: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError, match=message) as caught:
        ListQuery(**query)
    assert caught.value.status_code == 400


def test_cursors_round_trip() -> None:
    key = (1795789359.968905, "p/.nbdurable/journal.db", "run ~1 #2")
    assert decode_cursor(encode_cursor(key)) == key


_runs = st.lists(
    st.tuples(st.sampled_from([A, B]), st.integers(0, 5)),  # journal, created_at (few values: many ties)
    min_size=0,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=_runs, limit=st.integers(1, 7))
def test_pages_give_every_run_once_in_order(tmp_path_factory: pytest.TempPathFactory, runs: list, limit: int) -> None:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("root")
    expected = [(-created, journal, f"r{n:02d}") for n, (journal, created) in enumerate(runs)]
    for journal in {j for j, _ in runs}:
        add_runs(root / journal, *[record(r, status="completed", created=-c) for c, j, r in expected if j == journal])
    service = Service(JournalSet(root))
    try:
        seen: list[str] = []
        cursor = None
        for _ in range(len(runs) + 2):
            page = listing(service, limit=limit, cursor=cursor)
            assert len(page["runs"]) <= limit and page["total"] == len(runs)
            seen += ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        # Newest first, then by journal, then by run id descending: a total order, so pages never overlap.
        order = sorted(expected, key=lambda k: (k[0], k[1], [-ord(c) for c in k[2]]))
        assert seen == [run_id for _, _, run_id in order]
    finally:
        service.journals.close()


def test_find_and_the_snapshot(root: Path, service: Service) -> None:
    add_runs(
        root / A,
        record("same", "fn", status="completed"),
        record("r1", "fn", status="completed"),
        steps={"r1": [step("r1", "a", 0, started_at=1.0, ended_at=2.0, output="1")]},
    )
    add_runs(root / B, record("same", "fn", status="failed"))
    with pytest.raises(ApiError) as several:
        service.find("same", None)
    assert several.value.status_code == 409 and several.value.detail["journals"] == [A, B]
    assert service.find("same", B)[0].key == B
    with pytest.raises(ApiError) as missing:
        service.find("nope", None)
    assert missing.value.status_code == 404
    served, _ = service.find("r1", None)
    got = service.snapshot(served, "r1")
    engine = nd.Engine(nd.SQLiteJournal(root / A))
    try:
        want = build_snapshot(engine, "r1")
    finally:
        engine.journal.close()
    got["run"].pop("now"), want["run"].pop("now")
    assert got == want and got["steps"][0]["step_id"] == "a"


def test_resume_and_rerun_answer_409_with_where_to_do_it(root: Path, service: Service) -> None:
    origin = {"origin": {"notebook": str(root / "nb.ipynb"), "cell_id": "cell-7"}}
    add_runs(
        root / A,
        record("cellrun", "cell:demo", status="interrupted", kind="cell", options=origin, source="x = 1"),
        record("fnrun", "not-here", status="interrupted"),
        record("done", "not-here", status="completed"),
        steps={"fnrun": [step("fnrun", "first", 0)], "cellrun": [step("cellrun", "s", 0)]},
    )
    served = service.journals.get(A)
    with pytest.raises(ApiError) as cell:
        service.resume(served, "cellrun")
    assert cell.value.status_code == 409
    assert cell.value.detail["resume_in"] == {
        "where": "notebook",
        "notebook": "nb.ipynb",
        "cell_id": "cell-7",
        "code": "%durable resume cellrun",
    }
    with pytest.raises(ApiError) as fn:
        service.rerun(served, "fnrun", "first")
    assert fn.value.detail["resume_in"]["code"] == "nd.rerun('fnrun', from_step='first')"
    assert "c.NbDurable.function_modules" in fn.value.message
    with pytest.raises(ApiError) as completed:
        service.resume(served, "done")
    assert completed.value.status_code == 409 and "nothing to resume" in completed.value.message
    with pytest.raises(ApiError) as no_step:
        service.rerun(served, "fnrun", "second")
    assert no_step.value.status_code == 400 and "'first'" in no_step.value.message
    assert served.index().journal.get_run("fnrun~1") is None  # a refused rerun writes nothing


@pytest.fixture
def defined() -> Iterator[None]:
    """A workflow defined in this process, as c.NbDurable.function_modules would define it in the server."""
    saved = dict(registry())
    calls: list[str] = []

    @nd.function(id="here")
    async def here(ctx: nd.Context) -> int:
        first = await ctx.step.run("first", lambda: calls.append("first") or 1)
        second = await ctx.step.run("second", lambda: calls.append("second") or 2)
        return first + second

    yield
    registry().clear()
    registry().update(saved)


@pytest.mark.asyncio
async def test_resume_and_rerun_execute_in_the_server_process(root: Path, service: Service, defined: None) -> None:
    add_runs(
        root / A,
        record("r1", "here", status="interrupted", event={"name": "here/run", "data": {}, "id": "r1", "ts": 1.0}),
        steps={"r1": [step("r1", "first", 0, output="1", started_at=1.0, ended_at=1.0)]},
    )
    served = service.journals.get(A)
    answer = service.resume(served, "r1")
    assert answer["where"] == "server"
    engine = served.engine()
    await engine.handle("r1").result()
    assert engine.journal.get_run("r1").status == "completed"  # type: ignore[union-attr]
    rerun = service.rerun(served, "r1", "second")
    assert rerun["run_id"] == "r1~1" and rerun["rerun_of"] == "r1"
    assert await engine.handle("r1~1").result() == 3


@pytest.mark.asyncio
async def test_cancel_and_send(root: Path, service: Service) -> None:
    add_runs(root / A, record("w1", "elsewhere", status="waiting"), record("c1", "x", status="completed"))
    served = service.journals.get(A)
    assert service.cancel(served, "w1", "no longer needed")["status"] == "cancelled"
    with pytest.raises(ApiError) as again:
        service.cancel(served, "w1", "again")
    assert again.value.status_code == 409 and again.value.detail["status"] == "cancelled"
    first = service.send(served, "approve", {"ok": True}, "ev-1")
    second = service.send(served, "approve", {"ok": True}, "ev-1")
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    event = served.index().journal.get_event("ev-1")
    assert event is not None and event.data == {"ok": True}
    with pytest.raises(ApiError) as bad:
        service.send(served, " ", {}, None)
    assert bad.value.status_code == 400


def test_which_journal_an_event_goes_to(root: Path, tmp_path: Path) -> None:
    add_runs(root / A, record("a", status="completed"))
    service = Service(JournalSet(root))
    try:
        assert service.event_journal(None).key == A  # the only one
        add_runs(root / B, record("b", status="completed"))
        service.journals.refresh(force=True)
        with pytest.raises(ApiError, match="say which journal"):
            service.event_journal(None)
    finally:
        service.journals.close()
    env = tmp_path / "env.db"
    add_runs(env, record("e", status="completed"))
    service = Service(JournalSet(root, env=str(env)))
    try:
        assert service.event_journal(None).key == str(env)
    finally:
        service.journals.close()


def test_listing_reports_a_broken_journal_and_lists_the_others(root: Path, service: Service) -> None:
    add_runs(root / A, record("a1", status="completed"))
    broken = root / "broken" / ".nbdurable" / "journal.db"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not sqlite " * 500)
    page = listing(service)
    assert ids(page) == ["a1"]
    assert [e["journal"] for e in page["errors"]] == ["broken/.nbdurable/journal.db"]


def test_step_progress_of_many_runs_is_summarized_in_one_page(root: Path, service: Service) -> None:
    runs = [record(f"r{i}", status="completed", created=float(i)) for i in range(30)]
    steps = {f"r{i}": [step(f"r{i}", f"s{j}", j) for j in range(i % 4)] for i in range(30)}
    add_runs(root / A, *runs, steps=steps)
    page = listing(service, limit=30)
    assert {r["run_id"]: r["steps_done"] for r in page["runs"]} == {f"r{i}": i % 4 for i in range(30)}
    assert list(itertools.islice((r["run_id"] for r in page["runs"]), 3)) == ["r29", "r28", "r27"]


@pytest.mark.postgres
def test_a_postgresql_journal_is_served_with_its_password_masked(root: Path, pg_url: str) -> None:
    """$NBDURABLE_JOURNAL (or c.NbDurable.journals) naming PostgreSQL: the server lists its runs, whoever ran them."""
    from nbdurable.journal._backends import open_journal
    from nbdurable.journal._protocol import Write

    journal = open_journal(pg_url)
    try:
        journal.write([Write("run", run=record("pg1", status="completed")), Write("run", run=record("pg2"))])
    finally:
        journal.close()
    add_runs(root / A, record("a1", status="completed"))
    with_password = pg_url.replace("postgresql://nbd@", "postgresql://nbd:s3cret@")
    service = Service(JournalSet(root, env=with_password))
    try:
        served = {j.key: j.source for j in service.journals.all()}
        (pg_key,) = [key for key in served if key.startswith("postgresql://")]
        assert served[pg_key] == "env" and "s3cret" not in pg_key
        page = listing(service)
        assert sorted(ids(page)) == ["a1", "pg1", "pg2"] and not page["errors"]
        assert {r["run_id"]: r["journal"] for r in page["runs"]}["pg1"] == pg_key
        assert ids(listing(service, journal=pg_key, status="completed")) == ["pg1"]
    finally:
        service.journals.close()
