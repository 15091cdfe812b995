"""Where the user's code is: the line a determinism warning should point at, and what was said already.

Replay reports are raised deep inside nbdurable, and ``warnings.warn`` would name
nbdurable's own line (``_step.py ... return await step``). These helpers find the user's
frame instead: on the current stack when the workflow awaits the step directly, else
along the coroutines the run's task is awaiting (steps started under ``gather`` run in
tasks of their own), else the workflow's first line. Frames of nbdurable, the standard
library and installed packages are skipped; notebook cells and scripts are the user's.

``warnings.warn(..., skip_file_prefixes=...)`` (3.12+) only looks at the current stack,
which holds no user frame when a step runs in its own task, so the frame is found here and
given to ``warnings.warn_explicit`` on every Python version.

The static check's findings are remembered by (file, line), so the runtime check does
not repeat advice the linter already gave for the same line.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sys
import traceback
import warnings
from types import CodeType, FrameType
from typing import Any

__all__ = [
    "is_user_file",
    "linted_lines",
    "note_linted",
    "short_traceback",
    "user_frame",
    "user_traceback_text",
    "warn_at_user",
    "workflow_code",
]

# nbdurable's own folder (this module is in nbdurable/engine/): its frames are never the user's.
_package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_asyncio_dir = os.path.dirname(os.path.abspath(asyncio.__file__))
_user_files: dict[str, bool] = {}
# file name -> lines the static check reported (for @nd.function at definition, for cells before they run)
_linted: dict[str, set[int]] = {}


def is_user_file(filename: str) -> bool:
    """A notebook cell, a ``%%durable`` cell or a script: not nbdurable, the standard library or a package."""
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
    return not path.startswith(_library_dirs())


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """The standard library's and installed packages' folders (sysconfig loads on first use, not at import)."""
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(
        os.path.abspath(p) for p in {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")} if p
    )


def user_frame(task: asyncio.Task[Any] | None = None) -> FrameType | None:
    """The innermost frame of user code: on the current stack, else where ``task`` is awaiting.

    The stack is read only up to the event loop: below it are the frames of whoever runs
    the loop (``asyncio.run(main())`` in a script), not of the workflow.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not frame.f_code.co_filename.startswith(_asyncio_dir):
        if is_user_file(frame.f_code.co_filename):
            return frame
        frame = frame.f_back
    return _awaiting_frame(task.get_coro() if task is not None else None)


def _awaiting_frame(awaitable: Any) -> FrameType | None:
    """The deepest user frame along a chain of suspended coroutines (``await a`` inside ``await b`` ...)."""
    found: FrameType | None = None
    for _ in range(100):  # chains are short; a bound keeps an odd object from looping
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None and is_user_file(frame.f_code.co_filename):
            found = frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
        if awaitable is None:
            break
    return found


def warn_at_user(
    message: Warning, *, task: asyncio.Task[Any] | None = None, code: CodeType | None = None
) -> tuple[str, int] | None:
    """Issue ``message`` at the user's line (see user_frame), else at ``code``'s first line; return the place."""
    frame = user_frame(task)
    if frame is not None:
        filename, lineno, module_globals = frame.f_code.co_filename, frame.f_lineno, frame.f_globals
    elif code is not None:
        filename, lineno, module_globals = code.co_filename, code.co_firstlineno, None
    else:
        warnings.warn(message, stacklevel=3)
        return None
    where: dict[str, Any] = {}  # warn_explicit treats module=None as a module, not as "derive it from filename"
    if module_globals is not None:
        where = {
            "module": module_globals.get("__name__") or filename,
            "registry": module_globals.setdefault("__warningregistry__", {}),
            "module_globals": module_globals,
        }
    warnings.warn_explicit(message, type(message), filename, lineno, **where)
    return filename, lineno


def workflow_code(function: object) -> CodeType | None:
    """The code of the user's workflow behind an ``nd.Function`` (for a cell: the cell's own code)."""
    func = getattr(function, "func", None)
    code = getattr(func, "__nbdurable_code__", None) or getattr(func, "__code__", None)
    return code if isinstance(code, CodeType) else None


def note_linted(filename: str, lines: set[int], *, replace: bool = False) -> None:
    """Remember the lines of ``filename`` the static check reported (their advice is given already).

    ``replace`` forgets the file's earlier lines: a cell run again was linted again, whole.
    """
    if replace:
        _linted[filename] = set(lines)
    else:
        _linted.setdefault(filename, set()).update(lines)


def linted_lines(filename: str) -> set[int]:
    return _linted.get(filename, set())


# A frame line of a formatted traceback ("  File "x.py", line 3, in f"); its source lines follow, indented more.
_FRAME = re.compile(r'^  File "(?P<file>.+)", line \d+(?:, in .*)?$')
# What a %%durable cell is rewritten into: the user never wrote it, so no traceback shows it.
_CELL_SHIM = "await __import__('nbdurable.notebook'"


def user_traceback_text(text: str) -> str:
    """A formatted traceback with nbdurable's (and the libraries') frames left out, as IPython hides its own.

    Frames of notebook cells, ``%%durable`` cells and scripts stay, so it ends in the user's code;
    the exception lines and "The above exception..." between chained exceptions stay too. Text
    that is not a traceback comes back unchanged.
    """
    out: list[str] = []
    keep = True
    for line in text.splitlines():
        match = _FRAME.match(line)
        if match:
            keep = is_user_file(match.group("file"))
        elif not line.startswith("    "):
            keep = True  # a header, an exception line or the text between chained exceptions
        if keep:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def short_traceback(exc: BaseException) -> list[str]:
    """The traceback IPython shows for a failed run: the user's frames along the exception's causes, then the error.

    ``exc`` (a RunFailedError or StepError) is raised by nbdurable's machinery; its causes
    hold where the user's code called the step and where the step's own code failed.
    """
    chain: list[BaseException] = []
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen and len(chain) < 20:
        seen.add(id(node))
        chain.append(node)
        node = node.__cause__ if node.__cause__ is not None or node.__suppress_context__ else node.__context__
    frames: list[traceback.FrameSummary] = []
    for link in chain:
        frames += [
            f
            for f in traceback.extract_tb(link.__traceback__)
            if is_user_file(f.filename) and not (f.line or "").startswith(_CELL_SHIM)
        ]
    stored = str(getattr(exc, "traceback", "") or "")
    if not frames and stored:
        # Known only from the journal (a restart since): its traceback text, without nbdurable's frames.
        return [user_traceback_text(stored).rstrip("\n")]
    innermost = chain[-1]
    lines = ["Traceback (most recent call last, nbdurable's frames hidden):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(innermost), innermost)
    if innermost is not exc:
        lines.append(f"\n{type(exc).__name__}: {exc}\n")
    step_id = next((str(getattr(link, "step_id", "")) for link in chain if getattr(link, "step_id", "")), "")
    where = f"open step {step_id!r} on the run's timeline" if step_id else "open the failed step on the run's timeline"
    lines.append(f"(The full traceback, nbdurable's frames included: {where}.)")
    return ["".join(lines).rstrip("\n")]
