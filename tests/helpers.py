"""Helpers shared by the engine, step, run and flow tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from nbdurable.engine import _engine as engine_module


def reset_engine() -> None:
    """Close and forget the process engine, so no test sees another test's journal or runs."""
    engine = engine_module._default
    if engine is not None:
        engine.journal.close()
    engine_module._default = None


class CrashError(nd.NonRetriableError):
    """Ends the first execution of a workflow, so the next one replays what it journaled.

    Non-retriable: raised in the body it fails the run at once, without function-level retries.
    """


def restart(path: Path) -> nd.Engine:
    """A new engine on the same file, as after a kernel restart."""
    return nd.configure(path, poll_interval=0.02)


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s")
        await asyncio.sleep(0.005)


async def interrupt(run_id: str) -> None:
    """Stop a run part-way, as Ctrl-C or a dying kernel would: it is left interrupted and resumable."""
    handle = nd.get_run(run_id)
    assert nd.get_engine().interrupt(run_id) is True
    with pytest.raises(nd.RunInterruptedError):
        await handle.result()
    assert nd.get_run(run_id).status == "interrupted"


def journal() -> nd.Journal:
    return nd.get_engine().journal


def count_type_hints(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record each object whose annotations nbdurable resolves (``typing.get_type_hints`` as ``_serde`` calls it).

    Replay must not resolve a step function's return type per step: tests count the resolutions.
    """
    from nbdurable.engine import _serde

    calls: list[object] = []
    real = _serde.typing.get_type_hints

    def counting(obj: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(_serde.typing, "get_type_hints", counting)
    return calls
