"""The context a workflow function receives: its trigger event, the step API, and who it is."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ._events import Event
from ._step import Step

__all__ = ["Context"]


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
