"""Journal rows are untrusted input: check what a row holds before nbdurable acts on it.

A journal is a file that anyone with access can edit, and one a colleague sends
may have been written by anything. Every run, step and event read from SQLite
passes through here: a value of the wrong type, JSON that does not parse, an
unknown status, a malformed error, meta or options object is replaced by a safe
value and its column is named in ``record.damaged``. Readers (the timeline,
``list``, ``show``) then show the row as unreadable instead of crashing, and
executing a run that has such a row is refused with a JournalRecordError
(``refuse_damaged``). Nothing here builds a class named by the journal or imports
anything; values (a step's output) are decoded later, by ``_serde.decode``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import JournalError, JournalRecordError
from ._protocol import EventRecord, RunRecord, RunStatus, StepRecord, StepStatus

__all__ = [
    "MAX_JSON_DEPTH",
    "UNREADABLE",
    "BadText",
    "check_event",
    "check_run",
    "check_step",
    "meta_ok",
    "refuse_damaged",
    "run_changes",
    "run_conditions",
    "too_deep",
]

RUN_STATUSES: frozenset[str] = frozenset(typing.get_args(RunStatus))
STEP_STATUSES: frozenset[str] = frozenset(typing.get_args(StepStatus))
STEP_KINDS = frozenset({"run", "sleep", "wait", "invoke", "send", "ai", "value"})
RUN_KINDS = frozenset({"function", "cell"})
_NONE = type(None)


# How deep a JSON column of a run or step may nest before it counts as damaged.
MAX_JSON_DEPTH = 200


def too_deep(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


class _Unreadable:
    """What a JSON column that does not parse reads as: of no type any check accepts."""

    def __repr__(self) -> str:
        return "<unreadable JSON>"


UNREADABLE: Any = _Unreadable()


class BadText(str):
    """Text that was not valid UTF-8 in the file, read with replacement characters (see _sqlite._read)."""


def _is_num(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _text_or_none(value: Any) -> bool:
    return value is None or type(value) is str


# -- JSON shapes ------------------------------------------------------------------------------------

# Keys nbdurable reads from a step's meta, and the types they must have.
_META_TYPES: dict[str, tuple[type, ...]] = {
    "input": (str,),
    "event": (str,),
    "if_exp": (str, _NONE),
    "event_seq": (int,),
    "event_id": (str,),
    "child_run_id": (str,),
    "ai": (dict,),
    "attempts": (list,),
}
_AI_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str, _NONE),
    "provider": (str, _NONE),
    "tokens_in": (int, _NONE),
    "tokens_out": (int, _NONE),
    "cost": (float, int, _NONE),
    "latency": (float, int, _NONE),
    "finish_reason": (str, _NONE),
    "cache_read_tokens": (int, _NONE),
    "cache_write_tokens": (int, _NONE),
    "reasoning_tokens": (int, _NONE),
    "price": (dict, _NONE),
}
# Keys nbdurable reads from a run's options.
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "cancel_on": (list,),
    "debounce_until": (float, int),
    "started_running_at": (float, int),
    "rate_checked": (bool,),
    "retries": (int,),
    "determinism": (str,),
    "on_change": (str,),
    "timeout": (str, _NONE),
    "cell": (str,),
    "rerun_of": (str,),
    "from_step": (str,),
    "trace": (dict,),
}
_CANCEL_ON_TYPES: dict[str, tuple[type, ...]] = {
    "event": (str,),
    "if_exp": (str, _NONE),
    "deadline": (float, int, _NONE),
}


def _typed(obj: Any, types: dict[str, tuple[type, ...]]) -> bool:
    """A dict whose known keys have their types (unknown keys are left alone: newer writers add some)."""
    if type(obj) is not dict:
        return False
    for key, value in obj.items():
        allowed = types.get(key)
        if allowed is not None and type(value) not in allowed:
            return False
    return True


def meta_ok(meta: Any) -> bool:
    """Whether a step's decoded meta is as nbdurable writes it (check_step's test, for replay's plain rows too)."""
    return _typed(meta, _META_TYPES) and ("ai" not in meta or _typed(meta["ai"], _AI_TYPES))


def _error_ok(error: Any) -> bool:
    if type(error) is not dict:
        return False
    return all(type(error.get(k, "")) is str for k in ("type", "message", "traceback")) and _text_or_none(
        error.get("step_id")
    )


def _event_ok(event: Any) -> bool:
    return (
        type(event) is dict
        and type(event.get("name")) is str
        and type(event.get("data", {})) is dict
        and type(event.get("id", "")) is str
        and _is_num(event.get("ts", 0.0))
    )


