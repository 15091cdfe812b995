"""Pieces of step execution below the step API: a callable's code hash, an error's journaled form, backoff.

Shared by the engine (a run's error), the workflow API (``nd.function`` hashes its
code, ``Step`` retries and replays) and anything that executes steps.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random as _random
import sys
import traceback
from typing import Any

from .._redact import redact_text

__all__ = ["backoff_delay", "callable_hash", "error_info", "user_traceback"]

_BACKOFF_BASE = 1.0
_BACKOFF_CAP = 300.0
_jitter = _random.Random()


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about 1s, 2s, 4s... capped at 5 minutes."""
    base: float = min(_BACKOFF_CAP, _BACKOFF_BASE * (2.0**attempt))
    return base * (0.5 + _jitter.random() * 0.5)


def error_info(exc: BaseException) -> dict[str, Any]:
    """The parts of an exception that survive a restart: type name, message, traceback text.

    ``traceback`` keeps the user's frames (nbdurable's own are noise to whoever reads why their
    code failed); ``traceback_full`` is the whole one, for debugging nbdurable. An exception that
    carries ``nd_error_info`` (a failed child run, say) is described by that instead.
    """
    carried = getattr(exc, "nd_error_info", None)
    if isinstance(carried, dict):
        return dict(carried)
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    full = redact_text("".join(traceback.format_exception(cls, exc, exc.__traceback__)))
    user = redact_text(user_traceback(exc))
    info = {"type": name, "message": redact_text(str(exc)), "traceback": user}
    if user != full:
        info["traceback_full"] = full
    return info


_PACKAGE_DIR = os.path.dirname(os.path.abspath(sys.modules[__name__.partition(".")[0]].__file__ or "")) + os.sep


def _ours(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR)


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without nbdurable's own frames (all of them kept if nothing else is left)."""
    te = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    todo = [te]
    while todo:
        part = todo.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        kept = [f for f in part.stack if not _ours(f.filename)]
        if kept and len(kept) < len(part.stack):
            part.stack = traceback.StackSummary.from_list(kept)
        todo.extend(p for p in (part.__cause__, part.__context__) if p is not None)
    return "".join(te.format())


_code_hashes: dict[Any, str] = {}


def _hash_code(code: Any, h: Any) -> None:
    h.update(code.co_code)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            _hash_code(const, h)
        else:
            h.update(repr(const).encode("utf-8", "replace"))
    h.update(repr(code.co_names).encode())


def callable_hash(fn: Any) -> str:
    """A hash of a callable's code, to notice a step whose code changed since it ran."""
    target = getattr(fn, "__func__", fn)
    if hasattr(target, "__wrapped__"):
        try:
            target = inspect.unwrap(target)
        except ValueError:
            pass
    code = getattr(target, "__code__", None)
    if code is None:
        return ""
    cached = _code_hashes.get(code)
    if cached is None:
        h = hashlib.blake2b(digest_size=8)
        _hash_code(code, h)
        cached = _code_hashes[code] = h.hexdigest()
    return cached
