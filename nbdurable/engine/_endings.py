"""How a run ends here: its final status journaled (fenced by its epoch), its handle settled, its slots given back.

The layer of :class:`~nbdurable.Engine` between events and the life of a run: ``_finish``
(with the ``on_failure`` handler's run queued in the same transaction), ``_halt`` (the
journal failed, or another process took the run), ``_lose``, ``_settle``; and what stops a
run from outside: ``cancel``, ``release``, ``interrupt``.
"""

from __future__ import annotations

import dataclasses
import logging
from time import time as _clock
from typing import Any

from .._errors import (
    ClaimLostError,
    ConfigError,
    JournalError,
    NbDurableError,
    RunInterruptedError,
    RunOwnedElsewhereError,
)
from ..journal._protocol import FINAL_STATUSES, RunRecord, Write
from ._events import Event
from ._runstate import Outcome, OutcomeStatus, RunState
from ._triggers import Triggers

__all__ = ["FAILURE_EVENT", "Endings"]

_log = logging.getLogger("nbdurable")

_CANCELLED = frozenset({"cancelled"})
# The event a function's on_failure handler is started with (Inngest's is "inngest/function.failed").
FAILURE_EVENT = "nd/function.failed"


class Endings(Triggers):
    """Finishing, halting and settling runs executing here; cancelling, releasing and interrupting them."""

    def _finish(
        self,
        st: RunState,
        status: OutcomeStatus,
        *,
        value: Any = None,
        payload: str | None = None,
        tag: str | None = None,
        error: dict[str, Any] | None = None,
        reason: str = "",
        exc: BaseException | None = None,
    ) -> None:
        """Journal how the run ended (a write fenced by its epoch) and settle its handle."""
        if st.halt is not None:
            self._halt(st, st.halt)
            return
        now = _clock()
        fields: dict[str, Any] = {"status": status, "updated_at": now, "warnings": st.warnings or None}
        if status in FINAL_STATUSES:
            fields["ended_at"] = now
        if status == "completed":
            fields.update(result=payload, result_tag=tag, error=None)
        elif status == "failed":
            fields["error"] = error
        elif status in ("cancelled", "skipped"):
            fields["status_reason"] = reason or None
        handler = self._failure_handler(st, error, now) if status == "failed" else None
        if handler is not None:
            fields["options"] = {**((st.record.options if st.record else None) or {}), "on_failure_run": handler.run_id}
        if st.epoch:  # never claimed (stopped before its claim): nothing of the run is this process's to write
            refused: set[str] = set()
            try:
                # Conditional, in the write's own transaction: a cancel written by another process (which
                # itself applies only to an unfinished run) wins over the result we were about to store.
                # The failure handler's run is queued in the same transaction: a failed run never lacks it.
                refused = self._write_sync(
                    Write("run_update", run_id=st.run_id, fields=fields, unless_status=_CANCELLED),
                    *([Write("run", run=handler)] if handler is not None else []),
                )
                if status != "cancelled" and st.run_id not in refused:
                    rec = self.journal.get_run(st.run_id)
                    if rec is not None and rec.status == "cancelled":
                        status, value, error, exc = "cancelled", None, None, None
                        reason = rec.status_reason or "cancelled from another process"
            except JournalError as err:
                if status != "interrupted":
                    self._halt(st, err)
                    return
                _log.warning("nbdurable: could not journal that run %s was interrupted: %s", st.run_id, err)
            if st.run_id in refused:  # the journal refused the write: another process claimed the run
                self._halt(st, st.halt or ClaimLostError(f"run {st.run_id!r} was claimed by another process"))
                return
            if handler is not None:
                self._start_handler(st, handler, failed=status == "failed")
        self._settle(st, status, Outcome(status, value, error, reason, exc), ended_at=now)

    def _failure_handler(self, st: RunState, error: dict[str, Any] | None, now: float) -> RunRecord | None:
        """The queued run of the function's ``on_failure`` handler for this failure (None without one).

        Its event, ``nd/function.failed``, carries the failed run's id, function id, error (type,
        message, traceback) and trigger event, as Inngest's ``inngest/function.failed`` does.
        """
        handler = getattr(st.function, "on_failure", None)
        if handler is None or st.record is None:
            return None
        run_id = f"{st.run_id}:failure:{st.record.attempt}"  # one per execution that failed
        info = {k: v for k, v in (error or {}).items() if k in ("type", "message", "traceback", "step_id")}
        data = {"function_id": st.record.function_id, "run_id": st.run_id, "error": info, "event": st.record.event}
        return RunRecord(
            run_id=run_id,
            function_id=handler.id,
            status="queued",
            event=Event(FAILURE_EVENT, data, run_id, now).to_dict(),
            code_hash=handler.code_hash,
            parent_run_id=st.run_id,
            event_seq=self.journal.last_event_seq(),
            created_at=now,
            updated_at=now,
        )

    def _start_handler(self, st: RunState, rec: RunRecord, *, failed: bool) -> None:
        """Start the failure handler's queued run here; cancel it if the run ended cancelled after all."""
        if not failed:
            self._write_sync(
                Write(
                    "run_update",
                    run_id=rec.run_id,
                    fields={"status": "cancelled", "status_reason": f"run {st.run_id!r} was cancelled, not failed"},
                    unless_status=FINAL_STATUSES,
                )
            )
            return
        handler = getattr(st.function, "on_failure", None)
        if handler is None:
            return
        try:
            self.start(handler, run_id=rec.run_id, parent_run_id=st.run_id)
        except RuntimeError:
            pass  # no event loop (a run ending as its script exits): the run stays queued, resumable
        except NbDurableError as exc:  # another process took it first, say: it runs there
            _log.info("nbdurable: failure handler %s of run %s not started here: %s", rec.run_id, st.run_id, exc)

    def _halt(self, st: RunState, exc: BaseException) -> None:
        """End the run here without writing its end: the journal failed, or another process took the run.

        The journal keeps what was committed. After a journal fault the run is left as it was
        journaled (owned by this process, so "interrupted" once it stops here) and resumes from its
        last committed step once the journal is fixed; its handle raises the JournalError. A lost
        claim leaves the run to its new owner.
        """
        if isinstance(exc, RunOwnedElsewhereError):
            self._lose(st, exc)
            return
        if st.released and st.epoch:
            self._give_up(st)
        st.halt = exc
        text = str(exc)
        self._settle(
            st, "interrupted", Outcome("interrupted", None, {"type": type(exc).__name__, "message": text}, text, exc)
        )

    def _give_up(self, st: RunState) -> None:
        """Clear a released run's claim (fenced: only while it is still ours), so a worker takes it at once."""
        try:
            self._write_sync(Write("run_update", run_id=st.run_id, fields={"owner": None, "lease_until": None}))
        except (JournalError, ClaimLostError) as err:
            _log.warning("nbdurable: could not give up run %s (its lease will run out instead): %s", st.run_id, err)

    def _lose(self, st: RunState, exc: RunOwnedElsewhereError | None) -> None:
        """Settle the handle of a run another process owns, writing nothing (None: it ended there meanwhile)."""
        if exc is not None and st.halt is None:
            st.halt = exc
        self.flow.forget(st.run_id)  # local bookkeeping only: slots held under the run id are the owner's now
        st.ended_at = _clock()
        st.outcome = Outcome("lost", None, None, "", exc)
        if self.active.get(st.run_id) is st:
            del self.active[st.run_id]
        if st.done is not None and not st.done.done():
            st.done.set_result(None)
        self.notify("run_finished", st.run_id)

    def _settle(
        self,
        st: RunState,
        status: str,
        outcome: Outcome,
        *,
        ended_at: float | None = None,
    ) -> None:
        st.status = status
        st.ended_at = ended_at or _clock()  # as journaled, so the timeline agrees whichever it is built from
        st.outcome = outcome
        try:
            self.flow.release(st.run_id, ending=True)
        except JournalError as err:
            _log.warning("nbdurable: could not give back the slots of run %s: %s", st.run_id, err)
        if self.active.get(st.run_id) is st:
            del self.active[st.run_id]
        self.finished.pop(st.run_id, None)
        self.finished[st.run_id] = st
        while len(self.finished) > 64:
            self.finished.pop(next(iter(self.finished)))
        if st.done is not None and not st.done.done():
            st.done.set_result(None)
        ended = None
        if self.feed and st.record is not None:
            # For observers: the run as it ended (the stored record is left as loaded).
            ended = dataclasses.replace(st.record, status=status, error=outcome.error, ended_at=st.ended_at)
        self.notify("run_finished", st.run_id, record=ended)  # a timeline builds its last snapshot from memory here
        st.release_memory()

    def cancel(self, run_id: str, reason: str = "") -> bool:
        """Ask a run to stop; a step in flight finishes, nothing after it runs. False if it already ended.

        True means the run ends ``cancelled``: a run executing here is flagged and checked again after
        its workflow returns; any other is cancelled in the journal by a write that applies only while
        the run is unfinished, which its executing process can no longer overwrite with a result.
        """
        st = self.active.get(run_id)
        if st is not None:
            if not st.cancel_requested:
                st.cancel_requested = True
                st.cancel_reason = reason
            self._pulse(st)
            self.flow.wake(run_id)  # a run queued for a slot re-checks at once
            if st.superseded_by is not None:
                self.cancel(st.superseded_by, reason)  # on_change="rerun": the run it continues as
            return True
        rec = self.journal.get_run(run_id)
        if rec is None:
            raise ConfigError(f"no run {run_id!r} in the journal at {self.journal.location}; see nd.runs()")
        if rec.status in FINAL_STATUSES:
            return False
        self._write_sync(
            Write(
                "run_update",
                run_id=run_id,
                fields={"status": "cancelled", "status_reason": reason or None, "ended_at": _clock()},
                unless_status=FINAL_STATUSES,
            )
        )
        after = self.journal.get_run(run_id)
        if after is None or after.status != "cancelled":
            return False  # it ended (completed, failed) between the read and the write
        self.notify("run_finished", run_id)
        return True

    def release(self, run_id: str, *, now: bool = False) -> bool:
        """Give up a run executing here, so another process (a worker) continues it; False if it is not here.

        The run stops before its next step (``now``: at once, abandoning the step in flight, which then
        runs again where the run resumes), and its claim is cleared in the journal (owner and lease; the
        status stays), so a worker can take it over at once instead of waiting for the lease to run out.
        """
        st = self.active.get(run_id)
        if st is None:
            return False
        st.released = True
        if st.halt is None:
            st.halt = RunInterruptedError(
                f"run {run_id!r} was given up by this process (a worker stopping): another worker continues it "
                "from its last committed step",
                run_id=run_id,
            )
        if now and st.task is not None and not st.task.done():
            st.task.cancel()
        else:
            self._pulse(st)  # a sleep or a wait stops now; a step in flight finishes first
        return True

    def interrupt(self, run_id: str) -> bool:
        """Stop a run executing here as if its process had stopped: it is left interrupted and resumable."""
        st = self.active.get(run_id)
        if st is None or st.task is None or st.task.done():
            return False
        # Flagged too: workflow code that swallows the CancelledError meets it again at its next step.
        st.interrupt_requested = True
        st.task.cancel()
        return True
