"""Runs and steps as plain rows (dicts), read through run handles and the Journal protocol.

The frames and the compare view are built from these, so what they show is what any
journal backend holds, and nothing here needs pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine._engine import Engine
    from ..engine._handle import RunHandle, StepView

__all__ = ["RUN_COLUMNS", "STEP_COLUMNS", "run_rows", "step_rows", "steps_of"]

RUN_COLUMNS = (
    "run_id",
    "function_id",
    "status",
    "kind",
    "trigger",
    "notebook",
    "cell",
    "started_at",
    "ended_at",
    "duration",
    "attempts",
    "steps",
    "steps_done",
    "steps_failed",
    "step_retries",
    "replayed",
    "ai_steps",
    "models",
    "tokens_in",
    "tokens_out",
    "cost",
    "error_type",
    "error_message",
    "parent_run_id",
    "rerun_of",
)
STEP_COLUMNS = (
    "run_id",
    "function_id",
    "step_id",
    "name",
    "kind",
    "status",
    "position",
    "attempts",
    "started_at",
    "ended_at",
    "duration",
    "replayed",
    "model",
    "provider",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "reasoning_tokens",
    "cost",
    "price_source",
    "price_as_of",
    "error_type",
    "error_message",
    "input",
    "output",
    "output_size",
    "notebook",
)


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _ai(meta: Mapping[str, Any] | None) -> Mapping[str, Any]:
    info = (meta or {}).get("ai")
    return info if isinstance(info, Mapping) else {}


def _origin(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    origin = (options or {}).get("origin")
    return origin if isinstance(origin, Mapping) else {}


def steps_of(engine: Engine, handle: RunHandle[Any], *, outputs: dict[str, str | None] | None = None) -> list[StepView]:
    """A run's steps as its handle shows them (journaled, plus live ones here), journaled values left out.

    ``outputs``, when given, is filled with each step's journaled output text (the handle's views
    carry none), read through the same ``load_steps`` of the Journal protocol.
    """
    views = [v for v in handle.steps() if v.kind != "value"]
    if outputs is not None:
        for rec in engine.journal.load_steps(handle.run_id):
            outputs[rec.step_id] = rec.output
    return views


def step_rows(engine: Engine, handle: RunHandle[Any], *, output_chars: int = 500) -> list[dict[str, Any]]:
    """One dict per step of the run, with the columns of :data:`STEP_COLUMNS`."""
    rec = handle.record
    function_id = rec.function_id if rec is not None else handle.function_id
    notebook = _str(_origin(rec.options if rec is not None else None).get("notebook"))
    outputs: dict[str, str | None] = {}
    rows = []
    for view in steps_of(engine, handle, outputs=outputs):
        ai = _ai(view.meta)
        raw_price = ai.get("price")
        price: Mapping[str, Any] = raw_price if isinstance(raw_price, Mapping) else {}
        error = view.error or {}
        output = outputs.get(view.step_id)
        rows.append(
            {
                "run_id": handle.run_id,
                "function_id": function_id,
                "step_id": view.step_id,
                "name": view.name,
                "kind": view.kind,
                "status": view.status,
                "position": view.position,
                "attempts": view.attempt + 1,
                "started_at": view.started_at,
                "ended_at": view.ended_at,
                "duration": view.duration,
                "replayed": view.replayed,
                "model": _str(ai.get("model")),
                "provider": _str(ai.get("provider")),
                "tokens_in": _int(ai.get("tokens_in")),
                "tokens_out": _int(ai.get("tokens_out")),
                "cache_read_tokens": _int(ai.get("cache_read_tokens")),
                "reasoning_tokens": _int(ai.get("reasoning_tokens")),
                "cost": _num(ai.get("cost")),
                "price_source": _str(price.get("source")),
                "price_as_of": _str(price.get("as_of")),
                "error_type": _str(error.get("type")),
                "error_message": _str(error.get("message")),
                "input": _str((view.meta or {}).get("input")),
                "output": None if output is None else output[:output_chars],
                "output_size": None if output is None else len(output),
                "notebook": notebook,
            }
        )
    return rows


def run_rows(engine: Engine, handles: list[RunHandle[Any]]) -> list[dict[str, Any]]:
    """One dict per run, with the columns of :data:`RUN_COLUMNS`; step totals come from the journal's summary."""
    summaries = engine.journal.summarize_steps([h.run_id for h in handles])
    rows = []
    for handle in handles:
        rec = handle.record
        if rec is None:
            continue
        summary = summaries.get(handle.run_id)
        views = steps_of(engine, handle)
        models = sorted({m for v in views if (m := _str(_ai(v.meta).get("model")))})
        origin = _origin(rec.options)
        error = rec.error or {}
        event = rec.event or {}
        rows.append(
            {
                "run_id": rec.run_id,
                "function_id": rec.function_id,
                "status": handle.status,
                "kind": rec.kind,
                "trigger": _str(event.get("name")),
                "notebook": _str(origin.get("notebook")),
                "cell": _str(origin.get("cell")) or _str((rec.options or {}).get("cell")),
                "started_at": rec.created_at,
                "ended_at": rec.ended_at,
                "duration": None if rec.ended_at is None else rec.ended_at - rec.created_at,
                "attempts": rec.attempt,
                "steps": summary.total if summary else 0,
                "steps_done": summary.done if summary else 0,
                "steps_failed": summary.failed if summary else 0,
                "step_retries": summary.attempts if summary else 0,
                "replayed": sum(v.replayed for v in views),
                "ai_steps": summary.ai_steps if summary else 0,
                "models": ", ".join(models) or None,
                "tokens_in": summary.tokens_in if summary else 0,
                "tokens_out": summary.tokens_out if summary else 0,
                "cost": summary.cost if summary else None,
                "error_type": _str(error.get("type")),
                "error_message": _str(error.get("message")),
                "parent_run_id": rec.parent_run_id,
                "rerun_of": _str((rec.options or {}).get("rerun_of")),
            }
        )
    return rows
