"""``ctx.logger``: a run's logger, quiet while journaled steps replay."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import RunState

__all__ = ["RunLogger"]


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
