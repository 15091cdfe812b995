"""The PostgreSQL journal's notifications: what this process announces, and what it hears from others.

Changes are announced with ``NOTIFY``, coalesced by a background thread, never on
the commit's own round trip: ``NOTIFY`` takes a database-wide lock at commit, which
would serialize every worker's step commits. Two channels per schema, so a process
hears only what concerns it:

- the *work* channel (``nbdurable_<schema>``), which every process listens to: runs
  handed to workers and claims given up, events, concurrency slots freed, and
  changes made to a run by a process that does not execute it (a cancel);
- the *runs* channel (``nbdurable_<schema>_runs``): every run's changes (at most
  every 20 ms per process) and which runs committed steps (at most ten times a
  second per process). Only processes that follow runs executing elsewhere listen
  to it (a handle waiting for a worker's run, a timeline of one, a reader such as
  the server extension), so a worker does no work for the others' steps and runs.

A listener thread turns what it hears into ``change_token()`` moves and into
callbacks (``subscribe``) that wake waits, queued runs, workers and timelines; a
slow poll covers a lost connection.
Apart from :mod:`._postgres` because it is its own machine (two threads, an outbox,
a listening connection) that the journal only feeds with what each commit changed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal

import psycopg
from psycopg import sql

from .._errors import JournalError
from ._protocol import FINAL_STATUSES, Write

__all__ = ["NoticeKind", "Notices"]

_log = logging.getLogger("nbdurable")
NoticeKind = Literal["run", "steps", "event", "slot", "work"]
_KIND_CODES: dict[str, str] = {"run": "r", "steps": "s", "event": "e", "slot": "q", "work": "w"}
_CODE_KINDS = {v: k for k, v in _KIND_CODES.items()}
_STEPS_EVERY = 0.1  # seconds between two announcements of step progress from one process
_RUNS_EVERY = 0.02  # seconds between two announcements of run changes (on the runs channel) from one process
_LISTEN_TICK = 0.1  # seconds the listener waits for notifications before looking whether to follow runs
_MAX_PAYLOAD = 7000  # NOTIFY payloads must stay under 8000 bytes


class Notices:
    """One journal's announcer and listener: an outbox sent by a notifier thread, a LISTEN connection read by another.

    ``pooled(doing)`` lends a connection of the journal's pool (announcements never wait
    behind the loop's writer); ``lock`` is the journal's, so what a commit changed is noted
    under the same lock as the commit.
    """

    def __init__(
        self,
        conninfo: str,
        channel: str,
        *,
        lock: threading.RLock,
        pooled: Callable[[str], AbstractContextManager[psycopg.Connection[Any]]],
    ) -> None:
        self._conninfo = conninfo
        self._channel = channel  # the work channel: every process listens
        self._runs_channel = channel + "_runs"  # runs and steps: only followers listen
        self._lock = lock
        self._pooled = pooled
        self._instance = uuid.uuid4().hex[:12]
        self._closed = False
        # Notices to announce (kind code, key) on the work channel, the runs whose rows changed and those whose
        # steps changed since the last announcement on the runs channel.
        self._outbox: set[tuple[str, str]] = set()
        self._run_box: set[str] = set()
        self._runs_due = 0.0
        self._step_runs: set[str] = set()
        self._steps_due = 0.0
        self._followers = 0  # follow_runs() calls not undone: the listener listens to the runs channel
        self._ever_watched = False  # a journal that never wrote for a run reads: it hears every run
        self._following_runs = False  # the listener listens to the runs channel
        self._notifier: threading.Thread | None = None
        self._wake_notifier = threading.Event()
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        self._subscribers: list[Callable[[str, str], None]] = []
        self._token = 0
        self._watched: dict[str, None] = {}  # runs this journal writes for (claimed here): cancels concern them

    # -- what this process changed ------------------------------------------------------------------

    def note(self, kind: NoticeKind, key: str) -> None:
        """Queue one announcement on the work channel (the caller holds the journal's lock, then calls
        :meth:`announce`)."""
        self._outbox.add((_KIND_CODES[kind], key))

    def note_run(self, run_id: str) -> None:
        """Queue the announcement that a run's row changed, on the runs channel (as :meth:`note`)."""
        self._run_box.add(run_id)

    def watch(self, run_id: str) -> None:
        """Count announcements about this run in ``change_token`` (this journal now writes for it)."""
        self._ever_watched = True
        self._watched[run_id] = None
        if len(self._watched) > 10000:
            self._watched.pop(next(iter(self._watched)))

    def written(self, batch: Sequence[Write]) -> None:
        """Note what a committed batch changed (and the runs this journal now writes for), then announce it.

        A run's own writes (fenced with its epoch) go to the runs channel only; a change made by a process
        that does not execute the run (a cancel, an edit) also goes to the work channel, where its owner
        hears it.
        """
        with self._lock:
            for w in batch:
                if w.op == "step":
                    self._step_runs.add(w.target)
                    if w.epoch is not None:
                        self.watch(w.target)
                elif w.op == "run":
                    r = w.run
                    assert r is not None
                    self._run_box.add(r.run_id)
                    if r.queue is not None and r.owner is None and r.status not in FINAL_STATUSES:
                        self._outbox.add(("w", r.queue))
                    if r.epoch:
                        self.watch(r.run_id)
                elif w.op in ("run_update", "delete_run"):
                    self._updated(w)
        self.announce()

    def _updated(self, w: Write) -> None:
        self._run_box.add(w.target)
        if w.epoch is None:
            self._outbox.add(("r", w.target))
        fields = w.fields or {}
        if (
            w.op == "delete_run"
            or fields.get("status") in FINAL_STATUSES
            or ("owner" in fields and fields["owner"] is None)
        ):
            self._watched.pop(w.target, None)
            if fields.get("owner", "") is None:
                self._outbox.add(("w", "*"))
        elif w.epoch is not None:
            self.watch(w.target)

    def announce(self) -> None:
        """Wake the notifier if there is something to announce now (runs and steps wait for their next turn)."""
        now = time.monotonic()
        if self._outbox or (self._run_box and now >= self._runs_due) or (self._step_runs and now >= self._steps_due):
            if self._notifier is None:
                with self._lock:
                    if self._notifier is None and not self._closed:
                        self._notifier = threading.Thread(
                            target=self._notify_loop, name="nbdurable-notify", daemon=True
                        )
                        self._notifier.start()
            self._wake_notifier.set()

    def _take_outbox(self) -> tuple[list[list[str]], list[list[str]]]:
        """What to announce now: on the work channel, and on the runs channel (each at most at its pace)."""
        with self._lock:
            work = [[code, key] for code, key in self._outbox]
            self._outbox.clear()
            runs: list[list[str]] = []
            now = time.monotonic()
            if self._run_box and now >= self._runs_due:
                runs += [["r", run_id] for run_id in self._run_box]
                self._run_box.clear()
                self._runs_due = now + _RUNS_EVERY
            if self._step_runs and now >= self._steps_due:
                runs += [["s", run_id] for run_id in self._step_runs]
                self._step_runs.clear()
                self._steps_due = now + _STEPS_EVERY
        return work, runs

    def _notify_loop(self) -> None:
        """Send what was committed, coalesced: one NOTIFY per channel carries everything that piled up meanwhile."""
        while True:
            self._wake_notifier.wait(_RUNS_EVERY if self._run_box else _STEPS_EVERY)
            self._wake_notifier.clear()
            work, runs = self._take_outbox()
            if work or runs:
                self._send(work, runs)
            if self._closed and not (self._outbox or self._run_box or self._step_runs):
                return

    def _payloads(self, items: list[list[str]]) -> Iterator[str]:
        chunk: list[list[str]] = []
        size = 0
        for code, key in items:
            if len(key) > 1000:
                code, key = code, "*"
            entry = len(json.dumps(key)) + 8
            if chunk and size + entry > _MAX_PAYLOAD:
                yield json.dumps([self._instance, chunk])
                chunk, size = [], 0
            chunk.append([code, key])
            size += entry
        if chunk:
            yield json.dumps([self._instance, chunk])

    def _send(self, work: list[list[str]], runs: list[list[str]]) -> None:
        try:
            with self._pooled("notify") as conn, conn.pipeline():
                for channel, items in ((self._channel, work), (self._runs_channel, runs)):
                    for payload in self._payloads(items):
                        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload), prepare=True)
        except (JournalError, psycopg.Error) as exc:
            # Listeners fall back on their slow poll; nothing committed depends on an announcement.
            _log.debug("nbdurable: could not announce journal changes: %s", exc)

    # -- what other processes changed ---------------------------------------------------------------

    def change_token(self) -> int:
        """The count of relevant announcements heard (see ``PostgresJournal.change_token``)."""
        self._ensure_listener()
        return self._token

    def subscribe(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``callback(kind, key)`` for each announcement heard; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        self._ensure_listener()

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def follow_runs(self) -> Callable[[], None]:
        """Listen to the runs channel until the returned function is called (see ``PostgresJournal.follow_runs``)."""
        with self._lock:
            self._followers += 1
        self._ensure_listener()
        done = False

        def unfollow() -> None:
            nonlocal done
            if not done:
                done = True
                with self._lock:
                    self._followers -= 1

        return unfollow

    def wait_listening(self, timeout: float) -> bool:
        """Block until the listener is connected and listening, to the runs channel too if it should."""
        self._ensure_listener()
        deadline = time.monotonic() + timeout
        if not self._listening.wait(timeout):
            return False
        while self._wants_runs() != self._following_runs:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _ensure_listener(self) -> None:
        if self._listener is None and not self._closed:
            with self._lock:
                if self._listener is None:
                    self._listener = threading.Thread(target=self._listen, name="nbdurable-listen", daemon=True)
                    self._listener.start()

    def _listen(self) -> None:
        delay = 0.1
        first = True
        while not self._closed:
            try:
                with psycopg.connect(self._conninfo, autocommit=True, application_name="nbdurable") as conn:
                    self._following_runs = False
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._listening.set()
                    if not first:  # announcements made while the connection was down are lost: say so
                        self._dispatch("reconnect", "")
                    first = False
                    delay = 0.1
                    while not self._closed:
                        self._follow_or_not(conn)
                        for note in conn.notifies(timeout=_LISTEN_TICK):
                            self._received(note.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                if self.closed:
                    return
                _log.debug("nbdurable: the PostgreSQL listener lost its connection: %s", exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # a subscriber's bug must not end notifications for the others
                _log.exception("nbdurable: a journal notification subscriber failed")

    def _wants_runs(self) -> bool:
        """Whether to hear every run's changes: someone follows runs, or this journal only reads (never wrote
        for a run: the server extension, a listing, a notebook that hands all its runs to workers)."""
        return self._followers > 0 or not self._ever_watched

    def _follow_or_not(self, conn: psycopg.Connection[Any]) -> None:
        """Listen to the runs channel while runs are followed, and stop when no one follows any more."""
        wanted = self._wants_runs()
        if wanted == self._following_runs:
            return
        verb = "LISTEN {}" if wanted else "UNLISTEN {}"
        conn.execute(sql.SQL(verb).format(sql.Identifier(self._runs_channel)))
        self._following_runs = wanted
        if wanted:  # what changed before the LISTEN was not heard: followers look again
            self._dispatch("following", "")

    def _received(self, payload: str) -> None:
        try:
            sender, items = json.loads(payload)
        except (ValueError, TypeError):
            return
        if sender == self._instance or not isinstance(items, list):
            return
        for item in items:
            if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
                continue
            code, key = item
            kind = _CODE_KINDS.get(code)
            if kind is None:
                continue
            if not self._watched or (code == "r" and (key in self._watched or key == "*")):
                self._token += 1
            self._dispatch(kind, key)

    def _dispatch(self, kind: str, key: str) -> None:
        if kind == "reconnect":
            self._token += 1
        for callback in list(self._subscribers):
            try:
                callback(kind, key)
            except Exception:
                _log.exception("nbdurable: a journal notification subscriber failed")

    # -- closing ------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop both threads; what was committed is announced first (a CLI cancel, a worker stopping)."""
        notifier = self._notifier
        self._steps_due = self._runs_due = 0.0
        self._closed = True
        if notifier is not None:
            self._wake_notifier.set()
            notifier.join(timeout=5)
