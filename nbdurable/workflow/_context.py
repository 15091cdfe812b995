"""The context a workflow function receives: its trigger event, the step API, and who it is."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..engine import Event, RunState
from ._step import Step

__all__ = ["Context", "RunLogger"]


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``ctx.logger``: muted while journaled steps replay, so a resume does not repeat old log lines."""

    def __init__(self, state: RunState) -> None:
        super().__init__(logging.getLogger("nbdurable.run"), {"run_id": state.run_id})
        self._state = state

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        # Muted only while journaled steps remain to be reached: a line after the last of them is new.
        st = self._state
        return not (st.replaying and st.unreached) and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self._state.run_id}] {msg}", kwargs


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
