"""nbdurable: durable execution for Jupyter notebooks.

Steps of a workflow are checkpointed to a journal (a local SQLite file, or a
PostgreSQL database shared by workers on many machines); run the workflow again
after a crash or kernel restart and finished steps replay from the journal while
the rest runs. ``%load_ext nbdurable`` adds the ``%%durable`` cell.

This module is the public API: every name in ``__all__``, re-exported from the
layers below it (docs/architecture.md), and the place they are put together (it
installs the notebook's presenter for the engine). Nothing in nbdurable imports it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ._about import __version__
from ._duration import parse_duration
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
    NestedStepError,
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
from .engine._present import set_presenter as _set_presenter
from .flow import (
    BatchEvents,
    CancelOn,
    Concurrency,
    Debounce,
    FunctionOptions,
    Limit,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)
from .workflow import Context, Function, function

__all__ = [
    "BatchEvents",
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
    "FunctionOptions",
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
    "NestedStepError",
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
    "Singleton",
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


class _NotebookTimeline:
    """The presenter ``import nbdurable`` installs: a run started from a notebook cell shows its live timeline.

    This package is where the layers are put together: the engine and the workflow
    API call a presenter and know nothing of notebooks; the notebook surface loads
    only inside a Jupyter kernel, when there is something to show.
    """

    def started(self, handle: RunHandle[Any]) -> None:
        if "ipykernel" not in sys.modules:
            return  # a script, a test, the CLI: nothing to show, and nothing of the notebook is loaded
        from .notebook import maybe_display

        maybe_display(handle)

    def show(self, handle: RunHandle[Any]) -> Any:
        from .notebook import display_run

        return display_run(handle)


_set_presenter(_NotebookTimeline())


def _render_traceback_(self: BaseException) -> list[str]:
    """What IPython shows for a failed run or step: the user's frames only, ending in the user's code.

    IPython calls it instead of printing its own traceback (it hides its own frames the same way);
    the full one stays on the run's timeline. Set here, above the layers: the error tree is the base
    and knows nothing of where user code is.
    """
    from .engine._usercode import short_traceback

    return short_traceback(self)


RunFailedError._render_traceback_ = _render_traceback_  # type: ignore[attr-defined]
StepError._render_traceback_ = _render_traceback_  # type: ignore[attr-defined]

_LAZY = {
    # What runs and reads runs loads when first used: declaring a workflow (`import nbdurable` and
    # `@nd.function`) needs none of it, so neither the engine, the journal nor asyncio load then.
    **dict.fromkeys(
        ("Engine", "Event", "RunHandle", "StepInfo", "StepView", "configure", "current_step", "get_engine"),
        ".engine",
    ),
    "EventLimits": ".engine._events",
    "validate_event": ".engine._events",
    "register_type": ".engine._serde",
    **dict.fromkeys(
        ("EventRecord", "Journal", "MemoryJournal", "RunRecord", "SQLiteJournal", "StepRecord", "StepSummary"),
        ".journal",
    ),
    **dict.fromkeys(
        ("Step", "get_run", "join_or_start", "rerun", "runs", "send", "stream_text", "workflow_step"), ".workflow"
    ),
    "Finding": ".linter",
    "lint": ".linter",
    # PostgresJournal imports psycopg (the postgres extra): only when asked for.
    "PostgresJournal": ".journal._postgres",
    # Runs as data: pandas is imported on the first frame, never by `import nbdurable`.
    "Comparison": ".analysis",
    "compare": ".analysis",
    "runs_frame": ".analysis",
    "steps_frame": ".analysis",
}


# Reading one of these means runs come next (an engine is configured or made).
_RUNS_NEXT = frozenset({"configure", "get_engine", "Engine"})


def __getattr__(name: str) -> Any:
    # Heavier parts load on first use so `import nbdurable` (run at every %load_ext) stays fast.
    if name in _LAZY:
        import importlib

        if name in _RUNS_NEXT:
            # Runs are about to start: what executes their bodies loads now, not inside the first run.
            for needed in (".workflow._step", ".workflow._logger"):
                importlib.import_module(needed, __name__)
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
    from .analysis import Comparison, compare, runs_frame, steps_frame
    from .engine import Engine, Event, RunHandle, StepInfo, StepView, configure, current_step, get_engine
    from .engine._events import EventLimits, validate_event
    from .engine._serde import register_type
    from .journal import EventRecord, Journal, MemoryJournal, RunRecord, SQLiteJournal, StepRecord, StepSummary
    from .journal._postgres import PostgresJournal
    from .linter import Finding, lint
    from .workflow import Step, get_run, join_or_start, rerun, runs, send, stream_text, workflow_step


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension is, for ``jupyter labextension develop``."""
    return [{"src": "labextension", "dest": "nbdurable"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (the REST API and live feed of runs), found by ``jupyter server``."""
    from .server import NbDurable

    return [{"module": "nbdurable.server", "app": NbDurable}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbdurable``: register the magics."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext nbdurable``: remove what ``%load_ext`` added."""
    from .notebook import unload_ipython_extension as unload

    unload(ipython)
