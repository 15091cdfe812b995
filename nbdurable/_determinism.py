"""Notice, while a run executes, workflow code outside steps that will replay differently.

Clock, random, uuid and environment functions are wrapped once (when the first
run starts). A wrapper costs one context-variable read unless it is called from
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
import sysconfig
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from ._errors import ReplayDeterminismWarning
from ._runstate import current_run_var, current_step_var

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
_package_dir = os.path.dirname(os.path.abspath(__file__))
_library_dirs = tuple(
    os.path.abspath(p)
    for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)


_user_files: dict[str, bool] = {}


def _is_user_file(filename: str) -> bool:
    known = _user_files.get(filename)
    if known is None:
        known = _user_files[filename] = _classify(filename)
    return known


def _classify(filename: str) -> bool:
    if filename.startswith("<"):
        # Notebook cells and %%durable cells; <frozen ...> is the interpreter itself.
        return not filename.startswith("<frozen")
    path = os.path.abspath(filename)
    if path.startswith(_package_dir):
        return False
    return not path.startswith(_library_dirs)


def _report(qualname: str, kind: str) -> None:
    state = current_run_var.get()
    if state is None or current_step_var.get() is not None:
        return
    frame = sys._getframe(2)
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    if not _is_user_file(filename):
        return
    key = (filename, lineno, qualname)
    if key in state.reported_sites:
        return
    state.reported_sites.add(key)
    if state.determinism == "off":
        return
    where = filename if not filename.startswith("<ipython-input") else "this cell"
    text = (
        f"run {state.run_id!r}: {qualname}() called outside a step at {where} line {lineno}; it returns another "
        f"value when the run replays after a restart, so the workflow may take another path. Fix: {_HINTS[kind]}."
    )
    state.warnings.append({"message": text, "step_id": None})
    state.engine.notify("warning", state.run_id, None, text)
    warnings.warn_explicit(ReplayDeterminismWarning(text), ReplayDeterminismWarning, filename, lineno)


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
