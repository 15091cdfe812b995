"""Tests for nbdurable.engine._events: the Event type, coercion of user input, trigger matching, the door check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.engine._events import Event, coerce_event, trigger_matches
from nbdurable.engine._serde import encode
from tests.helpers import until


def test_event_is_exported_and_frozen() -> None:
    assert nd.Event is Event
    ev = Event("app/thing.happened", {"n": 1}, "id-1", 12.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.name = "other"  # type: ignore[misc]


def test_event_defaults_do_not_share_data() -> None:
    a, b = Event("x"), Event("x")
    assert a.data == {} and a.id == "" and a.ts == 0.0
    assert a.data is not b.data


def test_to_dict_from_dict_round_trip() -> None:
    ev = Event("app/x", {"nested": {"list": [1, "two"]}}, "e-1", 3.0)
    raw = ev.to_dict()
    assert raw == {"name": "app/x", "data": {"nested": {"list": [1, "two"]}}, "id": "e-1", "ts": 3.0}
    assert Event.from_dict(raw) == ev


def test_from_dict_fills_missing_fields() -> None:
    assert Event.from_dict({"name": "a"}) == Event("a", {}, "", 0.0)
    assert Event.from_dict({"name": "a", "data": None}).data == {}


def test_coerce_passes_events_through() -> None:
    ev = Event("a", {"k": 1})
    assert coerce_event(ev) is ev


def test_coerce_dicts() -> None:
    assert coerce_event({"name": "a"}) == Event("a", {}, "")
    assert coerce_event({"name": "a", "data": {"k": 1}, "id": "x"}) == Event("a", {"k": 1}, "x")
    assert coerce_event({"name": "a", "id": 7}).id == "7"


@pytest.mark.parametrize("bad", [None, "app/x", 3, ["app/x"], {"data": {}}, {"name": 5}])
def test_coerce_refuses_what_is_not_an_event(bad: object) -> None:
    with pytest.raises(nd.ConfigError, match=r"nd.Event\(name, data\)") as info:
        coerce_event(bad, where="step.send_event('notify')")
    assert "step.send_event('notify')" in str(info.value)


def test_coerce_refuses_non_dict_data() -> None:
    with pytest.raises(nd.ConfigError, match="data must be a dict, got list"):
        coerce_event({"name": "a", "data": [1, 2]})


@pytest.mark.parametrize(
    ("trigger", "name", "matches"),
    [
        ("app/created", "app/created", True),
        ("app/created", "app/created2", False),
        ("app/created", "App/Created", False),
        ("app/*", "app/created", True),
        ("app/*", "app/", True),
        ("app/*", "application/created", False),
        ("app/*", "other/app/created", False),
        ("*", "anything/at.all", True),
        ("*.created", "order.created", True),
        ("*.created", "order.updated", False),
        ("app/*.created", "app/ticket.created", True),
    ],
)
def test_trigger_matching(trigger: str, name: str, matches: bool) -> None:
    assert trigger_matches(trigger, name) is matches


# -- sending ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_send_persists_the_event(journal_path: Path) -> None:
    handles = await nd.send("evtest-persist/happened", {"k": [1, 2]}, id="evt-1")
    assert handles == []  # nothing is triggered by it
    stored = nd.get_engine().journal.get_event("evt-1")
    assert stored is not None
    assert stored.name == "evtest-persist/happened"
    assert stored.data == {"k": [1, 2]}
    assert stored.seq >= 1
    # The event is in the file, not only in this process.
    other = nd.SQLiteJournal(journal_path)
    try:
        assert other.get_event("evt-1") == stored
    finally:
        other.close()


@pytest.mark.asyncio
async def test_send_without_id_gets_a_fresh_id_each_time(journal_path: Path) -> None:
    await nd.send("evtest-fresh/a")
    await nd.send("evtest-fresh/a")
    events = nd.get_engine().journal.events_after("evtest-fresh/a", 0)
    assert len(events) == 2
    assert events[0].event_id != events[1].event_id


@pytest.mark.asyncio
async def test_send_validates_its_input(journal_path: Path) -> None:
    with pytest.raises(nd.InvalidEventError, match="event name must be a non-empty string"):
        await nd.send("")
    with pytest.raises(nd.InvalidEventError, match="event name must be a non-empty string"):
        await nd.send("   ")
    with pytest.raises(nd.ConfigError, match=r"data must be a JSON object \(a dict\), got list"):
        await nd.send("evtest/x", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(nd.InvalidEventError, match=r"data\['when'\] is a builtins.object; event data holds only JSON"):
        await nd.send("evtest/x", {"when": object()})
    # Nothing was stored by the refused calls.
    assert nd.get_engine().journal.last_event_seq() == 0


# -- the check at the door (nd.validate_event) ----------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ...}}`` with ``depth`` objects, built without recursion."""
    data: dict[str, Any] = {}
    for _ in range(depth - 1):
        data = {"a": data}
    return data


