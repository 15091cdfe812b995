"""Durable time and events for the runs executing here: cancellation checks, sleeps, event waits.

A layer of :class:`~nbdurable.Engine` over the write queue. Each wait sleeps on the
run's wake event, woken by a cancel or a new event here, and re-checks the journal's
change token (cheap) so a cancel or an event from another process is seen too. A
journal that announces changes (PostgreSQL) wakes them at once; polling is then only
a slow fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from time import time as _clock
from typing import TYPE_CHECKING, Any

from .._errors import ClaimLostError, ExpressionError
from ..journal import EventRecord
from ..journal._protocol import FINAL_STATUSES
from ._events import EventLimits, event_problem
from ._handle import effective_status
from ._runstate import RunState
from ._writer import JournalWriter, _log

if TYPE_CHECKING:
    from ..expr import Expression
    from ..flow import FlowController

__all__ = ["SLOW_POLL", "Waits"]

_SCAN_SLICE = 0.005  # seconds a wait scans candidate events before letting other tasks run
# On a journal that announces changes (PostgreSQL), waits, cancels and remote runs are woken by its
# notifications; polling remains only as a slow fallback, in case an announcement never arrives.
SLOW_POLL = 5.0


class Waits(JournalWriter):
    """Cancellation checks, durable sleeps, event waits, the journal's announcements (``Engine`` sets the fields)."""

    poll_interval: float
    event_limits: EventLimits
    flow: FlowController
    # Journals that announce what other processes change (PostgreSQL's LISTEN/NOTIFY) wake this engine.
    notifying: bool
    _loop: asyncio.AbstractEventLoop | None
    _unsubscribe: Callable[[], None] | None
    _remote: dict[str, list[asyncio.Event]]  # run id -> handles waiting for it (it runs elsewhere)
    # Called on the loop with each journal notice (kind, key): workers learn of new work this way.
    notice_hooks: list[Callable[[str, str], None]]
    # Notices heard since the loop last took them (one wake-up of the loop per burst), and whether a
    # take is scheduled; set up by ``listen``.
    _heard: list[tuple[str, str]] | None = None
    _take_scheduled = False
    # Why this engine follows runs executing elsewhere (the journal's runs channel): timelines shown here
    # (``follow``: run id -> how many); handles waiting in ``_remote`` count too. The journal's unfollow of
    # each run followed (set up by ``_follow_runs``).
    _followed: dict[str, int]
    _unfollows: dict[str, Callable[[], None]] | None = None

    def _pulse(self, st: RunState) -> None:
        """Wake everything in ``st`` that waits (sleeps, waits), each re-checks its condition."""
        old = st.wake
        st.wake = asyncio.Event()
        old.set()

    def poll_cancel(self, st: RunState) -> None:
        """Raise RunCancelledError if the run was cancelled here, by another process, or by its finish timeout.

        Called before every new step and while queued, sleeping or waiting: one ``change_token`` (a
        ``PRAGMA data_version``, about a microsecond); the run is re-read only when another
        connection committed. A run that must stop here (its journal failed, another process
        claimed it) raises that instead, so no new step starts even if workflow code swallowed it.
        """
        if st.halt is not None:
            raise st.halt
        if st.finish_deadline is not None and _clock() > st.finish_deadline and not st.cancel_requested:
            st.cancel_requested = True
            st.cancel_reason = st.finish_reason
        token = self.journal.change_token()
        now = _clock()
        if token != st.change_token or (self.notifying and now - st.checked_at > SLOW_POLL):
            st.change_token = token
            st.checked_at = now
            rec = self.journal.get_run(st.run_id)
            if rec is not None and st.epoch and rec.epoch != st.epoch:
                raise self._refuse(st.run_id, ClaimLostError("", run_ids=(st.run_id,), owners={st.run_id: rec.owner}))
            if rec is not None and rec.status == "cancelled":
                st.cancel_requested = True
                st.cancel_reason = rec.status_reason or "cancelled from another process"
        st.check_cancelled()

    async def sleep_until(self, st: RunState, deadline: float) -> None:
        while True:
            st.check_cancelled()
            remaining = deadline - _clock()
            if remaining <= 0:
                return
            wake = st.wake
            try:
                await asyncio.wait_for(wake.wait(), timeout=min(remaining, 1.0))
            except asyncio.TimeoutError:
                pass
            self.poll_cancel(st)

    async def wait_for_event(
        self, st: RunState, name: str, expression: Expression | None, trigger: dict[str, Any], deadline: float
    ) -> EventRecord | None:
        scanned = st.record.event_seq if st.record is not None else 0
        while True:
            st.check_cancelled()
            wake = st.wake
            while True:
                batch = self.journal.events_after(name, scanned, limit=200)
                pause_at = time.perf_counter() + _SCAN_SLICE
                for cand in batch:
                    scanned = cand.seq
                    if cand.seq in st.consumed_seqs or cand.seq in st.unusable_seqs:
                        continue
                    if expression is None or self._event_matches(st, name, expression, trigger, cand):
                        # Checked only once it matches: the full check walks the data, and an event
                        # that does not match cannot harm the run.
                        if self._unusable(st, cand):
                            continue
                        return cand
                    if time.perf_counter() > pause_at:
                        # Each evaluation is cost-bounded; a long scan still lets other tasks run between them.
                        await asyncio.sleep(0)
                        pause_at = time.perf_counter() + _SCAN_SLICE
                if len(batch) < 200:
                    break
            remaining = deadline - _clock()
            if remaining <= 0:
                return None
            poll = SLOW_POLL if self.notifying else self.poll_interval  # announced events wake it sooner
            try:
                await asyncio.wait_for(wake.wait(), timeout=min(remaining, poll))
            except asyncio.TimeoutError:
                pass
            self.poll_cancel(st)

    def _event_matches(
        self, st: RunState, name: str, expression: Expression, trigger: dict[str, Any], cand: EventRecord
    ) -> bool:
        """Whether a candidate event matches a wait's if_exp; one that makes it go over its limits is skipped."""
        candidate = {"name": cand.name, "data": cand.data, "id": cand.event_id, "ts": cand.ts}
        try:
            return expression.matches({"event": trigger, "async": candidate})
        except ExpressionError as exc:
            # Failing the run would let anyone who can send an event poison every waiting run.
            text = f"run {st.run_id!r}: events {name!r} on which if_exp goes over its limits are skipped: {exc}"
            if not any(w.get("message") == text for w in st.warnings):
                st.add_warning(text)
                self.notify("warning", st.run_id, None, text)
                _log.warning("%s (first: event %s)", text, cand.event_id)
            return False

    def _unusable(self, st: RunState, ev: EventRecord) -> bool:
        """Whether a journaled event cannot be used (it would fail the run that took it): then warn once, skip it.

        Events are checked at the door, but a journal may hold some written by an older release or
        another tool. Taking one would fail the wait's commit on every resume, so the wait passes it by
        and the run's timeline says so.
        """
        problem = event_problem(ev.name, ev.data, ev.event_id, self.event_limits)
        if problem is None:
            return False
        st.unusable_seqs.add(ev.seq)
        text = (
            f"{st.where()}: skipped event {ev.name!r} (seq {ev.seq}, id {ev.event_id!r}) from the journal: "
            f"{problem}. It was not sent through nbdurable's checks (an older release or another tool wrote it); "
            "send a valid event to go on."
        )
        st.add_warning(text)
        self.notify("warning", st.run_id, None, text)
        _log.warning("nbdurable: %s", text)
        return True

    # -- notifications from the journal ---------------------------------------------------------------

    def listen(self) -> None:
        """Follow the journal's announcements on the running loop (a no-op for journals that do not make any)."""
        if not self.notifying:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._take_scheduled = False  # a take scheduled on a loop that ended never ran
            if self._heard:
                self._take_scheduled = True
                loop.call_soon(self._take_notices)
        if self._unsubscribe is not None:
            return

        heard: list[tuple[str, str]] = []
        self._heard = heard

        def on_notice(kind: str, key: str) -> None:  # on the journal's listener thread
            heard.append((kind, key))
            loop = self._loop
            if self._take_scheduled or loop is None or loop.is_closed():
                return
            self._take_scheduled = True  # a burst of notices wakes the loop once
            try:
                loop.call_soon_threadsafe(self._take_notices)
            except RuntimeError:
                pass  # the loop closed meanwhile

        self._unsubscribe = self.journal.subscribe(on_notice)  # type: ignore[attr-defined]

    def _take_notices(self) -> None:
        """Handle the notices heard since the last take, each distinct one once (on the loop)."""
        self._take_scheduled = False
        heard = self._heard
        if not heard:
            return
        # Slicing and deleting a list are each atomic under the GIL: what the listener appends meanwhile
        # stays for the next take (which its append scheduled, the flag being cleared first).
        n = len(heard)
        taken = heard[:n]
        del heard[:n]
        for kind, key in dict.fromkeys(taken):
            self._on_notice(kind, key)

    def _on_notice(self, kind: str, key: str) -> None:
        """What another process changed: wake what waits for it here, and tell timelines of runs executing there."""
        if kind in ("reconnect", "following"):  # announcements may have been missed: everything looks again
            for st in list(self.active.values()):
                self._pulse(st)
            for waiting in self._remote.values():
                for ev in waiting:
                    ev.set()
            for run_id in list(self._followed):
                if run_id not in self.active:
                    self._remote_run_changed(run_id)
                    self.notify("step_finished", run_id)
        elif kind == "run":
            if key in self.active:
                self._pulse(self.active[key])  # a cancel, a claim taken: its sleeps and waits look at once
            for ev in self._remote.pop(key, []):
                ev.set()
            if key not in self.active:
                self._remote_run_changed(key)
        elif kind == "steps" and key not in self.active:
            self.notify("step_finished", key)
        elif kind == "event":
            for st in list(self.active.values()):
                if st.status == "waiting":
                    self._pulse(st)
        elif kind == "slot":
            self.flow.wake_queue(*key.split("\x1f", 1)) if "\x1f" in key else self.flow.wake_queues()
        for hook in list(self.notice_hooks):
            try:
                hook(kind, key)
            except Exception:
                _log.exception("nbdurable: a journal notice hook failed")

    def _remote_run_changed(self, run_id: str) -> None:
        """Tell the feed's subscribers (timelines) how a run executing elsewhere is now."""
        if self.feed.subscribers:
            rec = self.journal.get_run(run_id)
            if rec is not None:
                ended = rec.status in FINAL_STATUSES or effective_status(rec, self) == "interrupted"
                self.notify("run_finished" if ended else "run_status", run_id)

    def watch(self, run_id: str) -> asyncio.Event | None:
        """An event set when the journal announces a change of ``run_id`` (None: the journal announces nothing).

        Taken before reading the run, so an announcement made between the read and the wait is not missed.
        """
        if not self.notifying:
            return None
        self.listen()
        ev = asyncio.Event()
        self._remote.setdefault(run_id, []).append(ev)
        self._follow_runs()
        return ev

    def follow(self, run_id: str) -> Callable[[], None]:
        """Hear how a run executing elsewhere changes (for its timeline) until the returned function is called.

        Its changes (and those of the other runs executing elsewhere) reach this engine's feed as
        ``run_status``, ``step_finished`` and ``run_finished`` notices; when announcements may have been
        missed (the listener began listening, or reconnected) the followed run is told as it is then. A
        no-op for journals that announce nothing (their readers poll).
        """
        if not self.notifying:
            return lambda: None
        with contextlib.suppress(RuntimeError):  # no running loop: notices wait for one
            self.listen()
        self._followed[run_id] = self._followed.get(run_id, 0) + 1
        self._follow_runs()
        done = False

        def unfollow() -> None:
            nonlocal done
            if not done:
                done = True
                left = self._followed.get(run_id, 1) - 1
                if left > 0:
                    self._followed[run_id] = left
                else:
                    self._followed.pop(run_id, None)
                self._follow_runs()

        return unfollow

    def _follow_runs(self) -> None:
        """Follow, through the journal, each run executing elsewhere that a timeline or a handle here watches.

        Its owner announces a run only while someone follows it, so following is per run.
        """
        unfollows = self._unfollows
        if unfollows is None:
            unfollows = self._unfollows = {}
        wanted = self._followed.keys() | self._remote.keys()
        for run_id in wanted - unfollows.keys():
            unfollows[run_id] = self.journal.follow_runs(run_id)  # type: ignore[attr-defined]
        for run_id in unfollows.keys() - wanted:
            unfollows.pop(run_id)()

    async def wait_watched(self, ev: asyncio.Event | None, limit: float | None = None) -> None:
        """Wait for ``ev`` (from ``watch``), at most the poll interval (slow when announced) or ``limit``."""
        poll = SLOW_POLL if ev is not None else self.poll_interval
        if limit is not None:
            poll = min(poll, limit)
        if ev is None:
            await asyncio.sleep(poll)
            return
        try:
            await asyncio.wait_for(ev.wait(), timeout=poll)
        except asyncio.TimeoutError:
            pass

    def unwatch(self, run_id: str, ev: asyncio.Event | None) -> None:
        waiting = self._remote.get(run_id)
        if ev is not None and waiting is not None and ev in waiting:
            waiting.remove(ev)
            if not waiting:
                del self._remote[run_id]
                self._follow_runs()
