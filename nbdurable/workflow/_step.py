"""The step API (``ctx.step`` / ``step`` in a ``%%durable`` cell): the units that are journaled.

Each method assigns the step's id and position synchronously, at call time, so
steps started together under ``asyncio.gather`` get the same ids in every replay
whatever order they finish in. A completed step is returned from the journal and
never runs again; a new one runs, and its result is committed before the
workflow moves past it.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import hashlib
import inspect
import json
import random as _random
import typing
import uuid as _uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from time import time as _clock
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from .._duration import Duration, parse_deadline, parse_duration
from .._errors import (
    ConfigError,
    InvokeTimeoutError,
    NestedStepError,
    NonDeterminismError,
    NonRetriableError,
    RetryAfterError,
    RunCancelledError,
    RunFailedError,
    SerializationError,
    StepError,
)
from ..engine._events import Event, coerce_event, validate_event
from ..engine._executor import backoff_delay, callable_hash, error_info
from ..engine._runstate import OUTPUT_PREVIEW, LiveStep, RerunFrom, RunState, StepInfo, current_step_var
from ..engine._serde import _PLAIN_TYPES, Serializer, decode, digest_inputs, encode, module_of, return_type
from ..journal._protocol import StepRecord

if TYPE_CHECKING:
    from ..flow import Limit
    from ._ai_step import AIStep
    from ._function import Function

__all__ = ["Step"]

T = TypeVar("T")

_UNREADABLE = object()


class Step:
    """The step API bound to one run."""

    def __init__(self, state: RunState) -> None:
        self._state = state
        self._ai: AIStep | None = None

    @property
    def run_id(self) -> str:
        return self._state.run_id

    @property
    def ai(self) -> AIStep:
        """LLM calls as steps: ``step.ai.infer(...)`` and ``step.ai.wrap(...)``."""
        if self._ai is None:
            from ._ai_step import AIStep

            self._ai = AIStep(self)
        return self._ai

    # -- run ----------------------------------------------------------------------------------------

    @overload
    def run(
        self,
        name: str,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        output_type: Any = None,
        serializer: Serializer = "json",
        retries: int | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def run(
        self,
        name: str,
        fn: Callable[..., T],
        *args: Any,
        output_type: Any = None,
        serializer: Serializer = "json",
        retries: int | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, T]: ...

    def run(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        output_type: Any = None,
        serializer: Serializer = "json",
        retries: int | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, Any]:
        """Run ``fn(*args, **kwargs)`` once for this run, or return its journaled result.

        ``fn`` may be sync or async. ``output_type`` (default: ``fn``'s return
        annotation) is what the journaled value is rebuilt as on replay. The names
        ``output_type``, ``serializer`` and ``retries`` are taken by the step; wrap
        ``fn`` in a lambda if it has parameters of the same names.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"step.run needs a non-empty string name first, got {name!r}")
        if not callable(fn):
            raise TypeError(f"step.run({name!r}, fn): fn must be callable, got {type(fn).__name__}")
        step_id, position = self._state.next_id(name)
        use_limit = _take_limit(kwargs)
        # Counted now, at call time: steps started together under gather are all open before the
        # first of them commits, so their writes share one transaction.
        self._state.engine.open_steps += 1
        # One coroutine per step (``counted``: _run gives the count back), not a wrapper around it; inside a
        # step.parallel(mode="wait") branch, one more that waits for the branch's turn.
        step = self._run(
            step_id, name, position, "run", fn, args, kwargs, output_type, serializer, retries, None, use_limit, True
        )
        return step if _branch_var.get() is None else self._in_turn(step, counted=True)

    async def _run(
        self,
        step_id: str,
        name: str,
        position: int,
        kind: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        output_type: Any,
        serializer: Serializer,
        retries: int | None,
        meta_of: Callable[[Any], dict[str, Any] | None] | None,
        use_limit: Limit | None = None,
        counted: bool = False,
        hint: Any = None,
    ) -> Any:
        """Replay or execute one step. ``hint``: the callable whose return annotation and module describe
        the value (default ``fn``), for steps whose ``fn`` is nbdurable's own wrapper."""
        try:
            st = self._state
            if st.cancel_requested:
                st.check_cancelled()
            rec = st.journaled.get(step_id)
            if rec is not None and rec.status == "completed":
                # The replay path: a dict lookup, a hash only when there are inputs, a JSON parse.
                if rec.input_hash or args or kwargs:
                    input_hash, shown = digest_inputs(args, kwargs)
                    if rec.input_hash != input_hash:
                        st.check_replayed(rec, position, input_hash, shown or None)
                self._note_replayed(rec, position, fn)
                if rec.output is None:
                    return None
                source = fn if hint is None else hint
                wanted = output_type if output_type is not None else return_type(source)
                if rec.output_tag is None and (wanted is None or wanted in _PLAIN_TYPES):
                    try:
                        raw = json.loads(rec.output)
                    except (ValueError, RecursionError, TypeError):
                        raw = _UNREADABLE  # decode below says what is wrong with it
                    if raw is not _UNREADABLE and (
                        wanted is None or (isinstance(raw, wanted) and not (wanted is int and isinstance(raw, bool)))
                    ):
                        return raw
                return decode(
                    rec.output,
                    rec.output_tag,
                    output_type=wanted,
                    module=module_of(source),
                    serializer=serializer,
                    where=st.where(step_id),
                    strict=True,
                )
            input_hash, shown = digest_inputs(args, kwargs)
            if rec is not None:
                if rec.status == "failed" and not st.retry_failed:
                    self._note_replayed(rec, position, fn)
                    raise self._step_error(step_id, rec.error or {}, rec.attempt + 1)
            else:
                st.check_new(step_id, position)
            st.replaying = False
            st.engine.poll_cancel(st)
            max_attempts = 1 + (st.retries if retries is None else retries)
            attempt = rec.attempt if rec is not None and rec.status == "retrying" else 0
            next_at = rec.next_at if rec is not None and rec.status == "retrying" else None
            failed_attempt = rec if rec is not None and rec.status == "retrying" else None
            preview = shown or None  # digest_inputs redacted it
            code_hash = callable_hash(fn)
            first_started = _clock()
            live = LiveStep(
                step_id,
                name,
                kind,
                position,
                "running",
                False,
                first_started,
                attempt=attempt,
                max_attempts=max_attempts,
                input_preview=preview,
            )
            st.live[step_id] = live
            engine = st.engine
            tries: list[dict[str, Any]] = []  # the failed attempts so far: every one is shown, with its backoff
            while True:
                if next_at is not None:
                    live.status, live.next_at = "retrying", next_at
                    engine.notify("step_retrying", st.run_id, step_id, record=failed_attempt)
                    await engine.sleep_until(st, next_at)
                    live.status, live.next_at = "running", None
                started = _clock()
                live.attempt = attempt
                live.started_at = started  # as journaled: the start of the attempt that ends the step
                token = current_step_var.set(StepInfo(st.run_id, step_id, attempt, f"{st.run_id}/{step_id}"))
                try:
                    if use_limit is not None:
                        await engine.flow.limit_acquire(st, use_limit, step_id)
                        live.status = "running"
                    value = fn(*args, **kwargs)
                    if inspect.isawaitable(value):
                        # Only a step that can take a while gets a "started" notice: a synchronous one ends
                        # before any view could draw it, and a notice per step would cost the live timeline.
                        engine.notify("step_started", st.run_id, step_id)
                        value = await value
                    nested = st.nested.pop(step_id, None)
                    if nested is not None:
                        raise nested  # the step's code caught it: the step fails all the same
                    payload, tag = (
                        (None, None)
                        if value is None
                        else self._encode(value, fn, hint, output_type, serializer, step_id)
                    )
                except RunCancelledError:
                    raise  # cancelled while waiting for a shared Limit: not a failure of the step
                except (NonRetriableError, SerializationError) as exc:
                    st.nested.pop(step_id, None)
                    await self._fail(live, exc, attempt, started, code_hash, _meta(preview, tries), input_hash)
                    raise self._step_error(step_id, error_info(exc), attempt + 1, _error_class(exc)) from _cause(exc)
                except Exception as exc:
                    nested = st.nested.pop(step_id, None)
                    if nested is not None:  # it caught the NestedStepError and raised another: still not retried
                        await self._fail(live, nested, attempt, started, code_hash, _meta(preview, tries), input_hash)
                        raise self._step_error(step_id, error_info(nested), attempt + 1, NestedStepError) from exc
                    if attempt + 1 >= max_attempts:
                        await self._fail(live, exc, attempt, started, code_hash, _meta(preview, tries), input_hash)
                        error = self._step_error(step_id, error_info(exc), attempt + 1, _error_class(exc))
                        raise error from _cause(exc)
                    if isinstance(exc, RetryAfterError):
                        d = exc.delay
                        next_at = parse_deadline(d) if isinstance(d, dt.datetime) else _clock() + parse_duration(d)
                    else:
                        next_at = _clock() + backoff_delay(attempt)
                    live.error = error_info(exc)
                    tries.append(_attempt_note(attempt, started, live.error, next_at))
                    del tries[:-_ATTEMPTS_KEPT]
                    live.meta = {**(live.meta or {}), "attempts": list(tries)}
                    attempt += 1
                    failed_attempt = StepRecord(
                        run_id=st.run_id,
                        step_id=step_id,
                        name=name,
                        position=position,
                        kind=kind,
                        status="retrying",
                        attempt=attempt,
                        input_hash=input_hash,
                        output=None,
                        output_tag=None,
                        error=live.error,
                        started_at=started,
                        ended_at=_clock(),
                        next_at=next_at,
                        meta=_meta(preview, tries),
                        code_hash=code_hash,
                    )
                    await engine.commit(failed_attempt)
                    continue
                finally:
                    current_step_var.reset(token)
                ended = _clock()
                meta = meta_of(value) if meta_of is not None else None
                if use_limit is not None and meta and isinstance(meta.get("ai"), dict):
                    ai = meta["ai"]
                    engine.flow.limit_spend(use_limit, int(ai.get("tokens_in") or 0) + int(ai.get("tokens_out") or 0))
                if preview or tries:
                    meta = {**(meta or {}), **(_meta(preview, tries) or {})}
                done = StepRecord(
                    run_id=st.run_id,
                    step_id=step_id,
                    name=name,
                    position=position,
                    kind=kind,
                    status="completed",
                    attempt=attempt,
                    input_hash=input_hash,
                    output=payload,
                    output_tag=tag,
                    error=None,
                    started_at=started,
                    ended_at=ended,
                    next_at=None,
                    meta=meta,
                    code_hash=code_hash,
                )
                await engine.commit(done)
                live.status, live.ended_at, live.meta, live.error = "completed", ended, meta, None
                if payload is not None:
                    live.output_size = len(payload)
                    live.output_preview = payload[:OUTPUT_PREVIEW]
                    if kind == "ai":
                        live.output = payload  # the timeline shows an AI step's whole response
                st.step_ended(live)
                engine.notify("step_finished", st.run_id, step_id, record=done)
                return value
        finally:
            if counted:
                self._state.engine.open_steps -= 1

    def _encode(
        self, value: Any, fn: Any, hint: Any, output_type: Any, serializer: Serializer, step_id: str
    ) -> tuple[str, str | None]:
        """Journal text for a step's result, checked to come back the same on replay (same code, same types)."""
        source = fn if hint is None else hint
        wanted = output_type if output_type is not None else return_type(source)
        return encode(
            value,
            serializer=serializer,
            where=self._state.where(step_id),
            output_type=wanted,
            module=module_of(source),
        )

    async def _fail(
        self,
        live: LiveStep,
        exc: BaseException,
        attempt: int,
        started: float,
        code_hash: str,
        meta: dict[str, Any] | None,
        input_hash: str,
    ) -> None:
        st = self._state
        info = error_info(exc)
        ended = _clock()
        failed = StepRecord(
            run_id=st.run_id,
            step_id=live.step_id,
            name=live.name,
            position=live.position,
            kind=live.kind,
            status="failed",
            attempt=attempt,
            input_hash=input_hash,
            output=None,
            output_tag=None,
            error=info,
            started_at=started,
            ended_at=ended,
            next_at=None,
            meta=meta,
            code_hash=code_hash,
        )
        await st.engine.commit(failed)
        live.status, live.ended_at, live.error = "failed", ended, info
        if meta and meta.get("attempts"):
            live.meta = {**(live.meta or {}), "attempts": meta["attempts"]}
        st.step_ended(live)
        st.engine.notify("step_finished", st.run_id, live.step_id, record=failed)

    def _step_error(
        self, step_id: str, info: dict[str, Any], attempts: int, error_class: type[BaseException] | None = None
    ) -> StepError:
        st = self._state
        return StepError(
            f"{st.where(step_id)} failed after {attempts} attempt(s): {info.get('type')}: {info.get('message')}. "
            "Catch nd.StepError in the workflow to handle it, or fix the step and resume the run; completed "
            "steps will not run again.",
            run_id=st.run_id,
            step_id=step_id,
            error_type=str(info.get("type", "")),
            error_message=str(info.get("message", "")),
            traceback=str(info.get("traceback", "")),
            traceback_full=str(info.get("traceback_full") or info.get("traceback", "")),
            child_run_id=str(info["child_run_id"]) if info.get("child_run_id") else None,
            error_class=error_class,
        )

    def _note_replayed(self, rec: StepRecord, position: int, fn: Any) -> None:
        st = self._state
        if fn is not None and rec.code_hash:
            # A loop replays the same function thousands of times: remember its hash.
            if fn is st.last_fn:
                now_hash = st.last_fn_hash
            else:
                now_hash = st.last_fn_hash = callable_hash(fn)
                st.last_fn = fn
            if now_hash and now_hash != rec.code_hash:
                st.changed_code.append(rec.step_id)
                if st.on_change == "rerun":
                    raise RerunFrom(rec.step_id)
                if st.on_change == "error":
                    raise NonDeterminismError(
                        f"{st.where(rec.step_id)}: the step's code changed since it ran (on_change='error'). "
                        f"Rerun from it with nd.rerun({st.run_id!r}, from_step={rec.step_id!r}), or use "
                        "on_change='warn' to keep its journaled result."
                    )
        # Cheap on purpose (replay must cost microseconds): views build rows from the journal record.
        st.replayed.add(rec.step_id)
        if st.engine.feed._subscribers:
            st.engine.notify("step_replayed", st.run_id, rec.step_id, record=rec)
        elif rec.status == "completed":
            # No timeline watches: let the record go (a long run keeps O(1) per replayed step). It is never
            # looked up again: an id is reached once, and positions only grow. Views page it from the journal.
            st.forget(rec.step_id, position)

    async def _give_back_slots(self) -> None:
        """A run that durably sleeps or waits holds no concurrency slot meanwhile."""
        self._state.engine.flow.release(self._state.run_id)

    async def _take_slots(self) -> None:
        st = self._state
        if st.function is not None and st.function.concurrency:
            await st.engine.flow.acquire(st, st.function)

    # -- durable time -------------------------------------------------------------------------------

    async def sleep(self, name: str, duration: Duration) -> None:
        """Sleep durably: the deadline is journaled, so after a restart only the rest is slept."""
        seconds = parse_duration(duration, what=f"step.sleep({name!r}) duration")
        step_id, position = self._state.next_id(name)
        await self._in_turn(self._sleep(step_id, name, position, lambda: _clock() + seconds))

    async def sleep_until(self, name: str, when: dt.datetime | float | str) -> None:
        """Sleep durably until an aware datetime (or epoch seconds, or an ISO string)."""
        deadline = parse_deadline(when, what=f"step.sleep_until({name!r})")
        step_id, position = self._state.next_id(name)
        await self._in_turn(self._sleep(step_id, name, position, lambda: deadline))

    async def _sleep(self, step_id: str, name: str, position: int, deadline_of: Callable[[], float]) -> None:
        st = self._state
        engine = st.engine
        st.check_cancelled()
        rec = st.journaled.get(step_id)
        if rec is not None and rec.status == "completed":
            self._note_replayed(rec, position, None)
            return
        if rec is None:
            st.check_new(step_id, position)
        st.replaying = False
        started = rec.started_at if rec is not None else _clock()
        deadline = rec.next_at if rec is not None and rec.next_at is not None else deadline_of()
        live = LiveStep(step_id, name, "sleep", position, "sleeping", False, started, next_at=deadline)
        st.live[step_id] = live
        if rec is None:
            rec = StepRecord(
                run_id=st.run_id,
                step_id=step_id,
                name=name,
                position=position,
                kind="sleep",
                status="sleeping",
                attempt=0,
                input_hash="",
                output=None,
                output_tag=None,
                error=None,
                started_at=started,
                ended_at=None,
                next_at=deadline,
                meta=None,
                code_hash="",
            )
            await engine.commit(rec, run_status="sleeping")
        else:
            await engine.set_status(st, "sleeping")
        engine.notify("step_started", st.run_id, step_id, record=rec)
        await self._give_back_slots()
        await engine.sleep_until(st, deadline)
        await self._take_slots()
        ended = _clock()
        slept = StepRecord(
            run_id=st.run_id,
            step_id=step_id,
            name=name,
            position=position,
            kind="sleep",
            status="completed",
            attempt=0,
            input_hash="",
            output=None,
            output_tag=None,
            error=None,
            started_at=started,
            ended_at=ended,
            next_at=deadline,
            meta=None,
            code_hash="",
        )
        await engine.commit(slept, run_status="running")
        live.status, live.ended_at = "completed", ended
        st.step_ended(live)
        engine.notify("step_finished", st.run_id, step_id, record=slept)

    # -- events -------------------------------------------------------------------------------------

    async def wait_for_event(
        self,
        name: str,
        *,
        event: str,
        timeout: Duration,
        if_exp: str | None = None,
    ) -> Event | None:
        """Wait durably for an event named ``event``; None when ``timeout`` passes first.

        ``if_exp`` is an expression over ``event`` (this run's trigger) and ``async``
        (the candidate), e.g. ``"async.data.ticket_id == event.data.ticket_id"``.
        Events sent after the run started count even if they came before the wait
        began, and one event satisfies at most one wait of a run.
        """
        seconds = parse_duration(timeout, what=f"step.wait_for_event({name!r}) timeout")
        expression = None
        if if_exp is not None:
            from ..expr import compile_expression

            expression = compile_expression(if_exp)
        step_id, position = self._state.next_id(name)
        st = self._state
        engine = st.engine
        st.check_cancelled()
        rec = st.journaled.get(step_id)
        if rec is not None and rec.status == "completed":
            self._note_replayed(rec, position, None)
            return None if rec.output is None else _journaled_event(rec, st.where(step_id))
        if rec is None:
            st.check_new(step_id, position)
        st.replaying = False
        started = rec.started_at if rec is not None else _clock()
        deadline = rec.next_at if rec is not None and rec.next_at is not None else started + seconds
        meta: dict[str, Any] = {"event": event, "if_exp": if_exp}
        live = LiveStep(step_id, name, "wait", position, "waiting", False, started, next_at=deadline, meta=meta)
        st.live[step_id] = live
        if rec is None:
            rec = StepRecord(
                run_id=st.run_id,
                step_id=step_id,
                name=name,
                position=position,
                kind="wait",
                status="waiting",
                attempt=0,
                input_hash="",
                output=None,
                output_tag=None,
                error=None,
                started_at=started,
                ended_at=None,
                next_at=deadline,
                meta=meta,
                code_hash="",
            )
            await engine.commit(rec, run_status="waiting")
        else:
            await engine.set_status(st, "waiting")
        engine.notify("step_started", st.run_id, step_id, record=rec)
        trigger = st.record.event if st.record is not None and st.record.event else {}
        await self._give_back_slots()
        found = await engine.wait_for_event(st, event, expression, trigger, deadline)
        await self._take_slots()
        ended = _clock()
        if found is None:
            payload, tag, done_meta = None, None, meta
        else:
            st.consumed_seqs.add(found.seq)
            ev = Event(found.name, found.data, found.event_id, found.ts)
            payload, tag = encode(ev.to_dict())
            done_meta = {**meta, "event_seq": found.seq, "event_id": found.event_id}
        waited = StepRecord(
            run_id=st.run_id,
            step_id=step_id,
            name=name,
            position=position,
            kind="wait",
            status="completed",
            attempt=0,
            input_hash="",
            output=payload,
            output_tag=tag,
            error=None,
            started_at=started,
            ended_at=ended,
            next_at=deadline,
            meta=done_meta,
            code_hash="",
        )
        await engine.commit(waited, run_status="running")
        live.status, live.ended_at, live.meta = "completed", ended, done_meta
        if payload is not None:
            # The timeline of a run that just finished is built from memory: it needs the event here.
            live.output_preview, live.output_size = payload[:OUTPUT_PREVIEW], len(payload)
        st.step_ended(live)
        engine.notify("step_finished", st.run_id, step_id, record=waited)
        return None if found is None else Event(found.name, found.data, found.event_id, found.ts)

    async def send_event(
        self, name: str, events: Event | dict[str, Any] | Sequence[Event | dict[str, Any]]
    ) -> list[str]:
        """Send events from the workflow, once: on replay the same event ids are reused, so nothing is sent twice."""
        items = [events] if isinstance(events, (Event, dict)) else list(events)
        parsed = [coerce_event(e, where=f"step.send_event({name!r})") for e in items]
        st = self._state
        # Checked here, at the call, so a bad event is a clear error in the workflow, not a step retried.
        for ev in parsed:
            validate_event(ev.name, ev.data, id=ev.id or None, limits=st.engine.event_limits)
        step_id, position = st.next_id(name)

        async def deliver() -> list[str]:
            ids = []
            for i, ev in enumerate(parsed):
                event_id = ev.id or _own_event_id(st, step_id, i, ev)
                await st.engine.send(ev.name, data=ev.data, id=event_id)
                ids.append(event_id)
            return ids

        result: list[str] = await self._run(step_id, name, position, "send", deliver, (), {}, None, "json", None, None)
        return result

    async def invoke(
        self,
        name: str,
        *,
        function: Function[T] | str,
        data: dict[str, Any] | None = None,
        timeout: Duration | None = None,
    ) -> T:
        """Run another function as a child run and return its result (journaled like any step).

        The child's run id is derived from this step, so after a restart the same
        child is resumed (or its result read), never started twice. ``function`` may be
        a function id: one this process does not define, or one marked ``on="workers"``,
        is handed to the workers that serve it, and awaited through the journal.
        A failed child raises ``nd.StepError`` carrying the child's own error type, message and
        traceback.
        """
        seconds = None if timeout is None else parse_duration(timeout, what=f"step.invoke({name!r}) timeout")
        if isinstance(function, str) and not function.strip():
            raise ConfigError(f"step.invoke({name!r}): function= needs a function or a non-empty function id")
        step_id, position = self._state.next_id(name)
        st = self._state
        child = {"id": f"{st.run_id}.{step_id}"}
        from ..engine._registry import registry

        target = registry().get(function) if isinstance(function, str) else function
        function_id = function if isinstance(function, str) else function.id

        async def call(**_inputs: Any) -> Any:  # the inputs are hashed by the step; the call closes over them
            child_id = child["id"] = _child_run_id(st, step_id)
            if target is None or target.on == "workers":
                # Defined only where workers run, or meant for them: queued for a worker, followed through the journal.
                handle = st.engine.to_workers(
                    target or function_id,
                    data=data,
                    run_id=child_id,
                    parent_run_id=st.run_id,
                    queue=target.queue if target is not None else "default",
                )
            else:
                handle = st.engine.start(
                    target, data=data, run_id=child_id, parent_run_id=st.run_id, resume_failed=True
                )
            try:
                if seconds is None:
                    return await handle.result()
                return await asyncio.wait_for(asyncio.shield(handle.result()), seconds)
            except asyncio.TimeoutError:
                raise InvokeTimeoutError(
                    f"{st.where(step_id)}: invoked run {child_id!r} did not finish within {seconds:g}s; it goes on "
                    "running. Give a longer timeout, or read its result later with nd.get_run()."
                ) from None
            except RunFailedError as exc:
                raise _child_failed(exc, child_id) from None

        value: T = await self._in_turn(
            self._run(
                step_id,
                name,
                position,
                "invoke",
                call,
                (),
                {"function": function_id, "data": data},
                None,
                "json",
                0,
                lambda _v: {"child_run_id": child["id"]},
                hint=target.func if target is not None else None,
            )
        )
        return value

    # -- parallel groups ----------------------------------------------------------------------------

    async def parallel(
        self, branches: Sequence[Callable[[], Awaitable[Any]]], *, mode: ParallelMode = "wait"
    ) -> tuple[Any, ...]:
        """Run ``branches`` (callables returning awaitables that call steps) together; their results in order.

        ``mode="wait"`` (Inngest's default, ``ParallelMode.WAIT``): the branches go in rounds; a
        branch's next step starts only once every other branch has finished its previous one.
        ``mode="race"`` (Inngest's ``ParallelMode.RACE``, and what ``asyncio.gather`` does): each
        branch goes on at its own pace. Either way, the call returns when every branch has.
        """
        if mode not in ("wait", "race"):
            raise ConfigError(f"step.parallel: mode must be 'wait' or 'race', got {mode!r}")
        if not all(callable(b) for b in branches):
            raise TypeError(
                "step.parallel takes a sequence of callables that call steps, e.g. "
                "(lambda: step.run('a', fa), lambda: step.run('b', fb))"
            )
        if mode == "race":
            return tuple(await asyncio.gather(*(b() for b in branches)))
        group = _Rounds(len(branches))
        run_id = self._state.run_id

        async def branch(index: int, body: Callable[[], Awaitable[Any]]) -> Any:
            token = _branch_var.set((group, index, run_id))
            try:
                return await body()
            finally:
                group.end(index)
                _branch_var.reset(token)

        return tuple(await asyncio.gather(*(branch(i, b) for i, b in enumerate(branches))))

    async def _in_turn(self, step: Coroutine[Any, Any, T], *, counted: bool = False) -> T:
        """Await a step; inside a ``parallel(mode="wait")`` branch, first wait for the branch's turn.

        ``counted``: the step gives back its count of open steps when it ends; if it never starts
        (cancelled while waiting for its turn), this does.
        """
        found = _branch_var.get()
        if found is None or found[2] != self._state.run_id:
            return await step
        group, index, _run_id = found
        try:
            await group.enter(index)
        except BaseException:
            step.close()
            if counted:
                self._state.engine.open_steps -= 1
            raise
        try:
            return await step
        finally:
            group.leave(index)

    # -- journaled values ---------------------------------------------------------------------------

    def _value(self, name: str, make: Callable[[], Any], tag_type: Any) -> Any:
        st = self._state
        step_id, position = st.next_id(name)
        rec = st.journaled.get(step_id)
        if rec is not None and rec.status == "completed" and rec.output is not None:
            if not st.engine.feed._subscribers:
                st.forget(step_id, position)
            return decode(rec.output, rec.output_tag, output_type=tag_type, where=st.where(step_id), strict=True)
        if rec is None:
            st.check_new(step_id, position)
        value = make()
        payload, tag = encode(value, output_type=tag_type, where=st.where(step_id))
        now = _clock()
        # Not awaited: later writes commit after it (one ordered queue), so a step that used
        # this value can never be journaled without it.
        st.engine.enqueue(
            StepRecord(
                run_id=st.run_id,
                step_id=step_id,
                name=name,
                position=position,
                kind="value",
                status="completed",
                attempt=0,
                input_hash="",
                output=payload,
                output_tag=tag,
                error=None,
                started_at=now,
                ended_at=now,
                next_at=None,
                meta=None,
                code_hash="",
            )
        )
        return value

    def now(self) -> dt.datetime:
        """The current time (UTC, aware), journaled: the same value on every replay."""
        return typing.cast(dt.datetime, self._value("nd.now", lambda: dt.datetime.now(dt.timezone.utc), dt.datetime))

    def uuid(self) -> _uuid.UUID:
        """A random UUID (version 4), journaled: the same value on every replay."""
        return typing.cast(_uuid.UUID, self._value("nd.uuid", _uuid.uuid4, _uuid.UUID))

    def random(self) -> float:
        """A random float in [0, 1), journaled: the same value on every replay."""
        return typing.cast(float, self._value("nd.random", _random.random, float))


