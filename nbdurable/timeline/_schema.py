"""The timeline snapshot's one schema: typed here, published as JSON Schema, checked by the TypeScript too.

A snapshot is what a run's timeline is drawn from: the live widget syncs it, the MIME
bundle stores it, the JupyterLab renderer and the static HTML read it. These TypedDicts
are its definition; :func:`snapshot_schema` turns them into a JSON Schema (pydantic),
committed as ``labextension/schema/snapshot.schema.json``. The Python tests check the
committed file is this schema and that every snapshot built validates against it; the
TypeScript tests check the interfaces of ``labextension/src/types.ts`` name exactly its
fields. Every field is optional: readers take snapshots from older and newer writers.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ConfigDict
from typing_extensions import TypedDict

__all__ = [
    "Actions",
    "AiInfo",
    "ErrorInfo",
    "PriceInfo",
    "RunInfo",
    "Snapshot",
    "StepInfo",
    "WaitingFor",
    "WarningInfo",
    "schema_text",
    "snapshot_schema",
]

# A field the schema does not know is an error in the tests (the writer drifted from the schema).
_CLOSED = ConfigDict(extra="forbid")


class ErrorInfo(TypedDict, total=False):
    """How a step or run failed, as journaled (redacted)."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]  # journaled errors may carry more
    type: str | None
    message: str | None
    traceback: str | None
    user_traceback: str | None
    step_id: str | None


class WarningInfo(TypedDict, total=False):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    message: str | None
    step_id: str | None


class WaitingFor(TypedDict, total=False):
    """The first wait still waiting: what the "send event" form fills in."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    step_id: str | None
    event: str | None
    if_exp: str | None
    timeout_at: float | None
    suggested_data: dict[str, Any] | None


class PriceInfo(TypedDict, total=False):
    """Where an AI call's cost came from: genai-prices (and its version) or nd.ai.set_price, and its date."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]
    source: str | None
    as_of: str | None
    model: str | None
    provider: str | None


class AiInfo(TypedDict, total=False):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    model: str | None
    provider: str | None
    request: Any
    response: Any
    tokens_in: int | None
    tokens_out: int | None
    latency: float | None
    cost: float | None
    price: PriceInfo | None


class RunInfo(TypedDict, total=False):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    run_id: str | None
    function_id: str | None
    status: str | None
    started_at: float | None
    ended_at: float | None
    now: float | None
    steps_done: int | None
    steps_total: int | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    warnings: list[WarningInfo] | None
    error: ErrorInfo | None
    status_reason: str | None
    waiting_for: WaitingFor | None
    rerun_of: str | None
    from_step: str | None


class AttemptError(TypedDict, total=False):
    type: str | None
    message: str | None


class AttemptInfo(TypedDict, total=False):
    """A failed attempt of a retried step (the latest 20), with its error and when it was retried."""

    attempt: int | None
    started_at: float | None
    ended_at: float | None
    retry_at: float | None
    error: AttemptError | None


class StepInfo(TypedDict, total=False):
    """One step's row on the timeline."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    step_id: str | None
    name: str | None
    kind: str | None
    status: str | None
    replayed: bool | None
    position: int | None
    attempt: int | None
    max_attempts: int | None
    started_at: float | None
    ended_at: float | None
    next_attempt_at: float | None
    sleep_until: float | None
    wait_event: str | None
    input_preview: str | None
    output_preview: str | None
    output_size: int | None
    error: ErrorInfo | None
    idempotency_key: str | None
    ai: AiInfo | None
    attempts: list[AttemptInfo] | None


class Actions(TypedDict, total=False):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    send_event: bool | None
    cancel: bool | None
    rerun: bool | None


class Snapshot(TypedDict, total=False):
    """A run's timeline: the run, its most recent steps, how many were left out, the actions it offers."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    version: int
    run: RunInfo | None
    steps: list[StepInfo] | None
    steps_omitted: int | None
    actions: Actions | None


def snapshot_schema() -> dict[str, Any]:
    """The snapshot's JSON Schema (what ``labextension/schema/snapshot.schema.json`` holds)."""
    from pydantic import TypeAdapter

    schema: dict[str, Any] = TypeAdapter(Snapshot).json_schema()
    schema["$id"] = "https://nbdurable.invalid/snapshot.schema.json"
    schema["description"] = (
        "A run's timeline snapshot (nbdurable). Generated from nbdurable/timeline/_schema.py by "
        "scripts/snapshot_schema.py: do not edit."
    )
    return schema


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, two-space indent)."""
    return json.dumps(snapshot_schema(), indent=2, sort_keys=True) + "\n"