def _options_ok(options: Any) -> bool:
    if not _typed(options, _OPTION_TYPES):
        return False
    specs = options.get("cancel_on", [])
    return all(_typed(spec, _CANCEL_ON_TYPES) and type(spec.get("event")) is str for spec in specs)


def _warnings_ok(warnings: Any) -> bool:
    return type(warnings) is list and all(
        type(w) is dict and type(w.get("message")) is str and _text_or_none(w.get("step_id")) for w in warnings
    )


# -- steps ------------------------------------------------------------------------------------------


def check_step(s: StepRecord) -> StepRecord:
    """``s`` as read, or with every value nbdurable would not have written replaced and named in ``damaged``.

    The common case is one chain of type checks (replay loads every step of a run).
    """
    if (
        type(s.step_id) is str
        and type(s.name) is str
        and type(s.position) is int
        and type(s.attempt) is int
        and type(s.started_at) is float
        and s.kind in STEP_KINDS
        and s.status in STEP_STATUSES
        and type(s.input_hash) is str
        and type(s.code_hash) is str
        and (s.output is None or type(s.output) is str)
        and (s.output_tag is None or type(s.output_tag) is str)
        and (s.ended_at is None or type(s.ended_at) is float)
        and (s.next_at is None or type(s.next_at) is float)
        and (s.error is None or _error_ok(s.error))
        and (s.meta is None or meta_ok(s.meta))
    ):
        return s
    return _repair_step(s)


def _repair_step(s: StepRecord) -> StepRecord:
    bad: list[str] = []

    def keep(name: str, ok: bool, safe: Any) -> Any:
        if ok:
            return getattr(s, name)
        bad.append(name)
        return safe

    step_id = keep("step_id", type(s.step_id) is str, _shown(s.step_id))
    s = dataclasses.replace(
        s,
        step_id=step_id,
        name=keep("name", type(s.name) is str, step_id),
        position=keep("position", type(s.position) is int, 0),
        attempt=keep("attempt", type(s.attempt) is int, 0),
        started_at=keep("started_at", type(s.started_at) is float, 0.0),
        kind=keep("kind", s.kind in STEP_KINDS, "run"),
        status=keep("status", s.status in STEP_STATUSES, "failed"),
        input_hash=keep("input_hash", type(s.input_hash) is str, ""),
        code_hash=keep("code_hash", type(s.code_hash) is str, ""),
        output=keep("output", _text_or_none(s.output), None),
        output_tag=keep("output_tag", _text_or_none(s.output_tag), None),
        ended_at=keep("ended_at", s.ended_at is None or type(s.ended_at) is float, None),
        next_at=keep("next_at", s.next_at is None or type(s.next_at) is float, None),
        error=keep("error", s.error is None or _error_ok(s.error), None),
        meta=keep("meta", s.meta is None or meta_ok(s.meta), None),
    )
    if bad and s.status == "completed":
        s.status = "failed"  # never replayed as done: its output cannot be trusted to be what the step gave
    s.damaged = tuple(bad)
    s.error = {
        "type": "JournalRecordError",
        "message": f"this step's row in the journal is unreadable ({_columns(s.damaged)}): it holds values "
        "nbdurable never writes, so the journal was edited or damaged",
        "traceback": "",
    }
    return s


# -- runs -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    types: tuple[type, ...]
    safe: Any


# Simple columns by their annotation; columns added later with these annotations are covered too.
_BY_ANNOTATION: dict[str, _Spec] = {
    "str": _Spec((str,), ""),
    "str | None": _Spec((str, _NONE), None),
    "int": _Spec((int,), 0),
    "int | None": _Spec((int, _NONE), None),
    "float": _Spec((float, int), 0.0),
    "float | None": _Spec((float, int, _NONE), None),
}
_RUN_SHAPES = {"event": _event_ok, "error": _error_ok, "options": _options_ok, "warnings": _warnings_ok}


_run_columns: list[tuple[str, Any, _Spec | None]] = []


def _columns_of_runs() -> list[tuple[str, Any, _Spec | None]]:
    """(field, shape check, simple spec) for every RunRecord field that is checked, computed once."""
    if not _run_columns:
        for field in dataclasses.fields(RunRecord):
            shape = _RUN_SHAPES.get(field.name)
            spec = _BY_ANNOTATION.get(str(field.type))
            if shape is not None or spec is not None:
                _run_columns.append((field.name, shape, spec))
    return _run_columns