def _journaled_event(rec: StepRecord, where: str) -> Event:
    """The event a completed wait journaled, checked: a damaged row is an error naming the step, not a crash."""
    assert rec.output is not None
    raw = decode(rec.output, rec.output_tag, where=where, strict=True)
    if (
        isinstance(raw, dict)
        and isinstance(raw.get("name"), str)
        and isinstance(raw.get("data", {}), dict)
        and isinstance(raw.get("id", ""), str)
        and isinstance(raw.get("ts", 0.0), (int, float))
        and not isinstance(raw.get("ts", 0.0), bool)
    ):
        return Event.from_dict(raw)
    raise SerializationError(
        f"{where}: the journaled event is not an event (a {type(raw).__name__} without a text name, a dict of data, "
        "an id and a time). The journal was edited or damaged; rerun from this step (nd.rerun or %durable rerun) "
        "to wait again."
    )


def _take_limit(kwargs: dict[str, Any]) -> Limit | None:
    """Take ``limit=`` out of a step's keyword arguments when it names a shared nd.Limit.

    Any other ``limit=`` value (an int, an unknown string) belongs to the step's function.
    """
    value = kwargs.get("limit")
    if value is None:
        return None
    from ..flow import Limit, limits

    if isinstance(value, Limit):
        del kwargs["limit"]
        return value
    if isinstance(value, str) and value in limits():
        del kwargs["limit"]
        return limits()[value]
    return None


