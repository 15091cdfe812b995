"""The change feed: how surfaces (widget, magics, server) observe runs.

Subscribers get small immutable notices synchronously from the engine; they must
be quick and never raise (a failing subscriber is dropped with a log record, it
cannot break a run). Nothing is built when nobody listens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["STEP_NOTICES", "ChangeFeed", "Notice"]

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


STEP_NOTICES = frozenset({"step_started", "step_finished", "step_retrying", "step_replayed", "stream"})
"""The notices about one step of a run: a subscriber may hold them (``ChangeFeed.hold``); the others always reach it."""


class ChangeFeed:
    """A list of subscribers; ``JournalWriter.notify`` delivers each notice to them (nothing when there are none).

    A subscriber that only redraws (a timeline) can ``hold`` step notices while it has an update
    scheduled, one that will read the run's state when it runs: a long run then builds and
    delivers nothing per step for it. Why: a notice per step cost the live timeline about 2 % of a
    run of trivial steps, for updates it sends at most 4 times a second.
    """

    def __init__(self) -> None:
        # Tuples, replaced on change: notifying (every step) iterates them without copying. Read-only
        # outside this class; the hot paths test them as attributes. ``subscribers`` is everyone (a run
        # keeps what a timeline shows in memory while it is not empty); ``step_subscribers`` those not
        # holding step notices now.
        self.subscribers: tuple[Callable[[Notice], None], ...] = ()
        self.step_subscribers: tuple[Callable[[Notice], None], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.subscribers)

    def subscribe(self, callback: Callable[[Notice], None]) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it."""
        self.subscribers = (*self.subscribers, callback)
        self.step_subscribers = (*self.step_subscribers, callback)

        def unsubscribe() -> None:
            self._remove(callback)

        return unsubscribe

    def _remove(self, callback: Callable[[Notice], None]) -> None:
        self.subscribers = tuple(c for c in self.subscribers if c is not callback)
        self.step_subscribers = tuple(c for c in self.step_subscribers if c is not callback)

    def hold(self, callback: Callable[[Notice], None]) -> None:
        """Stop giving ``callback`` the notices in STEP_NOTICES until :meth:`release`; others still reach it.

        For a subscriber with an update already scheduled that reads the run's state when it runs:
        the step notices in between would change nothing it sends. It must release when that update
        reads the state (or it misses the changes after it).
        """
        self.step_subscribers = tuple(c for c in self.step_subscribers if c is not callback)

    def release(self, callback: Callable[[Notice], None]) -> None:
        """Give ``callback`` step notices again (a no-op if it is not holding them or not subscribed)."""
        if any(c is callback for c in self.subscribers) and not any(c is callback for c in self.step_subscribers):
            self.step_subscribers = (*self.step_subscribers, callback)

    def failed(self, callback: Callable[[Notice], None]) -> None:
        """``callback`` raised (the exception being handled): log it and drop the subscriber."""
        _log.exception("nbdurable: a change-feed subscriber failed and was removed")
        self._remove(callback)
