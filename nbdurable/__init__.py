"""nbdurable: durable execution for Jupyter notebooks.

Steps of a workflow are checkpointed to a journal (a local SQLite file, or a
PostgreSQL database shared by workers on many machines); run the workflow again
after a crash or kernel restart and finished steps replay from the journal while
the rest runs. ``%load_ext nbdurable`` adds the ``%%durable`` cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._context import Context
from ._duration import parse_duration
from ._engine import Engine, configure, get_engine
from ._errors import (
    ClaimLostError,
    ConfigError,
    ExpressionError,
    FunctionNotFoundError,
    InvalidEventError,
    InvokeTimeoutError,
    JournalBusyError,
    JournalCorruptError,
    JournalError,
    JournalFullError,
    JournalPermissionError,
    JournalReadOnlyError,
    JournalRecordError,
    JournalUnavailableError,
    JournalVersionError,
    LintError,
    NbDurableError,
    NonDeterminismError,
    NonRetriableError,
    ReplayDeterminismWarning,
    RetryAfterError,
    RunCancelledError,
    RunFailedError,
    RunInterruptedError,
    RunOwnedElsewhereError,
    SerializationError,
    SerializationWarning,
    StepError,
    UntrustedSourceError,
)
from ._events import Event, EventLimits, validate_event
from ._flow import CancelOn, Concurrency, Debounce, Limit, Priority, RateLimit, Throttle, Timeouts
from ._function import Function, function
from ._join import join_or_start, stream_text, workflow_step
from ._journal import EventRecord, Journal, RunRecord, StepRecord, StepSummary
from ._memory import MemoryJournal
from ._run import RunHandle, StepView
from ._runstate import StepInfo, current_step
from ._serde import register_type
from ._sqlite import SQLiteJournal
from ._step import Step

try:
    from ._version import __version__  # written by the build from labextension/package.json
except ImportError:  # pragma: no cover - a source tree that was never built or installed
    __version__ = "0+unknown"

__all__ = [
    "CancelOn",
    "ClaimLostError",
    "Comparison",
    "Concurrency",
    "ConfigError",
    "Context",
    "Debounce",
    "Engine",
    "Event",
    "EventLimits",
    "EventRecord",
    "ExpressionError",
    "Finding",
    "Function",
    "FunctionNotFoundError",
    "InvalidEventError",
    "InvokeTimeoutError",
    "Journal",
    "JournalBusyError",
    "JournalCorruptError",
    "JournalError",
    "JournalFullError",
    "JournalPermissionError",
    "JournalReadOnlyError",
    "JournalRecordError",
    "JournalUnavailableError",
    "JournalVersionError",
    "Limit",
    "LintError",
    "MemoryJournal",
    "NbDurableError",
    "NonDeterminismError",
    "NonRetriableError",
    "PostgresJournal",
    "Priority",
    "RateLimit",
    "ReplayDeterminismWarning",
    "RetryAfterError",
    "RunCancelledError",
    "RunFailedError",
    "RunHandle",
    "RunInterruptedError",
    "RunOwnedElsewhereError",
    "RunRecord",
    "SQLiteJournal",
    "SerializationError",
    "SerializationWarning",
    "Step",
    "StepError",
    "StepInfo",
    "StepRecord",
    "StepSummary",
    "StepView",
    "Throttle",
    "Timeouts",
    "UntrustedSourceError",
    "__version__",
    "compare",
    "configure",
    "current_step",
    "function",
    "get_engine",
    "get_run",
    "join_or_start",
    "lint",
    "parse_duration",
    "register_type",
    "rerun",
    "runs",
    "runs_frame",
    "send",
    "steps_frame",
    "stream_text",
    "validate_event",
    "workflow_step",
]


async def send(name: str, data: dict[str, Any] | None = None, *, id: str | None = None) -> list[RunHandle[Any]]:
    """Send an event: it is journaled, starts a run of each function it triggers, and answers waits.

    Sending the same ``id`` twice starts runs once; the second call returns the
    handles of the runs the first one started.
    """
    handles = await get_engine().send(name, data, id=id)
    from ._display import maybe_display

    for handle in handles:
        maybe_display(handle)
    return handles


def runs(*, status: str | None = None, function_id: str | None = None, limit: int | None = 100) -> list[RunHandle[Any]]:
    """Runs in the journal, newest first, optionally filtered by status or function id."""
    return get_engine().runs(status=status, function_id=function_id, limit=limit)


def get_run(run_id: str) -> RunHandle[Any]:
    """The handle of one run from the journal (ConfigError if there is none with that id)."""
    return get_engine().handle(run_id)


def rerun(run_id: str, *, from_step: str) -> RunHandle[Any]:
    """A new run that reuses ``run_id``'s journal before ``from_step`` and runs that step and the rest again.

    The old run stays in the journal untouched (time travel). Needs a running event
    loop (a notebook cell or async code) and the run's function defined here.
    """
    handle = get_engine().rerun(run_id, from_step)
    from ._display import maybe_display

    maybe_display(handle)
    return handle


_LAZY = {
    "Finding": ".linter",
    "lint": ".linter",
    # PostgresJournal imports psycopg (the postgres extra): only when asked for.
    "PostgresJournal": "._postgres",
    # Runs as data: pandas is imported on the first frame, never by `import nbdurable`.
    "Comparison": ".analysis",
    "compare": ".analysis",
    "runs_frame": ".analysis",
    "steps_frame": ".analysis",
}


def __getattr__(name: str) -> Any:
    # Heavier parts load on first use so `import nbdurable` (run at every %load_ext) stays fast.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in ("ai", "agent", "testing"):
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nbdurable' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"ai", "agent", "testing"})


if TYPE_CHECKING:
    from ._postgres import PostgresJournal
    from .analysis import Comparison, compare, runs_frame, steps_frame
    from .linter import Finding, lint


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension is, for ``jupyter labextension develop``."""
    return [{"src": "labextension", "dest": "nbdurable"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (the REST API and live feed of runs), found by ``jupyter server``."""
    from .server import NbDurable

    return [{"module": "nbdurable.server", "app": NbDurable}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbdurable``: register the magics."""
    from ._magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext nbdurable``: remove what ``%load_ext`` added."""
    from ._magics import unload_ipython_extension as unload

    unload(ipython)
