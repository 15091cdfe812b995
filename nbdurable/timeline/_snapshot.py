"""Build the timeline snapshot of a run: one plain dict every surface renders.

Journaled steps and the live state of a run executing here are merged, so a
snapshot is right whether the run is live, finished, or known only from the
journal (another kernel's run). The dict follows the contract in
``labextension/src/types.ts`` (its version is ``SNAPSHOT_VERSION``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from time import time as _clock
from typing import TYPE_CHECKING, Any

from ..engine import effective_status, registry
from ..engine._runstate import OUTPUT_PREVIEW, RECENT_STEPS, LiveStep, ReplayedIds, Tally
from ..engine._usercode import user_traceback_text
from ..journal._protocol import FINAL_STATUSES, RunRecord, StepRecord
from ..journal._rows import MAX_JSON_DEPTH, too_deep
from ._render import SNAPSHOT_VERSION

if TYPE_CHECKING:
    from ..engine._engine import Engine
    from ..engine._runstate import RunState

__all__ = ["build_snapshot"]


def _ai(meta: dict[str, Any] | None, output: str | None) -> dict[str, Any] | None:
    info = (meta or {}).get("ai")
    if not isinstance(info, dict):
        return None
    response: Any = info.get("response")
    if response is None and output is not None:
        try:
            response = json.loads(output)
        except (ValueError, RecursionError):
            response = output
        if too_deep(response, MAX_JSON_DEPTH):
            response = output  # every view walks it recursively: shown as text instead
    return {
        "model": info.get("model"),
        "provider": info.get("provider"),
        "request": info.get("request"),
        "response": response,
        "tokens_in": info.get("tokens_in"),
        "tokens_out": info.get("tokens_out"),
        "latency": info.get("latency"),
        "cost": info.get("cost"),
        "price": info.get("price"),
    }


def _with_user_traceback(error: Any) -> Any:
    """An error with ``user_traceback`` added: its traceback without nbdurable's frames, ending in the user's code."""
    if not isinstance(error, dict) or not isinstance(error.get("traceback"), str) or "user_traceback" in error:
        return error
    shown = {k: v for k, v in error.items() if k != "traceback_full"}
    shown["user_traceback"] = user_traceback_text(error["traceback"])
    full = error.get("traceback_full")
    if isinstance(full, str) and full:
        shown["traceback"] = full  # the timeline's "Full traceback": nbdurable's frames included
    return shown


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _attempts(meta: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """A step's failed attempts as the journal keeps them (read defensively: a journal is untrusted data)."""
    raw = (meta or {}).get("attempts")
    if not isinstance(raw, list):
        return None
    out: list[dict[str, Any]] = []
    for entry in raw[-20:]:
        if not isinstance(entry, dict):
            continue
        found = entry.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        attempt = entry.get("attempt")
        out.append(
            {
                "attempt": attempt if type(attempt) is int else None,
                "started_at": _number(entry.get("started_at")),
                "ended_at": _number(entry.get("ended_at")),
                "retry_at": _number(entry.get("retry_at")),
                "error": {"type": _text(error.get("type")), "message": _text(error.get("message"))},
            }
        )
    return out or None


def _with_attempts(step: dict[str, Any], meta: dict[str, Any] | None) -> None:
    """Add the failed attempts; the step's start becomes its first attempt's, so its bar and duration cover them."""
    attempts = _attempts(meta)
    if attempts is None:
        return
    step["attempts"] = attempts
    first = attempts[0]["started_at"]
    if first is not None and (step.get("started_at") is None or first < step["started_at"]):
        step["started_at"] = first


def _step_from_record(s: StepRecord, max_attempts: int) -> dict[str, Any]:
    meta = s.meta or {}
    step = {
        "step_id": s.step_id,
        "name": s.name,
        "kind": s.kind,
        "status": s.status,
        "replayed": False,
        "position": s.position,
        # The renderer counts attempts from 1; the journal counts failed attempts from 0.
        "attempt": s.attempt + 1,
        # Sleeps and waits are not retried: one attempt, whatever the run's default retries.
        "max_attempts": 1 if s.kind in ("sleep", "wait") else max(max_attempts, s.attempt + 1),
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "next_attempt_at": s.next_at if s.status == "retrying" else None,
        "sleep_until": s.next_at if s.kind == "sleep" else None,
        "wait_event": meta.get("event") if s.kind == "wait" else None,
        "input_preview": meta.get("input"),
        "output_preview": None if s.output is None else s.output[:OUTPUT_PREVIEW],
        "output_size": None if s.output is None else len(s.output),
        "error": _with_user_traceback(s.error),
        "idempotency_key": f"{s.run_id}/{s.step_id}",
        "ai": _ai(meta, s.output),
        "_if_exp": meta.get("if_exp"),
        "_timeout_at": s.next_at if s.kind == "wait" else None,
        "attempts": None,
    }
    _with_attempts(step, meta)
    return step


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
        step["error"] = _with_user_traceback(live.error)
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
        step["ai"] = _ai(live.meta, live.output)
    if live.meta and live.meta.get("attempts"):
        _with_attempts(step, live.meta)


