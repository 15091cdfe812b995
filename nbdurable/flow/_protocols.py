"""What flow control needs of the layers above it, as Protocols: flow never imports the engine.

The engine implements :class:`FlowHost` (its ``Engine``), :class:`FlowRun` (its
``RunState``) and hands them in; a workflow function is a :class:`FlowSubject`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..journal import Journal, RunRecord, Write
    from ._function_options import FunctionOptions

__all__ = ["FlowHost", "FlowRun", "FlowSubject", "QueuedStep"]


class FlowSubject(Protocol):
    """A workflow function as flow control reads it: its id and its options (``nd.Function`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def options(self) -> FunctionOptions:
        """Its checked options: concurrency, throttle, rate limit, timeouts, triggers..."""


class QueuedStep(Protocol):
    """A step in flight, whose status says "queued" while it waits for a shared Limit."""

    status: str


class FlowRun(Protocol):
    """A run being admitted or holding slots: what flow control reads and sets on it."""

    status: str
    status_reason: str | None
    cancel_requested: bool
    cancel_reason: str
    finish_deadline: float | None
    finish_reason: str

    @property
    def run_id(self) -> str: ...
    @property
    def record(self) -> RunRecord | None: ...
    @property
    def live(self) -> Mapping[str, QueuedStep]: ...

    def poll_cancel(self) -> None:
        """Raise if the run was cancelled (here, by another process, by its timeout) or must stop here."""


class FlowHost(Protocol):
    """The engine, as flow control calls it back: the journal, writes, notices, cancels."""

    @property
    def journal(self) -> Journal: ...
    @property
    def busy_timeout(self) -> float: ...

    async def write(self, *writes: Write) -> None: ...
    def notify(self, kind: str, run_id: str, step_id: str | None = None, text: str | None = None) -> None: ...
    def cancel(self, run_id: str, reason: str = "") -> bool: ...
    def claimed_runs(self) -> list[str]:
        """Runs this process executes under a claim, whose leases the heartbeat renews."""
