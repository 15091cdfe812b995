"""The context a workflow function receives: its trigger event, the step API, and who it is."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Annotations only: a Context is made when a run starts, and ``nd.Context`` (read when a workflow
    # is declared, as its parameter's annotation) must not load the engine.
    import logging

    from ..engine import Event
    from ._step import Step

__all__ = ["Context"]


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What ``async def workflow(ctx)`` receives.

    ``attempt`` counts the executions of the body before this one (0 on the first):
    function-level retries after an error in the body, and resumes after a restart.
    ``logger`` stays quiet while journaled steps are replayed, so a resume or retry
    does not repeat old log lines, and speaks again once they are used up.
    ``events`` holds the events of a batch (``nd.BatchEvents``), ``event`` being the
    first; without batching it is ``(event,)``.
    """

    event: Event
    step: Step
    run_id: str
    attempt: int
    logger: logging.LoggerAdapter[Any]
    events: tuple[Event, ...] = ()

    def __post_init__(self) -> None:
        if not self.events:
            object.__setattr__(self, "events", (self.event,))
