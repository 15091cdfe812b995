"""``@nd.function``: turn ``async def f(ctx)`` into a durable workflow.

Functions register themselves by id so events can start them and interrupted
runs can find their code again after a restart. Re-running the defining cell in
a notebook replaces the registered function, which is what a user expects.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .._errors import ConfigError

# Declaring a workflow loads only what it checks (options, source, lint) and the registry: the engine,
# the step API and asyncio load when a run starts (imported where used below).
from ..engine._present import presenter
from ..engine._registry import registry
from ..flow import BatchEvents, CancelOn, Concurrency, Debounce, Priority, RateLimit, Singleton, Throttle, Timeouts
from ..flow._function_options import (
    Determinism,
    FunctionArgs,
    FunctionOptions,
    OnChange,
    Placement,
    check_placement,
    storable_text,
)
from ._context import Context
from ._source import source_lines

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..engine import Engine, Event, RunHandle, RunState

__all__ = ["Function", "function"]

R = TypeVar("R")
T = TypeVar("T")


def _source_hash(func: Callable[..., Any], source: tuple[list[str], int, str] | None) -> str:
    if source is None:
        from ..engine._executor import callable_hash

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


class _Option(Generic[T]):
    """``fn.<name>`` reads ``fn.options.<name>``: the engine and users read an option on the function itself."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Option[T]: ...
    @overload
    def __get__(self, obj: Function[Any], owner: type) -> T: ...
    def __get__(self, obj: Function[Any] | None, owner: type) -> T | _Option[T]:
        if obj is None:
            return self
        return getattr(obj.options, self.name)  # type: ignore[no-any-return]


class Function(Generic[R]):
    """A durable workflow: ``start`` it, ``run`` it, or let an event trigger it.

    Its options are ``fn.options`` (a frozen :class:`~nbdurable.flow.FunctionOptions`), each also
    readable as ``fn.<option>``. Pass them as ``@nd.function`` takes them, or as ``options=``.
    """

    triggers: _Option[tuple[str, ...]] = _Option()
    retries: _Option[int] = _Option()
    determinism: _Option[Determinism] = _Option()
    on_change: _Option[OnChange] = _Option()
    concurrency: _Option[tuple[Concurrency, ...]] = _Option()
    throttle: _Option[Throttle | None] = _Option()
    rate_limit: _Option[RateLimit | None] = _Option()
    timeouts: _Option[Timeouts | None] = _Option()
    cancel_on: _Option[tuple[CancelOn, ...]] = _Option()
    debounce: _Option[Debounce | None] = _Option()
    priority: _Option[Priority | None] = _Option()
    on: _Option[Placement] = _Option()
    queue: _Option[str] = _Option()
    singleton: _Option[Singleton | None] = _Option()
    batch_events: _Option[BatchEvents | None] = _Option()

    def __init__(
        self,
        func: Callable[[Context], Awaitable[R]],
        *,
        id: str,
        engine: Engine | None = None,
        options: FunctionOptions | None = None,
        **args: Unpack[FunctionArgs],
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise ConfigError(
                f"@nd.function(id={id!r}) needs an async function (async def {getattr(func, '__name__', 'f')}(ctx))"
            )
        if not isinstance(id, str) or not id.strip() or not storable_text(id):
            raise ConfigError(f"@nd.function needs a non-empty string id of valid Unicode text, got {id!r}")
        if options is not None and args:
            raise ConfigError(f"@nd.function(id={id!r}): pass options= or keyword options, not both")
        # Given whole (with_options, or built by hand), they are checked again all the same.
        self.options = options.replace(id) if options is not None else FunctionOptions.parse(id, **args)
        self.on_failure: Function[Any] | None = self._failure_handler(id, engine)
        self.func = func
        self.id = id
        # Function-level retries (an error in the body outside steps). A %%durable cell sets 0: whoever
        # runs it is there to read the error at once.
        self.body_retries = self.options.retries
        self._engine = engine
        # Read once: the code hash and the lint both need it (and finding a def's end is not free).
        source = source_lines(func)
        self.code_hash = _source_hash(func, source)
        self.__doc__ = func.__doc__
        self.__name__ = getattr(func, "__name__", id)
        self.__wrapped__ = func
        if self.options.lint != "off":
            _lint_function(source, id, self.options.lint)

    def _failure_handler(self, id: str, engine: Engine | None) -> Function[Any] | None:
        """``on_failure=`` as a workflow of its own: its runs have their own steps and timeline, and resume by id."""
        handler = self.options.on_failure
        if handler is None:
            return None
        if not inspect.iscoroutinefunction(handler):
            raise ConfigError(
                f"@nd.function(id={id!r}): on_failure= takes an async function (async def handler(ctx)), "
                f"got {handler!r}"
            )
        return Function(
            handler, id=f"{id}/on-failure", retries=self.options.retries, lint=self.options.lint, engine=engine
        )

    def with_options(self, **changes: Unpack[FunctionArgs]) -> Function[R]:
        """A copy of this function (same id and body) with some options changed, checked as ``@nd.function`` does.

        Not registered: register it (``nd.function(**...)``) or start it directly.
        """
        return Function(self.func, id=self.id, engine=self._engine, options=self.options.replace(self.id, **changes))

    def __repr__(self) -> str:
        return f"<nd.function {self.id!r}>"

    @property
    def has_flow_control(self) -> bool:
        return self.options.has_flow_control

    @property
    def first_trigger(self) -> str | None:
        return self.triggers[0] if self.triggers else None

    def triggered_by(self, event_name: str) -> bool:
        from ..engine._events import trigger_matches

        return any(trigger_matches(t, event_name) for t in self.triggers)

    @property
    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        from ..engine._engine import get_engine

        return get_engine()

    def execute(self, state: RunState, event: Event) -> Awaitable[R]:
        """The workflow's body for one run: ``func(ctx)`` with the run's context (what the engine awaits)."""
        from ..engine._events import Event
        from ._logger import RunLogger
        from ._step import Step

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
        where = self.on if on is None else check_placement(on, self.id)
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
    *, id: str | None = None, **options: Unpack[FunctionArgs]
) -> Callable[[Callable[[Context], Awaitable[R]]], Function[R]]: ...


def function(
    func: Callable[[Context], Awaitable[R]] | None = None,
    /,
    *,
    id: str | None = None,
    **options: Unpack[FunctionArgs],
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
        fn = Function(f, id=id or f.__name__, **options)
        registry()[fn.id] = fn
        if fn.on_failure is not None:
            registry()[fn.on_failure.id] = fn.on_failure
        return fn

    if func is not None:
        return wrap(func)
    return wrap
