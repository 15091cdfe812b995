"""The engine: starts, replays and resumes runs over one journal.

It owns the write queue (group commit: every write made in one turn of the event
loop lands in one transaction, in order), the runs executing in this process,
durable sleeps and waits, event delivery, and the change feed. It never blocks
the loop for long: a write that finds the journal locked by another process is
retried later from the loop, not waited for in place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Callable
from time import time as _clock
from typing import TYPE_CHECKING, Any

from .._duration import parse_deadline, parse_duration
from .._errors import (
    ClaimLostError,
    ConfigError,
    ExpressionError,
    FunctionNotFoundError,
    JournalBusyError,
    JournalError,
    NbDurableError,
    NonDeterminismError,
    ReplayDeterminismWarning,
    RetryAfterError,
    RunCancelledError,
    RunInterruptedError,
    RunOwnedElsewhereError,
    StepError,
)
from ..flow import FlowController, cancel_on_options, lease_ttl
from ..journal._owner import describe_owner, this_owner
from ..journal._protocol import FINAL_STATUSES, Journal, ReplaySteps, RunRecord, Write
from ..journal._rows import refuse_damaged
from ._endings import Endings
from ._events import Event, EventLimits
from ._executor import backoff_delay, error_info
from ._handle import effective_status
from ._registry import Workflow, registry
from ._runstate import Outcome, RerunFrom, RunState, current_run_var, current_step_var
from ._serde import encode, module_of, return_type, storable_text
from ._usercode import warn_at_user, workflow_code

if TYPE_CHECKING:
    from ._handle import RunHandle

__all__ = ["Engine", "configure", "effective_status", "get_engine", "observe_engines"]

_log = logging.getLogger("nbdurable")


def session_origin() -> dict[str, str] | None:
    """The notebook this process serves, if Jupyter started it for one (``JPY_SESSION_NAME``)."""
    path = os.environ.get("JPY_SESSION_NAME")
    return {"notebook": path} if path else None


def _running_loop(what: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} needs a running asyncio event loop: call it from async code or a notebook cell "
            "(top-level await works there), or from a script use asyncio.run(fn.run(...))."
        ) from None


def _step_failure(exc: StepError) -> dict[str, Any]:
    """The run's journaled error when a step's failure ended it: the step's own error, and which step."""
    return {
        "type": exc.error_type,
        "message": exc.error_message,
        "traceback": exc.traceback,
        **({"traceback_full": exc.traceback_full} if exc.traceback_full != exc.traceback else {}),
        **({"child_run_id": exc.child_run_id} if exc.child_run_id else {}),
        "step_id": exc.step_id,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Start:
    """How a run was asked to start: what ``Engine.start`` hands to the run's task."""

    existing: RunRecord | None
    event: Event
    parent_run_id: str | None
    kind: str
    source: str | None
    options: dict[str, Any] | None
    resume_failed: bool
    reexecute: bool


class Engine(Endings):
    """Executes workflows against one journal; usually one per process (``nd.configure``).

    Built in layers, one module each: the write queue and the runs executing here
    (``_writer.JournalWriter``), cancellation checks, durable sleeps and event waits
    (``_waits.Waits``), events that start runs and reading runs (``_triggers.Triggers``),
    how a run ends and what stops it (``_endings.Endings``), and here the life of a run:
    start, claim, execute, fork, rerun.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        poll_interval: float = 0.2,
        busy_timeout: float = 30.0,
        event_limits: EventLimits | None = None,
    ) -> None:
        super().__init__(journal, busy_timeout=busy_timeout)
        # What an event must fit to be journaled (and to be used by a wait); see nd.EventLimits.
        self.event_limits = event_limits if event_limits is not None else EventLimits.from_env()
        self.poll_interval = poll_interval
        self.flow = FlowController(self)
        self.flow.open_batch = self._open_batch
        # Rebuilds a %%durable cell's workflow from a run record; set by the notebook integration.
        self.cell_loader: Callable[[RunRecord], Workflow] | None = None
        # Where runs started here come from (the notebook and cell), kept in the run's options for listings;
        # the notebook integration adds the cell.
        self.origin: Callable[[], dict[str, str] | None] = session_origin
        # Context that observers keep with a run (a trace's context): called with the run being claimed,
        # in the context of whoever started it; a value is stored in the run's options under its key,
        # once (a resumed run keeps what its first claim stored). See nbdurable.otel.
        self.claim_hooks: dict[str, Callable[[RunRecord], Any]] = {}
        for observer in tuple(_observers):
            observer(self)
        # Journals that announce what other processes change (PostgreSQL's LISTEN/NOTIFY) wake this engine.
        self.notifying = callable(getattr(journal, "subscribe", None))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._remote: dict[str, list[asyncio.Event]] = {}  # run id -> handles waiting for it (it runs elsewhere)
        self._followed: dict[str, int] = {}  # run id -> timelines here following it (it runs elsewhere)
        # Called on the loop with each journal notice (kind, key): workers learn of new work this way.
        self.notice_hooks: list[Callable[[str, str], None]] = []
        # The determinism watch is installed with the engine, not at a run's start: no resume pays for
        # importing and wrapping, and code that imports time.time by name after nd.configure is watched too.
        from ._determinism import install

        install()
        this_owner()  # reads /proc once (then cached): the first claim need not

    def __repr__(self) -> str:
        return f"Engine({self.journal!r})"

    def claimed_runs(self) -> list[str]:
        """Runs this process executes under a claim: the heartbeat renews their leases."""
        return [run_id for run_id, st in list(self.active.items()) if st.epoch]

    # -- starting and resuming ----------------------------------------------------------------------

    def start(
        self,
        function: Workflow,
        *,
        data: dict[str, Any] | None = None,
        event: Event | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        resume_failed: bool = False,
        kind: str = "function",
        source: str | None = None,
        options: dict[str, Any] | None = None,
        reexecute: bool = False,
        record: RunRecord | None = None,
    ) -> RunHandle[Any]:
        """Start (or resume, or look up) a run and return its handle at once.

        An ended run is not executed again (its handle gives its result) unless
        ``resume_failed`` (a failed run runs its failed steps again) or
        ``reexecute`` (a notebook cell run again: every step replays, new ones run).
        A run another live process executes raises RunOwnedElsewhereError.
        ``record``: the run's row as the caller just read it (a worker's claim returns it),
        which saves reading it again.
        """
        from ._handle import RunHandle

        loop = _running_loop(f"starting a run of {function.id!r}")
        self.listen()
        if run_id is not None and (not isinstance(run_id, str) or not run_id.strip() or not storable_text(run_id)):
            raise ConfigError(f"run_id must be a non-empty string of valid Unicode text, got {run_id!r}")
        run_id = run_id or uuid.uuid4().hex
        state = self.active.get(run_id)
        if state is not None:
            return RunHandle(self, run_id, state)
        rec = record if record is not None and record.run_id == run_id else self.journal.get_run(run_id)
        if rec is not None:
            if rec.function_id != function.id:
                raise ConfigError(
                    f"run {run_id!r} belongs to function {rec.function_id!r}, not {function.id!r}: choose another "
                    "run_id, or resume it with the function it belongs to."
                )
            if rec.status in FINAL_STATUSES and not self._again(rec, resume_failed, reexecute):
                return RunHandle(self, run_id, None, record=rec)
            refuse_damaged(rec, (), self.journal.location)
            if self._owned_elsewhere(rec):
                raise RunOwnedElsewhereError(self._owned_message(rec))
        if event is None:
            if data is not None and not isinstance(data, dict):
                raise ConfigError(f"data must be a dict (the event's data), got {type(data).__name__}")
            event = Event(name=function.first_trigger or f"{function.id}/run", data=data or {}, id=run_id, ts=_clock())
        state = RunState(
            self,
            run_id,
            function,
            determinism=function.options.determinism,
            retries=function.options.retries,
            on_change=function.options.on_change,
        )
        state.done = loop.create_future()
        self.active[run_id] = state
        start = _Start(
            existing=rec,
            event=event,
            parent_run_id=parent_run_id,
            kind=kind,
            source=source,
            options=options,
            resume_failed=resume_failed,
            reexecute=reexecute,
        )
        state.task = loop.create_task(self._execute(state, start), name=f"nbdurable:{run_id}")
        self.notify("run_started", run_id)
        return RunHandle(self, run_id, state)

    @staticmethod
    def _again(rec: RunRecord, resume_failed: bool, reexecute: bool) -> bool:
        """Whether an ended run is to execute again (a failed run resumed, a cell run again)."""
        return (resume_failed and rec.status == "failed") or (reexecute and rec.status != "cancelled")

    def _owned_elsewhere(self, rec: RunRecord) -> bool:
        """Whether an unfinished run is executed by another live process (or another engine here)."""
        if rec.status in FINAL_STATUSES or not rec.owner:
            return False
        if rec.owner == this_owner():
            return False  # this process: executing it here is checked through self.active
        return effective_status(rec) != "interrupted"

    @staticmethod
    def _owned_message(rec: RunRecord) -> str:
        who = describe_owner(rec.owner) if rec.owner else "another process, which claimed it at the same moment"
        return (
            f"run {rec.run_id!r} is being executed by {who}; it cannot run in two "
            f"processes at once. Wait for it (await nd.get_run({rec.run_id!r}).result()), cancel it there, or "
            "stop that process and resume it here."
        )

    def resume(self, run_id: str) -> RunHandle[Any]:
        """Resume an interrupted (or failed, or queued) run with the function registered under its id.

        Notebook-cell runs are rebuilt from the cell source kept in the journal
        (through ``cell_loader``, set by ``%load_ext nbdurable``). A run that another
        live process executes is refused (RunOwnedElsewhereError).
        """
        from ._handle import RunHandle

        rec = self.journal.get_run(run_id)
        if rec is None:
            raise ConfigError(f"no run {run_id!r} in the journal at {self.journal.location}; see nd.runs()")
        if rec.status == "completed":
            return RunHandle(self, run_id, None, record=rec)
        refuse_damaged(rec, (), self.journal.location)
        if run_id not in self.active and self._owned_elsewhere(rec):
            raise RunOwnedElsewhereError(self._owned_message(rec))
        if rec.kind == "cell" and self.cell_loader is not None and rec.source is not None:
            loaded = self.cell_loader(rec)
            return self.start(loaded, run_id=run_id, resume_failed=True, kind="cell", source=rec.source)
        function = registry().get(rec.function_id)
        if function is None:
            raise FunctionNotFoundError(
                f"run {run_id!r} needs function {rec.function_id!r}, which is not defined in this process: run the "
                "cell or import the module that defines it (with @nd.function(id=...)), then resume again."
            )
        return self.start(function, run_id=run_id, resume_failed=True)

    # -- claiming a run -----------------------------------------------------------------------------

    async def _claim(self, st: RunState, start: _Start) -> bool:
        """Make this process the run's one owner, in one atomic step of the journal; False if it lost.

        A new run is claimed by inserting it (insert-if-absent); an existing one by a conditional
        update on the epoch and status it was seen with, which bumps the epoch. Losing re-reads
        the run and tries again only while it is still claimable (a dead owner, say); otherwise the
        run is left exactly as the winner wrote it and this state ends with RunOwnedElsewhereError.
        """
        rec = start.existing
        for _try in range(3):
            # Read before the claim: this journal's own commits leave the token as it is, so if it has not
            # moved at the run's first cancel check, no other process wrote since the claim saw the run, and
            # that check need not read the run again (a journal that notifies still does, by its slow poll).
            token = self.journal.change_token()
            if rec is None:
                if await self._claim_new(st, start):
                    st.change_token = token
                    return True
            elif self._claimable(st, rec, start):
                if await self._claim_existing(st, rec, start):
                    st.change_token = token
                    return True
            else:
                break
            rec = self.journal.get_run(st.run_id)
        if (
            rec is not None
            and rec.status in FINAL_STATUSES
            and not self._again(rec, start.resume_failed, start.reexecute)
        ):
            self._lose(st, None)  # it ended meanwhile: the handle answers from the journal
        else:
            owner_rec = rec or RunRecord(st.run_id, "?")
            self._lose(st, ClaimLostError(self._owned_message(owner_rec), run_ids=(st.run_id,)))
        return False

    def _claimable(self, st: RunState, rec: RunRecord, start: _Start) -> bool:
        if rec.status in FINAL_STATUSES and not self._again(rec, start.resume_failed, start.reexecute):
            return False
        return not self._owned_elsewhere(rec)

    async def _claim_new(self, st: RunState, start: _Start) -> bool:
        function = st.function
        assert function is not None
        now = _clock()
        options = start.options
        origin = self._origin()
        if origin:
            options = {**(options or {}), "origin": origin}
        if function.options.cancel_on:
            options = {**(options or {}), "cancel_on": cancel_on_options(function.options.cancel_on, now)}
        rec = RunRecord(
            run_id=st.run_id,
            function_id=function.id,
            status="queued" if function.has_flow_control else "running",
            event=start.event.to_dict(),
            code_hash=function.code_hash,
            kind=start.kind,
            source=start.source,
            options=options,
            parent_run_id=start.parent_run_id,
            owner=this_owner(),
            attempt=1,
            event_seq=self.journal.last_event_seq(),
            created_at=now,
            updated_at=now,
            epoch=1,
            lease_until=now + lease_ttl(),
        )
        if self.claim_hooks:
            rec.options = self._claim_context(rec)
        try:
            await self.write(Write("run", run=rec))  # the insert-if-absent is the claim
        except ClaimLostError:
            return False
        st.epoch = rec.epoch
        st.load(rec, ReplaySteps())
        self.flow.keep_alive()
        return True

    async def _claim_existing(self, st: RunState, existing: RunRecord, start: _Start) -> bool:
        function = st.function
        assert function is not None
        options = existing.options
        if existing.status == "completed" and (options or {}).get("started_running_at"):
            # A finished cell run again is a new execution: its finish timeout counts from now.
            options = {k: v for k, v in (options or {}).items() if k != "started_running_at"}
        if function.options.cancel_on and not (options or {}).get("cancel_on"):
            options = {
                **(options or {}),
                "cancel_on": cancel_on_options(function.options.cancel_on, existing.created_at),
            }
        if existing.status == "failed" and (options or {}).get("body_retries"):
            # A failed run resumed gets a fresh budget of function-level retries, as its failed step does.
            options = {k: v for k, v in (options or {}).items() if k not in ("body_retries", "retry_at")}
        origin = self._origin()
        if origin and not (options or {}).get("origin"):
            options = {**(options or {}), "origin": origin}
        if start.source is not None and start.options:
            # A cell run again brings its source and the options that go with it (retries, its signature):
            # a later resume from the journal must rebuild this source with these, not the first run's.
            options = {**(options or {}), **start.options}
        fields: dict[str, Any] = {
            "attempt": existing.attempt + 1,
            "status_reason": None,
            "status": "queued" if function.has_flow_control else "running",
            # An earlier execution's ending is not this one's: a failed run resumed shows no error while it runs.
            "error": None,
            "ended_at": None,
        }
        if self.claim_hooks:
            options = self._claim_context(dataclasses.replace(existing, attempt=fields["attempt"], options=options))
        if options != existing.options:
            fields["options"] = options
        if not existing.code_hash:
            fields["code_hash"] = function.code_hash  # queued by function id alone (step.invoke of a worker's)
        if start.source is not None:
            fields["source"] = start.source
        lease = _clock() + lease_ttl()
        epoch = await self._retry_busy(
            lambda: self.journal.claim_run(
                st.run_id,
                this_owner(),
                epoch=existing.epoch,
                status=existing.status,
                lease_until=lease,
                fields=fields,
            )
        )
        if epoch is None:
            return False
        st.epoch = epoch
        # Loaded after the claim: the journal holds every step a previous owner committed, and no more can come.
        steps = self.journal.load_replay(st.run_id)
        refuse_damaged(existing, steps.records, self.journal.location)  # a damaged row could replay a wrong value
        existing.attempt, existing.owner, existing.epoch, existing.lease_until = (
            fields["attempt"],
            this_owner(),
            epoch,
            lease,
        )
        existing.options, existing.error, existing.ended_at = options, None, None
        if start.source is not None:
            existing.source = start.source
        st.load(existing, steps)
        self.flow.keep_alive()
        self._cancelled_while_down(st)
        return True

    def _claim_context(self, rec: RunRecord) -> dict[str, Any] | None:
        """The run's options with what the claim hooks keep (a failing hook costs only its own key)."""
        options = rec.options
        for key, hook in tuple(self.claim_hooks.items()):
            try:
                value = hook(rec)
            except Exception:
                _log.exception("nbdurable: the claim hook %r failed", key)
                continue
            if value is not None and not (options or {}).get(key):
                options = {**(options or {}), key: value}
        return options

    async def _retry_busy(self, action: Callable[[], Any]) -> Any:
        """A short journal transaction, retried from the loop while another process holds the lock."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return action()
            except JournalBusyError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)

    # -- executing ----------------------------------------------------------------------------------

    async def _execute(self, st: RunState, start: _Start) -> None:
        token = current_run_var.set(st)
        # A run started from inside another run's step (step.invoke, an integration) is not inside that step.
        step_token = current_step_var.set(None)
        try:
            await self._execute_run(st, start)
        except BaseException as exc:
            # Whatever escaped (a fault inside a handler, a bug), the run ends here and its handle answers.
            if st.outcome is None:
                if isinstance(exc, Exception):
                    _log.error("nbdurable: run %s stopped on an unexpected error", st.run_id, exc_info=exc)
                    self._halt(st, st.halt or exc)
                else:
                    self._halt(st, st.halt or RunInterruptedError(f"run {st.run_id!r} was interrupted"))
            if not isinstance(exc, Exception):
                raise
        finally:
            current_step_var.reset(step_token)
            current_run_var.reset(token)
            if st.outcome is None:
                self._halt(st, st.halt or RunInterruptedError(f"run {st.run_id!r} stopped part-way"))

    async def _execute_run(self, st: RunState, start: _Start) -> None:
        function = st.function
        assert function is not None
        try:
            if not await self._begin(st, start):
                return
            value = await self._run_body(st, function, start.event)
            payload, tag = self._result(st, function, value)
        except RerunFrom as rerun:
            await self._supersede(st, rerun.step_id)
        except asyncio.CancelledError:
            if st.cancel_requested and not st.interrupt_requested:
                self._finish(st, "cancelled", reason=st.cancel_reason)
                return
            self._finish(st, "interrupted")
            raise
        except (KeyboardInterrupt, SystemExit):
            self._finish(st, "interrupted")
            raise
        except RunCancelledError as exc:
            # The run's own cancel (st.cancel_reason), or one raised by a step it awaited (a cancelled child).
            self._finish(st, "cancelled", reason=st.cancel_reason if st.cancel_requested else exc.reason)
        except StepError as exc:
            self._finish(st, "failed", error=_step_failure(exc), exc=exc)
        except (JournalError, ClaimLostError) as exc:
            # The journal failed (full, read-only, damaged, locked) or another process took the run: it
            # stops here without a final status, resumable from what was committed.
            self._halt(st, st.halt or exc)
        except Exception as exc:
            self._finish(st, "failed", error=error_info(exc), exc=exc)
        except BaseException as exc:  # e.g. a BaseExceptionGroup from a TaskGroup holding a cancel
            if st.cancel_requested:
                self._finish(st, "cancelled", reason=st.cancel_reason)
            else:
                self._finish(st, "failed", error=error_info(exc), exc=exc)
        else:
            self._finish(st, "completed", value=value, payload=payload, tag=tag)

    async def _begin(self, st: RunState, start: _Start) -> bool:
        """Claim the run, admit it (flow control) and check its code against the journal's; False: not here."""
        function = st.function
        assert function is not None
        existing = start.existing
        if not await self._claim(st, start):
            return False
        self.poll_cancel(st)  # cancelled before it began, here or elsewhere
        if function.has_flow_control:
            st.status = "queued"
            skipped = await self.flow.admit(st, function)
            if skipped is not None:
                self.skip(st, skipped)  # a rate limit did not let it start: journaled as "skipped"
                return False
            await self.write(Write("run_update", run_id=st.run_id, fields={"status": "running"}))
        st.status = "running"
        self.notify("run_status", st.run_id)
        if existing is not None and existing.code_hash and existing.code_hash != function.code_hash:
            if function.options.on_change == "error":
                raise NonDeterminismError(
                    f"run {st.run_id!r}: the workflow's code changed since the run started (on_change='error'). "
                    "Restore the code, start a new run, or use nd.rerun() from the first step to redo."
                )
            st.diverged(
                "the workflow's code changed since the run started; completed steps replay from the journal "
                "and the new code runs from the first unfinished step.",
                None,
            )
        return True

    def _result(self, st: RunState, function: Workflow, value: Any) -> tuple[str | None, str | None]:
        """The run's value as journaled, once the last checks pass (a late cancel, steps not reached)."""
        # A cancel that came while the last step ran (or that the workflow caught and ignored) still
        # ends the run cancelled: cancel() never returns True for a run that then completes.
        self.poll_cancel(st)
        st.check_unreached()
        if st.changed_code:
            st.diverged(
                f"the code of {len(st.changed_code)} replayed step(s) changed since they ran "
                f"({', '.join(repr(s) for s in st.changed_code[:5])}); their journaled results were used. "
                f"To run them again: nd.rerun({st.run_id!r}, from_step={st.changed_code[0]!r})",
                None,
            )
        if value is None:
            return None, None
        return encode(value, where=st.where(), output_type=return_type(function.func), module=module_of(function.func))

    async def _run_body(self, st: RunState, function: Workflow, event: Event) -> Any:
        """Execute the workflow's body; an error in it (outside steps) re-executes it from the top.

        As Inngest does: up to the function's ``retries``, after a backoff (or a RetryAfterError's
        delay), with the completed steps answered from the journal. A retry's time is journaled, so a
        restart during the backoff waits only for what is left.
        """
        assert st.record is not None
        retry_at = (st.record.options or {}).get("retry_at")
        if isinstance(retry_at, (int, float)) and retry_at > _clock():
            await self._backoff(st, float(retry_at))
        while True:
            try:
                return await function.execute(st, Event.from_dict(st.record.event or event.to_dict()))
            except Exception as exc:
                next_at = self._retry_time(st, function, exc)
                if next_at is None:
                    raise
                await self._retry_body(st, function, exc, next_at)

    @staticmethod
    def _retry_time(st: RunState, function: Workflow, exc: Exception) -> float | None:
        """When to re-execute a body that raised ``exc``; None when the run is to fail now.

        nbdurable's own errors say what is wrong with the run (a step failed for good, a
        NonRetriableError, divergence, a bad option): retrying cannot help, except RetryAfterError.
        """
        if isinstance(exc, NbDurableError) and not isinstance(exc, RetryAfterError):
            return None
        assert st.record is not None
        used = int((st.record.options or {}).get("body_retries") or 0)
        if used >= function.body_retries:
            return None
        if isinstance(exc, RetryAfterError):
            d = exc.delay
            return parse_deadline(d) if isinstance(d, dt.datetime) else _clock() + parse_duration(d)
        return _clock() + backoff_delay(used)

    async def _retry_body(self, st: RunState, function: Workflow, exc: Exception, next_at: float) -> None:
        """Journal a function-level retry (its time, the error), wait for it, and reload the run's steps."""
        assert st.record is not None
        used = int((st.record.options or {}).get("body_retries") or 0) + 1
        info = error_info(exc)
        options = {**(st.record.options or {}), "body_retries": used, "retry_at": next_at, "retry_error": info}
        reason = (
            f"retry {used} of {function.body_retries} after {info['type']}: {str(info['message'])[:200]} "
            "(raised in the workflow outside steps); completed steps replay"
        )
        st.record.attempt += 1
        st.record.options = options
        await self.write(
            Write(
                "run_update",
                run_id=st.run_id,
                fields={"attempt": st.record.attempt, "options": options, "status_reason": reason},
            )
        )
        _log.info("nbdurable: run %s: %s", st.run_id, reason)
        # Steps the failed body left running (siblings under gather) finish first: none may run twice.
        while any(live.status in ("running", "retrying") for live in st.live.values()):
            self.poll_cancel(st)
            await asyncio.sleep(0.01)
        await self._backoff(st, next_at)
        st.restart(self.journal.load_replay(st.run_id))

    async def _backoff(self, st: RunState, until: float) -> None:
        """Wait, durably and cancellably, for a function-level retry's time."""
        await self.set_status(st, "sleeping")
        await self.sleep_until(st, until)
        assert st.record is not None
        options = {k: v for k, v in (st.record.options or {}).items() if k != "retry_at"}
        st.record.options = options
        st.status = "running"
        await self.write(
            Write(
                "run_update", run_id=st.run_id, fields={"status": "running", "status_reason": None, "options": options}
            )
        )
        self.notify("run_status", st.run_id)

    def skip(self, st: RunState, reason: str) -> None:
        """End a run that a rate limit did not let start: journaled as "skipped", never lost."""
        self._finish(st, "skipped", reason=reason)

    def _cancelled_while_down(self, st: RunState) -> None:
        """Apply cancel_on events sent while no process ran this run."""
        rec = st.record
        specs = (rec.options or {}).get("cancel_on") if rec is not None else None
        if not specs or rec is None:
            return
        from ..expr import compile_expression

        for spec in specs:
            for ev in self.journal.events_after(spec["event"], rec.event_seq, limit=1000):
                if spec.get("deadline") is not None and ev.ts > float(spec["deadline"]):
                    continue
                if ev.ts < rec.created_at:
                    continue
                if spec.get("if_exp"):
                    candidate = {"name": ev.name, "data": ev.data, "id": ev.event_id, "ts": ev.ts}
                    try:
                        expression = compile_expression(spec["if_exp"])
                        if not expression.matches({"event": rec.event or {}, "async": candidate}):
                            continue
                    except ExpressionError as exc:
                        _log.warning("run %r: cancel_on event %s skipped: %s", st.run_id, ev.event_id, exc)
                        continue
                if ev.seq in st.unusable_seqs or self._unusable(st, ev):
                    continue
                st.cancel_requested = True
                st.cancel_reason = f"cancelled by event {spec['event']!r}" + (
                    f" ({spec['if_exp']})" if spec.get("if_exp") else ""
                )
                return

    async def _supersede(self, st: RunState, step_id: str) -> None:
        """on_change="rerun": redo the run from the first changed step as a new run; this one points to it."""
        new_id = self.fork(st.run_id, step_id)
        text = (
            f"run {st.run_id!r}: the code of step {step_id!r} changed since it ran; on_change='rerun' continues as "
            f"new run {new_id!r} from that step (the old run stays in the journal)."
        )
        st.add_warning(text, step_id)
        warn_at_user(ReplayDeterminismWarning(text), code=workflow_code(st.function))
        assert st.function is not None
        handle = self.start(st.function, run_id=new_id)
        st.superseded_by = new_id
        reason = f"superseded by {new_id} (code of step {step_id!r} changed)"
        try:
            value = await handle.result()
        except (NbDurableError, RunCancelledError) as exc:
            self._finish(st, "cancelled", reason=reason, exc=exc)
            if st.outcome is not None:
                st.outcome = Outcome("failed", None, {"type": type(exc).__name__, "message": str(exc)}, reason, exc)
            return
        self._finish(st, "cancelled", reason=reason)
        st.outcome = Outcome("completed", value, None, reason, None)

    def fork(self, run_id: str, from_step: str) -> str:
        """Copy a run's journal up to (not including) ``from_step`` into a new run; returns its id.

        The old run is left as it is (time travel, like DBOS's fork_workflow).
        """
        rec = self.journal.get_run(run_id)
        if rec is None:
            raise ConfigError(f"no run {run_id!r} in the journal at {self.journal.location}; see nd.runs()")
        steps = self.journal.load_steps(run_id)
        target = next((s for s in steps if s.step_id == from_step), None)
        if target is None:
            known = ", ".join(repr(s.step_id) for s in steps[:20]) or "none"
            raise ConfigError(
                f"run {run_id!r} has no step {from_step!r}; its steps are: {known}. Pass one of them to from_step."
            )
        refuse_damaged(rec, [s for s in steps if s.position < target.position], self.journal.location)
        base = rec.run_id.split("~", 1)[0]
        n = 1
        now = _clock()
        options = {**(rec.options or {}), "rerun_of": run_id, "from_step": from_step}
        while True:
            while self.journal.get_run(f"{base}~{n}") is not None:
                n += 1
            new_id = f"{base}~{n}"
            fresh = RunRecord(
                run_id=new_id,
                function_id=rec.function_id,
                status="queued",
                event=rec.event,
                code_hash=rec.code_hash,
                kind=rec.kind,
                source=rec.source,
                options=options,
                parent_run_id=rec.parent_run_id,
                event_seq=rec.event_seq,
                created_at=now,
                updated_at=now,
            )
            writes = [Write("run", run=fresh)]
            for s in steps:
                if s.position < target.position and s.status == "completed":
                    writes.append(Write("step", step=dataclasses.replace(s, run_id=new_id)))
            # The new run and its copied steps are one transaction; another fork that took the id first wins.
            if new_id not in self._write_sync(*writes):
                return new_id
            n += 1

    def rerun(self, run_id: str, from_step: str) -> RunHandle[Any]:
        """A new run that reuses ``run_id``'s journal before ``from_step`` and runs that step and the rest again."""
        return self.resume(self.fork(run_id, from_step))

    def resumable(self) -> list[RunRecord]:
        """Runs that stopped part-way (their process died) or were queued and never started."""
        out = []
        for rec in self.journal.list_runs(statuses=["queued", "running", "sleeping", "waiting", "interrupted"]):
            if rec.run_id in self.active:
                continue
            status = effective_status(rec, self)
            if status == "interrupted" or (status == "queued" and rec.owner is None):
                out.append(rec)
        return out


