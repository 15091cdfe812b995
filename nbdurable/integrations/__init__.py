"""nbdurable as the durable engine under agent frameworks people already use.

One module per framework, each importing its framework only when it is itself
imported (``import nbdurable`` never loads any of them):

- :mod:`nbdurable.integrations.pydantic_ai`: ``DurableAgent(agent)`` and the
  ``NbDurability`` capability for Pydantic AI (``pip install 'nbdurable[pydantic-ai]'``).
- :mod:`nbdurable.integrations.openai_agents`: ``NbDurableRunner``, a drop-in for the
  OpenAI Agents SDK's ``Runner`` (``pip install 'nbdurable[openai-agents]'``).
- :mod:`nbdurable.integrations.langgraph`: ``NbDurableSaver``, a LangGraph checkpointer
  backed by the journal, and ``run_graph`` (``pip install 'nbdurable[langgraph]'``).

Each module reaches the engine through the public API (``nd.workflow_step``,
``nd.join_or_start``, ``step.run``, ``step.ai.wrap``, ``step.wait_for_event``);
what it needs beyond that is imported in one place, named ``_internal`` imports.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .._errors import ConfigError

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ConfigError, ImportError):
    """The framework an integration drives is not installed (install the extra the message names)."""


def require(module: str, extra: str, *, note: str = "") -> ModuleType:
    """Import ``module`` or say which nbdurable extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"nbdurable.integrations needs {module!r}, which is not installed: pip install 'nbdurable[{extra}]'"
            + (f" ({note})" if note else "")
        ) from exc
