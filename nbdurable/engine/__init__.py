"""The engine: runs over one journal, and everything below the workflow API that executes them.

``_engine`` (Engine: starting, claiming, resuming, finishing, cancelling and
forking runs, events that start runs; built on ``_waits``, durable sleeps, event
waits and cancellation checks, and ``_writer``, the write queue and group commit),
``_runstate`` (one executing run: replay lookups, divergence
checks, live steps), ``_handle`` (RunHandle, a run as a reader sees it),
``_registry`` (the Workflow protocol the engine runs, functions by id),
``_present`` (how a run is shown: a presenter handed down from above),
``_executor`` (code hashes, error info, backoff), ``_events``, ``_feed``,
``_serde``/``_roundtrip`` (values to journal text and back), ``_determinism`` and
``_usercode`` (runtime determinism checks at the user's line).

The engine imports nothing of the workflow API, the timeline or the notebook:
what it needs from above comes in as a Protocol or a callable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import load
from ._present import Presenter, presenter, set_presenter
from ._registry import Workflow, registry

# Loaded on first use: declaring a workflow (``@nd.function``) needs only the registry and the
# presenter; the engine and asyncio load when a run starts.
_LAZY = {
    "Engine": "._engine",
    "configure": "._engine",
    "get_engine": "._engine",
    "Event": "._events",
    "Notice": "._feed",
    "RunHandle": "._handle",
    "StepView": "._handle",
    "effective_status": "._handle",
    "RunState": "._runstate",
    "StepInfo": "._runstate",
    "current_step": "._runstate",
}


def __getattr__(name: str) -> Any:
    return load(__name__, _LAZY, name, globals())


if TYPE_CHECKING:
    from ._engine import Engine, configure, get_engine
    from ._events import Event
    from ._feed import Notice
    from ._handle import RunHandle, StepView, effective_status
    from ._runstate import RunState, StepInfo, current_step

__all__ = [
    "Engine",
    "Event",
    "Notice",
    "Presenter",
    "RunHandle",
    "RunState",
    "StepInfo",
    "StepView",
    "Workflow",
    "configure",
    "current_step",
    "effective_status",
    "get_engine",
    "presenter",
    "registry",
    "set_presenter",
]
