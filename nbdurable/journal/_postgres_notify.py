"""The PostgreSQL journal's notifications: what this process announces, and what it hears from others.

Changes are announced with ``NOTIFY``, coalesced by a background thread, never on
the commit's own round trip: ``NOTIFY`` takes a database-wide lock at commit, which
would serialize every worker's step commits. Two channels per schema, so a process
hears only what concerns it:

- the *work* channel (``nbdurable_<schema>``), which every process listens to: runs
  handed to workers and claims given up, events, concurrency slots freed, and
  changes made to a run by a process that does not execute it (a cancel);
- the *runs* channel (``nbdurable_<schema>_runs``): runs' changes (at most every
  20 ms per process) and which runs committed steps (at most ten times a second per
  process), **only for runs some process follows**. A process that follows a run
  executing elsewhere (a handle waiting for a worker's run, a timeline of one) says
  so on the work channel (``follow``: the run id, or ``*`` for a reader such as the
  server extension, renewed every few seconds while it follows) and listens to the
  runs channel; the run's owner announces it only while such a request is fresh. So
  a run nobody follows costs no announcement, and a worker neither sends nor hears
  the others' steps and runs.

A follower that starts late still gets a correct timeline: it listens to the runs
channel before it asks, reads the journal, and the owner announces the run once as
soon as it hears the request (its steps committed before are then read again). A
process that does not listen (a script, a CLI) cannot know who follows, so it
announces everything, as does a listener for a moment after it (re)connects, while
followers answer its question (``?``) by renewing their requests.

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
_FOLLOW_RENEW = 5.0  # seconds between two renewals of a process's follow requests
_FOLLOW_TTL = 15.0  # seconds a follow request holds without renewal (a follower that died stops costing)
_FOLLOW_GRACE = 1.0  # seconds after (re)connecting during which every run is announced, while followers renew
_RECENT_ENDS = 1000  # runs that ended or were given up here lately: a late follow request announces them too
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
        # Runs this process follows (run id, or "*" for every run) -> follow_runs() calls not undone: the listener
        # listens to the runs channel and asks their owners to announce them.
        self._follows: dict[str, int] = {}
        self._ever_watched = False  # a journal that never wrote for a run reads: it hears every run
        self._read_at = -_FOLLOW_TTL  # when such a reader last asked change_token(): it follows every run meanwhile
        self._following_runs = False  # the listener listens to the runs channel
        self._asked: set[str] = set()  # follow requests this listener sent, renewed at _renew_at
        self._renew_at = 0.0
        # Follow requests heard from other processes (run id or "*") -> until when (monotonic); runs executing
        # here are announced on the runs channel only while one holds. None until the listener listens (and
        # for a moment after): this process cannot know who follows, so it announces everything.
        self._wanted: dict[str, float] = {}
        self._gate_from: float | None = None
        self._recent_ends: dict[str, None] = {}  # runs that stopped being watched here lately
        self._notifier: threading.Thread | None = None
        self._notifier_idle = False  # the notifier waits with nothing pending (announce must wake it)
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

    def note_run(self, run_id: str, *, own: bool = True) -> None:
        """Queue the announcement that a run's row changed, on the runs channel (as :meth:`note`).

        ``own``: a write of the run's owner (this process executes it), announced only while it is followed;
        a change made from elsewhere (a cancel) is always announced.
        """
        if not own or self.announces(run_id, time.monotonic()):
            self._run_box.add(run_id)

    def watch(self, run_id: str) -> None:
        """Count announcements about this run in ``change_token`` (this journal now writes for it)."""
        self._ever_watched = True
        self._watched[run_id] = None
        if len(self._watched) > 10000:
            self._watched.pop(next(iter(self._watched)))

    def _unwatch(self, run_id: str) -> None:
        """This journal no longer writes for the run (it ended, or was given up): a late follower still hears it."""
        if self._watched.pop(run_id, 0) is None:
            self._recent_ends[run_id] = None
            if len(self._recent_ends) > _RECENT_ENDS:
                self._recent_ends.pop(next(iter(self._recent_ends)))

    def announces(self, run_id: str, now: float) -> bool:
        """Whether a change of a run executing here goes on the runs channel: someone follows it (or may)."""
        gate = self._gate_from
        if gate is None or now < gate:
            return True
        wanted = self._wanted
        return wanted.get(run_id, 0.0) > now or wanted.get("*", 0.0) > now

    def written(self, batch: Sequence[Write]) -> None:
        """Note what a committed batch changed (and the runs this journal now writes for), then announce it.

        A run's own writes (fenced with its epoch) go to the runs channel only, and only while someone
        follows the run; a change made by a process that does not execute the run (a cancel, an edit) goes
        to the runs channel and to the work channel, where its owner hears it.
        """
        now = time.monotonic()
        with self._lock:
            for w in batch:
                if w.op == "step":
                    if w.epoch is None or self.announces(w.target, now):
                        self._step_runs.add(w.target)
                    if w.epoch is not None:
                        self.watch(w.target)
                elif w.op == "run":
                    r = w.run
                    assert r is not None
                    if not r.epoch or self.announces(r.run_id, now):
                        self._run_box.add(r.run_id)
                    if r.queue is not None and r.owner is None and r.status not in FINAL_STATUSES:
                        self._outbox.add(("w", r.queue))
                    if r.epoch:
                        self.watch(r.run_id)
                elif w.op in ("run_update", "delete_run"):
                    self._updated(w, now)
        self.announce()

    def _updated(self, w: Write, now: float) -> None:
        if w.epoch is None:
            self._outbox.add(("r", w.target))
            self._run_box.add(w.target)
        elif self.announces(w.target, now):
            self._run_box.add(w.target)
        fields = w.fields or {}
        if (
            w.op == "delete_run"
            or fields.get("status") in FINAL_STATUSES
            or ("owner" in fields and fields["owner"] is None)
        ):
            self._unwatch(w.target)
            if fields.get("owner", "") is None:
                self._outbox.add(("w", "*"))
        elif w.epoch is not None:
            self.watch(w.target)

    def announce(self) -> None:
        """Wake the notifier if there is something to announce now (runs and steps wait for their next turn)."""
        now = time.monotonic()
        if (
            self._outbox
            or (self._run_box and (now >= self._runs_due or self._notifier_idle))
            or (self._step_runs and (now >= self._steps_due or self._notifier_idle))
        ):
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
        """Send what was committed, coalesced: one NOTIFY per channel carries everything that piled up meanwhile.

        It sleeps until woken when nothing is pending (no wake-ups of an idle process), else until the
        next announcement is due.
        """
        while True:
            with self._lock:
                boxes = ((self._run_box, self._runs_due), (self._step_runs, self._steps_due))
                dues = [due for box, due in boxes if box]
                timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
                self._notifier_idle = timeout is None and not self._outbox
            self._wake_notifier.wait(timeout)
            self._wake_notifier.clear()
            self._notifier_idle = False
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
        if not self._ever_watched:
            self._read_at = time.monotonic()  # a reader asking: it follows every run while it keeps asking
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

    def follow_runs(self, run_id: str | None = None) -> Callable[[], None]:
        """Follow one run (or every run) until the returned function is called (see ``PostgresJournal.follow_runs``)."""
        key = "*" if run_id is None else run_id
        with self._lock:
            self._follows[key] = self._follows.get(key, 0) + 1
        self._ensure_listener()
        done = False

        def unfollow() -> None:
            nonlocal done
            if not done:
                done = True
                with self._lock:
                    left = self._follows.get(key, 1) - 1
                    if left > 0:
                        self._follows[key] = left
                    else:
                        self._follows.pop(key, None)

        return unfollow

    def wait_listening(self, timeout: float) -> bool:
        """Block until the listener listens (to the runs channel too if it should), has asked for the runs this
        process follows, and has heard who follows the runs executing here."""
        self._ensure_listener()
        deadline = time.monotonic() + timeout
        if not self._listening.wait(timeout):
            return False
        while (
            self._wants_runs() != self._following_runs
            or not self._follow_keys(time.monotonic()) <= self._asked
            or self._gate_from is None
            or time.monotonic() < self._gate_from
        ):
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
                    self._connected(conn)
                    if not first:  # announcements made while the connection was down are lost: say so
                        self._dispatch("reconnect", "")
                    first = False
                    delay = 0.1
                    while not self._closed:
                        self._tick(conn)
                        for note in conn.notifies(timeout=_LISTEN_TICK):
                            self._received(note.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                self._gate_from = None  # not listening: who follows is unknown, so everything is announced
                if self.closed:
                    return
                _log.debug("nbdurable: the PostgreSQL listener lost its connection: %s", exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # a subscriber's bug must not end notifications for the others
                _log.exception("nbdurable: a journal notification subscriber failed")

    def _connected(self, conn: psycopg.Connection[Any]) -> None:
        """Listen to the work channel, and ask followers to say again which runs they follow."""
        self._following_runs = False
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        self._asked, self._renew_at = set(), 0.0
        self._send_on(conn, self._channel, [["?", ""]])
        self._gate_from = time.monotonic() + _FOLLOW_GRACE  # until then every run is announced: answers come
        self._listening.set()

    def _wants_runs(self) -> bool:
        """Whether to hear the runs channel: runs are followed here, or this journal only reads (never wrote
        for a run: the server extension, a listing, a notebook that hands all its runs to workers)."""
        return bool(self._follows) or not self._ever_watched

    def _follow_keys(self, now: float) -> set[str]:
        """What this process asks owners to announce: the runs it follows, every run ("*") for a reader that asks."""
        with self._lock:
            keys = set(self._follows)
        if not self._ever_watched and now - self._read_at < _FOLLOW_TTL:
            keys.add("*")
        return keys

    def _tick(self, conn: psycopg.Connection[Any]) -> None:
        """Between two waits for notifications: listen to the runs channel or stop, and ask for followed runs.

        The runs channel is listened to before a run is asked for, so the owner's first announcement
        (it announces a run as soon as it hears the request) is heard.
        """
        wanted = self._wants_runs()
        if wanted != self._following_runs:
            verb = "LISTEN {}" if wanted else "UNLISTEN {}"
            conn.execute(sql.SQL(verb).format(sql.Identifier(self._runs_channel)))
            self._following_runs = wanted
            if wanted:  # what changed before the LISTEN was not heard: followers look again
                self._dispatch("following", "")
        now = time.monotonic()
        keys = self._follow_keys(now)
        if now >= self._renew_at:
            ask, self._renew_at = keys, now + _FOLLOW_RENEW
            with self._lock:
                self._wanted = {k: until for k, until in self._wanted.items() if until > now}
        else:
            ask = keys - self._asked
        self._asked = keys
        if ask and self._following_runs:
            self._send_on(conn, self._channel, [["f", key] for key in sorted(ask)])

    def _send_on(self, conn: psycopg.Connection[Any], channel: str, items: list[list[str]]) -> None:
        for payload in self._payloads(items):
            conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def _heard_follow(self, key: str) -> None:
        """Another process follows a run (or every run): announce it from now on, and once at once if it runs
        or ran here (what it committed before the request is then read again by the follower)."""
        now = time.monotonic()
        with self._lock:
            fresh = self._wanted.get(key, 0.0) <= now
            self._wanted[key] = now + _FOLLOW_TTL
            if not fresh:
                return
            if key == "*":
                runs = [*self._watched, *self._recent_ends]
            else:
                runs = [key] if key in self._watched or key in self._recent_ends else []
            self._run_box.update(runs)
            self._step_runs.update(runs)
        if runs:
            self.announce()

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
            if code == "f":  # requests between journals: neither the token nor the subscribers hear them
                self._heard_follow(key)
                continue
            if code == "?":
                self._renew_at = 0.0  # a process (re)connected: tell it at the next tick what is followed here
                continue
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
