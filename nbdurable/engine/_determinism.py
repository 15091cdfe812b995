"""Notice, while a run executes, workflow code outside steps that will replay differently.

Clock, random, uuid and environment functions are wrapped once (when the engine is
created: ``nd.configure``). A wrapper costs one context-variable read unless it is called from
workflow code outside a step of a run, so steps are not slowed. Calls from the
standard library, installed packages and nbdurable itself are ignored: only the
user's own code (notebook cells, scripts) is reported, once per call site per run,
as :class:`~nbdurable.ReplayDeterminismWarning` pointing at the user's line.
"""

from __future__ import annotations

import functools
import os
import random
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from .._errors import ReplayDeterminismWarning
from ._runstate import current_run_var, current_step_var
from ._usercode import is_user_file, linted_lines

__all__ = ["install"]

_HINTS = {
    "time": "use step.now() (journaled) or read the clock inside a step",
    "random": "use step.random() (journaled) or draw inside a step",
    "uuid": "use step.uuid() (journaled) or create it inside a step",
    "env": "read it inside a step, or pass it in the event data",
}

_TARGETS: list[tuple[Any, str, str]] = [
    (time, "time", "time"),
    (time, "time_ns", "time"),
    (time, "perf_counter", "time"),
    (time, "monotonic", "time"),
    (random, "random", "random"),
    (random, "randint", "random"),
    (random, "randrange", "random"),
    (random, "uniform", "random"),
    (random, "choice", "random"),
    (random, "choices", "random"),
    (random, "shuffle", "random"),
    (random, "sample", "random"),
    (random, "gauss", "random"),
    (uuid, "uuid1", "uuid"),
    (uuid, "uuid4", "uuid"),
    (os, "urandom", "random"),
    (os, "getenv", "env"),
]

_installed = False


def _report(qualname: str, kind: str) -> None:
    state = current_run_var.get()
    if state is None or current_step_var.get() is not None:
        return
    frame = sys._getframe(2)
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    if not is_user_file(filename):
        return
    key = (filename, lineno, qualname)
    if key in state.reported_sites:
        return
    state.reported_sites.add(key)
    if state.determinism == "off":
        return
    linted = lineno in linted_lines(filename)
    if linted and filename.startswith("<durable-cell "):
        return  # the cell's lint findings, with their fix, are in its output and on its timeline already
    where = _where(filename, lineno)
    text = (
        f"run {state.run_id!r}: {qualname}() called outside a step at {where}; it returns another "
        f"value when the run replays after a restart, so the workflow may take another path. Fix: {_HINTS[kind]}."
    )
    state.add_warning(text)
    state.engine.notify("warning", state.run_id, None, text)
    if not linted:  # else @nd.function's lint warned at this line when the function was defined
        warnings.warn_explicit(
            ReplayDeterminismWarning(text),
            ReplayDeterminismWarning,
            filename,
            lineno,
            module=frame.f_globals.get("__name__") or filename,
            registry=frame.f_globals.setdefault("__warningregistry__", {}),
            module_globals=frame.f_globals,
        )


def _where(filename: str, lineno: int) -> str:
    if filename.startswith("<durable-cell "):
        return f"line {lineno} of %%durable {filename[len('<durable-cell ') : -1]}"
    if filename.startswith("<ipython-input") or os.path.basename(os.path.dirname(filename)).startswith("ipykernel_"):
        return f"line {lineno} of this cell"
    return f"{filename} line {lineno}"


def _wrap(module: Any, name: str, kind: str) -> None:
    original: Callable[..., Any] = getattr(module, name)
    if getattr(original, "__nbdurable_wrapped__", False):
        return
    qualname = f"{module.__name__}.{name}"

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_run_var.get() is not None:
            _report(qualname, kind)
        return original(*args, **kwargs)

    wrapper.__nbdurable_wrapped__ = True  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


def install() -> None:
    """Wrap the watched functions (idempotent). Code that imported them by name earlier is not watched."""
    global _installed
    if _installed:
        return
    _installed = True
    for module, name, kind in _TARGETS:
        _wrap(module, name, kind)
