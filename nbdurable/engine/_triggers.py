"""Events that start runs, and reading runs: the layer of :class:`~nbdurable.Engine` between its waits and its runs.

``send`` stores an event and starts (or queues for workers) a run of each function it
triggers, debounced or batched as the function says; ``to_workers`` hands a run to the
workers that serve its function; ``handle`` and ``runs`` read runs, executing here or not.
Starting a run is the layer above's (``Engine.start``).
"""

from __future__ import annotations

import logging
import typing
import uuid
from collections.abc import Callable
from time import time as _clock
from typing import TYPE_CHECKING, Any

from .._duration import parse_duration
from .._errors import ConfigError, ExpressionError
from ..flow import FlowSubject, key_of
from ..journal._protocol import EventRecord, RunRecord, Write
from ._events import Event, validate_event
from ._registry import Workflow, registry
from ._runstate import RunState
from ._serde import storable_text
from ._waits import Waits

if TYPE_CHECKING:
    from ._engine import Engine
    from ._handle import RunHandle

__all__ = ["Triggers"]

_log = logging.getLogger("nbdurable")


class Triggers(Waits):
    """Events that start runs (debounce and batches included), runs handed to workers, reading runs."""

    # Set by Engine: where runs started here come from, and how a run is started here.
    origin: Callable[[], dict[str, str] | None]
    start: Callable[..., RunHandle[Any]]

    def _new_handle(self, run_id: str, st: RunState | None, *, record: RunRecord | None = None) -> RunHandle[Any]:
        """A handle on a run of this engine (this layer is always an Engine's)."""
        from ._handle import RunHandle

        return RunHandle(typing.cast("Engine", self), run_id, st, record=record)

    async def send(
        self, name: str, data: dict[str, Any] | None = None, *, id: str | None = None
    ) -> list[RunHandle[Any]]:
        """Store an event, start a run of each function it triggers, and wake matching waits."""
        return self.send_nowait(name, data, id=id)

    def send_nowait(
        self, name: str, data: dict[str, Any] | None = None, *, id: str | None = None
    ) -> list[RunHandle[Any]]:
        """``send`` for synchronous callers (magics, widget buttons): the event is durable when it returns."""

        name, data, id = validate_event(name, data, id=id, limits=self.event_limits)
        event_id = id or uuid.uuid4().hex
        ts = _clock()
        self.flush_now()
        rec = self.journal.add_event(event_id, name, data, ts)
        handles: list[RunHandle[Any]] = []
        if rec is None:
            return self._event_runs(event_id)
        for st in list(self.active.values()):
            self._pulse(st)
        self.notify("event", "", None, name)
        self.flow.cancel_matching(name, data, event_id, ts)
        event = Event(name, data, event_id, ts)
        for function in registry().values():
            if not function.triggered_by(name):
                continue
            queue = function.options.queue if function.options.on == "workers" else None
            made = self._event_run(function, event, rec.seq, queue=queue)
            if made is None:
                continue
            if not isinstance(made, RunRecord):
                handles.append(made)  # a debounced run pushed back, or one another process started for it
                continue
            if queue is not None:
                handles.append(self._new_handle(made.run_id, None, record=made))  # a worker takes it
                continue
            try:
                handles.append(self.start(function, run_id=made.run_id, event=event))
            except RuntimeError:
                # No event loop here (a plain script or the CLI): the run stays queued for a process to resume.
                handles.append(self._new_handle(made.run_id, None, record=made))
        return handles

    def _event_run(
        self, function: Workflow, event: Event, seq: int, *, queue: str | None
    ) -> RunRecord | RunHandle[Any] | None:
        """Journal the run ``event`` starts of ``function``, queued (for ``queue``'s workers, if given).

        Returns the record written; or the handle of the run that already stands for this event: a
        debounced run pushed back, or the run another process (a worker) made of it first.
        """
        if function.options.debounce is not None:
            pushed = self._debounce(function, event, event.id)
            if pushed is not None:
                return pushed
        if function.options.batch_events is not None:
            joined = self._join_batch(function, event, event.id)
            if joined is not None:
                return joined
        run_id = uuid.uuid4().hex
        queued = RunRecord(
            run_id,
            function.id,
            "queued",
            event.to_dict(),
            code_hash=function.code_hash,
            event_seq=seq,
            created_at=event.ts,
            updated_at=event.ts,
            queue=queue,
        )
        if function.options.debounce is not None:
            try:
                debounce_key = key_of(function.options.debounce.key, event.to_dict())
            except ExpressionError:
                debounce_key = None
            queued.options = {
                "debounce_key": debounce_key,
                "debounce_until": event.ts + parse_duration(function.options.debounce.period),
            }
        if function.options.batch_events is not None:
            queued.options = self.flow.batch_options(function, event.to_dict())
        refused = self._write_sync(
            Write("run", run=queued), Write("trigger", run_id=run_id, event_id=event.id, function_id=function.id)
        )
        if run_id in refused:
            # Another process (a worker turning events into runs, or the sender) made this event's run first.
            existing = self._event_runs(event.id, only=function.id)
            return existing[0] if existing else None
        return queued

    def queue_for_event(self, function: Workflow, event: EventRecord) -> RunRecord | RunHandle[Any] | None:
        """A worker turning a stored event into a run of a function it serves (once per event and function)."""
        return self._event_run(
            function, Event(event.name, event.data, event.event_id, event.ts), event.seq, queue=function.options.queue
        )

    def to_workers(
        self,
        function: Workflow | str,
        *,
        data: dict[str, Any] | None = None,
        run_id: str | None = None,
        queue: str = "default",
        parent_run_id: str | None = None,
    ) -> RunHandle[Any]:
        """Hand a run to workers: journal it queued for ``queue``, owned by no process, and return its handle.

        ``function`` may be a function id alone (one this process does not define). A worker serving
        it claims the run; the handle follows it through the journal (its notifications, where it
        makes them). A run that exists already is not queued again: its handle is returned.
        """

        function_id = function if isinstance(function, str) else function.id
        if run_id is not None and (not isinstance(run_id, str) or not run_id.strip() or not storable_text(run_id)):
            raise ConfigError(f"run_id must be a non-empty string of valid Unicode text, got {run_id!r}")
        if not isinstance(queue, str) or not queue or not storable_text(queue):
            raise ConfigError(f"a worker queue is a non-empty name, got {queue!r}")
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"data must be a dict (the event's data), got {type(data).__name__}")
        run_id = run_id or uuid.uuid4().hex
        existing = self.journal.get_run(run_id)
        if existing is not None:
            if existing.function_id != function_id:
                raise ConfigError(
                    f"run {run_id!r} belongs to function {existing.function_id!r}, not {function_id!r}: choose "
                    "another run_id."
                )
            return self._new_handle(run_id, self.active.get(run_id), record=existing)
        trigger = function.first_trigger if not isinstance(function, str) else None
        now = _clock()
        event = Event(name=trigger or f"{function_id}/run", data=data or {}, id=run_id, ts=now)
        origin = self._origin()
        queued = RunRecord(
            run_id,
            function_id,
            "queued",
            event.to_dict(),
            code_hash="" if isinstance(function, str) else function.code_hash,
            options={"origin": origin} if origin else None,
            parent_run_id=parent_run_id,
            event_seq=self.journal.last_event_seq(),
            created_at=now,
            updated_at=now,
            queue=queue,
        )
        if run_id in self._write_sync(Write("run", run=queued)):
            return self.handle(run_id)  # queued at the same moment elsewhere: that one stands
        return self._new_handle(run_id, None, record=queued)

    def _event_runs(self, event_id: str, *, only: str | None = None) -> list[RunHandle[Any]]:
        """Handles of the runs an event started (of one function, with ``only``)."""

        handles: list[RunHandle[Any]] = []
        for fid, run_id in self.journal.runs_for_event(event_id):
            if only is None or fid == only:
                st = self.active.get(run_id)
                handles.append(self._new_handle(run_id, st, record=None if st else self.journal.get_run(run_id)))
        return handles

    def _join_batch(self, function: Workflow, event: Event, event_id: str) -> RunHandle[Any] | None:
        """Add a just-journaled event to the open batch of its key: the handle of that run (None: open one).

        The batch's events are read from the journal when its run starts; this links the event to
        the run (for listings) and starts the run at once when the batch is full.
        """

        be = function.options.batch_events
        assert be is not None
        key = self.flow.batch_options(function, event.to_dict())["batch_key"]
        for rec in self.journal.list_runs(statuses=["queued"], function_id=function.id, limit=200):
            options = rec.options or {}
            if "batch_until" not in options or options.get("batch_key") != key or options.get("batch_started"):
                continue
            writes = [Write("trigger", run_id=rec.run_id, event_id=event_id, function_id=function.id)]
            if key is not None and len(self.flow.pending_batch(function, key, rec, be.max_size)) >= be.max_size:
                writes.append(
                    Write("run_update", run_id=rec.run_id, fields={"options": {**options, "batch_until": event.ts}})
                )
            self._write_sync(*writes)
            st = self.active.get(rec.run_id)
            return self._new_handle(rec.run_id, st, record=None if st else self.journal.get_run(rec.run_id))
        return None

    def _open_batch(self, function: FlowSubject, first: EventRecord) -> None:
        """A batch run for the events left over by a full batch (its timeout counts from the first of them)."""
        workflow = registry().get(function.id)
        if workflow is None:
            return
        event = Event(first.name, first.data, first.event_id, first.ts)
        now = _clock()
        run_id = uuid.uuid4().hex
        rec = RunRecord(
            run_id,
            workflow.id,
            "queued",
            event.to_dict(),
            code_hash=workflow.code_hash,
            options=self.flow.batch_options(workflow, event.to_dict()),
            event_seq=first.seq,
            created_at=now,
            updated_at=now,
        )
        self._write_sync(Write("run", run=rec))
        try:
            self.start(workflow, run_id=run_id, event=event)
        except RuntimeError:
            pass  # no loop: it stays queued, resumable

    def _debounce(self, function: Workflow, event: Event, event_id: str) -> RunHandle[Any] | None:
        """Push back the pending debounced run for this key (giving it this event); None if there is none."""

        assert function.options.debounce is not None
        try:
            key = key_of(function.options.debounce.key, event.to_dict())
        except ExpressionError:
            return None  # no key: a run of its own, which fails at admission saying which field is missing
        for _attempt in range(20):
            pending = [
                rec
                for rec in self.journal.list_runs(statuses=["queued"], function_id=function.id, limit=200)
                if (rec.options or {}).get("debounce_key") == key and "started_running_at" not in (rec.options or {})
            ]
            if not pending:
                return None
            rec = pending[0]
            options = {
                **(rec.options or {}),
                "debounce_until": event.ts + parse_duration(function.options.debounce.period),
            }
            # Compare-and-set (flow._controller's start write is one too): if the run started, or took another
            # event, since it was read, nothing is written and the runs are looked at again.
            if self.journal.update_run_if(
                rec.run_id,
                {"event": event.to_dict(), "options": options},
                expect={"event": rec.event, "options": rec.options},
                status="queued",
                trigger=(event_id, function.id),
            ):
                st = self.active.get(rec.run_id)
                return self._new_handle(rec.run_id, st, record=None if st else self.journal.get_run(rec.run_id))
        return None

    def handle(self, run_id: str) -> RunHandle[Any]:

        st = self.active.get(run_id)
        if st is not None:
            return self._new_handle(run_id, st)
        rec = self.journal.get_run(run_id)
        if rec is None:
            raise ConfigError(f"no run {run_id!r} in the journal at {self.journal.location}; see nd.runs()")
        return self._new_handle(run_id, self.finished.get(run_id), record=rec)

    def runs(
        self, *, status: str | None = None, function_id: str | None = None, limit: int | None = 100
    ) -> list[RunHandle[Any]]:

        stored = self.journal.list_runs(function_id=function_id, limit=None if status else limit)
        out: list[RunHandle[Any]] = []
        for rec in stored:
            # As handle() does: a run that ended here lately still knows which of its steps replayed.
            st = self.active.get(rec.run_id) or self.finished.get(rec.run_id)
            handle: RunHandle[Any] = self._new_handle(rec.run_id, st, record=rec)
            if status is not None and handle.status != status:
                continue
            out.append(handle)
            if limit is not None and len(out) >= limit:
                break
        return out

    def _origin(self) -> dict[str, str] | None:
        """Where the run being started comes from; a failing hook costs the listing its origin, not the run."""
        try:
            return self.origin()
        except Exception:
            _log.debug("the origin hook failed", exc_info=True)
            return None
