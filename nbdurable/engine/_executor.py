"""The one step executor: a step described by the API (a :class:`StepSpec`) is replayed or executed here.

``step.run``, ``step.send_event``, ``step.invoke`` and ``step.ai.*`` only describe a step
(name, kind, function, options); :func:`execute` owns everything else, in order: the
replay lookup (a completed step is answered from the journal and never runs again),
input hashing and the divergence checks, retries and backoff, shared ``nd.Limit``
objects, the commit of each attempt's row, and the change-feed notices. Durable sleeps
and waits have no function to call: they describe a :class:`ParkSpec` and :func:`park`
replays them or journals them begun, parks the run until they end, and journals them done.

Also the pieces of step execution the engine shares: a callable's code hash, an error's
journaled form, backoff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import inspect
import json
import os
import random as _random
import sys
import traceback
import types
from collections.abc import Awaitable, Callable
from time import time as _clock
from typing import TYPE_CHECKING, Any, Literal

from .._duration import parse_deadline, parse_duration
from .._errors import (
    NestedStepError,
    NonDeterminismError,
    NonRetriableError,
    RetryAfterError,
    RunCancelledError,
    SerializationError,
    StepError,
)
from .._redact import redact_text
from ..journal._protocol import (
    PLAIN_CODE_HASH,
    PLAIN_INPUT_HASH,
    PLAIN_OUTPUT,
    PLAIN_OUTPUT_TAG,
    PLAIN_STEP_ID,
    StepRecord,
    StepStatus,
)
from ._runstate import OUTPUT_PREVIEW, LiveStep, RerunFrom, RunningStep, RunState, current_step_var
from ._serde import (
    Serializer,
    decode,
    describing,
    digest_inputs,
    encode,
    encode_plain,
    hash_inputs,
    input_digest,
    module_of,
    return_type,
    same_annotation,
)

if TYPE_CHECKING:
    from ..flow import Limit

__all__ = [
    "ParkSpec",
    "StepSpec",
    "backoff_delay",
    "callable_hash",
    "error_info",
    "execute",
    "journaled_value",
    "note_replayed",
    "park",
    "plain_value",
    "replay_facts",
    "replay_run",
    "step_error",
    "user_traceback",
]

_BACKOFF_BASE = 1.0
_BACKOFF_CAP = 300.0
_jitter = _random.Random()


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about 1s, 2s, 4s... capped at 5 minutes."""
    base: float = min(_BACKOFF_CAP, _BACKOFF_BASE * (2.0**attempt))
    return base * (0.5 + _jitter.random() * 0.5)


def error_info(exc: BaseException) -> dict[str, Any]:
    """The parts of an exception that survive a restart: type name, message, traceback text.

    ``traceback`` keeps the user's frames (nbdurable's own are noise to whoever reads why their
    code failed); ``traceback_full`` is the whole one, for debugging nbdurable. An exception that
    carries ``nd_error_info`` (a failed child run, say) is described by that instead.
    """
    carried = getattr(exc, "nd_error_info", None)
    if isinstance(carried, dict):
        return dict(carried)
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    full = redact_text("".join(traceback.format_exception(cls, exc, exc.__traceback__)))
    user = redact_text(user_traceback(exc))
    info = {"type": name, "message": redact_text(str(exc)), "traceback": user}
    if user != full:
        info["traceback_full"] = full
    return info


_PACKAGE_DIR = os.path.dirname(os.path.abspath(sys.modules[__name__.partition(".")[0]].__file__ or "")) + os.sep


def _ours(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR)


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without nbdurable's own frames (all of them kept if nothing else is left)."""
    te = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    todo = [te]
    while todo:
        part = todo.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        kept = [f for f in part.stack if not _ours(f.filename)]
        if kept and len(kept) < len(part.stack):
            part.stack = traceback.StackSummary.from_list(kept)
        todo.extend(p for p in (part.__cause__, part.__context__) if p is not None)
    return "".join(te.format())


_code_hashes: dict[Any, str] = {}


def _hash_code(code: Any, h: Any) -> None:
    h.update(code.co_code)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            _hash_code(const, h)
        else:
            h.update(repr(const).encode("utf-8", "replace"))
    h.update(repr(code.co_names).encode())


