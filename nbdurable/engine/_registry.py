"""What the engine needs of a workflow function, and the functions defined in this process by id.

The engine never imports the workflow API: a function is anything that satisfies
:class:`Workflow` (``nd.Function`` does), and the engine finds one by id in
:func:`registry` (where ``@nd.function`` and ``%%durable`` put theirs) to resume
a run, start one for an event, or decode a result as the function declares it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..flow import FlowSubject

if TYPE_CHECKING:
    from ._events import Event
    from ._runstate import RunState

__all__ = ["Workflow", "registry"]


class Workflow(FlowSubject, Protocol):
    """A durable workflow function as the engine runs it (``nd.Function`` is one).

    Its options are ``options`` (:class:`~nbdurable.flow.FlowSubject`), one frozen
    :class:`~nbdurable.flow.FunctionOptions`: the engine reads every option there, so an option
    added to it needs nothing here.
    """

    @property
    def func(self) -> Callable[..., Awaitable[Any]]:
        """The user's function: its return annotation and module say how the result is stored."""

    @property
    def code_hash(self) -> str: ...
    @property
    def first_trigger(self) -> str | None: ...
    @property
    def has_flow_control(self) -> bool: ...
    @property
    def body_retries(self) -> int:
        """Function-level retries: how many times an error in the body outside steps executes it again."""

    @property
    def on_failure(self) -> Workflow | None:
        """The workflow started as a run of its own when a run fails for good (None: nothing)."""

    def triggered_by(self, event_name: str) -> bool:
        """Whether an event of this name starts a run of the function."""

    def execute(self, state: RunState, event: Event) -> Awaitable[Any]:
        """Run the workflow's body for the run ``state`` (triggered by ``event``): the engine awaits it."""


_registry: dict[str, Workflow] = {}


def registry() -> dict[str, Workflow]:
    """Functions defined in this process, by id."""
    return _registry
