"""What the server knows of one journal's runs, kept current from the journal's change counter.

A listing must not read a journal's every run per request, and the live feed must
not re-read whole runs to find what changed. So each journal gets an index of light
run entries (no results, sources or events) loaded once, then refreshed only when
the journal's ``change_token`` moved (another process committed): the newest runs
until a known one, the unfinished runs (few), and the step summaries of runs that
are executing, aggregated by the journal itself. Every change gets a version
number; the feed sends the entries changed since the version it last sent.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine import effective_status
from ..journal import FINAL_STATUSES, Journal, RunRecord, StepSummary

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "UNFINISHED",
    "Entry",
    "RunIndex",
    "matches_text",
    "notebook_of",
    "origin_of",
    "relative_notebook",
    "summary_json",
]

# Stored statuses of runs that can still change (an "interrupted" run can be resumed).
UNFINISHED = ("queued", "running", "sleeping", "waiting", "interrupted")
_EXECUTING = frozenset({"queued", "running", "sleeping", "waiting"})  # as read: the owner lives
_LIVENESS_EVERY = 1.0  # seconds between checks that the owners of unfinished runs still live
_FAILED_WATCHED = 200  # the newest failed runs whose steps are watched for a resume by any process
_CHANGES_KEPT = 10_000  # changes remembered for the feed; a subscriber further behind is told to reload


@dataclasses.dataclass(slots=True)
class Entry:
    """One run as listings show it: the run record without its payloads, and its step summary."""

    rec: RunRecord
    trigger: str | None
    status: str  # as a reader should see it: "interrupted" when the owner died
    steps: StepSummary | None = None
    version: int = 0

    @property
    def run_id(self) -> str:
        return self.rec.run_id

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        r = self.rec
        return (self.status, r.status_reason, r.updated_at, r.ended_at, r.owner, r.attempt, r.function_id)


def _light(rec: RunRecord) -> tuple[RunRecord, str | None]:
    """The record without its payloads (result, cell source, event data), and the trigger event's name."""
    event = rec.event if isinstance(rec.event, dict) else {}
    name = event.get("name")
    light = dataclasses.replace(rec, result=None, source=None, event=None, warnings=None)
    if isinstance(light.error, dict):
        light.error = {k: light.error.get(k) for k in ("type", "message", "step_id") if k in light.error}
    return light, name if isinstance(name, str) else None