def _blank(run_id: str, live: LiveStep) -> dict[str, Any]:
    return {
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
        "attempts": None,
    }


def _retries_of(rec: RunRecord | None) -> int:
    """Default step retries of a run known only from the journal: its function's, if defined here."""
    if rec is None:
        return 0
    function = registry().get(rec.function_id)
    if function is not None:
        return function.options.retries
    return int((rec.options or {}).get("retries", 0))


_FIELD_EQUALS = re.compile(r'^async\.data\.([A-Za-z_][A-Za-z0-9_]*) == ("(?:[^"\\]|\\.)*")$')


def _suggested_data(if_exp: str | None) -> dict[str, Any] | None:
    """A payload that satisfies the wait where the condition says it: so the button works as is, or nearly.

    An agent's approval wait gets the payload that approves it; a wait on one field equal to a
    string (a LangGraph thread's interrupt) gets that field, for the user to add the answer to.
    """
    if not if_exp:
        return None
    from ..ai._approval import approval_call_id

    call_id = approval_call_id(if_exp)
    if call_id:
        return {"call_id": call_id, "approved": True}
    match = _FIELD_EQUALS.match(if_exp)
    return {match.group(1): json.loads(match.group(2))} if match else None


_UNSETTLED = frozenset({"running", "retrying", "sleeping", "waiting"})


def _settle(steps: list[dict[str, Any]], ended_at: float | None) -> None:
    """Steps a run left unfinished when it ended (cancelled mid-wait, say) end with it: shown cancelled.

    The journal keeps such a step as it was (waiting, sleeping); a timeline that said
    "waiting for event ... (in 59m 44s)" about a run that ended would lie.
    """
    for step in steps:
        if step.get("status") in _UNSETTLED:
            step["status"] = "cancelled"
            step["ended_at"] = step.get("ended_at") or ended_at
            step["next_attempt_at"] = None
            step["sleep_until"] = None


@dataclasses.dataclass(slots=True)
class _Sources:
    """Where a snapshot's rows come from: the run's state here (if any), its record, its step records, totals."""

    state: RunState | None
    rec: RunRecord | None
    records: dict[str, StepRecord]
    tally: Tally
    live: dict[str, LiveStep]


def _sources(engine: Engine, run_id: str, max_steps: int) -> _Sources:
    """The run's state here and records, from memory when they hold every row shown, else from the journal."""
    state = engine.active.get(run_id) or engine.finished.get(run_id)
    rec: RunRecord | None = state.record if state is not None and state.record is not None else None
    live: dict[str, LiveStep] = {}
    if state is not None:
        live = {s.step_id: s for s in state.recent.values()}
        live.update(state.live)
    if (
        state is not None
        and rec is not None
        and not state.memory_partial
        and (state.evicted.steps == 0 or max_steps <= RECENT_STEPS)
    ):
        # Executing here with a timeline watching from the start: its start-time records, the steps
        # that ended lately and those in flight hold every row shown (the steps pushed out of memory are
        # older than all of them and only add to the totals), so updates read nothing from the journal.
        return _Sources(state=state, rec=rec, records=state.records(), tally=state.evicted, live=live)
    # Known from the journal, or some of its steps are held only there (no timeline was watching
    # when they ended, or the run ended here): page them in from the journal.
    if rec is None:
        rec = engine.journal.get_run(run_id)
    records = {r.step_id: r for r in engine.journal.load_steps(run_id)}
    return _Sources(state=state, rec=rec, records=records, tally=Tally(), live=live)


@dataclasses.dataclass(slots=True)
class _Totals:
    """The header's counts over every step (those held in memory or the journal and those only tallied)."""

    done: int
    tokens_in: int
    tokens_out: int
    costs: list[float | None]

    def add(self, status: str, meta: dict[str, Any] | None) -> None:
        self.done += status == "completed"
        info = meta.get("ai") if meta else None
        if isinstance(info, dict):
            self.tokens_in += int(info.get("tokens_in") or 0)
            self.tokens_out += int(info.get("tokens_out") or 0)
            self.costs.append(info.get("cost"))

    def cost(self) -> float | None:
        """The summed cost, or None when some step's is unknown.

        Rounded to a millionth of a cent: summed from memory (a running total of older steps plus the
        recent ones) or from the journal (every step), floating point would otherwise differ in the last bit.
        """
        if not self.costs or any(c is None for c in self.costs):
            return None
        return round(math.fsum(c or 0.0 for c in self.costs), 12)


