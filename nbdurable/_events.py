"""Events: what starts runs and what ``wait_for_event`` waits for."""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

from ._errors import ConfigError

__all__ = ["Event", "coerce_event", "trigger_matches"]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """An event as a workflow sees it: ``event.name``, ``event.data``, ``event.id``, ``event.ts``."""

    name: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str = ""
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The form expressions and the journal see: ``{"name", "data", "id", "ts"}``."""
        return {"name": self.name, "data": self.data, "id": self.id, "ts": self.ts}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        return cls(name=raw["name"], data=raw.get("data") or {}, id=raw.get("id", ""), ts=raw.get("ts", 0.0))


def coerce_event(value: Any, *, where: str = "send_event") -> Event:
    """Accept an Event or a ``{"name", "data", "id"?}`` dict, with a clear error otherwise."""
    if isinstance(value, Event):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        data = value.get("data") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: event data must be a dict, got {type(data).__name__}")
        return Event(name=value["name"], data=data, id=str(value.get("id") or ""))
    raise ConfigError(
        f"{where}: expected nd.Event(name, data) or a dict like {{'name': 'app/thing.happened', 'data': {{...}}}}, "
        f"got {type(value).__name__}"
    )


def trigger_matches(trigger: str, name: str) -> bool:
    """Whether an event ``name`` starts a function with ``trigger`` ("app/*" wildcards allowed)."""
    if "*" in trigger:
        return fnmatch.fnmatchcase(name, trigger)
    return trigger == name