def _digest(*parts: str) -> str:
    joined = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(joined, digest_size=16).hexdigest()


def _own_event_id(st: RunState, step_id: str, index: int, event: Event) -> str:
    """The id of an event ``step.send_event`` sends without one: ``<run>/<step>/<i>``, the same on every replay.

    That spelling is ambiguous (run "a/b" step "c" and run "a" step "b/c" give one id), and the journal
    keeps one event per id, so a different event already under it belongs to another run: then, as
    when the id would be too long, a stable hash of the three parts serves. The same event under it
    is this step's own, sent before a crash: the same id lets the journal drop the resend.
    """
    natural = f"{st.run_id}/{step_id}/{index}"
    if len(natural) <= st.engine.event_limits.max_id_length:
        found = st.engine.journal.get_event(natural)
        if found is None or (found.name == event.name and found.data == event.data):
            return natural
    return "nd-" + _digest(st.run_id, step_id, str(index))


def _child_run_id(st: RunState, step_id: str) -> str:
    """The run id of the child ``step.invoke`` starts: ``<run>.<step>``, the same on every replay.

    That spelling is ambiguous (run "a" step "b.c" and run "a.b" step "c" give one id); a run under it
    whose parent is another run is not this step's child, and answering with its result would be
    wrong: then a stable hash of run and step is appended.
    """
    natural = f"{st.run_id}.{step_id}"
    rec = st.engine.journal.get_run(natural)
    if rec is None or rec.parent_run_id == st.run_id:
        return natural
    return f"{natural}#{_digest(st.run_id, step_id)[:12]}"


