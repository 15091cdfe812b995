"""The live feed: run and step changes in every served journal, as server-sent events.

One task polls while anyone listens: every ``poll_interval`` each journal's change
counter is read (a ``PRAGMA data_version``); only a journal whose counter moved is
looked at further (see ``_index``), and the runs that changed since the version a
subscriber last got are sent to it. Nothing is read per subscriber. A subscriber
that falls too far behind gets ``reset`` (reload the list) instead of a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from typing import Any

from .._errors import NbDurableError
from ._index import summary_json
from ._journals import JournalSet

__all__ = ["FeedHub", "Subscriber", "sse"]

_log = logging.getLogger("nbdurable.server")
_QUEUE_SIZE = 1000  # messages waiting for a slow subscriber before it is told to reset


def sse(event: str, data: Any, *, event_id: int | None = None) -> str:
    """One server-sent event (the data is one line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Subscriber:
    """One open feed: the journals it follows (None: all) and its queue of messages (None ends it)."""

    def __init__(self, journal: str | None) -> None:
        self.journal = journal
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self.overflowed = False

    def put(self, message: str | None) -> None:
        if message is None:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)
            return
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow to keep up: drop what waits and tell it to reload the list instead.
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(sse("reset", {"reason": "the feed fell behind; reload the runs"}))
            self.overflowed = False


class FeedHub:
    """Polls the journals while there are subscribers and fans the changes out to them."""

    def __init__(self, journals: JournalSet, *, poll_interval: float = 0.5) -> None:
        self.journals = journals
        self.poll_interval = poll_interval
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._versions: dict[str, int] = {}  # journal -> index version already sent
        self._generation = -1
        self._seq = 0
        self._stopped = False
        self._starting = asyncio.Lock()
        self._poll_lock = threading.Lock()

    async def subscribe(self, journal: str | None) -> Subscriber:
        """A new feed; changes committed from now on reach it."""
        if self._stopped:
            raise NbDurableError("the Jupyter server is stopping")
        sub = Subscriber(journal)
        async with self._starting:
            if self._task is None or self._task.done():
                await asyncio.to_thread(self.poll)  # the baseline: what is in the journals now is not news
                self._task = asyncio.get_running_loop().create_task(self._run(), name="nbdurable:feed")
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def stop(self) -> None:
        """End every open feed (the server is stopping) and the polling task."""
        self._stopped = True
        for sub in list(self._subscribers):
            sub.put(None)
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if not self._subscribers:
                break
            try:
                messages = await asyncio.to_thread(self.poll)
            except Exception:  # a journal that breaks must not end the feed for the others
                _log.exception("nbdurable: the live feed could not read the journals")
                continue
            for journal, message in messages:
                for sub in list(self._subscribers):
                    if sub.journal is None or journal is None or sub.journal == journal:
                        sub.put(message)
        with self._poll_lock:
            self._versions.clear()  # the next first subscriber starts from the present
            self._generation = -1

    def poll(self) -> list[tuple[str | None, str]]:
        """The messages for what changed since the last poll: (journal or None for all, message). Worker thread."""
        with self._poll_lock:
            return self._poll()

    def _poll(self) -> list[tuple[str | None, str]]:
        out: list[tuple[str | None, str]] = []
        self.journals.refresh()
        served = self.journals.all()
        if self.journals.generation != self._generation:
            if self._generation != -1:
                out.append((None, self._message("journals", {"journals": [s.describe() for s in served]})))
            self._generation = self.journals.generation
        root = self.journals.root
        for journal in served:
            try:
                index = journal.index()
                index.refresh()
            except NbDurableError:
                continue  # listed with its error by GET /journals; nothing to feed
            last = self._versions.get(journal.key)
            if last is None:
                self._versions[journal.key] = index.version  # first look: the present is the starting point
                continue
            changed = index.changes_since(last)
            self._versions[journal.key] = index.version
            if changed is None:
                out.append((journal.key, self._message("reset", {"journal": journal.key, "reason": "many changes"})))
                continue
            index.ensure_steps(changed)
            for entry in changed:
                run = summary_json(entry, journal.key, root)
                out.append((journal.key, self._message("run", {"journal": journal.key, "run": run})))
        return out

    def _message(self, event: str, data: dict[str, Any]) -> str:
        self._seq += 1
        return sse(event, data, event_id=self._seq)
