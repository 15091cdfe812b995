"""Flow control: concurrency keys, throttles, rate limits, timeouts, cancel-on events, debounce, priority,
and shared step limits, enforced through the journal so every process on it shares them.

Concurrency slots are leases in the journal, renewed by a heartbeat while their process lives; a slot of a
process found dead on this host is taken back at once, any other after the lease's TTL, so a crash never leaks
a slot. Queues are fair across processes (waiters are served in rank order: oldest first, minus priority), and a
queued run always says why and behind what in its ``status_reason``.
"""

from __future__ import annotations

import _thread
import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from time import time as _clock
from typing import Any

from .._duration import parse_duration
from .._errors import ExpressionError, JournalBusyError, JournalError, RunOwnedElsewhereError
from ..journal import EventRecord, RunRecord, Write, is_alive, this_owner
from ._options import Concurrency, Limit, key_of
from ._protocols import FlowHost, FlowRun, FlowSubject

_log = logging.getLogger("nbdurable")

__all__ = ["FlowController", "batch_cursor", "lease_ttl"]


def batch_cursor(function_id: str, key: str) -> str:
    """The journal cursor that says up to which event the batches of ``key`` have taken."""
    return f"batch:{function_id}:{key}"


def _label(expr: str | None, key: str) -> str:
    return "" if expr is None else f" for {expr}={key!r}"


def lease_ttl() -> float:
    try:
        return max(0.5, float(os.environ.get("NBDURABLE_LEASE_TTL", "15")))
    except ValueError:
        return 15.0