@pytest.mark.parametrize(
    ("name", "data", "event_id", "message"),
    [
        ("t/x", {"note": "\ud800"}, None, r"data\['note'\] is not valid UTF-8 text"),
        ("t/x", {"a": [1, {"b": "ok\udcff"}]}, None, r"data\['a'\]\[1\]\['b'\] is not valid UTF-8"),
        ("t/x", {"\ud800": 1}, None, "has a key that is not valid UTF-8"),
        ("t/x", {"v": float("nan")}, None, r"data\['v'\] is nan, which JSON cannot hold"),
        ("t/x", {"v": [float("-inf")]}, None, r"is -inf, which JSON cannot hold"),
        ("t/x", {1: "a"}, None, "has the key 1 .int.; JSON object keys are strings"),
        ("t/x", {"t": (1, 2)}, None, r"data\['t'\] is a builtins.tuple"),
        ("t/x", {"n": 10**5000}, None, "cannot be written as JSON .*send very large numbers as strings"),
        ("t/x", _nested(65), None, "nested more than 64 levels deep; the limit is 64"),
        ("t/x", _nested(100_000), None, "nested more than 64 levels deep; the limit is 64"),
        ("t/x", {"big": "x" * 1_048_576}, None, "bytes as JSON; the limit is 1,048,576"),
        ("t/\udcff", {}, None, "event name 't/\\\\udcff' is not valid UTF-8"),
        ("t/x\n", {}, None, "holds control characters or spaces at its ends"),
        (" t/x", {}, None, "holds control characters or spaces at its ends"),
        ("t/" + "x" * 300, {}, None, "event name is 302 characters long; the limit is 256"),
        ("t/x", {}, "id\x00", "event id 'id.x00' holds control characters"),
        ("t/x", {}, "i" * 257, "event id is 257 characters long"),
        ("t/x", {}, 7, "event id must be a non-empty string, got 7"),
        (None, {}, None, "event name must be a non-empty string, got None"),
    ],
)
def test_validate_event_refuses_what_would_not_round_trip(name: Any, data: Any, event_id: Any, message: str) -> None:
    with pytest.raises(nd.InvalidEventError, match=message):
        nd.validate_event(name, data, id=event_id)