def _error_class(exc: BaseException) -> type[BaseException] | None:
    """The class of the error behind a failed step: a failed child's own, when it failed in this process."""
    if hasattr(exc, "nd_error_class"):
        carried = exc.nd_error_class
        return carried if isinstance(carried, type) else None
    return type(exc)


def _cause(exc: BaseException) -> BaseException:
    """What a StepError is raised from: the child's own exception when a child failed in this process."""
    original = getattr(exc, "nd_original", None)
    return original if isinstance(original, BaseException) else exc


ParallelMode = Literal["wait", "race"]


class _Rounds:
    """The turns of a ``parallel(mode="wait")`` group: step k of a branch waits for step k-1 of every other."""

    def __init__(self, n: int) -> None:
        self.started = [0] * n
        self.done = [0] * n
        self.ended = [False] * n
        self.changed = asyncio.Event()

    async def enter(self, index: int) -> None:
        turn = self.started[index]
        self.started[index] += 1
        while not all(self.ended[j] or self.done[j] >= turn for j in range(len(self.done)) if j != index):
            await self.changed.wait()

    def leave(self, index: int) -> None:
        self.done[index] += 1
        self._pulse()

    def end(self, index: int) -> None:
        self.ended[index] = True
        self._pulse()

    def _pulse(self) -> None:
        old, self.changed = self.changed, asyncio.Event()
        old.set()


