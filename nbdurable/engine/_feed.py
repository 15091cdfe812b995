"""The change feed: how surfaces (widget, magics, server) observe runs.

Subscribers get small immutable notices synchronously from the engine; they must
be quick and never raise (a failing subscriber is dropped with a log record, it
cannot break a run). Nothing is built when nobody listens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["ChangeFeed", "Notice"]

_log = logging.getLogger("nbdurable")


class Notice(NamedTuple):
    """Something changed: ``kind`` is run_started, run_status, run_finished, step_started, step_finished,
    step_retrying, step_replayed, warning or stream.

    ``record`` is the journal record the change is about, where the engine has one at hand (no read):
    the StepRecord just committed for step_finished, step_retrying (the failed attempt) and the
    step_started of a sleep or wait; the journaled StepRecord for step_replayed; for run_finished the
    run's RunRecord as it ended (status, error, ended_at). Observers (traces) read it; never change it.
    """

    kind: str
    run_id: str
    step_id: str | None = None
    text: str | None = None
    record: Any = None


class ChangeFeed:
    """A list of subscribers; ``publish`` is a no-op when there are none."""

    def __init__(self) -> None:
        # A tuple, replaced on change: publishing (every step) iterates it without copying. Read-only
        # outside this class (subscribe/unsubscribe change it); the hot paths test it as an attribute.
        self.subscribers: tuple[Callable[[Notice], None], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.subscribers)

    def subscribe(self, callback: Callable[[Notice], None]) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it."""
        self.subscribers = (*self.subscribers, callback)

        def unsubscribe() -> None:
            self._remove(callback)

        return unsubscribe

    def _remove(self, callback: Callable[[Notice], None]) -> None:
        self.subscribers = tuple(c for c in self.subscribers if c is not callback)

    def publish(self, notice: Notice) -> None:
        for callback in self.subscribers:
            try:
                callback(notice)
            except Exception:
                _log.exception("nbdurable: a change-feed subscriber failed and was removed")
                self._remove(callback)
