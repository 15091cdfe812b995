"""The module-level calls of ``import nbdurable as nd``: send events, list runs, get one, rerun one.

Each acts on the process's engine (``nd.configure``); runs they start are shown
where the code runs (a notebook cell's timeline) through the engine's presenter.
"""

from __future__ import annotations

from typing import Any

from ..engine import RunHandle, get_engine, presenter

__all__ = ["get_run", "rerun", "runs", "send"]


async def send(name: str, data: dict[str, Any] | None = None, *, id: str | None = None) -> list[RunHandle[Any]]:
    """Send an event: it is journaled, starts a run of each function it triggers, and answers waits.

    Sending the same ``id`` twice starts runs once; the second call returns the
    handles of the runs the first one started.
    """
    handles = await get_engine().send(name, data, id=id)
    for handle in handles:
        presenter().started(handle)
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
    presenter().started(handle)
    return handle