# The parallel(mode="wait") branch the code running now belongs to: (its group, its index, the run's id).
_branch_var: contextvars.ContextVar[tuple[_Rounds, int, str] | None] = contextvars.ContextVar(
    "nbdurable_branch", default=None
)


class _ChildFailedError(NonRetriableError):
    """A child run failed: described by the child's own error (see ``error_info``), never retried here."""


def _child_failed(exc: RunFailedError, child_id: str) -> _ChildFailedError:
    """The error an invoke step fails with: the child's type, message and traceback, and its exception if here."""
    err = _ChildFailedError(str(exc))
    err.nd_error_info = {  # type: ignore[attr-defined]
        "type": exc.error_type or "RunFailedError",
        "message": exc.error_message or str(exc),
        "traceback": exc.traceback,
        "traceback_full": exc.traceback_full,
        "child_run_id": child_id,
    }
    original = exc.__cause__
    if isinstance(original, StepError) and isinstance(original.__cause__, BaseException):
        original = original.__cause__  # the child's step failed: its own exception
    if isinstance(original, BaseException) and not isinstance(original, StepError):
        err.nd_original = original  # type: ignore[attr-defined]
        err.nd_error_class = type(original)  # type: ignore[attr-defined]
    else:
        err.nd_error_class = None  # type: ignore[attr-defined]
    return err


_ATTEMPTS_KEPT = 20
"""The failed attempts a step's record keeps (the latest): a step retried a thousand times stays small."""


def _meta(preview: str | None, tries: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    if preview:
        meta["input"] = preview
    if tries:
        meta["attempts"] = list(tries)
    return meta or None


def _attempt_note(attempt: int, started: float, error: dict[str, Any], retry_at: float) -> dict[str, Any]:
    """One failed attempt as journaled: when, its error (the traceback is kept for the last one only), the retry."""
    return {
        "attempt": attempt + 1,
        "started_at": started,
        "ended_at": _clock(),
        "error": {"type": error.get("type"), "message": error.get("message")},
        "retry_at": retry_at,
    }