def callable_hash(fn: Any) -> str:
    """A hash of a callable's code, to notice a step whose code changed since it ran.

    A ``functools.partial`` is hashed as the function it wraps (its bound arguments are the step's
    inputs, not its code), a callable object as its ``__call__`` (``describing``).
    """
    fn = describing(fn)
    target = getattr(fn, "__func__", fn)
    if hasattr(target, "__wrapped__"):
        try:
            target = inspect.unwrap(target)
        except ValueError:
            pass
    code = getattr(target, "__code__", None)
    if code is None:
        return ""
    cached = _code_hashes.get(code)
    if cached is None:
        h = hashlib.blake2b(digest_size=8)
        _hash_code(code, h)
        cached = _code_hashes[code] = h.hexdigest()
    return cached


# What replay needs of a step function, per code object: (its raw return annotation, its globals, and the answer:
# its code hash as the journal stores it and its return type). See replay_facts.
_facts: dict[types.CodeType, tuple[object, object, tuple[bytes, Any]]] = {}
_FACTS_MAX = 4096
_NO_ANNOTATION = object()


def replay_facts(fn: Any) -> tuple[bytes, Any]:
    """``fn``'s code hash as the journal stores it (8 bytes; empty when it has no code) and its return type.

    Why one lookup per code object: notebook code passes a new lambda, closure or bound method to
    each step, so a cache by function object misses every time, and hashing the code and resolving
    the annotation per step was a quarter of a replayed step. Functions sharing code share the entry
    only while their globals are the same object and their raw return annotations equal (else it is
    learned again); a partial, a decorated function or a callable object goes the general way.
    """
    if isinstance(fn, functools.partial):
        return replay_facts(describing(fn))  # hashed and typed as the function it wraps: its arguments are inputs
    target = fn.__func__ if type(fn) is types.MethodType else fn
    if type(target) is types.FunctionType and not hasattr(target, "__wrapped__"):
        raw = target.__annotations__.get("return", _NO_ANNOTATION)
        namespace = target.__globals__
        found = _facts.get(target.__code__)
        if found is None or found[1] is not namespace or (found[0] is not raw and not same_annotation(found[0], raw)):
            found = (raw, namespace, (bytes.fromhex(callable_hash(target)), return_type(target)))
            if len(_facts) >= _FACTS_MAX:
                _facts.clear()
            _facts[target.__code__] = found
        return found[2]
    return bytes.fromhex(callable_hash(fn)), return_type(fn)


# -- the step as the API describes it -------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class StepSpec:
    """A step with a function, as the API describes it: what to call and how its result is journaled.

    Not frozen: a frozen dataclass pays for every field at construction, and a replayed loop builds
    one per step.
    """

    name: str
    kind: Literal["run", "send", "invoke", "ai"]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output_type: Any = None  # what the journaled value is rebuilt as (default: the source's return annotation)
    serializer: Serializer = "json"
    retries: int | None = None  # None: the run's
    meta_of: Callable[[Any], dict[str, Any] | None] | None = None  # the row's meta from the step's value
    limit: Limit | None = None  # a shared nd.Limit the step takes for each attempt
    # The callable whose return annotation and module describe the value (default ``fn``), for steps
    # whose ``fn`` is nbdurable's own wrapper (AI calls, invoke).
    hint: Any = None

    @property
    def source(self) -> Any:
        return self.fn if self.hint is None else self.hint

    def wanted(self) -> Any:
        """The type the journaled value is rebuilt as.

        A step's own function goes through replay_facts (one lookup per code object): on journals that
        load records (PostgreSQL, memory) every replayed step asks this.
        """
        if self.output_type is not None:
            return self.output_type
        return replay_facts(self.fn)[1] if self.hint is None else return_type(self.hint)