class RunIndex:
    """The runs of one journal, refreshed from its change counter; thread-safe (one lock)."""

    def __init__(
        self, journal: Journal, key: str, *, max_runs: int, engine: Callable[[], Engine | None] = lambda: None
    ) -> None:
        self.journal = journal
        self.key = key
        self._max_runs = max_runs
        self._engine = engine
        self._entries: dict[str, Entry] = {}
        self._token: int | None = None
        self._liveness_at = 0.0
        self._lock = threading.RLock()
        self.version = 0
        self._changes: collections.deque[tuple[int, str]] = collections.deque(maxlen=_CHANGES_KEPT)
        self.truncated = False  # more runs in the journal than the index keeps
        # Runs this server resumed: a failed run can go back to running and end again between two refreshes,
        # which the pull of unfinished runs cannot see, so these are re-read until they end here.
        self._watched: set[str] = set()

    # -- refreshing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the index up to date: a no-op (one PRAGMA) when no other connection committed."""
        with self._lock:
            token = self.journal.change_token()
            if self._token is None:
                self._load()
                self._token = token
                return
            changed: set[str] = set()
            if token != self._token:
                self._token = token
                self._pull_new(changed)
                self._pull_unfinished(changed)
                self._pull_watched(changed)
                self._pull_steps(changed)
            now = time.monotonic()
            if now - self._liveness_at >= _LIVENESS_EVERY:
                self._liveness_at = now
                self._check_owners(changed)
            for run_id in changed:
                self._mark(run_id)

    def _load(self) -> None:
        records = self.journal.list_runs(limit=self._max_runs + 1)
        self.truncated = len(records) > self._max_runs
        for rec in records[: self._max_runs]:
            self._put(rec)
        self._liveness_at = time.monotonic()
        self._pull_steps(set())

    def _pull_new(self, changed: set[str]) -> None:
        """Runs added since the last refresh: the newest ones, until one the index knows."""
        limit = 64
        while True:
            records = self.journal.list_runs(limit=limit)
            known = any(r.run_id in self._entries for r in records)
            if known or len(records) < limit or limit >= self._max_runs:
                break
            limit = min(limit * 4, self._max_runs)
        for rec in records:
            if rec.run_id not in self._entries and self._put(rec):
                changed.add(rec.run_id)
        self._trim()

    def _pull_unfinished(self, changed: set[str]) -> None:
        """Unfinished runs as stored now, and the runs that were unfinished before and have ended since."""
        seen: set[str] = set()
        for rec in self.journal.list_runs(statuses=UNFINISHED):
            seen.add(rec.run_id)
            if self._put(rec):
                changed.add(rec.run_id)
        for run_id, entry in list(self._entries.items()):
            if entry.rec.status not in FINAL_STATUSES and run_id not in seen:
                now = self.journal.get_run(run_id)
                if now is not None and self._put(now):
                    changed.add(run_id)

    def watch(self, run_id: str) -> None:
        """Re-read ``run_id`` at every refresh until it has ended and no longer executes in the server."""
        with self._lock:
            self._watched.add(run_id)

    def _pull_watched(self, changed: set[str]) -> None:
        engine = self._engine()
        for run_id in list(self._watched):
            rec = self.journal.get_run(run_id)
            if rec is not None and self._put(rec):
                changed.add(run_id)
            executing = engine is not None and run_id in engine.active
            if rec is None or (rec.status in FINAL_STATUSES and not executing):
                self._watched.discard(run_id)

    def _pull_steps(self, changed: set[str]) -> None:
        """New step summaries of the runs that changed or are executing, and of the newest failed runs.

        A run whose steps moved has changed. A failed run's steps move when some process resumes
        it; the resumed run can end again before the next refresh, never seen unfinished, so its
        record is read again then.
        """
        ids = set(changed)
        ids.update(run_id for run_id, e in self._entries.items() if e.status in _EXECUTING)
        failed = [e for e in self._entries.values() if e.rec.status == "failed"]
        failed.sort(key=lambda e: e.rec.updated_at, reverse=True)
        ids.update(e.run_id for e in failed[:_FAILED_WATCHED])
        if not ids:
            return
        summaries = self.journal.summarize_steps(sorted(ids))
        for run_id, summary in summaries.items():
            entry = self._entries.get(run_id)
            if entry is None or entry.steps == summary:
                continue
            moved = entry.steps is not None
            entry.steps = summary
            if moved:
                changed.add(run_id)
                if entry.rec.status in FINAL_STATUSES:
                    now = self.journal.get_run(run_id)
                    if now is not None:
                        self._put(now)  # keeps the summary just set

    def _check_owners(self, changed: set[str]) -> None:
        """Unfinished runs whose process died read as interrupted without any write to the journal."""
        engine = self._engine()
        for run_id, entry in self._entries.items():
            if entry.rec.status not in FINAL_STATUSES:
                status = effective_status(entry.rec, engine)
                if status != entry.status:
                    entry.status = status
                    changed.add(run_id)

    def _put(self, rec: RunRecord) -> bool:
        """Store the run's light entry; True if it is new or differs from what was stored."""
        light, trigger = _light(rec)
        entry = Entry(light, trigger, effective_status(light, self._engine()))
        old = self._entries.get(rec.run_id)
        if old is not None:
            entry.steps, entry.version = old.steps, old.version
            if old.fingerprint == entry.fingerprint:
                return False
        self._entries[rec.run_id] = entry
        return True

    def _mark(self, run_id: str) -> None:
        entry = self._entries.get(run_id)
        if entry is None:
            return
        self.version += 1
        entry.version = self.version
        self._changes.append((self.version, run_id))

    def _trim(self) -> None:
        """Forget the oldest finished runs beyond ``max_runs``."""
        extra = len(self._entries) - self._max_runs
        if extra <= 0:
            return
        self.truncated = True
        finished = sorted(
            (e for e in self._entries.values() if e.rec.status in FINAL_STATUSES), key=lambda e: e.rec.created_at
        )
        for entry in finished[:extra]:
            del self._entries[entry.run_id]

    # -- reading ------------------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.values())

    def get(self, run_id: str) -> Entry | None:
        with self._lock:
            return self._entries.get(run_id)

    def ensure_steps(self, entries: Iterable[Entry]) -> None:
        """Fill in the step summaries of ``entries`` that have none yet (one query)."""
        with self._lock:
            missing = [e.run_id for e in entries if e.steps is None]
            if missing:
                for run_id, summary in self.journal.summarize_steps(missing).items():
                    entry = self._entries.get(run_id)
                    if entry is not None:
                        entry.steps = summary

    def changes_since(self, version: int) -> list[Entry] | None:
        """Entries changed after ``version`` (each once, oldest change first); None if that is too far back."""
        with self._lock:
            if version >= self.version:
                return []
            if self._changes and self._changes[0][0] > version + 1 and len(self._changes) == _CHANGES_KEPT:
                return None
            ids = dict.fromkeys(run_id for v, run_id in self._changes if v > version)
            return [self._entries[r] for r in ids if r in self._entries]

    def close(self) -> None:
        with self._lock:
            self.journal.close()


