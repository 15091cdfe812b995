"""A journal that lives in memory: the same protocol as SQLite, for fast tests.

Records are copied in and out so callers cannot mutate stored state by accident,
which keeps its behaviour honest against the SQLite journal.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .._errors import ClaimLostError, JournalError
from ._protocol import EventRecord, ReplaySteps, RunRecord, StepRecord, StepSummary, Write
from ._rows import run_changes, run_conditions

__all__ = ["MemoryJournal"]


def _summary(steps: Iterable[StepRecord]) -> StepSummary:
    """A run's StepSummary, counted the way the SQLite journal's query counts it."""
    counted = [s for s in steps if s.kind != "value"]
    ai = [info for s in counted if isinstance(info := (s.meta or {}).get("ai"), dict)]
    costs = [info.get("cost") for info in ai]
    priced = [c for c in costs if isinstance(c, (int, float)) and not isinstance(c, bool)]
    return StepSummary(
        total=len(counted),
        done=sum(s.status == "completed" for s in counted),
        failed=sum(s.status == "failed" for s in counted),
        attempts=sum(s.attempt for s in counted),
        last_at=max((max(s.started_at, s.ended_at or 0.0) for s in counted), default=None),
        ai_steps=len(ai),
        tokens_in=sum(int(info.get("tokens_in") or 0) for info in ai),
        tokens_out=sum(int(info.get("tokens_out") or 0) for info in ai),
        cost=float(sum(priced)) if ai and len(priced) == len(ai) else None,
    )


class MemoryJournal:
    """An in-memory :class:`~nbdurable.journal._protocol.Journal`; nothing survives the process."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._order: list[str] = []
        self._steps: dict[str, dict[str, StepRecord]] = {}
        self._events: list[EventRecord] = []
        self._event_ids: dict[str, EventRecord] = {}
        self._triggers: dict[tuple[str, str], str] = {}
        self._version = 0
        self._lock = threading.RLock()
        self._leases: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._waiters: dict[tuple[str, str, str], float] = {}
        self._waiter_holders: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._marks: dict[tuple[str, str], list[tuple[float, int]]] = {}
        self._cursors: dict[str, int] = {}

    @property
    def location(self) -> str:
        return ":memory:"

    def __repr__(self) -> str:
        return "MemoryJournal()"

    def write(self, batch: Sequence[Write]) -> None:
        with self._lock:
            # Validate the whole batch first so it applies all or nothing, like a transaction.
            known = set(self._runs)
            lost: dict[str, str | None] = {}
            for w in batch:
                run_id = w.target
                if w.op == "run" and w.run is not None:
                    if run_id in known:
                        lost[run_id] = self._runs[run_id].owner if run_id in self._runs else None
                    known.add(run_id)
                elif w.op == "step" and w.step is not None and run_id not in known:
                    raise JournalError(f"run {w.step.run_id!r} is not in the journal")
                elif w.op == "run_update":
                    run_changes("write", w.fields)
                elif w.op == "trigger":
                    existing = self._triggers.get((w.event_id, w.function_id))
                    if existing is not None and existing != w.run_id:
                        # The event already started a run of this function (sent first elsewhere): this one lost.
                        lost[run_id] = next(
                            (x.run.owner for x in batch if x.op == "run" and x.run and x.target == run_id),
                            self._runs[run_id].owner if run_id in self._runs else None,
                        )
                current = self._runs.get(run_id)
                fenced = w.epoch is not None and w.op in ("step", "run_update")
                if fenced and current is not None and current.epoch != w.epoch:
                    lost[run_id] = current.owner
            if lost:
                raise ClaimLostError(
                    f"the journal refused writes of run(s) {', '.join(map(repr, lost))}: another process claimed them",
                    run_ids=tuple(lost),
                    owners=lost,
                )
            for w in batch:
                if w.op == "run":
                    assert w.run is not None
                    new = copy.deepcopy(w.run)
                    self._runs[new.run_id] = new
                    self._order.append(new.run_id)
                    self._steps[new.run_id] = {}
                elif w.op == "run_update":
                    run = self._runs.get(w.run_id)
                    if run is not None and not (w.unless_status and run.status in w.unless_status):
                        for key, value in copy.deepcopy(run_changes("write", w.fields)).items():
                            setattr(run, key, value)
                elif w.op == "step":
                    assert w.step is not None
                    self._steps[w.step.run_id][w.step.step_id] = copy.deepcopy(w.step)
                elif w.op == "trigger":
                    self._triggers.setdefault((w.event_id, w.function_id), w.run_id)
                elif w.op == "delete_run":
                    if self._runs.pop(w.run_id, None) is not None:
                        self._order.remove(w.run_id)
                    self._steps.pop(w.run_id, None)
                    for trigger in [k for k, run_id in self._triggers.items() if run_id == w.run_id]:
                        del self._triggers[trigger]
            self._version += 1

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            return copy.deepcopy(run) if run is not None else None

    def list_runs(
        self, *, statuses: Sequence[str] | None = None, function_id: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        with self._lock:
            out: list[RunRecord] = []
            if limit is not None and limit <= 0:
                return out
            for run_id in reversed(self._order):
                run = self._runs[run_id]
                if statuses and run.status not in statuses:
                    continue
                if function_id is not None and run.function_id != function_id:
                    continue
                out.append(copy.deepcopy(run))
                if limit is not None and len(out) >= limit:
                    break
            return out

    def load_steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            steps = list(self._steps.get(run_id, {}).values())
            return [copy.deepcopy(s) for s in sorted(steps, key=lambda s: s.position)]

    def load_replay(self, run_id: str) -> ReplaySteps:
        return ReplaySteps(records=self.load_steps(run_id))

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        with self._lock:
            return {
                r: sum(1 for s in self._steps.get(r, {}).values() if s.status == "completed")
                for r in run_ids
                if r in self._runs
            }

    def summarize_steps(self, run_ids: Sequence[str]) -> dict[str, StepSummary]:
        with self._lock:
            return {r: _summary(self._steps.get(r, {}).values()) for r in run_ids if r in self._runs}

    def add_event(self, event_id: str, name: str, data: dict[str, Any], ts: float) -> EventRecord | None:
        with self._lock:
            if event_id in self._event_ids:
                return None
            record = EventRecord(len(self._events) + 1, event_id, name, copy.deepcopy(data), ts)
            self._events.append(record)
            self._event_ids[event_id] = record
            self._version += 1
            return record

    def get_event(self, event_id: str) -> EventRecord | None:
        with self._lock:
            found = self._event_ids.get(event_id)
            return copy.deepcopy(found) if found is not None else None

    def events_after(self, name: str | None, after_seq: int, *, limit: int = 100) -> list[EventRecord]:
        with self._lock:
            return [copy.deepcopy(e) for e in self._events[after_seq:] if name is None or e.name == name][:limit]

    def last_event_seq(self) -> int:
        with self._lock:
            return len(self._events)

    def runs_for_event(self, event_id: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted((f, r) for (e, f), r in self._triggers.items() if e == event_id)

    def claim_run(
        self,
        run_id: str,
        owner: str,
        *,
        epoch: int,
        status: str,
        lease_until: float | None,
        fields: dict[str, Any] | None = None,
    ) -> int | None:
        changes = copy.deepcopy(run_changes("claim_run", fields, claim=True))
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.epoch != epoch or run.status != status:
                return None
            for key, value in changes.items():
                setattr(run, key, value)
            run.owner, run.epoch, run.lease_until = owner, run.epoch + 1, lease_until
            self._version += 1
            return run.epoch

    def update_run_if(
        self,
        run_id: str,
        fields: dict[str, Any],
        *,
        expect: dict[str, Any],
        status: str | None = None,
        epoch: int | None = None,
        trigger: tuple[str, str] | None = None,
    ) -> bool:
        changes = copy.deepcopy(run_changes("update_run_if", fields, expect=expect))
        conditions = run_conditions(expect, status=status, epoch=epoch)
        with self._lock:
            run = self._runs.get(run_id)
            if (
                run is None
                or any(getattr(run, k) != v for k, v in conditions.items())
                or (trigger is not None and trigger in self._triggers)
            ):
                return False
            for key, value in changes.items():
                setattr(run, key, value)
            if trigger is not None:
                self._triggers[trigger] = run_id
            self._version += 1
            return True

    def acquire_slot(
        self, scope: str, key: str, run_id: str, holder: str, *, limit: int, rank: float, expires_at: float, now: float
    ) -> tuple[bool, int, int]:
        with self._lock:
            for k in [k for k, (_h, exp) in self._leases.items() if k[:2] == (scope, key) and exp < now]:
                del self._leases[k]
            stale = now - (expires_at - now) if expires_at > now else now
            for k in [k for k, (_h, seen) in self._waiter_holders.items() if k[:2] == (scope, key) and seen < stale]:
                self._waiters.pop(k, None)
                del self._waiter_holders[k]
            me = (scope, key, run_id)
            busy = sum(1 for k in self._leases if k[:2] == (scope, key))
            if me in self._leases:
                self._leases[me] = (holder, expires_at)
                return True, busy, 0
            my_rank = self._waiters.setdefault(me, rank)
            self._waiter_holders[me] = (holder, now)
            ahead = sum(
                1
                for (s, k, r), rk in self._waiters.items()
                if (s, k) == (scope, key) and (rk < my_rank or (rk == my_rank and r < run_id))
            )
            if busy + ahead < limit:
                self._leases[me] = (holder, expires_at)
                del self._waiters[me]
                self._waiter_holders.pop(me, None)
                return True, busy + 1, 0
            return False, busy, ahead

    def release_slot(self, scope: str, key: str, run_id: str) -> None:
        with self._lock:
            self._leases.pop((scope, key, run_id), None)
            self._waiters.pop((scope, key, run_id), None)
            self._waiter_holders.pop((scope, key, run_id), None)

    def slot_holders(self, scope: str, key: str) -> list[str]:
        with self._lock:
            holders = {h for k, (h, _e) in self._leases.items() if k[:2] == (scope, key)}
            holders |= {h for k, (h, _s) in self._waiter_holders.items() if k[:2] == (scope, key)}
            return sorted(h for h in holders if h)

    def drop_holder(self, holder: str) -> int:
        with self._lock:
            gone = [k for k, (h, _e) in self._leases.items() if h == holder]
            for k in gone:
                del self._leases[k]
            for k in [k for k, (h, _s) in self._waiter_holders.items() if h == holder]:
                self._waiters.pop(k, None)
                del self._waiter_holders[k]
            return len(gone)

    def renew_leases(self, holder: str, expires_at: float, *, runs: Sequence[str] = ()) -> None:
        with self._lock:
            for run_id in runs:
                run = self._runs.get(run_id)
                if run is not None and run.owner == holder:
                    run.lease_until = expires_at
            for k, (h, _e) in list(self._leases.items()):
                if h == holder:
                    self._leases[k] = (h, expires_at)
            for k, (h, _s) in list(self._waiter_holders.items()):
                if h == holder:
                    self._waiter_holders[k] = (h, time.time())

    def take_mark(
        self,
        scope: str,
        key: str,
        *,
        now: float,
        since: float,
        max_count: int | None,
        max_weight: int | None,
        weight: int,
    ) -> tuple[bool, float | None]:
        with self._lock:
            marks = self._marks.setdefault((scope, key), [])
            marks[:] = [m for m in marks if m[0] >= now - 86400]
            window = [m for m in marks if m[0] >= since]
            total = sum(w for _t, w in window)
            if (max_count is not None and len(window) >= max_count) or (max_weight is not None and total >= max_weight):
                return False, min(t for t, _w in window) if window else None
            marks.append((now, weight))
            return True, None

    def add_mark(self, scope: str, key: str, ts: float, weight: int) -> None:
        with self._lock:
            self._marks.setdefault((scope, key), []).append((ts, weight))

    def claim_next(
        self,
        owner: str,
        *,
        queues: Sequence[str] | None,
        function_ids: Sequence[str],
        now: float,
        lease_until: float,
        limit: int,
    ) -> list[RunRecord]:
        with self._lock:
            out: list[RunRecord] = []
            for run_id in self._order:
                if len(out) >= limit:
                    break
                run = self._runs[run_id]
                if run.queue is None or run.status not in ("queued", "running", "sleeping", "waiting"):
                    continue
                if run.function_id not in function_ids or (queues is not None and run.queue not in queues):
                    continue
                if run.owner is not None and (run.lease_until is None or run.lease_until >= now):
                    continue
                run.owner, run.lease_until = owner, lease_until
                out.append(copy.deepcopy(run))
            if out:
                self._version += 1
            return out

    def get_cursor(self, name: str) -> int | None:
        with self._lock:
            return self._cursors.get(name)

    def move_cursor(self, name: str, seq: int, *, expect: int | None) -> bool:
        with self._lock:
            if self._cursors.get(name) != expect or (expect is None and name in self._cursors):
                return False
            self._cursors[name] = seq
            return True

    def change_token(self) -> int:
        return self._version

    def close(self) -> None:
        pass