@dataclasses.dataclass(slots=True)
class ParkSpec:
    """A durable sleep or wait as the API describes it: no function to call, the run parks until it ends."""

    name: str
    kind: Literal["sleep", "wait"]
    deadline: Callable[[float], float]  # from its start time: when it ends (a wait: when it times out)
    until: Callable[[float], Awaitable[Any]]  # parks the run until that deadline (or what it waits for)
    meta: dict[str, Any] | None = None
    # What a journaled completion answers on replay (default None), and what the awaited result is journaled
    # as: (the value returned, its journal text and tag, the row's meta).
    replayed: Callable[[StepRecord], Any] | None = None
    outcome: Callable[[Any], tuple[Any, str | None, str | None, dict[str, Any] | None]] | None = None


# -- replay -----------------------------------------------------------------------------------------------


def note_replayed(st: RunState, rec: StepRecord, position: int, fn: Any) -> None:
    """A step answered from the journal: check its code did not change (``on_change``), tell the feed."""
    if fn is not None and rec.code_hash:
        digest = replay_facts(fn)[0]
        if digest and digest.hex() != rec.code_hash:
            _code_changed(st, rec.step_id)
    # Cheap on purpose (replay must cost microseconds): views build rows from the journal record.
    st.replayed.add(rec.position, rec.step_id)
    if st.engine.feed.subscribers:
        st.engine.notify("step_replayed", st.run_id, rec.step_id, record=rec)
    elif rec.status == "completed":
        # No timeline watches: let the record go (a long run keeps O(1) per replayed step). It is never
        # looked up again: an id is reached once, and positions only grow. Views page it from the journal.
        st.forget(rec.step_id, position)


