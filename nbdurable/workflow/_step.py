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
    NonRetriableError,
    RunFailedError,
    SerializationError,
    StepError,
)
from ..engine._events import Event, coerce_event, validate_event
from ..engine._executor import ParkSpec, StepSpec, execute, journaled_value, park, replay_run, row_answers
from ..engine._roundtrip import short_repr
from ..engine._runstate import RunState
from ..engine._serde import Serializer, decode, encode
from ..journal._protocol import PLAIN_INPUT_HASH, StepRecord

if TYPE_CHECKING:
    from ..flow import Limit
    from ._ai_step import AIStep
    from ._function import Function

__all__ = ["Step"]

T = TypeVar("T")


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

            self._ai = AIStep(self._state)
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
            raise TypeError(not_callable("step.run", name, fn))
        st = self._state
        step_id, position = st.next_id(name)
        use_limit = _take_limit(kwargs) if "limit" in kwargs else None
        # One coroutine per step, not a wrapper around it; inside a step.parallel(mode="wait") branch, one
        # more that waits for the branch's turn.
        entry = st.journaled.get(step_id)
        # Inputs or not, row_answers decides; the no-input case is tested inline (no call): most replayed steps.
        if type(entry) is tuple and (
            entry[PLAIN_INPUT_HASH] is None if not args and not kwargs else row_answers(entry, args, kwargs)
        ):
            # Replay's common case (a loop replays thousands): a plain completed step, from its row, given the
            # inputs it ran with (other inputs take the record's path, which says how they differ). It writes
            # nothing, so it is not counted open.
            step = replay_run(st, entry, fn, output_type, serializer, position)
            return step if _branch_var.get() is None else self._in_turn(step)
        # Counted now, at call time: steps started together under gather are all open before the first
        # of them commits, so their writes share one transaction (the executor gives the count back).
        st.engine.open_steps += 1
        spec = StepSpec(name, "run", fn, args, kwargs, output_type, serializer, retries, limit=use_limit)
        step = execute(st, spec, step_id, position, True)  # counted
        return step if _branch_var.get() is None else self._in_turn(step, counted=True)

    # -- durable time -------------------------------------------------------------------------------

    async def sleep(self, name: str, duration: Duration) -> None:
        """Sleep durably: the deadline is journaled, so after a restart only the rest is slept."""
        seconds = parse_duration(duration, what=f"step.sleep({name!r}) duration")
        step_id, position = self._state.next_id(name)
        await self._in_turn(self._sleep(step_id, name, position, lambda _started: _clock() + seconds))

    async def sleep_until(self, name: str, when: dt.datetime | float | str) -> None:
        """Sleep durably until an aware datetime (or epoch seconds, or an ISO string)."""
        deadline = parse_deadline(when, what=f"step.sleep_until({name!r})")
        step_id, position = self._state.next_id(name)
        await self._in_turn(self._sleep(step_id, name, position, lambda _started: deadline))

    async def _sleep(self, step_id: str, name: str, position: int, deadline_of: Callable[[float], float]) -> None:
        st = self._state
        await park(
            st,
            ParkSpec(name, "sleep", deadline_of, lambda deadline: st.engine.sleep_until(st, deadline)),
            step_id,
            position,
        )

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
        meta: dict[str, Any] = {"event": event, "if_exp": if_exp}
        trigger = st.record.event if st.record is not None and st.record.event else {}

        def outcome(found: Any) -> tuple[Event | None, str | None, str | None, dict[str, Any]]:
            if found is None:
                return None, None, None, meta
            st.consumed_seqs.add(found.seq)
            ev = Event(found.name, found.data, found.event_id, found.ts)
            payload, tag = encode(ev.to_dict())
            return ev, payload, tag, {**meta, "event_seq": found.seq, "event_id": found.event_id}

        spec = ParkSpec(
            name,
            "wait",
            lambda started: started + seconds,
            lambda deadline: st.engine.wait_for_event(st, event, expression, trigger, deadline),
            meta=meta,
            replayed=lambda rec: None if rec.output is None else _journaled_event(rec, st.where(step_id)),
            outcome=outcome,
        )
        found: Event | None = await park(st, spec, step_id, position)
        return found

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

        result: list[str] = await execute(st, StepSpec(name, "send", deliver, (), {}), step_id, position)
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
            if target is None or target.options.on == "workers":
                # Defined only where workers run, or meant for them: queued for a worker, followed through the journal.
                handle = st.engine.to_workers(
                    target or function_id,
                    data=data,
                    run_id=child_id,
                    parent_run_id=st.run_id,
                    queue=target.options.queue if target is not None else "default",
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

        spec = StepSpec(
            name,
            "invoke",
            call,
            (),
            {"function": function_id, "data": data},
            retries=0,
            meta_of=lambda _v: {"child_run_id": child["id"]},
            hint=target.func if target is not None else None,
        )
        value: T = await self._in_turn(execute(st, spec, step_id, position))
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
            given: Sequence[object] = branches  # what the caller passed, whatever the signature says
            called = [b for b in given if isinstance(b, Coroutine)]
            for b in called:
                b.close()  # made by calling step.run(...) too early: closed, so Python does not warn it never ran
            raise TypeError(
                "step.parallel takes a sequence of callables that call steps, e.g. "
                "(lambda: step.run('a', fa), lambda: step.run('b', fb))"
                + (
                    f"; got {len(called)} coroutine(s), the result of calling step.run(...) (or another async "
                    "function) where a lambda around the call belongs. Nothing of them ran."
                    if called
                    else ""
                )
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
        step_id, position = self._state.next_id(name)
        return journaled_value(self._state, name, step_id, position, make, tag_type)

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


def not_callable(api: str, name: str, fn: Any) -> str:
    """What is wrong with the function given to ``api`` (``step.run``...), and the call to write instead.

    The usual slip is calling the function in place (``step.run("a", fetch(url))``): its
    result, or its coroutine, is handed over, and the function would run outside the step,
    again on every replay. A coroutine is closed here, so Python does not warn it never ran.
    """
    if isinstance(fn, Coroutine):
        fn.close()
        code = getattr(fn, "cr_code", None)
        label = getattr(code, "co_qualname", None) or getattr(code, "co_name", "fn")
        return (
            f"{api}({name!r}, fn): fn is a coroutine, the result of calling {label}(...) already; pass the function "
            f"and its arguments instead, as in {api}({name!r}, {label}, arg1, key=value), so the step calls it once "
            "and a replay does not call it at all. Nothing ran."
        )
    return (
        f"{api}({name!r}, fn): fn must be callable, got {type(fn).__name__} {short_repr(fn)}: pass the function and "
        f"its arguments ({api}({name!r}, fetch, url)), not the result of calling it."
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
