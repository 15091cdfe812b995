"""``@nd.function``: turn ``async def f(ctx)`` into a durable workflow.

Functions register themselves by id so events can start them and interrupted
runs can find their code again after a restart. Re-running the defining cell in
a notebook replaces the registered function, which is what a user expects.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from .._errors import ConfigError
from ..engine import Event, RunState, get_engine, presenter, registry
from ..engine._events import trigger_matches
from ..engine._executor import callable_hash
from ..engine._serde import storable_text
from ..flow import BatchEvents, CancelOn, Concurrency, Debounce, Priority, RateLimit, Singleton, Throttle, Timeouts
from ._context import Context, RunLogger
from ._source import source_lines
from ._step import Step

if TYPE_CHECKING:
    from ..engine import Engine, RunHandle

__all__ = ["Function", "function"]

R = TypeVar("R")
Determinism = Literal["warn", "strict", "off"]
OnChange = Literal["warn", "rerun", "error"]
LintMode = Literal["warn", "off", "error"]
Placement = Literal["here", "workers"]


def _placement(on: Any, fn_id: str) -> Placement:
    if on not in ("here", "workers"):
        raise ConfigError(
            f"@nd.function(id={fn_id!r}): on= is 'here' (this process) or 'workers' (worker processes), got {on!r}"
        )
    return on  # type: ignore[no-any-return]


def _source_hash(func: Callable[..., Any], source: tuple[list[str], int, str] | None) -> str:
    if source is None:
        return callable_hash(func)
    return hashlib.blake2b("".join(source[0]).encode(), digest_size=8).hexdigest()


def _lint_function(source: tuple[list[str], int, str] | None, id: str, mode: str) -> None:
    """Check the workflow's source for code that replays differently; warn (or raise) at the offending lines."""
    if source is None:
        return
    import textwrap
    import warnings

    from .._errors import LintError, NonDeterminismError, ReplayDeterminismWarning
    from ..linter import lint

    lines, first, filename = source

    try:
        findings = lint(textwrap.dedent("".join(lines)), filename=filename)
    except LintError:
        return
    if not findings:
        return
    from ..engine._usercode import note_linted

    note_linted(filename, {f.line + first - 1 for f in findings})
    if mode == "error":
        listed = "; ".join(f"line {f.line + first - 1} {f.code}: {f.message}" for f in findings)
        raise NonDeterminismError(
            f"@nd.function(id={id!r}) has code that replays differently ({listed}). Fix it, or pass lint='warn'."
        )
    for f in findings:
        warnings.warn_explicit(
            ReplayDeterminismWarning(f"@nd.function(id={id!r}): {f.code} {f.message} Fix: {f.hint}"),
            ReplayDeterminismWarning,
            filename,
            f.line + first - 1,
        )


T = TypeVar("T")


def _one_of(value: Any, cls: type[T], fn_id: str, name: str) -> T | None:
    if value is not None and not isinstance(value, cls):
        raise ConfigError(f"@nd.function(id={fn_id!r}): {name}= takes nd.{cls.__name__}(...), got {value!r}")
    return value


def _tuple_of(value: Any, cls: type[T], fn_id: str, name: str) -> tuple[T, ...]:
    if value is None:
        return ()
    if isinstance(value, cls):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(
            f"@nd.function(id={fn_id!r}): {name}= takes nd.{cls.__name__}(...) or a list of them, got {value!r}"
        )
    for item in items:
        _one_of(item, cls, fn_id, name)
    return tuple(items)


