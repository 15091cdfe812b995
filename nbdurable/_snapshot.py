"""Build the timeline snapshot of a run: one plain dict every surface renders.

Journaled steps and the live state of a run executing here are merged, so a
snapshot is right whether the run is live, finished, or known only from the
journal (another kernel's run). The dict follows the contract in
``labextension/src/types.ts`` (version 1).
"""

from __future__ import annotations

import json
from time import time as _clock
from typing import TYPE_CHECKING, Any

from ._journal import StepRecord

if TYPE_CHECKING:
    from ._engine import Engine
    from ._runstate import LiveStep

__all__ = ["build_snapshot"]


def _ai(meta: dict[str, Any] | None, output: str | None) -> dict[str, Any] | None:
    info = (meta or {}).get("ai")
    if not isinstance(info, dict):
        return None
    response: Any = info.get("response")
    if response is None and output is not None:
        try:
            response = json.loads(output)
        except ValueError:
            response = output
    return {
        "model": info.get("model"),
        "provider": info.get("provider"),
        "request": info.get("request"),
        "response": response,
        "tokens_in": info.get("tokens_in"),
        "tokens_out": info.get("tokens_out"),
        "latency": info.get("latency"),
        "cost": info.get("cost"),
    }


def _step_from_record(s: StepRecord, max_attempts: int) -> dict[str, Any]:
    meta = s.meta or {}
    return {
        "step_id": s.step_id,
        "name": s.name,
        "kind": s.kind,
        "status": s.status,
        "replayed": False,
        "position": s.position,
        # The renderer counts attempts from 1; the journal counts failed attempts from 0.
        "attempt": s.attempt + 1,
        "max_attempts": max(max_attempts, s.attempt + 1),
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "next_attempt_at": s.next_at if s.status == "retrying" else None,
        "sleep_until": s.next_at if s.kind == "sleep" else None,
        "wait_event": meta.get("event") if s.kind == "wait" else None,
        "input_preview": meta.get("input"),
        "output_preview": None if s.output is None else s.output[:2000],
        "output_size": None if s.output is None else len(s.output),
        "error": s.error,
        "idempotency_key": f"{s.run_id}/{s.step_id}",
        "ai": _ai(meta, s.output),
        "_if_exp": meta.get("if_exp"),
        "_timeout_at": s.next_at if s.kind == "wait" else None,
    }


def _merge_live(step: dict[str, Any], live: LiveStep) -> None:
    step.update(
        status=live.status,
        replayed=live.replayed,
        attempt=live.attempt + 1,
        max_attempts=max(live.max_attempts, step.get("max_attempts") or 1),
        started_at=live.started_at,
        ended_at=live.ended_at,
        next_attempt_at=live.next_at if live.status == "retrying" else None,
    )
    if live.error is not None:
        step["error"] = live.error
    if live.input_preview is not None:
        step["input_preview"] = live.input_preview
    if live.output_preview is not None:
        step["output_preview"], step["output_size"] = live.output_preview, live.output_size
    if live.kind == "sleep":
        step["sleep_until"] = live.next_at
    if live.kind == "wait" and live.meta:
        step["wait_event"] = live.meta.get("event")
        step["_if_exp"] = live.meta.get("if_exp")
        step["_timeout_at"] = live.next_at
        if live.status == "waiting":
            step["sleep_until"] = None
    if live.meta and live.meta.get("ai") and not step.get("ai"):
        step["ai"] = _ai(live.meta, None)


def build_snapshot(engine: Engine, run_id: str, *, max_steps: int = 500) -> dict[str, Any]:
    """The run's timeline as a JSON-safe dict (at most ``max_steps`` most recent steps)."""
    from ._engine import effective_status

    now = _clock()
    state = engine.active.get(run_id) or engine.finished.get(run_id)
    rec = engine.journal.get_run(run_id)
    retries = state.retries if state is not None else int((rec.options or {}).get("retries", 0)) if rec else 0
    steps: dict[str, dict[str, Any]] = {}
    for s in engine.journal.load_steps(run_id):
        if s.kind == "value":
            continue
        steps[s.step_id] = _step_from_record(s, retries + 1)
    if state is not None:
        for live in list(state.live.values()):
            if live.kind == "value":
                continue
            step = steps.get(live.step_id)
            if step is None:
                step = steps[live.step_id] = {
                    "step_id": live.step_id,
                    "name": live.name,
                    "kind": live.kind,
                    "position": live.position,
                    "idempotency_key": f"{run_id}/{live.step_id}",
                    "input_preview": None,
                    "output_preview": None,
                    "output_size": None,
                    "error": None,
                    "ai": None,
                    "wait_event": None,
                    "sleep_until": None,
                    "next_attempt_at": None,
                    "started_at": live.started_at,
                }
            _merge_live(step, live)
    ordered = sorted(steps.values(), key=lambda s: (s["position"], s["started_at"] or 0))
    omitted = max(0, len(ordered) - max_steps)
    ordered = ordered[omitted:]
    if state is not None and (state.outcome is not None or run_id in engine.active):
        status = state.status
    elif rec is not None:
        status = effective_status(rec, engine)
    else:
        status = "queued"
    waiting_for = None
    for step in ordered:
        if_exp = step.pop("_if_exp", None)
        timeout_at = step.pop("_timeout_at", None)
        if step["kind"] == "wait" and step["status"] == "waiting" and waiting_for is None:
            waiting_for = {
                "step_id": step["step_id"],
                "event": step.get("wait_event"),
                "if_exp": if_exp,
                "timeout_at": timeout_at,
            }
    done = sum(1 for s in steps.values() if s["status"] == "completed")
    tokens_in = sum(int((s.get("ai") or {}).get("tokens_in") or 0) for s in steps.values())
    tokens_out = sum(int((s.get("ai") or {}).get("tokens_out") or 0) for s in steps.values())
    costs: list[float | None] = [(s.get("ai") or {}).get("cost") for s in steps.values() if s.get("ai")]
    cost = None if not costs or any(c is None for c in costs) else float(sum(c or 0.0 for c in costs))
    warnings_list = list(state.warnings) if state is not None else list((rec.warnings if rec else None) or [])
    error = None
    if state is not None and state.outcome is not None and state.outcome[2]:
        error = state.outcome[2]
    elif rec is not None and rec.error:
        error = rec.error
    final = status in ("completed", "failed", "cancelled")
    return {
        "version": 1,
        "run": {
            "run_id": run_id,
            "function_id": rec.function_id if rec else (state.function.id if state and state.function else "?"),
            "status": status,
            "started_at": rec.created_at if rec else (state.started_at if state else now),
            "ended_at": (rec.ended_at if rec and rec.ended_at else (state.ended_at if state else None))
            if final
            else None,
            "now": now,
            "steps_done": done,
            "steps_total": len(steps),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost": cost,
            "warnings": warnings_list[-50:],
            "error": error,
            "status_reason": rec.status_reason if rec else None,
            "waiting_for": waiting_for,
        },
        "steps": ordered,
        "steps_omitted": omitted,
        "actions": {"send_event": waiting_for is not None, "cancel": not final, "rerun": bool(steps)},
    }
