"""What users need to test their own durable workflows.

- :class:`Kernel`: a real Jupyter kernel to run cells in, kill with SIGKILL and
  replace, for crash-and-resume tests of notebooks.
- :func:`run_notebook_with_crash`: run a notebook, kill its kernel part-way
  through a durable cell, run it again, and report what replayed and what ran.
- :class:`ScriptedLLMServer`: a real HTTP server on loopback speaking OpenAI's
  and Anthropic's wire formats, answering from a script and counting requests.
- :func:`memory_engine`: an engine over an in-memory journal for fast unit tests.
"""

from __future__ import annotations

from typing import Any

from ..engine._engine import Engine
from ..journal._memory import MemoryJournal

__all__ = [
    "Kernel",
    "NotebookCrashReport",
    "RecordedRequest",
    "ScriptedError",
    "ScriptedLLMServer",
    "ToolCall",
    "Turn",
    "error",
    "memory_engine",
    "reply",
    "run_notebook_with_crash",
    "tool_call",
]
_LLM = {"RecordedRequest", "ScriptedError", "ScriptedLLMServer", "ToolCall", "Turn", "error", "reply", "tool_call"}


def memory_engine() -> Engine:
    """Make an in-memory journal the process's journal (nothing touches disk) and return its engine."""
    from ..engine._engine import configure

    return configure(MemoryJournal())


def __getattr__(name: str) -> Any:
    # Each helper pulls in heavy optional dependencies (jupyter_client, http.server): load on use.
    if name == "Kernel":
        from ._kernel import Kernel

        return Kernel
    if name in ("NotebookCrashReport", "run_notebook_with_crash"):
        from . import _notebook

        return getattr(_notebook, name)
    if name in _LLM:
        from . import _llm_server

        return getattr(_llm_server, name)
    raise AttributeError(f"module 'nbdurable.testing' has no attribute {name!r}")