class FlowController:
    """Admits runs through their function's flow options and keeps their slots alive."""

    def __init__(self, engine: FlowHost) -> None:
        self.engine = engine
        self.held: dict[str, list[tuple[str, str]]] = {}
        # The process whose heartbeat thread runs (None: none; it stops when nothing is left to renew). A
        # pid, not a flag: a child forked while the parent's heartbeat ran has no thread of its own.
        self._beating: int | None = None
        self._beat_lock = threading.Lock()
        self.waiting: set[str] = set()  # runs queued here, whose places the heartbeat keeps
        # Singleton slots, by run: held while the run sleeps and waits too, given back when it ends.
        self.singles: dict[str, tuple[str, str]] = {}
        # Opens a batch run for events left over by a full batch (the engine's; it starts runs).
        self.open_batch: Callable[[FlowSubject, EventRecord], None] | None = None
        # This process's runs waiting per (scope, key): run id -> (rank, its own wake-up event).
        self._queues: dict[tuple[str, str], dict[str, tuple[float, asyncio.Event]]] = {}

    # -- admission ---------------------------------------------------------------------------------

    async def admit(self, st: FlowRun, function: FlowSubject) -> str | None:
        """Wait until the run may execute (None), or say why it is to be skipped instead (a rate limit).

        The options are checked in a fixed order (rate limit, debounce, throttle, batch, singleton,
        concurrency) so a run skipped early never holds a later one's slot. A run cancelled while
        queued raises RunCancelledError.
        """
        rec = st.record
        assert rec is not None
        options = dict(rec.options or {})
        fresh = "started_running_at" not in options
        if fresh and function.options.rate_limit is not None and not options.get("rate_checked"):
            limited = await self._rate_limit(st, function, options)
            if limited is not None:
                return limited
        debounced = fresh and options.get("debounce_until") is not None
        if debounced:
            options = await self._debounce_wait(st, function)
        # The event is read after the debounce: the run takes its last event, whose keys the rest use.
        if fresh and function.options.throttle is not None:
            await self._throttle(st, function, rec.event or {})
        if fresh and function.options.batch_events is not None and options.get("batch") is None:
            empty = await self._collect_batch(st, function, options)
            if empty is not None:
                return empty
        if function.options.singleton is not None:
            skipped = await self._singleton(st, function, rec.event or {}, options, fresh)
            if skipped is not None:
                return skipped
        await self.acquire(st, function)
        if debounced:
            options = await self._start_debounced(st, function, options)
        elif fresh:
            options["started_running_at"] = _clock()
            await self.engine.write(
                Write("run_update", run_id=st.run_id, fields={"options": options, "status_reason": None})
            )
        if fresh:
            rec.options = options
        self._arm_finish(st, function)
        return None

    async def _rate_limit(self, st: FlowRun, function: FlowSubject, options: dict[str, Any]) -> str | None:
        """Count a new run against its rate limit once (journaled in ``options``); why it is skipped if over."""
        rl = function.options.rate_limit
        assert rl is not None
        assert st.record is not None
        key = key_of(rl.key, st.record.event or {})
        ok, _oldest = await self._take_start(f"rate:{function.id}", key, rl.limit, parse_duration(rl.period))
        if not ok:
            return f"skipped: rate limit of {rl.limit} run(s) per {rl.period}{_label(rl.key, key)}"
        options["rate_checked"] = True
        await self.engine.write(Write("run_update", run_id=st.run_id, fields={"options": options}))
        return None

    async def _take_start(self, scope: str, key: str, limit: int, period: float) -> tuple[bool, float | None]:
        """Count one start in the journal if fewer than ``limit`` were counted in the last ``period`` seconds.

        Returns (counted, time of the oldest start in the window): rate limits and throttles both ask this.
        """
        now = _clock()
        taken: tuple[bool, float | None] = await self._retry_busy(
            self.engine.journal.take_mark,
            scope,
            key,
            now=now,
            since=now - period,
            max_count=limit,
            max_weight=None,
            weight=1,
        )
        return taken

    async def _throttle(self, st: FlowRun, function: FlowSubject, event: dict[str, Any]) -> None:
        """Wait for a start within the throttle's limit per period, saying in the run's status how long."""
        th = function.options.throttle
        assert th is not None
        key = key_of(th.key, event)
        period = parse_duration(th.period)
        while True:
            st.poll_cancel()  # a cancel may come from another process while queued
            ok, oldest = await self._take_start(f"throttle:{function.id}", key, th.limit, period)
            if ok:
                return
            now = _clock()
            wait = max(0.01, (oldest or now) + period - now)
            why = f"queued: throttled to {th.limit} start(s) per {th.period}{_label(th.key, key)}"
            await self._set_reason(st, f"{why}; next in {wait:.1f}s")
            await asyncio.sleep(min(wait, 0.5))
            self._check_start_timeout(st, function)

    async def _debounce_wait(self, st: FlowRun, function: FlowSubject) -> dict[str, Any]:
        """Wait until the debounce period after the run's last event is over; the run's options then.

        The run takes the event it holds then (``st.record.event``): a later event pushes the period back.
        """
        rec = st.record
        assert rec is not None
        options = dict(rec.options or {})
        while True:
            current = self.engine.journal.get_run(st.run_id)
            until = float(((current.options if current else None) or {}).get("debounce_until") or 0)
            if current is not None and current.event:
                rec.event = current.event
                options = dict(current.options or {})
            remaining = until - _clock()
            if remaining <= 0:
                return options
            st.poll_cancel()
            await self._set_reason(st, f"queued: debounced, starts {remaining:.1f}s after the last event")
            await asyncio.sleep(min(remaining, 0.5))
            self._check_start_timeout(st, function)

    async def _start_debounced(self, st: FlowRun, function: FlowSubject, options: dict[str, Any]) -> dict[str, Any]:
        """Journal that a debounced run starts, only if no event joined it since it last looked; its options.

        A compare-and-set on the run's event and options: an event that came in between (``_debounce``
        wrote it, with a later period) makes the run wait again and take it; once the start is written,
        a later event can no longer join this run (its own compare-and-set fails) and starts a run of
        its own. So an event is never given to a run that already started with an older one.
        """
        rec = st.record
        assert rec is not None
        while True:
            seen = dict(options)  # what the journal holds now, as this run last read or wrote it
            started = {**options, "started_running_at": _clock()}
            if await self._retry_busy(
                self.engine.journal.update_run_if,
                st.run_id,
                {"options": started, "status_reason": None},
                expect={"options": seen, "event": rec.event},
                epoch=getattr(st, "epoch", None) or None,
            ):
                return started
            st.poll_cancel()  # a run claimed by another process meanwhile stops here
            now = self.engine.journal.get_run(st.run_id)
            if now is not None and now.event == rec.event and now.options == seen:
                # Nothing changed, yet the stored values did not compare equal (written by an older release or
                # another tool, in another form): no event can have joined, so the start is written as it was.
                await self.engine.write(
                    Write("run_update", run_id=st.run_id, fields={"options": started, "status_reason": None})
                )
                return started
            await asyncio.sleep(0.01)
            options = await self._debounce_wait(st, function)

    def _arm_finish(self, st: FlowRun, function: FlowSubject) -> None:
        timeouts = function.options.timeouts
        started = (st.record.options or {}).get("started_running_at") if st.record else None
        if timeouts is not None and timeouts.finish is not None and started is not None:
            st.finish_deadline = float(started) + parse_duration(timeouts.finish)
            st.finish_reason = f"timed out: running longer than finish={timeouts.finish}"

    # -- singletons ----------------------------------------------------------------------------------

    async def _singleton(
        self, st: FlowRun, function: FlowSubject, event: dict[str, Any], options: dict[str, Any], fresh: bool
    ) -> str | None:
        """Take the function's one singleton slot for the run's key; a reason when the run is skipped instead.

        Skip mode skips a new run while another holds the slot; cancel mode cancels the holder and waits
        for its slot. A run resumed after a restart waits for its slot whatever the mode (it was admitted).
        """
        sg = function.options.singleton
        assert sg is not None
        key = key_of(sg.key, event)
        scope = f"single:{function.id}"
        label = _label(sg.key, key)
        cancelled: set[str] = set()
        tries = 0
        while True:
            st.poll_cancel()
            now = _clock()
            ok, _busy, _ahead = await self._retry_busy(
                self.engine.journal.acquire_slot,
                scope,
                key,
                st.run_id,
                this_owner(),
                limit=1,
                rank=st.record.created_at if st.record else now,
                expires_at=now + lease_ttl(),
                now=now,
            )
            if ok:
                self.singles[st.run_id] = (scope, key)
                self._start_heartbeat()
                if options.get("singleton_key") != key:
                    # Journaled at once, so a run that finds the slot taken can name (and cancel) its holder.
                    options["singleton_key"] = key
                    await self.engine.write(Write("run_update", run_id=st.run_id, fields={"options": dict(options)}))
                return None
            tries += 1
            self._reclaim_dead(scope, key)
            holders = self._singleton_holders(function, key, st.run_id)
            if tries == 1 and not holders:
                continue  # its holder just died or ended: ask again once before deciding
            if fresh and sg.mode == "skip":
                await self._retry_busy(self.engine.journal.release_slot, scope, key, st.run_id)
                running = f"run {holders[0]!r} is running" if holders else "another run holds it"
                return f"skipped: singleton{label}: {running}"
            if fresh:
                for other in holders:
                    if other not in cancelled:
                        cancelled.add(other)
                        self.engine.cancel(other, f"cancelled by singleton{label}: run {st.run_id!r} replaces it")
            await self._set_reason(st, f"queued: singleton{label}: waiting for the run before it to end")
            await asyncio.sleep(min(0.02 * tries, 0.25))

    def _singleton_holders(self, function: FlowSubject, key: str, run_id: str) -> list[str]:
        """The unfinished runs of ``function`` admitted under singleton ``key`` (other than ``run_id``)."""
        scope = f"single:{function.id}"
        out = [other for other, held in self.singles.items() if held == (scope, key) and other != run_id]
        for rec in self.engine.journal.list_runs(
            statuses=["queued", "running", "sleeping", "waiting"], function_id=function.id, limit=200
        ):
            if rec.run_id in out or rec.run_id == run_id or (rec.options or {}).get("singleton_key") != key:
                continue
            if rec.owner is not None and (rec.owner == this_owner() or is_alive(rec.owner, rec.lease_until)):
                out.append(rec.run_id)
        return out

    # -- event batches -------------------------------------------------------------------------------

    def batch_options(self, function: FlowSubject, event: dict[str, Any]) -> dict[str, Any]:
        """The options of a new batch run opened by ``event``: its key, and when it starts at the latest."""
        be = function.options.batch_events
        assert be is not None
        try:
            key: str | None = key_of(be.key, event)
        except ExpressionError:
            key = None  # its admission fails, naming the missing field (as a concurrency key does)
        return {"batch_key": key, "batch_until": float(event.get("ts") or _clock()) + parse_duration(be.timeout)}

    def pending_batch(self, function: FlowSubject, key: str, rec: RunRecord, limit: int) -> list[EventRecord]:
        """Events of batch ``key`` not taken by a batch yet, oldest first (at most ``limit``)."""
        journal = self.engine.journal
        cursor = journal.get_cursor(batch_cursor(function.id, key))
        after = cursor if cursor is not None else rec.event_seq - 1
        names = {t for t in function.options.triggers if "*" not in t}
        if rec.event and isinstance(rec.event.get("name"), str):
            names.add(rec.event["name"])
        be = function.options.batch_events
        assert be is not None
        found: list[EventRecord] = []
        for name in names:
            scanned, mine = after, 0
            while True:
                page = journal.events_after(name, scanned, limit=200)
                for ev in page:
                    scanned = ev.seq
                    try:
                        same = key_of(be.key, {"name": ev.name, "data": ev.data, "id": ev.event_id, "ts": ev.ts}) == key
                    except ExpressionError:
                        same = False
                    if same:
                        found.append(ev)
                        mine += 1
                if len(page) < 200 or mine >= limit:
                    break
        return sorted(found, key=lambda e: e.seq)[:limit]

    async def _collect_batch(self, st: FlowRun, function: FlowSubject, options: dict[str, Any]) -> str | None:
        """Wait for the batch to fill or time out, then take its events; a reason when it was empty (skipped).

        The events are journaled in the run's options before the batch's cursor moves past them (a
        compare-and-set, so two processes never take the same events): a crash between the two may
        give an event to two batches, never to none.
        """
        be = function.options.batch_events
        assert be is not None
        rec = st.record
        assert rec is not None
        engine = self.engine
        while True:
            current = engine.journal.get_run(st.run_id)
            if current is not None:
                options.update(current.options or {})
            remaining = float(options.get("batch_until") or 0) - _clock()
            if remaining <= 0:
                break
            st.poll_cancel()
            await self._set_reason(st, f"queued: collecting a batch of up to {be.max_size}, {remaining:.1f}s left")
            await asyncio.sleep(min(remaining, 0.05))
            self._check_start_timeout(st, function)
        key = options.get("batch_key")
        if not isinstance(key, str):
            key = key_of(be.key, rec.event or {})  # raises ExpressionError naming what the event lacks
        options["batch_started"] = True  # events sent from now on open the next batch
        await engine.write(Write("run_update", run_id=st.run_id, fields={"options": dict(options)}))
        name = batch_cursor(function.id, key)
        while True:
            cursor = engine.journal.get_cursor(name)
            pending = self.pending_batch(function, key, rec, be.max_size + 1)
            taken = pending[: be.max_size]
            if not taken:
                return "skipped: its batch is empty (another run took its events)"
            events = [{"name": e.name, "data": e.data, "id": e.event_id, "ts": e.ts} for e in taken]
            options["batch"] = events
            await engine.write(
                Write("run_update", run_id=st.run_id, fields={"options": dict(options), "event": events[0]})
            )
            if await self._retry_busy(engine.journal.move_cursor, name, taken[-1].seq, expect=cursor):
                break
        rec.event = events[0]
        rec.options = dict(options)
        if len(pending) > be.max_size and self.open_batch is not None:
            self.open_batch(function, pending[be.max_size])
        return None

    def _check_start_timeout(self, st: FlowRun, function: FlowSubject) -> None:
        timeouts = function.options.timeouts
        if timeouts is None or timeouts.start is None or st.record is None:
            return
        if "started_running_at" in (st.record.options or {}):
            return  # started in time once; queueing again for a slot after a sleep is not "start"
        if _clock() - st.record.created_at > parse_duration(timeouts.start):
            st.cancel_requested = True
            st.cancel_reason = f"timed out: queued longer than start={timeouts.start}"
            st.poll_cancel()

    async def _set_reason(self, st: FlowRun, reason: str) -> None:
        if st.status_reason != reason:
            st.status_reason = reason
            st.status = "queued"
            await self.engine.write(
                Write("run_update", run_id=st.run_id, fields={"status": "queued", "status_reason": reason})
            )
            self.engine.notify("run_status", st.run_id)

    async def _retry_busy(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a short journal transaction, retrying from the loop while another process holds the lock.

        For up to the engine's busy timeout: then the JournalBusyError stops the run (nothing waits forever).
        """
        delay = 0.005
        deadline = time.monotonic() + self.engine.busy_timeout
        while True:
            try:
                return action(*args, **kwargs)
            except JournalBusyError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)

    # -- concurrency slots ---------------------------------------------------------------------------

    async def acquire(self, st: FlowRun, function: FlowSubject) -> None:
        """Take a slot of every concurrency limit of the function, all or none, waiting in the fair queues.

        A run that gets one limit's slot but must wait for another gives the first back while it
        waits: a queued run never holds a slot idle (tenant b must not wait behind tenant a).
        """
        if not function.options.concurrency:
            return
        event = (st.record.event if st.record else None) or {}
        rank = (st.record.created_at if st.record else _clock()) - self._priority(function, event)
        wanted = [
            (f"conc:{function.id}:{i}", key_of(c.key, event), c) for i, c in enumerate(function.options.concurrency)
        ]
        poll = 0.02
        self.waiting.add(st.run_id)
        self._start_heartbeat()
        try:
            while True:
                st.poll_cancel()  # a cancel may come from another process while queued
                blocked = await self._take_all(st, wanted, rank)
                if blocked is None:
                    return
                scope, key, conc, busy, ahead = blocked
                self._reclaim_dead(scope, key)
                await self._set_reason(
                    st, f"queued: {busy} of {conc.limit} slots busy{_label(conc.key, key)}, {ahead} ahead"
                )
                self._check_start_timeout(st, function)
                poll = await self._wait_turn(st, (scope, key), rank, poll)
        except BaseException as exc:
            self._abandon(st, wanted, exc)
            raise

    async def _take_all(
        self, st: FlowRun, wanted: list[tuple[str, str, Concurrency]], rank: float
    ) -> tuple[str, str, Concurrency, int, int] | None:
        """Take every wanted slot (None: the run holds them all), or give back those taken and say which blocked."""
        owner = this_owner()
        taken: list[tuple[str, str]] = []
        for scope, key, conc in wanted:
            now = _clock()
            ok, busy, ahead = await self._retry_busy(
                self.engine.journal.acquire_slot,
                scope,
                key,
                st.run_id,
                owner,
                limit=conc.limit,
                rank=rank,
                expires_at=now + lease_ttl(),
                now=now,
            )
            if not ok:
                for scope_taken, key_taken in taken:
                    # Give back the slots taken so far, and the place in their queues too: waiting there
                    # for a limit elsewhere would block runs of other keys (head-of-line blocking).
                    await self._retry_busy(self.engine.journal.release_slot, scope_taken, key_taken, st.run_id)
                return scope, key, conc, busy, ahead
            taken.append((scope, key))
        self.held[st.run_id] = taken
        self.waiting.discard(st.run_id)
        self._leave_queues(st.run_id, wake_next=True)
        st.status_reason = None
        return None

    async def _wait_turn(self, st: FlowRun, where: tuple[str, str], rank: float, poll: float) -> float:
        """Wait until this run should ask for its slots again; the next poll interval.

        Only the first of this process's waiters for a key asks the journal; the others wait for it to
        go (no thundering herd when a slot frees). Their places in the journal's queue are kept fresh by
        the heartbeat.
        """
        queue = self._queues.setdefault(where, {})
        me = queue.get(st.run_id)
        if me is None:
            me = queue[st.run_id] = (rank, asyncio.Event())
        head = min(queue.items(), key=lambda item: (item[1][0], item[0]))[0]
        me[1].clear()
        try:
            await asyncio.wait_for(me[1].wait(), timeout=poll if head == st.run_id else 5.0)
        except asyncio.TimeoutError:
            pass
        return min(poll * 1.5, 0.25) if head == st.run_id else poll

    def _abandon(self, st: FlowRun, wanted: list[tuple[str, str, Concurrency]], exc: BaseException) -> None:
        """Leave every queue of a run that stops waiting (cancelled, timed out, or claimed elsewhere)."""
        self.waiting.discard(st.run_id)
        self._leave_queues(st.run_id, wake_next=True)
        if isinstance(exc, RunOwnedElsewhereError):
            return  # another process claimed the run: its slots and places are that owner's now
        for scope, key, _conc in wanted:
            try:
                self.engine.journal.release_slot(scope, key, st.run_id)
            except JournalError:
                pass  # best effort on the way out: a lease left behind expires by itself

    def wake(self, run_id: str) -> None:
        """Wake a run of this process waiting in a slot queue, so it re-checks (a cancel) at once."""
        for queue in self._queues.values():
            entry = queue.get(run_id)
            if entry is not None:
                entry[1].set()

    def _wake_head(self, scope: str, key: str) -> None:
        queue = self._queues.get((scope, key))
        if queue:
            head = min(queue.items(), key=lambda item: (item[1][0], item[0]))
            head[1][1].set()

    def wake_queue(self, scope: str, key: str) -> None:
        """A slot of (scope, key) was given back in another process: the first waiter here asks again now."""
        self._wake_head(scope, key)

    def wake_queues(self) -> None:
        for scope, key in list(self._queues):
            self._wake_head(scope, key)

    def _leave_queues(self, run_id: str, *, wake_next: bool) -> None:
        for (scope, key), queue in list(self._queues.items()):
            if queue.pop(run_id, None) is not None and wake_next:
                self._wake_head(scope, key)
            if not queue:
                del self._queues[(scope, key)]

    def _priority(self, function: FlowSubject, event: dict[str, Any]) -> float:
        if function.options.priority is None:
            return 0.0
        from ..expr import compile_expression

        try:
            value = compile_expression(function.options.priority.run, allowed_roots=("event",)).evaluate(
                {"event": event}
            )
            return float(value)
        except Exception:
            return 0.0

    def _reclaim_dead(self, scope: str, key: str) -> None:
        for holder in self.engine.journal.slot_holders(scope, key):
            if holder != this_owner() and not is_alive(holder):
                try:
                    self.engine.journal.drop_holder(holder)
                except JournalBusyError:
                    pass

    def release(self, run_id: str, *, ending: bool = False) -> None:
        """Give back the run's slots (when it ends, sleeps or waits; its singleton slot only when it ends)."""
        held = self.held.pop(run_id, [])
        if ending and run_id in self.singles:
            held.append(self.singles.pop(run_id))
        for scope, key in held:
            try:
                self.engine.journal.release_slot(scope, key, run_id)
            except JournalError:
                pass  # the lease expires by itself when the heartbeat stops renewing it
            self._wake_head(scope, key)

    def forget(self, run_id: str) -> None:
        """Drop what this process knows of the run's slots without touching the journal.

        For a run another process claimed: slots are keyed by run id, so they are the new owner's.
        """
        self.held.pop(run_id, None)
        self.singles.pop(run_id, None)
        self.waiting.discard(run_id)
        self._leave_queues(run_id, wake_next=True)

    def keep_alive(self) -> None:
        """Keep this process's claims (runs it executes) and leases renewed while it has any."""
        self._start_heartbeat()

    def _start_heartbeat(self) -> None:
        # A thread, not a task: a long synchronous step blocks the event loop, and a process that is
        # alive but busy must keep its slots (and its places in queues) and its runs' leases.
        # Started with _thread, not threading.Thread: Thread.start waits until the new thread has run
        # (0.25 ms here, milliseconds on a busy machine), on the path of every claim; the heartbeat needs
        # none of threading's bookkeeping (it catches everything, is never joined, dies with the process).
        with self._beat_lock:
            if self._beating != os.getpid():
                self._beating = os.getpid()
                _thread.start_new_thread(self._beat, ())

    def _beat(self) -> None:
        try:
            self._renew_while_held()
        except BaseException:
            # Not expected (renewal errors are caught below); the next claim starts a heartbeat again.
            with self._beat_lock:
                self._beating = None
            _log.exception("nbdurable: the lease heartbeat stopped on an unexpected error")

    def _renew_while_held(self) -> None:
        ttl = lease_ttl()
        owner = this_owner()
        while True:
            time.sleep(ttl / 3)
            runs = self.engine.claimed_runs()
            with self._beat_lock:
                # Decided under the lock: a run claimed meanwhile finds either this thread going on or none.
                if not self.held and not self.singles and not self.waiting and not runs:
                    self._beating = None
                    return
            try:
                self.engine.journal.renew_leases(owner, _clock() + ttl, runs=runs)
            except Exception:  # noqa: S112 - busy or closed journal: try again next beat
                continue

    # -- step limits -----------------------------------------------------------------------------------

    async def limit_acquire(self, st: FlowRun, limit: Limit, step_id: str) -> None:
        """Wait until ``limit`` allows one more request (and its token budget is not spent)."""
        journal = self.engine.journal
        while True:
            st.poll_cancel()
            now = _clock()
            since = now - 60.0
            ok, oldest = await self._retry_busy(
                journal.take_mark,
                "limit",
                f"{limit.name}:req",
                now=now,
                since=since,
                max_count=limit.requests_per_minute,
                max_weight=None,
                weight=1,
            )
            if ok and limit.tokens_per_minute is not None:
                ok, oldest = await self._retry_busy(
                    journal.take_mark,
                    "limit",
                    f"{limit.name}:tok",
                    now=now,
                    since=since,
                    max_count=None,
                    max_weight=limit.tokens_per_minute,
                    weight=0,
                )
            if ok:
                return
            wait = max(0.05, (oldest or now) + 60.0 - now)
            live = st.live.get(step_id)
            if live is not None:
                live.status = "queued"
            self.engine.notify("step_retrying", st.run_id, step_id)
            await asyncio.sleep(min(wait, 1.0))

    def limit_spend(self, limit: Limit, tokens: int) -> None:
        if limit.tokens_per_minute is not None and tokens > 0:
            try:
                self.engine.journal.add_mark("limit", f"{limit.name}:tok", _clock(), tokens)
            except JournalBusyError:
                pass

    # -- cancel-on events ------------------------------------------------------------------------------

    def cancel_matching(self, name: str, data: dict[str, Any], event_id: str, ts: float) -> list[str]:
        """Cancel unfinished runs whose cancel_on matches this event; returns their ids."""
        from ..expr import compile_expression

        cancelled = []
        candidates = self.engine.journal.list_runs(statuses=["queued", "running", "sleeping", "waiting"])
        for rec in candidates:
            for spec in (rec.options or {}).get("cancel_on") or []:
                if spec.get("event") != name:
                    continue
                deadline = spec.get("deadline")
                if deadline is not None and ts > float(deadline):
                    continue
                if ts < rec.created_at:
                    continue
                if_exp = spec.get("if_exp")
                if if_exp:
                    candidate = {"name": name, "data": data, "id": event_id, "ts": ts}
                    try:
                        if not compile_expression(if_exp).matches({"event": rec.event or {}, "async": candidate}):
                            continue
                    except ExpressionError as exc:
                        # The sender is not at fault for a run's costly cancel_on: skip that run, keep sending.
                        _log.warning("run %r: cancel_on skipped event %s: %s", rec.run_id, event_id, exc)
                        continue
                reason = f"cancelled by event {name!r}" + (f" ({if_exp})" if if_exp else "")
                if self.engine.cancel(rec.run_id, reason):
                    cancelled.append(rec.run_id)
                break
        return cancelled