def test_validate_event_accepts_events_at_the_limits() -> None:
    limits = nd.EventLimits()
    name, data, event_id = nd.validate_event("a" * 256, _nested(64), id="i" * 256)
    assert (name, event_id) == ("a" * 256, "i" * 256)
    assert data == _nested(64)
    # Exactly max_bytes of compact JSON passes; one more byte does not.
    filler = "x" * (limits.max_bytes - len('{"k":""}'))
    assert nd.validate_event("t/x", {"k": filler})[1]["k"] == filler
    with pytest.raises(nd.InvalidEventError, match="more than 1,048,576 bytes"):
        nd.validate_event("t/x", {"k": filler + "x"})
    # Non-ASCII text counts in UTF-8 bytes, as stored.
    with pytest.raises(nd.InvalidEventError, match="bytes as JSON"):
        nd.validate_event("t/x", {"k": "é" * (limits.max_bytes // 2)})
    assert nd.validate_event("t/x", None) == ("t/x", {}, None)


def test_event_limits_are_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    small = nd.EventLimits(max_bytes=100, max_depth=2)
    with pytest.raises(nd.InvalidEventError, match="nested more than 2 levels deep; the limit is 2"):
        nd.validate_event("t/x", {"a": {"b": {}}}, limits=small)
    with pytest.raises(nd.InvalidEventError, match="the limit is 100 "):
        nd.validate_event("t/x", {"a": "x" * 100}, limits=small)
    monkeypatch.setenv("NBDURABLE_EVENT_MAX_DEPTH", "3")
    assert nd.EventLimits.from_env().max_depth == 3
    monkeypatch.setenv("NBDURABLE_EVENT_MAX_DEPTH", "lots")
    with pytest.raises(nd.ConfigError, match="NBDURABLE_EVENT_MAX_DEPTH must be a positive whole number"):
        nd.EventLimits.from_env()
    monkeypatch.setenv("NBDURABLE_EVENT_MAX_DEPTH", "0")
    with pytest.raises(nd.ConfigError, match=r"max_depth must be an int of at least 1.*NBDURABLE_EVENT_MAX_DEPTH"):
        nd.EventLimits.from_env()
    with pytest.raises(nd.ConfigError, match="max_id_length must be an int of at least 40"):
        nd.EventLimits(max_id_length=10)


@pytest.mark.asyncio
async def test_a_refused_send_leaves_the_waiting_run_unharmed(tmp_path: Path) -> None:
    from tests.helpers import reset_engine

    reset_engine()
    nd.configure(tmp_path / "j.db", poll_interval=0.02, event_limits=nd.EventLimits(max_depth=4))

    async def wf(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event("approval", event="door/approved", timeout="1m")
        return None if got is None else got.data

    waiter = nd.function(id="door-wait")(wf)
    handle = waiter.start(run_id="door-1")
    await until(lambda: handle.status == "waiting", what="the run waiting")
    for bad in ({"note": "\ud800"}, {"v": float("nan")}, _nested(5)):
        with pytest.raises(nd.InvalidEventError, match="Nothing was sent"):
            await nd.send("door/approved", bad)
    assert nd.get_engine().journal.last_event_seq() == 0
    assert handle.status == "waiting"
    await nd.send("door/approved", {"note": "fine", "deep": _nested(3)})
    assert await handle.result(timeout=5) == {"note": "fine", "deep": _nested(3)}
    reset_engine()


@pytest.mark.asyncio
async def test_step_send_event_refuses_a_bad_event_at_the_call(journal_path: Path) -> None:
    attempts: list[int] = []

    @nd.function(id="door-send", retries=2)
    async def wf(ctx: nd.Context) -> str:
        attempts.append(1)
        try:
            await ctx.step.send_event("notify", {"name": "door/sent", "data": {"x": float("inf")}})
        except nd.InvalidEventError as exc:
            return str(exc)
        return "sent"

    said = await wf.run(run_id="door-send-1")
    assert "data['x'] is inf" in said
    assert nd.get_engine().journal.last_event_seq() == 0
    assert nd.get_run("door-send-1").steps() == []  # refused before the step existed: nothing to retry


@pytest.mark.asyncio
async def test_derived_event_ids_stay_within_the_id_limit(journal_path: Path) -> None:
    @nd.function(id="door-long-ids")
    async def wf(ctx: nd.Context) -> list[str]:
        return await ctx.step.send_event("n" * 250, [{"name": "door/long", "data": {}}])

    [event_id] = await wf.run(run_id="r" * 200)
    assert len(event_id) <= 256 and event_id.startswith("nd-")
    [again] = nd.get_engine().journal.events_after("door/long", 0)
    assert again.event_id == event_id


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_json = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False)
    )
    | _text,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=20,
)
_defects = st.sampled_from(["\ud800", "x\udcffy", float("nan"), float("-inf"), (1, 2), {1: "a"}, {"\udc80": 0}, b"x"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(_text, _json, max_size=4))
def test_valid_event_data_is_accepted_and_read_back_equal(tmp_path: Path, data: dict[str, Any]) -> None:
    """Property: JSON data within the limits passes the door, comes back from the journal equal, and a wait can
    journal it (the step write that a poison event used to fail)."""
    journal = nd.SQLiteJournal(tmp_path / "prop.db")
    try:
        nd.validate_event("prop/x", data)
        rec = journal.add_event(f"e{journal.last_event_seq() + 1}", "prop/x", data, 1.0)
        assert rec is not None
        [back] = journal.events_after("prop/x", rec.seq - 1, limit=1)
        assert back.data == data
        payload, tag = encode(Event("prop/x", back.data, back.event_id, 1.0).to_dict())
        run_id = f"prop-run-{rec.seq}"  # a run write claims a new run id: one per example
        journal.write([_run_write(run_id), _wait_write(run_id, payload, tag)])
        assert json.loads(journal.load_steps(run_id)[0].output or "null")["data"] == data
    finally:
        journal.close()


@settings(max_examples=100, deadline=None)
@given(data=st.dictionaries(_text, _json, min_size=1, max_size=4), defect=_defects, choice=st.data())
def test_one_defect_anywhere_is_refused_and_named(data: dict[str, Any], defect: Any, choice: st.DataObject) -> None:
    """Property: one value that would not round-trip (a lone surrogate, NaN, a tuple, an int key, bytes), put
    anywhere in otherwise valid data, is refused, and the message points at where it is."""
    node: Any = data
    path = "data"
    while True:
        containers = [
            k
            for k, v in (node.items() if isinstance(node, dict) else enumerate(node))
            if isinstance(v, (dict, list)) and v
        ]
        if not containers or choice.draw(st.booleans()):
            break
        key = choice.draw(st.sampled_from(containers))
        node, path = node[key], f"{path}[{key!r}]"
    if isinstance(node, dict):
        node["bad"] = defect
        path = f"{path}['bad']"
    else:
        node.append(defect)
        path = f"{path}[{len(node) - 1}]"
    with pytest.raises(nd.InvalidEventError) as refused:
        nd.validate_event("prop/x", data)
    assert path in str(refused.value)


def _run_write(run_id: str) -> Any:
    from nbdurable.journal._protocol import Write

    return Write("run", run=nd.RunRecord(run_id, "prop", "running", created_at=1.0, updated_at=1.0))


def _wait_write(run_id: str, payload: str, tag: str | None) -> Any:
    from nbdurable.journal._protocol import Write

    step = nd.StepRecord(
        run_id=run_id,
        step_id="wait",
        name="wait",
        position=0,
        kind="wait",
        status="completed",
        output=payload,
        output_tag=tag,
    )
    return Write("step", step=step)