_default: Engine | None = None
_observers: list[Callable[[Engine], None]] = []


def observe_engines(callback: Callable[[Engine], None]) -> Callable[[], None]:
    """Call ``callback`` with the process's engine (if there is one yet) and with every engine made later.

    How an observer (nbdurable.otel) follows ``nd.configure``; returns a function that stops it.
    """
    _observers.append(callback)
    if _default is not None:
        callback(_default)

    def stop() -> None:
        if callback in _observers:
            _observers.remove(callback)

    return stop


def get_engine() -> Engine:
    """The process's engine, opening the default journal on first use."""
    global _default
    if _default is None:
        from ..journal._backends import open_journal

        _default = Engine(open_journal())
    return _default


def configure(
    journal: Journal | str | Any | None = None,
    *,
    durability: str = "normal",
    poll_interval: float = 0.2,
    allow_unsafe_permissions: bool | None = None,
    follow_symlinks: bool | None = None,
    event_limits: EventLimits | None = None,
) -> Engine:
    """Choose the journal this process uses: a path (SQLite), a ``postgresql://`` URL or libpq
    connection string (PostgreSQL), a Journal, or None for ``$NBDURABLE_JOURNAL`` or the default path.

    ``durability="normal"`` (default) survives a killed process or kernel; a power
    cut (or a crash of the database server) may lose the last commits.
    ``durability="full"`` syncs every commit to disk.
    A journal file or folder owned by another user or writable by others is refused
    unless ``allow_unsafe_permissions`` (or NBDURABLE_ALLOW_UNSAFE_PERMISSIONS=1), and a
    symlink at the path unless ``follow_symlinks`` (or NBDURABLE_FOLLOW_SYMLINKS=1).
    ``event_limits`` bounds the events sent from this process (default:
    ``nd.EventLimits.from_env()``).
    """
    global _default
    from ..journal._backends import open_journal
    from ..journal._protocol import Journal as JournalProtocol

    if _default is not None and _default.active:
        raise ConfigError(
            f"{len(_default.active)} run(s) are executing on the current journal; wait for them or cancel them "
            "before switching journals."
        )
    if isinstance(journal, JournalProtocol) and not isinstance(journal, (str, bytes)):
        j: Journal = journal
    else:
        j = open_journal(
            journal,  # type: ignore[arg-type]
            durability=durability,
            allow_unsafe_permissions=allow_unsafe_permissions,
            follow_symlinks=follow_symlinks,
        )
    if _default is not None:
        _default.journal.close()
    _default = Engine(j, poll_interval=poll_interval, event_limits=event_limits)
    return _default
