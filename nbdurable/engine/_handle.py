"""Run handles: look at a run, wait for its result, cancel it.

A handle works the same for a run executing in this process (it follows the live
state) and for one known only from the journal (it reads and, when waiting,
polls the journal), so a notebook can watch a run started by another kernel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._errors import RunCancelledError, RunFailedError, RunInterruptedError, SerializationError
from ..journal import ACTIVE_STATUSES, FINAL_STATUSES, RunRecord, is_alive, this_owner
from ._present import presenter
from ._registry import registry
from ._serde import decode, module_of, return_type

if TYPE_CHECKING:
    from ._engine import Engine
    from ._runstate import RunState
    from ._writer import JournalWriter

__all__ = ["RunHandle", "StepView", "effective_status"]

R = TypeVar("R")
_PENDING = object()


def effective_status(rec: RunRecord, engine: JournalWriter | None = None) -> str:
    """The run's status as a reader should see it: an active run whose process died is "interrupted".

    A run handed to workers that no process owns is waiting for a worker: its status is as journaled.
    """
    if rec.queue is not None and rec.owner is None:
        return rec.status
    if rec.status in ACTIVE_STATUSES or (rec.status == "queued" and rec.owner):
        if rec.owner == this_owner():
            if engine is not None and rec.run_id in engine.active:
                return rec.status
            return "interrupted" if rec.status != "queued" else rec.status
        if not is_alive(rec.owner, rec.lease_until):
            return "interrupted"
    return rec.status


@dataclasses.dataclass(frozen=True, slots=True)
class StepView:
    """One step of a run as a reader sees it."""

    step_id: str
    name: str
    kind: str
    status: str
    position: int
    attempt: int
    started_at: float
    ended_at: float | None
    replayed: bool
    error: dict[str, Any] | None
    meta: dict[str, Any] | None

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


class RunHandle(Generic[R]):
    """A run: ``run_id``, ``status``, ``await result()``, ``cancel()``, ``steps()``."""

    def __init__(self, engine: Engine, run_id: str, state: RunState | None, *, record: RunRecord | None = None) -> None:
        self._engine = engine
        self.run_id = run_id
        self._state = state
        self._record = record

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id!r} {self.function_id!r} {self.status}>"

    @property
    def engine(self) -> Engine:
        """The engine the run belongs to (its journal, its change feed): what a view of the run reads."""
        return self._engine

    # -- reading ------------------------------------------------------------------------------------

    def _rec(self) -> RunRecord | None:
        if self._record is None or self._record.status not in FINAL_STATUSES:
            fresh = self._engine.journal.get_run(self.run_id)
            if fresh is not None:
                self._record = fresh
        return self._record

    @property
    def function_id(self) -> str:
        if self._state is not None and self._state.function is not None:
            return self._state.function.id
        rec = self._record or self._rec()
        return rec.function_id if rec is not None else "?"

    @property
    def status(self) -> str:
        """queued, running, sleeping, waiting, completed, failed, cancelled or interrupted."""
        st = self._state
        if st is not None and st.outcome is not None and st.outcome.status != "lost":
            return st.status
        if st is not None and st.outcome is None and st.run_id in self._engine.active:
            return st.status
        # Not executing here, or lost to another process that claimed it: as the journal says.
        rec = self._rec()
        return effective_status(rec, self._engine) if rec is not None else "unknown"

    @property
    def record(self) -> RunRecord | None:
        """The run as journaled (None before its first write)."""
        return self._rec()

    def steps(self) -> list[StepView]:
        """The run's steps in the order first reached: journaled ones, plus live ones in this process."""
        out: dict[str, StepView] = {}
        from ._runstate import ReplayedIds

        replayed = self._state.replayed if self._state is not None else ReplayedIds()
        for s in self._engine.journal.load_steps(self.run_id):
            out[s.step_id] = StepView(
                s.step_id,
                s.name,
                s.kind,
                s.status,
                s.position,
                s.attempt,
                s.started_at,
                s.ended_at,
                replayed.has(s.position, s.step_id),
                s.error,
                s.meta,
            )
        if self._state is not None:
            for live in self._state.live.values():
                out[live.step_id] = StepView(
                    live.step_id,
                    live.name,
                    live.kind,
                    live.status,
                    live.position,
                    live.attempt,
                    live.started_at,
                    live.ended_at,
                    live.replayed,
                    live.error,
                    live.meta,
                )
        return sorted(out.values(), key=lambda v: v.position)

    # -- waiting ------------------------------------------------------------------------------------

    async def result(self, *, timeout: float | None = None) -> R:
        """Wait for the run to end and return its result.

        Raises RunFailedError (with the original error's type name, message and
        traceback), RunCancelledError, or RunInterruptedError when the process
        running it stopped part-way; RunOwnedElsewhereError (or ClaimLostError)
        when another process executes it; a JournalError subclass when the journal
        failed under it here (the run is then resumable from what was committed).
        """
        st = self._state
        if st is not None and st.done is not None:
            if timeout is None:
                await asyncio.shield(st.done)
            else:
                await asyncio.wait_for(asyncio.shield(st.done), timeout)
            assert st.outcome is not None
            status, value, error, reason, exc = st.outcome
            if status == "completed":
                return value  # type: ignore[no-any-return]
            if status in ("lost", "interrupted") and exc is not None:
                # Another process owns the run, or its journal failed here: that error says what to do.
                raise exc
            if status != "lost":
                self._raise(status, error, reason, exc)
        return await self._result_from_journal(timeout)

    async def _result_from_journal(self, timeout: float | None) -> R:
        """Wait for a run executing elsewhere (or not at all yet) by reading the journal when it may have changed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        watched: asyncio.Event | None = None
        try:
            while True:
                self._engine.unwatch(self.run_id, watched)
                # Watched before reading: an announcement made between the read and the wait is not missed.
                watched = self._engine.watch(self.run_id)
                outcome = self._journaled_outcome(timeout, deadline)
                if outcome is not _PENDING:
                    return outcome  # type: ignore[no-any-return]
                await self._engine.wait_watched(
                    watched, None if deadline is None else max(0.0, deadline - time.monotonic())
                )
        finally:
            self._engine.unwatch(self.run_id, watched)

    def _journaled_outcome(self, timeout: float | None, deadline: float | None) -> Any:
        """The run's result as journaled, its error raised, or _PENDING while it goes on."""
        # The status first, then the record: a record read before the status could predate the run's end.
        status = self.status
        rec = self._rec()
        if rec is None:
            raise RunInterruptedError(f"run {self.run_id!r} is not in the journal", run_id=self.run_id)
        if status == "completed":
            if {"result", "result_tag"} & set(rec.damaged):
                raise SerializationError(
                    f"run {self.run_id!r}: its journaled result cannot be read (the result columns hold values "
                    "nbdurable never writes: the journal was edited or damaged). Run it again under a new run id."
                )
            if rec.result is None:
                return None

            # Decoded only as the workflow function defined here declares: the journal does not choose.
            fn = registry().get(rec.function_id)
            stored: R = decode(
                rec.result,
                rec.result_tag,
                output_type=return_type(fn.func) if fn is not None else None,
                module=module_of(fn.func) if fn is not None else None,
                where=f"run {self.run_id!r}",
            )
            return stored
        # A run handed to workers is never abandoned: one of them resumes it if its owner stops.
        for_workers = rec.queue is not None and rec.status not in FINAL_STATUSES
        if status in ("failed", "cancelled", "skipped", "interrupted") and not for_workers:
            self._raise(status, rec.error, rec.status_reason or "", None)
        if status == "queued" and rec.owner is None and not for_workers and not self._engine.active.get(self.run_id):
            self._raise("interrupted", None, "", None)
        if deadline is not None and time.monotonic() > deadline:
            raise asyncio.TimeoutError(f"run {self.run_id!r} is still {status} after {timeout}s")
        return _PENDING

    def _raise(self, status: str, error: dict[str, Any] | None, reason: str, exc: BaseException | None) -> Any:
        if status == "failed":
            info = error or {}
            where = f" in step {info['step_id']!r}" if info.get("step_id") else ""
            said = str(info.get("message", "")).rstrip(".")
            raise RunFailedError(
                f"run {self.run_id!r} failed{where}: {info.get('type', 'Error')}: {said}. Its "
                f"completed steps are journaled; fix the cause and resume it (nd.get_run({self.run_id!r}).resume() "
                "or %durable resume) to run only what is left.",
                run_id=self.run_id,
                error_type=str(info.get("type", "")),
                error_message=str(info.get("message", "")),
                traceback=str(info.get("traceback", "")),
                traceback_full=str(info.get("traceback_full") or info.get("traceback", "")),
            ) from exc
        if status == "skipped":
            raise RunCancelledError(
                f"run {self.run_id!r} was {reason or 'skipped'}; it never started. It stays in the journal.",
                run_id=self.run_id,
                reason=reason,
            )
        if status == "cancelled":
            raise RunCancelledError(
                f"run {self.run_id!r} was cancelled{': ' + reason if reason else ''}", run_id=self.run_id, reason=reason
            )
        raise RunInterruptedError(
            f"run {self.run_id!r} was interrupted: the process running it stopped part-way. Resume it with "
            f"nd.get_run({self.run_id!r}).resume() (its function must be defined) or %durable resume {self.run_id}.",
            run_id=self.run_id,
        )

    # -- acting -------------------------------------------------------------------------------------

    def cancel(self, reason: str = "") -> bool:
        """Cancel the run: a step in flight finishes, nothing after it runs. False if it had already ended."""
        return self._engine.cancel(self.run_id, reason)

    def resume(self) -> RunHandle[R]:
        """Resume this run here (interrupted or failed): completed steps replay, the rest run."""
        handle: RunHandle[R] = self._engine.resume(self.run_id)
        presenter().started(handle)
        return handle

    def _ipython_display_(self) -> None:
        """In a notebook, a handle shows its run's timeline (live if it runs here)."""
        presenter().show(self)
