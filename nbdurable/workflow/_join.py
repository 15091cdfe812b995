"""Durable code that is not handed ``step``: framework integrations and helpers deep in a call stack.

An agent framework calls back into nbdurable from inside its own loop, where neither
``ctx`` nor a cell's ``step`` is in reach. These functions find the run executing
here instead, so the same code works inside a ``%%durable`` cell, inside an
``@nd.function``, or on its own (then it becomes a run of its own).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConfigError
from .._redact import redact_text
from ..engine import get_engine, presenter
from ..engine._runstate import RunState, current_run, current_step

if TYPE_CHECKING:
    from ._context import Context
    from ._function import Function
    from ._step import Step

__all__ = ["join_or_start", "stream_text", "workflow_step"]

T = TypeVar("T")

_steps: weakref.WeakKeyDictionary[RunState, Step] = weakref.WeakKeyDictionary()
_functions: dict[tuple[str, int], Function[Any]] = {}
# What join_or_start runs, by run id, while that run executes here: (body, journal_as, box for the value).
_bodies: dict[str, tuple[Callable[[Step], Awaitable[Any]], Callable[[Any], Any] | None, list[Any]]] = {}


def workflow_step() -> Step | None:
    """The step API of the run whose workflow code is executing now (a cell's ``step``, ``ctx.step``).

    None outside a run, and inside a step's own code (a step cannot contain steps:
    what it does is journaled as its one result).
    """
    st = current_run()
    if st is None or st.outcome is not None or current_step() is not None:
        return None
    step = _steps.get(st)
    if step is None:
        from ._step import Step

        step = _steps[st] = Step(st)
    return step


def stream_text(text: str) -> None:
    """Show ``text`` after the live output of the step running now, as streamed model tokens are shown.

    For a step that produces its result bit by bit (a streamed model answer, a long
    computation's progress): the timeline shows it as it arrives; nothing of it is
    journaled (the step's result is). Does nothing outside a step.
    """
    info = current_step()
    st = current_run()
    if info is None or st is None or st.run_id != info.run_id or not text:
        return
    st.stream(info.step_id, redact_text(text))


async def _workflow(ctx: Context) -> Any:
    entry = _bodies.get(ctx.run_id)
    if entry is None:
        raise ConfigError(
            f"run {ctx.run_id!r} was started by nd.join_or_start (an agent framework integration): resume it by "
            "calling the same code again with the same run_id, not with %durable resume or nd.get_run().resume()."
        )
    body, journal_as, box = entry
    value = await body(ctx.step)
    box.append(value)
    return value if journal_as is None else journal_as(value)


def _function(function_id: str, retries: int) -> Function[Any]:
    function = _functions.get((function_id, retries))
    if function is None:
        from ._function import Function

        # Not registered: its body lives in the caller, so only the caller can resume it (see _workflow).
        function = _functions[(function_id, retries)] = Function(_workflow, id=function_id, retries=retries, lint="off")
        function.body_retries = 0  # the framework's own loop is the body: its errors are its to retry
    return function


async def join_or_start(
    body: Callable[[Step], Awaitable[T]],
    *,
    function_id: str,
    run_id: str | None = None,
    data: dict[str, Any] | None = None,
    journal_as: Callable[[T], Any] | None = None,
    retries: int = 3,
) -> T:
    """Run ``body(step)`` as part of the run executing here, or, when there is none, as a run of its own.

    Inside a ``%%durable`` cell or an ``@nd.function`` the steps ``body`` takes become
    that run's steps (``run_id`` is then ignored). Elsewhere a run of ``function_id``
    is started with ``run_id`` (a new id when None); calling again with the same
    ``run_id`` resumes it (completed steps replay, the rest runs), and a run that
    completed is executed again with every step replayed, so the caller gets
    ``body``'s live return value either way. ``journal_as`` turns that value into
    what the journal keeps as the run's result (default: the value itself);
    ``data`` is the run's event data, ``retries`` its steps' default retries.
    """
    step = workflow_step()
    if step is not None:
        return await body(step)
    # Outside a run, or inside a step's own code (whose run cannot hold more steps): a run of its own.
    run_id = run_id or uuid.uuid4().hex
    if run_id in _bodies:
        raise ConfigError(
            f"run {run_id!r} is already executing in this process; await that call instead of starting it twice."
        )

    box: list[T] = []
    _bodies[run_id] = (body, journal_as, box)
    try:
        handle = get_engine().start(_function(function_id, retries), data=data, run_id=run_id, reexecute=True)
        presenter().started(handle)
        value = await handle.result()
    finally:
        _bodies.pop(run_id, None)
    return box[0] if box else value
