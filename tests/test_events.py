"""Tests for nbdurable._events: the Event type, coercion of user input, and trigger matching."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable._events import Event, coerce_event, trigger_matches


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
    with pytest.raises(nd.ConfigError, match="non-empty string name"):
        await nd.send("")
    with pytest.raises(nd.ConfigError, match="non-empty string name"):
        await nd.send("   ")
    with pytest.raises(nd.ConfigError, match="data must be a dict"):
        await nd.send("evtest/x", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(nd.ConfigError, match="JSON-serializable"):
        await nd.send("evtest/x", {"when": object()})
    # Nothing was stored by the refused calls.
    assert nd.get_engine().journal.last_event_seq() == 0
