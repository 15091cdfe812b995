"""The journal's write queue: every write made in one turn of the event loop lands in one transaction.

The base of :class:`~nbdurable.Engine` (``_waits`` and ``_engine`` build on it): the
runs executing here (``active``), the change feed, and the writes. A step that is the
only one open commits inline; otherwise writes queue and the queue is flushed once per
loop turn (group commit), in order. A write that finds the journal locked by another
process is retried from the loop, never waited for in place; a run whose claim another
process took, or whose journal failed, is halted at its next step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from .._errors import ClaimLostError, JournalBusyError, JournalError, NbDurableError, SerializationError
from .._redact import redact_strings
from ..journal import FINAL_STATUSES, Journal, StepRecord, Write, describe_owner
from ._feed import STEP_NOTICES, ChangeFeed, Notice
from ._runstate import RunState

__all__ = ["JournalWriter"]

_log = logging.getLogger("nbdurable")

_Pending = tuple[Write, "asyncio.Future[None] | None"]

_new_tuple = tuple.__new__


# Run fields that hold text nbdurable or the user wrote about the run (never its data): redacted on the way out.
_RUN_TEXT_FIELDS = ("error", "warnings", "status_reason", "options")


def _scrubbed(batch: list[Write]) -> list[Write]:
    """The batch with secrets masked in the run-level text it writes (warnings, reasons, errors, options).

    The sources redact what they build; this is the net under them for text assembled elsewhere (a
    cancel reason, a warning quoting code, a cell option). Step rows are left to their sources: this
    runs for every batch and steps are the hot path. Inputs and results are data and never touched.
    """
    for w in batch:
        if w.op == "run_update" and w.fields and any(k in w.fields for k in _RUN_TEXT_FIELDS):
            w.fields = {
                k: redact_strings(v) if k in _RUN_TEXT_FIELDS and v is not None else v for k, v in w.fields.items()
            }
        elif w.op == "run" and w.run is not None:
            r = w.run
            if r.error is not None or r.warnings or r.status_reason or r.options:
                w.run = dataclasses.replace(
                    r,
                    error=redact_strings(r.error),  # type: ignore[arg-type]
                    warnings=redact_strings(r.warnings),  # type: ignore[arg-type]
                    status_reason=redact_strings(r.status_reason),  # type: ignore[arg-type]
                    options=redact_strings(r.options),  # type: ignore[arg-type]
                )
    return batch


class JournalWriter:
    """The runs executing in this process, the change feed and the write queue over one journal."""

    def __init__(self, journal: Journal, *, busy_timeout: float) -> None:
        self.journal = journal
        self.feed = ChangeFeed()
        self.active: dict[str, RunState] = {}
        # Runs that ended here lately, so handles and timelines still know which steps replayed.
        self.finished: dict[str, RunState] = {}
        self.busy_timeout = busy_timeout
        # Writes not yet committed, in order, each with the future its writer awaits (if any).
        self._pending: list[_Pending] = []
        self._flush_scheduled = False
        self._busy_since: float | None = None
        self.open_steps = 0  # step.run calls made and not finished yet, in this process (a replayed one is not counted)
        self._inline = 0

    # -- change feed --------------------------------------------------------------------------------

    def notify(
        self, kind: str, run_id: str, step_id: str | None = None, text: str | None = None, record: Any = None
    ) -> None:
        """Tell the feed's subscribers; nothing is built when there are none (or all hold step notices).

        Why inline (no ``ChangeFeed.publish`` frame, no NamedTuple ``__new__`` frame): a watched run sends a
        notice per step, and each frame on this path is a measurable share of the live timeline's cost.
        """
        subscribers = self.feed.subscribers
        if subscribers:
            if kind in STEP_NOTICES:
                subscribers = self.feed.step_subscribers
                if not subscribers:
                    return
            notice = _new_tuple(Notice, (kind, run_id, step_id, text, record))
            for callback in subscribers:
                try:
                    callback(notice)
                except Exception:
                    self.feed.failed(callback)

    def subscribe(self, callback: Callable[[Notice], None]) -> Callable[[], None]:
        """Observe every change to runs executing in this process; returns an unsubscribe function."""
        return self.feed.subscribe(callback)

    # -- writes -------------------------------------------------------------------------------------

    def _stamp(self, write: Write) -> Write:
        """Fence a write of a run executing here with that run's epoch, so a stale owner's writes are refused.

        A write that sets an unfinished status (queued, running, sleeping, waiting) applies only while the
        run is unfinished: a cancel written by another process in between must win, or the run would be
        reopened and go on (a queued run rewriting its reason as the queue moves did exactly that).
        """
        if write.epoch is None and write.op in ("step", "run_update"):
            st = self.active.get(write.target)
            if st is not None and st.epoch:
                write.epoch = st.epoch
        if (
            write.op == "run_update"
            and write.unless_status is None
            and "status" in (write.fields or {})
            and (write.fields or {})["status"] not in FINAL_STATUSES
        ):
            write.unless_status = FINAL_STATUSES
        return write

    def _enqueue(self, write: Write, *, wait: bool = True) -> asyncio.Future[None] | None:
        self._stamp(write)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._pending.append((write, None))
            self.flush_now()
            return None
        waiter: asyncio.Future[None] | None = loop.create_future() if wait else None
        self._pending.append((write, waiter))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return waiter

    def enqueue(self, record: StepRecord) -> None:
        """Queue a step record without waiting for its commit (it commits before any later write)."""
        self._enqueue(Write("step", step=record), wait=False)

    def _write_sync(self, *writes: Write) -> set[str]:
        """Queue ``writes`` behind what is pending and write it all now; the runs whose claim was lost."""
        self._pending.extend((self._stamp(w), None) for w in writes)
        return self.flush_now()

    async def commit(self, record: StepRecord, *, run_status: str | None = None) -> None:
        """Queue a step record (and the run's new status) and wait until it is durable.

        A step that is the only one open in the process (a sequential workflow) commits at once,
        without the two loop turns of the queue; steps open together (gather, several runs) go
        through the queue and share a transaction (group commit). Several runs executing here count
        as steps open together even when each step is open alone: a run whose steps commit inline
        never lets the others run between its steps, so they would commit one round trip each.
        """
        if (
            run_status is None
            and self.open_steps <= 1
            and len(self.active) <= 1
            and not self._pending
            and not self._flush_scheduled
        ):
            st = self.active.get(record.run_id)
            write = Write("step", step=record, epoch=st.epoch if st is not None and st.epoch else None)
            try:
                self.journal.write([write])
            except JournalBusyError:
                pass  # another process holds the lock: the queue retries from the loop
            except ClaimLostError as exc:
                raise self._refuse(record.run_id, exc) from None
            except JournalError as exc:
                self._halt_runs({record.run_id}, exc)
                raise
            except Exception as exc:
                if isinstance(exc, NbDurableError):
                    raise
                raise _unstorable(write, exc) from exc  # a value SQLite refused: this step alone, named
            else:
                self._inline += 1
                if self._inline % 64 == 0:
                    await asyncio.sleep(0)  # let other tasks (timers, other runs) have the loop now and then
                return
        waiter = self._enqueue(Write("step", step=record))
        if run_status is not None:
            waiter = self._enqueue(Write("run_update", run_id=record.run_id, fields={"status": run_status}))
        if waiter is not None:
            await waiter
        if run_status is not None:
            # Only once durable: a run that says it is sleeping or waiting has that step in the journal.
            state = self.active.get(record.run_id)
            if state is not None:
                state.status = run_status
            self.notify("run_status", record.run_id)

    async def write(self, *writes: Write) -> None:
        waiter = None
        for w in writes:
            waiter = self._enqueue(w)
        if waiter is not None:
            await waiter

    async def set_status(self, state: RunState, status: str) -> None:
        state.status = status
        self.notify("run_status", state.run_id)
        await self.write(Write("run_update", run_id=state.run_id, fields={"status": status}))

    def _refuse(self, run_id: str, lost: ClaimLostError, *, insert: bool = False) -> ClaimLostError:
        """The error for a run whose claim another process took; a run executing here is halted with it."""
        owner = describe_owner(lost.owners.get(run_id))
        if insert:
            text = (
                f"run {run_id!r} was started by {owner} at the same moment, and that process claimed it first; "
                "it cannot run in two processes at once. Nothing of it was written here. Wait for it "
                f"(await nd.get_run({run_id!r}).result()), or cancel it there."
            )
        else:
            text = (
                f"run {run_id!r} was claimed by {owner} while this process was executing it (this process was "
                "taken for dead, or the run was resumed there), so the journal refused this process's writes; "
                "nothing more of it is written here. Steps in flight here may have run twice. See its state with "
                f"nd.get_run({run_id!r})."
            )
        err = ClaimLostError(text, run_ids=(run_id,), owners={run_id: lost.owners.get(run_id)})
        st = self.active.get(run_id)
        if st is not None and st.halt is None and not insert:  # a lost insert is the claim's to handle
            st.halt = err
        return err

    def _halt_runs(self, run_ids: set[str], exc: BaseException) -> None:
        """Runs whose writes the journal failed cannot go on here: each stops at its next step."""
        for run_id in run_ids:
            st = self.active.get(run_id)
            if st is not None and st.halt is None:
                st.halt = exc

    def _write_batch(self, batch: list[_Pending]) -> set[str]:
        """Write ``batch`` in one transaction, less the writes of runs whose claim was lost.

        Those are taken out of ``batch`` (in place) and their waiters told; returns their run ids.
        """
        refused: set[str] = set()
        while batch:
            try:
                self.journal.write(_scrubbed([w for w, _f in batch]))
                break
            except ClaimLostError as exc:
                lost = set(exc.run_ids)
                errors = {
                    run_id: self._refuse(
                        run_id, exc, insert=any(w.op == "run" and w.target == run_id for w, _ in batch)
                    )
                    for run_id in lost
                }
                for w, f in batch:
                    if w.target in lost and f is not None and not f.done():
                        f.set_exception(errors[w.target])
                batch[:] = [(w, f) for w, f in batch if w.target not in lost]
                refused |= lost
        return refused

    def _fail_batch(self, batch: list[_Pending], exc: BaseException) -> None:
        self._halt_runs({w.target for w, _f in batch}, exc)
        for _w, f in batch:
            if f is not None and not f.done():
                f.set_exception(exc)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._write_batch(batch)
        except JournalBusyError as exc:
            now = time.monotonic()
            if self._busy_since is None:
                self._busy_since = now
            if now - self._busy_since > self.busy_timeout:
                self._busy_since = None
                self._fail_batch(
                    batch,
                    JournalBusyError(
                        f"{exc}; gave up after {self.busy_timeout:g}s. Another process keeps the journal locked: "
                        "find it (a stuck kernel or CLI) and stop it, then resume the run."
                    ),
                )
                return
            # Put the batch back in front so order is kept, and try again from the loop.
            self._pending = batch + self._pending
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(0.005 + 0.02 * (now - self._busy_since), self._flush)
            return
        except Exception as exc:
            # Whatever the journal failed with, every write of the batch gets it: no step waits forever.
            self._busy_since = None
            if len(batch) > 1 and not isinstance(exc, NbDurableError):
                # A value SQLite refused, not the journal: one unstorable write must not fail its siblings.
                self._write_each(batch)
                return
            self._fail_batch(batch, exc)
            return
        self._busy_since = None
        for _w, f in batch:
            if f is not None and not f.done():
                f.set_result(None)

    def _write_each(self, batch: list[_Pending]) -> None:
        """Commit a batch that failed on a value one write at a time: only the write that cannot be stored fails."""
        for i, (write, future) in enumerate(batch):
            try:
                self._write_batch([(write, future)])
            except JournalBusyError:
                # Another process took the lock meanwhile: the rest goes back to the queue, in order.
                self._pending = batch[i:] + self._pending
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_later(0.005, self._flush)
                return
            except NbDurableError as exc:
                self._fail_batch([(write, future)], exc)
            except Exception as exc:
                if future is not None and not future.done():
                    future.set_exception(_unstorable(write, exc))
            else:
                if future is not None and not future.done():
                    future.set_result(None)

    def flush_now(self) -> set[str]:
        """Write everything queued now, blocking (used outside a loop and on the way out).

        Returns the runs whose writes were refused because another process claimed them.
        """
        deadline = time.monotonic() + self.busy_timeout
        refused: set[str] = set()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                refused |= self._write_batch(batch)
            except JournalBusyError as exc:
                if time.monotonic() > deadline:
                    self._fail_batch(batch, exc)
                    raise
                self._pending = batch + self._pending
                time.sleep(0.01)
                continue
            except Exception as exc:
                self._fail_batch(batch, exc)
                raise
            for _w, f in batch:
                if f is not None and not f.done():
                    f.set_result(None)
        return refused


def _unstorable(write: Write, exc: BaseException) -> SerializationError:
    """The error for one write the journal refused because of a value in it."""
    where = f"run {write.run_id or (write.run.run_id if write.run else '?')!r}"
    if write.step is not None:
        where = f"run {write.step.run_id!r}, step {write.step.step_id!r}"
    return SerializationError(
        f"{where}: its journal record could not be stored ({type(exc).__name__}: {str(exc)[:300]}); nothing of it "
        "was written, and the steps committed with it are. Return plain, valid values from the step."
    )