def row_answers(row: tuple[Any, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a plain row answers a step called with these inputs: it journaled none and none are given, or
    their 8-byte hash is the row's (other inputs take the record's path, which says how they differ)."""
    journaled = row[PLAIN_INPUT_HASH]
    if not args and not kwargs:
        return journaled is None
    return journaled is not None and journaled == input_digest(args, kwargs)


async def replay_run(
    st: RunState,
    row: tuple[Any, ...],
    fn: Any,
    output_type: Any,
    serializer: Serializer,
    position: int,
) -> Any:
    """A step whose journal row is a plain completed step (ReplaySteps; its inputs, if any, match): its journaled value.

    The replay path of most steps (a loop replays thousands), so ``Step.run`` calls it without building
    a StepSpec, and it is one frame: note_replayed's checks and notices without a record (unless a view
    watches), then the value, rebuilt as ``output_type``, else ``fn``'s return annotation. It is not
    counted among the open steps (``Engine.open_steps``): it writes nothing.
    """
    if st.cancel_requested:
        st.check_cancelled()
    step_id = row[PLAIN_STEP_ID]
    digest, annotated = replay_facts(fn)
    journaled_hash = row[PLAIN_CODE_HASH]
    if journaled_hash is not None and digest and journaled_hash != digest:
        _code_changed(st, step_id)
    st.replayed_row(row, position)
    output, tag = row[PLAIN_OUTPUT], row[PLAIN_OUTPUT_TAG]
    if output is None:
        return None
    wanted = annotated if output_type is None else output_type
    if tag is None and (wanted is None or type(wanted) is type):
        # plain_value, inlined: most replayed values are untagged JSON that already is what is wanted.
        try:
            raw, end = _scan_json(output, 0)
        except (StopIteration, ValueError, RecursionError, TypeError):
            pass
        else:
            if end == len(output) and (wanted is None or type(raw) is wanted):
                return raw
    return _decoded(st, step_id, output, tag, wanted, fn, serializer)


def _code_changed(st: RunState, step_id: str) -> None:
    """Note a replayed step whose code changed since it ran; stop here if ``on_change`` says so."""
    st.changed_code.append(step_id)
    if st.on_change == "rerun":
        raise RerunFrom(step_id)
    if st.on_change == "error":
        raise NonDeterminismError(
            f"{st.where(step_id)}: the step's code changed since it ran (on_change='error'). "
            f"Rerun from it with nd.rerun({st.run_id!r}, from_step={step_id!r}), or use "
            "on_change='warn' to keep its journaled result."
        )


_UNREADABLE = object()
# json.loads less its Python layers and its whitespace scans (what nbdurable journals has none): the C scanner
# raw_decode calls, which gives (value, end) and raises StopIteration where no value starts.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def plain_value(output: str, wanted: Any) -> Any:
    """The JSON text's value when it already is what ``wanted`` asks (any value for None), else _UNREADABLE.

    Replay's common case, without decode's layers: the value must end where the text ends (anything
    else, padding or not JSON at all, goes to decode, which reads it or says what is wrong with it).
    JSON gives exact built-in types, so "is what ``wanted`` asks" is ``type(raw) is wanted`` (a bool
    is not an int here, as decode would not give one for ``int``).
    """
    try:
        raw, end = _scan_json(output, 0)
    except (StopIteration, ValueError, RecursionError, TypeError):
        return _UNREADABLE
    if end == len(output) and (wanted is None or type(raw) is wanted):
        return raw
    return _UNREADABLE


def _journaled(
    st: RunState, step_id: str, output: str, tag: str | None, wanted: Any, source: Any, serializer: Serializer
) -> Any:
    """A completed step's journaled value, rebuilt as ``wanted`` (the output type, or the source's annotation).

    Untagged JSON whose type already is ``wanted`` is the value itself; anything else goes to
    :func:`decode`, which builds the declared type or says what is wrong.
    """
    if tag is None and (wanted is None or type(wanted) is type):
        raw = plain_value(output, wanted)
        if raw is not _UNREADABLE:
            return raw
    return _decoded(st, step_id, output, tag, wanted, source, serializer)


def _decoded(
    st: RunState, step_id: str, output: str, tag: str | None, wanted: Any, source: Any, serializer: Serializer
) -> Any:
    """:func:`decode` for a journaled step's value: strict, naming the step, vouching for ``source``'s module."""
    return decode(
        output,
        tag,
        output_type=wanted,
        module=module_of(source),
        serializer=serializer,
        where=st.where(step_id),
        strict=True,
    )


def step_error(
    st: RunState, step_id: str, info: dict[str, Any], attempts: int, error_class: type[BaseException] | None = None
) -> StepError:
    """The error a workflow sees for a step that failed for good."""
    message = str(info.get("message", "")).rstrip()
    stop = "" if message.endswith((".", "!", "?")) else "."  # most messages end a sentence already
    return StepError(
        f"{st.where(step_id)} failed after {attempts} attempt(s): {info.get('type')}: {message}{stop} "
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


# -- execution ----------------------------------------------------------------------------------------------


async def execute(st: RunState, spec: StepSpec, step_id: str, position: int, counted: bool = False) -> Any:
    """Replay or execute one step; its id and position were taken at call time (``RunState.next_id``).

    ``counted``: the caller counted the step open (``Engine.open_steps``); it is counted closed here,
    so a step is one coroutine, not one wrapped in another (replays of long loops feel that).
    """
    try:
        if st.cancel_requested:
            st.check_cancelled()
        entry = st.journaled.get(step_id)
        if type(entry) is tuple and spec.hint is None and row_answers(entry, spec.args, spec.kwargs):
            # A plain completed step given the inputs it ran with, answered from the journal's row itself
            # (ReplaySteps; Step.run goes straight to replay_run). Other inputs take the record's path below.
            return await replay_run(st, entry, spec.fn, spec.output_type, spec.serializer, position)
        rec = None if entry is None else st.record_of(entry)
        if rec is not None and rec.status == "completed":
            # A dict lookup, a hash only when there are inputs (the preview only when they differ), a JSON parse.
            if rec.input_hash or spec.args or spec.kwargs:
                input_hash = hash_inputs(spec.args, spec.kwargs)
                if rec.input_hash != input_hash:
                    shown = digest_inputs(spec.args, spec.kwargs)[1]
                    st.check_replayed(rec, position, input_hash, shown or None)
            note_replayed(st, rec, position, spec.fn)
            if rec.output is None:
                return None
            return _journaled(st, step_id, rec.output, rec.output_tag, spec.wanted(), spec.source, spec.serializer)
        input_hash, shown = digest_inputs(spec.args, spec.kwargs) if spec.args or spec.kwargs else ("", "")
        if rec is not None:
            if rec.status == "failed" and not st.retry_failed:
                note_replayed(st, rec, position, spec.fn)
                raise step_error(st, step_id, rec.error or {}, rec.attempt + 1)
        elif st.by_position:  # a new step where the journal has steps: check it does not take another's place
            st.check_new(step_id, position)
        st.replaying = False
        st.engine.poll_cancel(st)
        retrying = rec if rec is not None and rec.status == "retrying" else None
        return await _Execution(st, spec, step_id, position, input_hash, shown or None, retrying).run()
    finally:
        if counted:
            st.engine.open_steps -= 1


# Exact types a step's value often has that are never awaitable (inspect.isawaitable asks an ABC, which costs).
_NOT_AWAITABLE = frozenset({str, int, float, bool, bytes, dict, list, tuple, type(None)})


class _Execution:
    """One step executing here, attempt after attempt, until it completes or fails for good."""

    def __init__(
        self,
        st: RunState,
        spec: StepSpec,
        step_id: str,
        position: int,
        input_hash: str,
        preview: str | None,  # digest_inputs redacted it
        retrying: StepRecord | None,  # the row of an attempt that failed before a restart
    ) -> None:
        self.st = st
        self.spec = spec
        self.input_hash = input_hash
        self.preview = preview
        # The code hash and the type a value is journaled as, with one lookup per code object (replay_facts) when the
        # callable describes its own value: notebook loops pass a new lambda or closure to every step.
        if spec.hint is None:
            blob, returns = replay_facts(spec.fn)
            self.code_hash = blob.hex()
            self.wanted = returns if spec.output_type is None else spec.output_type
        else:
            self.code_hash = callable_hash(spec.fn)
            self.wanted = spec.wanted()
        self.max_attempts = 1 + (st.retries if spec.retries is None else spec.retries)
        self.attempt = retrying.attempt if retrying is not None else 0
        self.next_at = retrying.next_at if retrying is not None else None
        self.failed_attempt = retrying
        self.tries: list[dict[str, Any]] = []  # the failed attempts so far: every one is shown, with its backoff
        self.live = LiveStep(
            step_id,
            spec.name,
            spec.kind,
            position,
            "running",
            False,
            _clock(),
            attempt=self.attempt,
            max_attempts=self.max_attempts,
            input_preview=preview,
        )
        st.live[step_id] = self.live

    def _meta(self) -> dict[str, Any] | None:
        """The row's meta every attempt shares: the input's preview and the failed attempts."""
        meta: dict[str, Any] = {}
        if self.preview:
            meta["input"] = self.preview
        if self.tries:
            meta["attempts"] = list(self.tries)
        return meta or None

    async def run(self) -> Any:
        st, live, engine = self.st, self.live, self.st.engine
        while True:
            if self.next_at is not None:
                live.status, live.next_at = "retrying", self.next_at
                engine.notify("step_retrying", st.run_id, live.step_id, record=self.failed_attempt)
                await engine.sleep_until(st, self.next_at)
                live.status, live.next_at = "running", None
            started = _clock()
            live.attempt = self.attempt
            live.started_at = started  # as journaled: the start of the attempt that ends the step
            try:
                value, payload, tag = await self._attempt()
            except RunCancelledError:
                raise  # cancelled while waiting for a shared Limit: not a failure of the step
            except (NonRetriableError, SerializationError) as exc:
                st.nested.pop(live.step_id, None)
                raise await self._fail(exc, started, _error_class(exc)) from _cause(exc)
            except Exception as exc:
                nested = st.nested.pop(live.step_id, None)
                if nested is not None:  # it caught the NestedStepError and raised another: still not retried
                    raise await self._fail(nested, started, NestedStepError) from exc
                if self.attempt + 1 >= self.max_attempts:
                    raise await self._fail(exc, started, _error_class(exc)) from _cause(exc)
                await self._retry_later(exc, started)
                continue
            await self._complete(value, payload, tag, started)
            return value

    async def _attempt(self) -> tuple[Any, str | None, str | None]:
        """Call the step's function once (under its shared limit); its value and that value's journal text."""
        st, spec, live, engine = self.st, self.spec, self.live, self.st.engine
        token = current_step_var.set(RunningStep(st.run_id, live.step_id, self.attempt))
        try:
            if spec.limit is not None:
                await engine.flow.limit_acquire(st, spec.limit, live.step_id)
                live.status = "running"
            value = spec.fn(*spec.args, **spec.kwargs)
            if type(value) not in _NOT_AWAITABLE and inspect.isawaitable(value):
                # Only a step that can take a while gets a "started" notice: a synchronous one ends
                # before any view could draw it, and a notice per step would cost the live timeline.
                engine.notify("step_started", st.run_id, live.step_id)
                value = await value
            nested = st.nested.pop(live.step_id, None)
            if nested is not None:
                raise nested  # the step's code caught it: the step fails all the same
            if value is None:
                return None, None, None
            wanted = self.wanted
            # A plain scalar (most steps) is its JSON text; anything else is checked to come back the same on
            # replay (same code, same types), and where it failed is named.
            plain = encode_plain(value, wanted) if spec.serializer == "json" else None
            if plain is not None:
                return value, plain, None
            payload, tag = encode(
                value,
                serializer=spec.serializer,
                where=st.where(live.step_id),
                output_type=wanted,
                module=module_of(spec.source),
            )
            return value, payload, tag
        finally:
            current_step_var.reset(token)

    def _record(
        self,
        status: StepStatus,
        started: float,
        ended: float,
        *,
        output: str | None = None,
        output_tag: str | None = None,
        error: dict[str, Any] | None = None,
        next_at: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> StepRecord:
        """This step's row for the attempt that ``started``: what is the same for every attempt, and the rest.

        Built here rather than through ``LiveStep.to_record`` (one call fewer per step executed).
        """
        live = self.live
        return StepRecord(
            run_id=self.st.run_id,
            step_id=live.step_id,
            name=live.name,
            position=live.position,
            kind=live.kind,
            status=status,
            attempt=self.attempt,
            input_hash=self.input_hash,
            output=output,
            output_tag=output_tag,
            error=error,
            started_at=started,
            ended_at=ended,
            next_at=next_at,
            meta=meta,
            code_hash=self.code_hash,
        )

    async def _retry_later(self, exc: Exception, started: float) -> None:
        """Journal a failed attempt with the time of the next one (the error's own delay, or backoff)."""
        if isinstance(exc, RetryAfterError):
            d = exc.delay
            self.next_at = parse_deadline(d) if isinstance(d, dt.datetime) else _clock() + parse_duration(d)
        else:
            self.next_at = _clock() + backoff_delay(self.attempt)
        live = self.live
        live.error = error_info(exc)
        self.tries.append(_attempt_note(self.attempt, started, live.error, self.next_at))
        del self.tries[:-_ATTEMPTS_KEPT]
        live.meta = {**(live.meta or {}), "attempts": list(self.tries)}
        self.attempt += 1
        self.failed_attempt = self._record(
            "retrying", started, _clock(), error=live.error, next_at=self.next_at, meta=self._meta()
        )
        await self.st.engine.commit(self.failed_attempt)

    async def _fail(self, exc: BaseException, started: float, error_class: type[BaseException] | None) -> StepError:
        """Journal the step as failed for good; the error to raise in the workflow."""
        st, live = self.st, self.live
        info = error_info(exc)
        ended = _clock()
        meta = self._meta()
        failed = self._record("failed", started, ended, error=info, meta=meta)
        await st.engine.commit(failed)
        live.status, live.ended_at, live.error = "failed", ended, info
        if meta and meta.get("attempts"):
            live.meta = {**(live.meta or {}), "attempts": meta["attempts"]}
        st.step_ended(live)
        st.engine.notify("step_finished", st.run_id, live.step_id, record=failed)
        return step_error(st, live.step_id, info, self.attempt + 1, error_class)

    async def _complete(self, value: Any, payload: str | None, tag: str | None, started: float) -> None:
        """Journal the step as completed (with what its value says for the timeline) and let the run go on."""
        st, spec, live, engine = self.st, self.spec, self.live, self.st.engine
        ended = _clock()
        meta = spec.meta_of(value) if spec.meta_of is not None else None
        if spec.limit is not None and meta and isinstance(meta.get("ai"), dict):
            ai = meta["ai"]
            engine.flow.limit_spend(spec.limit, int(ai.get("tokens_in") or 0) + int(ai.get("tokens_out") or 0))
        if self.preview or self.tries:
            meta = {**(meta or {}), **(self._meta() or {})}
        done = self._record("completed", started, ended, output=payload, output_tag=tag, meta=meta)
        await engine.commit(done)
        live.status, live.ended_at, live.meta, live.error = "completed", ended, meta, None
        if payload is not None:
            live.output_size = len(payload)
            live.output_preview = payload[:OUTPUT_PREVIEW]
            if spec.kind == "ai":
                live.output = payload  # the timeline shows an AI step's whole response
        st.step_ended(live)
        engine.notify("step_finished", st.run_id, live.step_id, record=done)


_ATTEMPTS_KEPT = 20
"""The failed attempts a step's record keeps (the latest): a step retried a thousand times stays small."""


def _attempt_note(attempt: int, started: float, error: dict[str, Any], retry_at: float) -> dict[str, Any]:
    """One failed attempt as journaled: when, its error (the traceback is kept for the last one only), the retry."""
    return {
        "attempt": attempt + 1,
        "started_at": started,
        "ended_at": _clock(),
        "error": {"type": error.get("type"), "message": error.get("message")},
        "retry_at": retry_at,
    }


# -- durable time: sleeps and waits ---------------------------------------------------------------------------


async def park(st: RunState, spec: ParkSpec, step_id: str, position: int) -> Any:
    """Replay or execute a durable sleep or wait.

    New: journal it begun (its deadline, the run's status), give back the run's concurrency slots,
    park until ``spec.until`` returns, take the slots again and journal it completed. Begun before a
    restart: the journaled deadline holds, so only the rest is slept or waited.
    """
    st.check_cancelled()
    rec = st.journaled_record(step_id)
    if rec is not None and rec.status == "completed":
        note_replayed(st, rec, position, None)
        return None if spec.replayed is None else spec.replayed(rec)
    if rec is None:
        st.check_new(step_id, position)
    st.replaying = False
    started = rec.started_at if rec is not None else _clock()
    deadline = rec.next_at if rec is not None and rec.next_at is not None else spec.deadline(started)
    status: Literal["sleeping", "waiting"] = "sleeping" if spec.kind == "sleep" else "waiting"
    live = LiveStep(step_id, spec.name, spec.kind, position, status, False, started, next_at=deadline, meta=spec.meta)
    st.live[step_id] = live
    engine = st.engine
    if rec is None:
        rec = live.to_record(st.run_id, status=status, next_at=deadline, meta=spec.meta)
        await engine.commit(rec, run_status=status)
    else:
        await engine.set_status(st, status)
    engine.notify("step_started", st.run_id, step_id, record=rec)
    engine.flow.release(st.run_id)  # a run that durably sleeps or waits holds no concurrency slot meanwhile
    found = await spec.until(deadline)
    if st.function is not None and st.function.options.concurrency:
        await engine.flow.acquire(st, st.function)
    value, output, tag, meta = (None, None, None, spec.meta) if spec.outcome is None else spec.outcome(found)
    ended = _clock()
    done = live.to_record(
        st.run_id, status="completed", output=output, output_tag=tag, ended_at=ended, next_at=deadline, meta=meta
    )
    await engine.commit(done, run_status="running")
    live.status, live.ended_at, live.meta = "completed", ended, meta
    if output is not None:
        # The timeline of a run that just finished is built from memory: it needs the event here.
        live.output_preview, live.output_size = output[:OUTPUT_PREVIEW], len(output)
    st.step_ended(live)
    engine.notify("step_finished", st.run_id, step_id, record=done)
    return value


# -- journaled values (step.now, step.uuid, step.random) --------------------------------------------------------


def journaled_value(
    st: RunState, name: str, step_id: str, position: int, make: Callable[[], Any], tag_type: Any
) -> Any:
    """Replay a journaled value, or make it and journal it (synchronously: ``step.now()`` is not awaited)."""
    rec = st.journaled_record(step_id)
    if rec is not None and rec.status == "completed" and rec.output is not None:
        if not st.engine.feed.subscribers:
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
            output=payload,
            output_tag=tag,
            started_at=now,
            ended_at=now,
        )
    )
    return value