def _keys_and_totals(src: _Sources) -> tuple[list[tuple[int, float, str]], _Totals]:
    """(position, started, step id) of every step, sorted, to pick the rows to show without building them all."""
    tally = src.tally
    costs: list[float | None] = [None] if tally.cost_unknown else ([tally.cost] if tally.ai else [])
    totals = _Totals(done=tally.done, tokens_in=tally.tokens_in, tokens_out=tally.tokens_out, costs=costs)
    keys: list[tuple[int, float, str]] = []
    for step_id, r in src.records.items():
        if r.kind == "value" or step_id in src.live:
            continue
        keys.append((r.position, r.started_at, step_id))
        totals.add(r.status, r.meta)
    for step_id, live in src.live.items():
        if live.kind == "value":
            continue
        keys.append((live.position, live.started_at, step_id))
        totals.add(live.status, live.meta)
    keys.sort()
    return keys, totals


def _rows(src: _Sources, run_id: str, keys: list[tuple[int, float, str]], max_steps: int) -> list[dict[str, Any]]:
    """The last ``max_steps`` rows: each from its journal record, its live state merged in."""
    retries = src.state.retries if src.state is not None else _retries_of(src.rec)
    replayed = src.state.replayed if src.state is not None else ReplayedIds()
    ordered: list[dict[str, Any]] = []
    for _pos, _started, step_id in keys[max(0, len(keys) - max_steps) :]:
        record = src.records.get(step_id)
        live_step = src.live.get(step_id)
        if record is not None:
            step = _step_from_record(record, retries + 1)
            if replayed.has(record.position, step_id):
                step["replayed"] = True
        else:
            assert live_step is not None
            step = _blank(run_id, live_step)
        if live_step is not None:
            _merge_live(step, live_step)
        ordered.append(step)
    return ordered


def _run_status(engine: Engine, src: _Sources, run_id: str) -> str:
    if src.state is not None and (src.state.outcome is not None or run_id in engine.active):
        return src.state.status
    if src.rec is not None:
        return effective_status(src.rec, engine)
    return "queued"


def _waiting_for(ordered: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first step waiting for an event, as the header's wait (the rows' private wait fields are removed)."""
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
                "suggested_data": _suggested_data(if_exp),
            }
    return waiting_for


def _run_error_and_reason(engine: Engine, src: _Sources, run_id: str) -> tuple[Any, str | None]:
    state, rec = src.state, src.rec
    error = None
    if state is not None:
        error = state.outcome.error if state.outcome is not None else None
    elif rec is not None and rec.error:
        error = rec.error
    reason = (
        (state.status_reason if state is not None and run_id in engine.active else None)
        or (state.outcome.reason if state is not None and state.outcome is not None else None)
        or (rec.status_reason if rec else None)
    )
    return _with_user_traceback(error), reason


def build_snapshot(engine: Engine, run_id: str, *, max_steps: int = 500) -> dict[str, Any]:
    """The run's timeline as a JSON-safe dict (at most ``max_steps`` most recent steps).

    For a run executing (or just finished) here nothing is read from the journal: the records
    loaded when it started plus its live steps say everything, and only the rows shown are built,
    so the widget's few updates a second stay cheap however long the run is.
    """
    now = _clock()
    src = _sources(engine, run_id, max_steps)
    state, rec = src.state, src.rec
    keys, totals = _keys_and_totals(src)
    total = len(keys) + src.tally.steps
    ordered = _rows(src, run_id, keys, max_steps)
    status = _run_status(engine, src, run_id)
    final = status in FINAL_STATUSES
    # A run executing (or just ended) here: its state is the truth, and the record it was loaded with may
    # still hold the ended_at (and error) of an earlier execution that failed before this resume.
    run_ended = state.ended_at if state is not None else (rec.ended_at if rec else None)
    if final:
        _settle(ordered, run_ended)
    waiting_for = _waiting_for(ordered)
    warnings_list = list(state.warnings) if state is not None else list((rec.warnings if rec else None) or [])
    error, reason = _run_error_and_reason(engine, src, run_id)
    options = (rec.options or {}) if rec else {}
    return {
        "version": SNAPSHOT_VERSION,
        "run": {
            "run_id": run_id,
            "function_id": rec.function_id if rec else (state.function.id if state and state.function else "?"),
            "status": status,
            "started_at": rec.created_at if rec else (state.started_at if state else now),
            "ended_at": run_ended if final else None,
            "now": now,
            "steps_done": totals.done,
            "steps_total": total,
            "tokens_in": totals.tokens_in,
            "tokens_out": totals.tokens_out,
            "cost": totals.cost(),
            "warnings": warnings_list[-50:],
            "error": error,
            "status_reason": reason,
            "waiting_for": waiting_for,
            "rerun_of": _text(options.get("rerun_of")) if rec else None,
            "from_step": _text(options.get("from_step")) if rec else None,
        },
        "steps": ordered,
        "steps_omitted": max(0, total - max_steps),
        "actions": {"send_event": waiting_for is not None, "cancel": not final, "rerun": total > 0},
    }