def check_run(rec: RunRecord) -> RunRecord:
    """``rec`` as read, or with every value nbdurable would not have written replaced and named in ``damaged``."""
    bad: list[str] = []
    for name, shape, spec in _columns_of_runs():
        value = getattr(rec, name)
        if shape is not None:
            if value is not None and not shape(value):
                bad.append(name)
                setattr(rec, name, None)
            continue
        assert spec is not None
        if type(value) not in spec.types:
            bad.append(name)
            setattr(rec, name, _shown(value) if name in ("run_id", "function_id") else spec.safe)
        elif type(value) is int and float in spec.types:
            setattr(rec, name, float(value))
    if rec.status not in RUN_STATUSES:
        bad.append("status")
        rec.status = "failed"
    if rec.kind not in RUN_KINDS:
        bad.append("kind")
        rec.kind = "function"
    if bad:
        rec.damaged = tuple(dict.fromkeys(bad))
        note = (
            f"run {rec.run_id!r}: the journal's record of this run is unreadable ({_columns(rec.damaged)}): it holds "
            "values nbdurable never writes, so the journal was edited or damaged. The run is shown, never executed."
        )
        rec.warnings = [*(rec.warnings or []), {"message": note, "step_id": None}]
        if "error" in bad or rec.status == "failed":
            rec.error = rec.error or {"type": "JournalRecordError", "message": note, "traceback": ""}
    return rec


# -- events -----------------------------------------------------------------------------------------


def check_event(seq: Any, event_id: Any, name: Any, data: Any, ts: Any) -> EventRecord | None:
    """An event row as an EventRecord, or None when it holds what nbdurable never writes (it is then skipped)."""
    if (
        type(seq) is int
        and type(event_id) is str
        and type(name) is str
        and type(data) is dict
        and _is_num(ts)
        and math.isfinite(ts)
    ):
        return EventRecord(seq, event_id, name, data, float(ts))
    return None


# -- refusing to execute ----------------------------------------------------------------------------


def refuse_damaged(rec: RunRecord, steps: Sequence[StepRecord], location: str) -> None:
    """Raise JournalRecordError when the run or one of its steps is damaged: such a run is never executed."""
    where = None
    if rec.damaged:
        where = f"the run's own record ({_columns(rec.damaged)})"
    else:
        step = next((s for s in steps if s.damaged), None)
        if step is not None:
            where = f"step {step.step_id!r} ({_columns(step.damaged)})"
    if where is None:
        return
    raise JournalRecordError(
        f"run {rec.run_id!r}: {where} in the journal at {location} holds values nbdurable never writes: the "
        "journal was edited by hand or damaged, so the run is not executed (a damaged row could replay a "
        "wrong value, or run a completed step again). Look at it with `python -m nbdurable show "
        f"{rec.run_id}`; fork the run from before the damaged step with nd.rerun(run_id, from_step=...), or "
        "restore the journal from a copy."
    )


def _columns(names: Sequence[str]) -> str:
    return ("column " if len(names) == 1 else "columns ") + ", ".join(names)


def _shown(value: Any) -> str:
    """A printable stand-in for a key column that is not text."""
    if isinstance(value, str):
        return str.__str__(value)
    text = repr(value)
    return "<unreadable " + (text if len(text) <= 40 else text[:37] + "...") + ">"


_RUN_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(RunRecord))
_CLAIM_SETS = frozenset({"owner", "epoch", "lease_until"})


def run_changes(
    op: str, fields: Mapping[str, Any] | None, *, expect: Mapping[str, Any] | None = None, claim: bool = False
) -> dict[str, Any]:
    """The fields a run update writes, their names checked and ``updated_at`` stamped.

    One rule for the memory, SQLite and PostgreSQL journals (a batch's run updates, ``claim_run``,
    ``update_run_if``), so a backend cannot accept a field another refuses.
    """
    names = set(fields or ()) | set(expect or ())
    bad = names - _RUN_RECORD_FIELDS
    if bad:
        raise JournalError(
            f"{op}: unknown run fields {sorted(bad)}; a run has the fields of RunRecord "
            f"({', '.join(sorted(_RUN_RECORD_FIELDS))})"
        )
    taken = names & _CLAIM_SETS if claim else set()
    if taken:
        raise JournalError(f"{op} cannot set run fields {sorted(taken)}: the claim itself sets owner, epoch and lease")
    return {"updated_at": time.time(), **(fields or {})}


def run_conditions(expect: Mapping[str, Any], *, status: str | None, epoch: int | None) -> dict[str, Any]:
    """What ``update_run_if`` compares: the expected fields, plus ``status`` and ``epoch`` when given."""
    conditions = dict(expect)
    if status is not None:
        conditions["status"] = status
    if epoch is not None:
        conditions["epoch"] = epoch
    return conditions
