"""Flow control: concurrency, throttles, rate limits, timeouts, cancel-on events, debounce, priority and
singletons, event batches and shared limits, enforced through the journal so every process on it shares them.

``_options`` holds the options users declare, ``_function_options`` a function's options as one
checked object, ``_controller`` the FlowController that
admits runs and keeps their slots; it calls the engine back only through the
Protocols of ``_protocols``, never by import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import load
from ._function_options import FunctionArgs, FunctionOptions
from ._options import (
    BatchEvents,
    CancelOn,
    Concurrency,
    Debounce,
    Limit,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    cancel_on_options,
    key_of,
    limits,
)
from ._protocols import FlowHost, FlowRun, FlowSubject

# The controller (asyncio, the journal) loads when the engine starts; the options load with ``@nd.function``.
_LAZY = {"FlowController": "._controller", "lease_ttl": "._controller"}


def __getattr__(name: str) -> Any:
    return load(__name__, _LAZY, name, globals())


if TYPE_CHECKING:
    from ._controller import FlowController, lease_ttl

__all__ = [
    "BatchEvents",
    "CancelOn",
    "Concurrency",
    "Debounce",
    "FlowController",
    "FlowHost",
    "FlowRun",
    "FlowSubject",
    "FunctionArgs",
    "FunctionOptions",
    "Limit",
    "Priority",
    "RateLimit",
    "Singleton",
    "Throttle",
    "Timeouts",
    "cancel_on_options",
    "key_of",
    "lease_ttl",
    "limits",
]
