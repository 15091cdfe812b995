"""The context a workflow function receives: its trigger event, the step API, and who it is."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..engine import Event, RunState
from ._step import Step

__all__ = ["Context", "RunLogger"]


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``ctx.logger``: muted while the run replays, so a resume does not repeat old log lines."""

    def __init__(self, state: RunState) -> None:
        super().__init__(logging.getLogger("nbdurable.run"), {"run_id": state.run_id})
        self._state = state

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return not self._state.replaying and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self._state.run_id}] {msg}", kwargs


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What ``async def workflow(ctx)`` receives.

    ``attempt`` counts how many times this run was resumed before (0 on its first
    execution); ``logger`` stays quiet while the run replays so a resume does not
    repeat old log lines.
    """

    event: Event
    step: Step
    run_id: str
    attempt: int
    logger: logging.LoggerAdapter[Any]
