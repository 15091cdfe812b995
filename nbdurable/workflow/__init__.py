"""The workflow API: what a user's workflow code calls, above the engine.

``_function`` (``nd.function`` / ``Function``: a durable workflow, its options, its
body for the engine), ``_context`` (``Context``, ``ctx.logger``), ``_step`` (``Step``:
``step.run``, ``sleep``, ``wait_for_event``, ``invoke``, journaled values),
``_ai_step`` (``step.ai``), ``_join`` (``nd.workflow_step``, ``nd.join_or_start``,
``nd.stream_text`` for code that is not handed ``step``) and ``_api`` (``nd.send``,
``nd.runs``, ``nd.get_run``, ``nd.rerun``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import load
from ._context import Context
from ._function import Function, function

# What a run calls loads with the run (the engine, asyncio); declaring a workflow needs only the two above.
_LAZY = {
    **dict.fromkeys(("get_run", "rerun", "runs", "send"), "._api"),
    **dict.fromkeys(("join_or_start", "stream_text", "workflow_step"), "._join"),
    "Step": "._step",
}


def __getattr__(name: str) -> Any:
    return load(__name__, _LAZY, name, globals())


if TYPE_CHECKING:
    from ._api import get_run, rerun, runs, send
    from ._join import join_or_start, stream_text, workflow_step
    from ._step import Step

__all__ = [
    "Context",
    "Function",
    "Step",
    "function",
    "get_run",
    "join_or_start",
    "rerun",
    "runs",
    "send",
    "stream_text",
    "workflow_step",
]