def relative_notebook(path: Any, root: Path) -> str | None:
    """A notebook path as the server names it (relative to the root); None for one outside it."""
    if not isinstance(path, str) or not path:
        return None
    candidate = Path(path)
    if not candidate.is_absolute():  # as Jupyter names it: relative to the root
        relative = Path(os.path.normpath(path)).as_posix()
        return None if relative == ".." or relative.startswith("../") else relative
    try:
        return candidate.resolve().relative_to(root).as_posix()
    except (ValueError, OSError):
        return None


def origin_of(rec: RunRecord) -> dict[str, Any]:
    """The run's journaled origin (notebook, cell id), or {}."""
    options = rec.options if isinstance(rec.options, dict) else {}
    origin = options.get("origin")
    return origin if isinstance(origin, dict) else {}


def notebook_of(entry: Entry, root: Path) -> str | None:
    """The notebook the run was started from, relative to the root (None if unknown or outside it)."""
    return relative_notebook(origin_of(entry.rec).get("notebook"), root)


def summary_json(entry: Entry, journal: str, root: Path) -> dict[str, Any]:
    """The run as the listing and the feed give it (see the OpenAPI description, RunSummary)."""
    rec, steps = entry.rec, entry.steps or StepSummary()
    options = rec.options if isinstance(rec.options, dict) else {}
    origin = origin_of(rec)
    error = rec.error if isinstance(rec.error, dict) else None
    return {
        "run_id": rec.run_id,
        "journal": journal,
        "function_id": rec.function_id,
        "kind": rec.kind,
        "status": entry.status,
        "status_reason": rec.status_reason,
        "trigger": entry.trigger,
        "notebook": notebook_of(entry, root),
        "cell_id": _text(origin.get("cell_id")),
        "parent_run_id": rec.parent_run_id,
        "rerun_of": _text(options.get("rerun_of")),
        "from_step": _text(options.get("from_step")),
        "attempt": rec.attempt,
        "started_at": rec.created_at,
        "updated_at": max(rec.updated_at, steps.last_at or 0.0),
        "ended_at": rec.ended_at if entry.status in FINAL_STATUSES else None,
        "steps_done": steps.done,
        "steps_total": steps.total,
        "steps_failed": steps.failed,
        "step_attempts": steps.attempts,
        "tokens_in": steps.tokens_in,
        "tokens_out": steps.tokens_out,
        "cost": steps.cost,
        "error": None
        if error is None
        else {
            "type": _text(error.get("type")),
            "message": _text(error.get("message")),
            "step_id": _text(error.get("step_id")),
        },
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def matches_text(entry: Entry, needle: str, notebook: str | None) -> bool:
    """Whether a case-insensitive search matches the run's id, function, reason, notebook or error."""
    rec = entry.rec
    error = rec.error if isinstance(rec.error, dict) else {}
    haystack: Sequence[Any] = (
        rec.run_id,
        rec.function_id,
        rec.status_reason,
        entry.trigger,
        notebook,
        error.get("message"),
        error.get("type"),
    )
    return any(isinstance(h, str) and needle in h.lower() for h in haystack)