class Function(Generic[R]):
    """A durable workflow: ``start`` it, ``run`` it, or let an event trigger it."""

    def __init__(
        self,
        func: Callable[[Context], Awaitable[R]],
        *,
        id: str,
        trigger: str | Sequence[str] | None = None,
        retries: int = 3,
        determinism: Determinism = "warn",
        on_change: OnChange = "warn",
        lint: LintMode = "warn",
        engine: Engine | None = None,
        concurrency: Concurrency | Sequence[Concurrency] | None = None,
        throttle: Throttle | None = None,
        rate_limit: RateLimit | None = None,
        timeouts: Timeouts | None = None,
        cancel_on: CancelOn | Sequence[CancelOn] | None = None,
        debounce: Debounce | None = None,
        priority: Priority | None = None,
        on: Placement = "here",
        queue: str = "default",
        on_failure: Callable[[Context], Awaitable[Any]] | None = None,
        singleton: Singleton | None = None,
        batch_events: BatchEvents | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise ConfigError(
                f"@nd.function(id={id!r}) needs an async function (async def {getattr(func, '__name__', 'f')}(ctx))"
            )
        if not isinstance(id, str) or not id.strip() or not storable_text(id):
            raise ConfigError(f"@nd.function needs a non-empty string id of valid Unicode text, got {id!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ConfigError(f"@nd.function(id={id!r}): retries must be an integer >= 0, got {retries!r}")
        if determinism not in ("warn", "strict", "off"):
            raise ConfigError(
                f"@nd.function(id={id!r}): determinism must be 'warn', 'strict' or 'off', got {determinism!r}"
            )
        if trigger is None:
            triggers: tuple[str, ...] = ()
        elif isinstance(trigger, str):
            triggers = (trigger,)
        else:
            triggers = tuple(trigger)
        if on_change not in ("warn", "rerun", "error"):
            raise ConfigError(
                f"@nd.function(id={id!r}): on_change must be 'warn', 'rerun' or 'error', got {on_change!r}"
            )
        if lint not in ("warn", "off", "error"):
            raise ConfigError(f"@nd.function(id={id!r}): lint must be 'warn', 'off' or 'error', got {lint!r}")
        for t in triggers:
            if not isinstance(t, str) or not t:
                raise ConfigError(f"@nd.function(id={id!r}): each trigger must be an event name, got {t!r}")
        self.concurrency: tuple[Concurrency, ...] = _tuple_of(concurrency, Concurrency, id, "concurrency")
        self.throttle = _one_of(throttle, Throttle, id, "throttle")
        self.rate_limit = _one_of(rate_limit, RateLimit, id, "rate_limit")
        self.timeouts = _one_of(timeouts, Timeouts, id, "timeouts")
        self.cancel_on: tuple[CancelOn, ...] = _tuple_of(cancel_on, CancelOn, id, "cancel_on")
        self.debounce = _one_of(debounce, Debounce, id, "debounce")
        self.priority = _one_of(priority, Priority, id, "priority")
        self.on: Placement = _placement(on, id)
        if not isinstance(queue, str) or not queue.strip() or not storable_text(queue):
            raise ConfigError(f"@nd.function(id={id!r}): queue must be a non-empty name, got {queue!r}")
        self.queue = queue
        self.singleton = _one_of(singleton, Singleton, id, "singleton")
        self.batch_events = _one_of(batch_events, BatchEvents, id, "batch_events")
        if self.batch_events is not None and self.debounce is not None:
            raise ConfigError(
                f"@nd.function(id={id!r}): batch_events and debounce cannot go together (each decides when a run "
                "starts and with which events); choose one."
            )
        self.on_failure: Function[Any] | None = None
        if on_failure is not None:
            if not inspect.iscoroutinefunction(on_failure):
                raise ConfigError(
                    f"@nd.function(id={id!r}): on_failure= takes an async function (async def handler(ctx)), "
                    f"got {on_failure!r}"
                )
            # A workflow of its own: its runs have their own steps and timeline, and resume by this id.
            self.on_failure = Function(on_failure, id=f"{id}/on-failure", retries=retries, lint=lint, engine=engine)
        self.func = func
        self.id = id
        self.triggers = triggers
        self.retries = retries
        # Function-level retries (an error in the body outside steps). A %%durable cell sets 0: whoever
        # runs it is there to read the error at once.
        self.body_retries = retries
        self.determinism: Determinism = determinism
        self.on_change: OnChange = on_change
        self._engine = engine
        # Read once: the code hash and the lint both need it (and finding a def's end is not free).
        source = source_lines(func)
        self.code_hash = _source_hash(func, source)
        self.__doc__ = func.__doc__
        self.__name__ = getattr(func, "__name__", id)
        self.__wrapped__ = func
        if lint != "off":
            _lint_function(source, id, lint)

    def __repr__(self) -> str:
        return f"<nd.function {self.id!r}>"

    @property
    def has_flow_control(self) -> bool:
        return bool(
            self.concurrency
            or self.throttle
            or self.rate_limit
            or self.timeouts
            or self.debounce
            or self.singleton
            or self.batch_events
        )

    @property
    def first_trigger(self) -> str | None:
        return self.triggers[0] if self.triggers else None

    def triggered_by(self, event_name: str) -> bool:
        return any(trigger_matches(t, event_name) for t in self.triggers)

    @property
    def engine(self) -> Engine:
        return self._engine if self._engine is not None else get_engine()

    def execute(self, state: RunState, event: Event) -> Awaitable[R]:
        """The workflow's body for one run: ``func(ctx)`` with the run's context (what the engine awaits)."""
        assert state.record is not None
        # A batch (nd.BatchEvents) is kept in the run's options when the run takes it.
        batch = (state.record.options or {}).get("batch")
        events = tuple(Event.from_dict(e) for e in batch) if isinstance(batch, list) and batch else ()
        ctx = Context(
            event=events[0] if events else event,
            step=Step(state),
            run_id=state.run_id,
            attempt=state.record.attempt - 1,
            logger=RunLogger(state),
            events=events,
        )
        return self.func(ctx)

    def start(
        self, data: dict[str, Any] | None = None, *, run_id: str | None = None, on: Placement | None = None
    ) -> RunHandle[R]:
        """Start a run (or resume the one with ``run_id``) and return its handle at once.

        ``on="here"`` runs it as a task of this process; ``on="workers"`` hands it to the worker
        processes serving this function (``nbdurable worker``), on any machine sharing the journal;
        the default is the function's own ``on``. Either way the handle shows it and ``result()``
        waits for it.
        """
        where = self.on if on is None else _placement(on, self.id)
        if where == "workers":
            handle: RunHandle[R] = self.engine.to_workers(self, data=data, run_id=run_id, queue=self.queue)
        else:
            handle = self.engine.start(self, data=data, run_id=run_id)
        presenter().started(handle)
        return handle

    async def run(
        self, data: dict[str, Any] | None = None, *, run_id: str | None = None, on: Placement | None = None
    ) -> R:
        """Start (or resume) a run and return its result; raises RunFailedError if it fails."""
        return await self.start(data, run_id=run_id, on=on).result()


@overload
def function(func: Callable[[Context], Awaitable[R]], /) -> Function[R]: ...


@overload
def function(
    *,
    id: str | None = None,
    trigger: str | Sequence[str] | None = None,
    retries: int = 3,
    determinism: Determinism = "warn",
    on_change: OnChange = "warn",
    lint: LintMode = "warn",
    concurrency: Concurrency | Sequence[Concurrency] | None = None,
    throttle: Throttle | None = None,
    rate_limit: RateLimit | None = None,
    timeouts: Timeouts | None = None,
    cancel_on: CancelOn | Sequence[CancelOn] | None = None,
    debounce: Debounce | None = None,
    priority: Priority | None = None,
    on: Placement = "here",
    queue: str = "default",
    on_failure: Callable[[Context], Awaitable[Any]] | None = None,
    singleton: Singleton | None = None,
    batch_events: BatchEvents | None = None,
) -> Callable[[Callable[[Context], Awaitable[R]]], Function[R]]: ...


def function(
    func: Callable[[Context], Awaitable[R]] | None = None,
    /,
    *,
    id: str | None = None,
    trigger: str | Sequence[str] | None = None,
    retries: int = 3,
    determinism: Determinism = "warn",
    on_change: OnChange = "warn",
    lint: LintMode = "warn",
    concurrency: Concurrency | Sequence[Concurrency] | None = None,
    throttle: Throttle | None = None,
    rate_limit: RateLimit | None = None,
    timeouts: Timeouts | None = None,
    cancel_on: CancelOn | Sequence[CancelOn] | None = None,
    debounce: Debounce | None = None,
    priority: Priority | None = None,
    on: Placement = "here",
    queue: str = "default",
    on_failure: Callable[[Context], Awaitable[Any]] | None = None,
    singleton: Singleton | None = None,
    batch_events: BatchEvents | None = None,
) -> Function[R] | Callable[[Callable[[Context], Awaitable[R]]], Function[R]]:
    """Declare a durable workflow: ``@nd.function(id="...", trigger="app/event", retries=3)``.

    ``retries`` is the default number of retries of each step (a step may set its
    own), and of the function: an error raised in the body outside steps executes
    the body again from the top (completed steps replay) after a backoff, as Inngest
    does. ``on_failure`` is an ``async def handler(ctx)`` run, as a durable run of its
    own (function id ``"<id>/on-failure"``), when a run fails for good; its
    ``ctx.event`` is ``nd/function.failed`` with the failed run's ``run_id``,
    ``function_id``, ``error`` and trigger ``event`` in its data.
    ``determinism``: "warn" reports replay divergence and nondeterministic
    calls outside steps, "strict" makes divergence an error, "off" is silent.
    ``on_change`` says what a resume does when a completed step's code changed:
    "warn" keeps the journaled result, "rerun" redoes from that step in a new run,
    "error" stops. ``lint`` checks the source at definition ("warn", "off", "error").

    Flow control, shared by every process on the journal: ``concurrency``
    (nd.Concurrency, one or several), ``throttle``, ``rate_limit``, ``timeouts``,
    ``cancel_on`` (nd.CancelOn, one or several), ``debounce``, ``priority`` and
    ``singleton`` (nd.Singleton: one run per key at a time, a new one skipped or
    replacing the running one) and ``batch_events`` (nd.BatchEvents: one run
    receives a list of events, ``ctx.events``).

    ``on="workers"`` makes worker processes (``nbdurable worker``) execute its runs by default
    (``fn.start``, the events that trigger it), on ``queue``; ``fn.start(on=...)`` chooses per run.
    """

    def wrap(f: Callable[[Context], Awaitable[R]]) -> Function[R]:
        fn = Function(
            f,
            id=id or f.__name__,
            trigger=trigger,
            retries=retries,
            determinism=determinism,
            on_change=on_change,
            lint=lint,
            concurrency=concurrency,
            throttle=throttle,
            rate_limit=rate_limit,
            timeouts=timeouts,
            cancel_on=cancel_on,
            debounce=debounce,
            priority=priority,
            on=on,
            queue=queue,
            on_failure=on_failure,
            singleton=singleton,
            batch_events=batch_events,
        )
        registry()[fn.id] = fn
        if fn.on_failure is not None:
            registry()[fn.on_failure.id] = fn.on_failure
        return fn

    if func is not None:
        return wrap(func)
    return wrap
