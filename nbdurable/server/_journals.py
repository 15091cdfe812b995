"""Which journals the server serves: found under ``root_dir``, named in config, or ``$NBDURABLE_JOURNAL``.

A PostgreSQL journal (a URL or connection string in config or ``$NBDURABLE_JOURNAL``) is
served too, named by its URL with any password masked: the runs of every worker on it.

The scan is bounded (depth, folders visited, journals found), skips hidden folders,
virtual environments and ``node_modules``, never follows a symlink out of the root,
and is cached for ``scan_interval`` seconds. A journal is named in the API by its path
relative to ``root_dir`` (or its absolute path when configured outside it); a name
from a request is only ever looked up, never opened as given, so ``..`` or an
absolute path cannot reach a file the server does not already serve.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from .._errors import NbDurableError
from ..engine import Engine
from ..journal import Journal, SQLiteJournal
from ..journal._backends import is_postgres, open_journal, redact_dsn
from ._errors import ApiError
from ._index import RunIndex

__all__ = ["JOURNAL_NAME", "JournalSet", "ScanLimits", "ServedJournal"]

JOURNAL_NAME = PurePosixPath(".nbdurable", "journal.db")
Source = Literal["env", "config", "scan", "request"]
# Folders never worth descending into (besides hidden ones and Python environments).
_SKIP = frozenset({"node_modules", "__pycache__", "site-packages"})


@dataclasses.dataclass(frozen=True, slots=True)
class ScanLimits:
    """How far the search for journals under the root goes."""

    depth: int = 4  # folder levels below the root
    max_dirs: int = 5000  # folders looked at per scan
    max_journals: int = 100
    interval: float = 30.0  # seconds a scan's result is reused


class ServedJournal:
    """One journal the server serves: a read-only index of its runs, and an engine for actions, opened on demand."""

    def __init__(self, key: str, path: Path, source: Source, *, max_runs: int, database: str | None = None) -> None:
        self.key = key
        self.path = path
        self.database = database  # a PostgreSQL journal's connection string (path is then unused)
        self.source: Source = source
        self._max_runs = max_runs
        self._lock = threading.Lock()
        self._index: RunIndex | None = None
        self._engine: Engine | None = None
        self.error: str | None = None

    def __repr__(self) -> str:
        return f"ServedJournal({self.key!r}, {self.source})"

    def describe(self) -> dict[str, Any]:
        return {"journal": self.key, "source": self.source, "error": self.error}

    def index(self) -> RunIndex:
        """The run index over a read-only connection (opened on first use; JournalError if it cannot be)."""
        with self._lock:
            if self._index is None:
                try:
                    reader = self._open(readonly=True)
                except NbDurableError as exc:
                    self.error = str(exc)
                    raise
                self.error = None
                self._index = RunIndex(reader, self.key, max_runs=self._max_runs, engine=lambda: self._engine)
            return self._index

    def engine(self) -> Engine:
        """An engine on a writable connection, for cancel, resume, rerun and events (created on first use)."""
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self._open(readonly=False))
            return self._engine

    def _open(self, *, readonly: bool) -> Journal:
        if self.database is not None:
            return open_journal(self.database, readonly=readonly)
        return SQLiteJournal(self.path, readonly=readonly)

    @property
    def running_engine(self) -> Engine | None:
        """The action engine if one is open (runs resumed by the server execute in it)."""
        return self._engine

    async def stop_runs(self, timeout: float = 10.0) -> None:
        """Interrupt the runs executing in the server (left interrupted and resumable, as a stopped kernel leaves
        them) and give them ``timeout`` seconds to journal it."""
        engine = self._engine
        if engine is None:
            return
        tasks = [st.task for st in engine.active.values() if st.task is not None and not st.task.done()]
        for run_id in list(engine.active):
            engine.interrupt(run_id)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                for run_id in list(self._engine.active):
                    self._engine.interrupt(run_id)
                self._engine.journal.close()
                self._engine = None
            if self._index is not None:
                self._index.close()
                self._index = None


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False for a name the file system refuses (too long, say)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _is_environment(folder: os.DirEntry[str]) -> bool:
    """A virtual environment or a conda environment: thousands of folders and no journals."""
    return any(os.path.exists(os.path.join(folder.path, marker)) for marker in ("pyvenv.cfg", "conda-meta"))


def scan(root: Path, limits: ScanLimits) -> list[Path]:
    """Journals under ``root``, breadth first, within the limits; resolved paths inside the root only."""
    found: list[Path] = []
    level = [root]
    visited = 0
    for depth in range(limits.depth + 1):
        below: list[Path] = []
        for folder in level:
            visited += 1
            if visited > limits.max_dirs or len(found) >= limits.max_journals:
                return found
            candidate = folder / JOURNAL_NAME
            if _is_file(candidate):
                real = candidate.resolve()
                if _inside(real, root):
                    found.append(real)
            if depth == limits.depth:
                continue
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.name.startswith(".") or entry.name in _SKIP:
                            continue
                        if entry.is_dir(follow_symlinks=False) and not _is_environment(entry):
                            below.append(Path(entry.path))
            except OSError:
                continue  # unreadable folder: skipped, as a user without access would
        level = sorted(below)
    return found


class JournalSet:
    """The journals served: the environment's, the configured ones and those found under the root."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        configured: Iterable[str] = (),
        env: str | None = None,
        limits: ScanLimits = ScanLimits(),
        max_runs: int = 10_000,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.limits = limits
        self._max_runs = max_runs
        self._lock = threading.Lock()
        self._fixed: dict[Path, Source] = {}
        self._databases: dict[str, Source] = {}  # PostgreSQL journals: connection string, source
        if env and is_postgres(env):
            self._databases[env] = "env"
        elif env:
            self._fixed[Path(env).expanduser().resolve()] = "env"
        for item in configured:
            if is_postgres(item):
                self._databases.setdefault(item, "config")
                continue
            path = Path(item).expanduser()
            self._fixed.setdefault((path if path.is_absolute() else self.root / path).resolve(), "config")
        self._served: dict[str, ServedJournal] = {}
        self._scanned_at: float | None = None
        self.generation = 0  # grows whenever the set of journals changes

    def key_for(self, path: Path) -> str:
        """The name of a journal in the API: relative to the root when inside it, else its absolute path."""
        return path.relative_to(self.root).as_posix() if _inside(path, self.root) else str(path)

    def refresh(self, *, force: bool = False) -> bool:
        """Rescan if the last scan is older than the interval; True if the set of journals changed."""
        with self._lock:
            now = time.monotonic()
            if not force and self._scanned_at is not None and now - self._scanned_at < self.limits.interval:
                return False
            found: dict[Path, Source] = {p: s for p, s in self._fixed.items() if _is_file(p)}
            for path in scan(self.root, self.limits):
                found.setdefault(path, "scan")
            for served in self._served.values():
                if served.source == "request" and _is_file(served.path):
                    found.setdefault(served.path, "request")
            self._scanned_at = now
            keys: dict[str, tuple[Path, Source, str | None]] = {self.key_for(p): (p, s, None) for p, s in found.items()}
            for spec, source in self._databases.items():
                keys.setdefault(redact_dsn(spec), (self.root, source, spec))
            changed = set(keys) != set(self._served)
            for key in set(self._served) - set(keys):
                self._served.pop(key).close()
            for key, (path, source, database) in keys.items():
                if key in self._served:
                    self._served[key].source = source  # a journal asked for, then found by the scan, is "scan"
                else:
                    self._served[key] = ServedJournal(key, path, source, max_runs=self._max_runs, database=database)
            if changed:
                self.generation += 1
            return changed

    def all(self) -> list[ServedJournal]:
        self.refresh()
        with self._lock:
            return sorted(self._served.values(), key=lambda j: j.key)

    def get(self, key: str) -> ServedJournal:
        """The served journal named ``key``: 400 if the name points outside the root, 404 if it is not served."""
        self.refresh()
        with self._lock:
            served = self._served.get(key)
        if served is not None:
            return served
        path = self._checked_path(key)
        if path.relative_to(self.root).parts[-2:] == JOURNAL_NAME.parts and _is_file(path):
            # Deeper than the scan goes, but inside the root and named like a journal: served from now on.
            with self._lock:
                served = self._served.setdefault(
                    self.key_for(path), ServedJournal(self.key_for(path), path, "request", max_runs=self._max_runs)
                )
                self.generation += 1
            return served
        raise ApiError(
            404,
            f"no journal {key!r} is served here. The journals served are listed by GET /nbdurable/api/journals: "
            "the .nbdurable/journal.db files under the server's root, $NBDURABLE_JOURNAL and c.NbDurable.journals.",
        )

    def _checked_path(self, key: str) -> Path:
        if not key or len(key) > 4096 or "\x00" in key:
            raise ApiError(400, "the journal parameter must be a path relative to the server's root")
        pure = PurePosixPath(key)
        if pure.is_absolute() or ".." in pure.parts or "\\" in key:
            raise ApiError(
                400,
                f"journal {key!r} is outside the server's root: give a path relative to it (as GET "
                "/nbdurable/api/journals lists them), or configure the journal in c.NbDurable.journals.",
            )
        try:
            path = (self.root / pure).resolve()
        except (OSError, RuntimeError):  # a name too long, a symlink loop: no such journal
            raise ApiError(404, f"no journal {key[:200]!r} is served here") from None
        if not _inside(path, self.root):
            raise ApiError(
                400,
                f"journal {key!r} leads outside the server's root (through a symlink); configure it in "
                "c.NbDurable.journals to serve it.",
            )
        return path

    async def aclose(self) -> None:
        """Stop the runs the server executes, then close every journal (the server is stopping)."""
        with self._lock:
            served = list(self._served.values())
        for journal in served:
            await journal.stop_runs()
        self.close()

    def close(self) -> None:
        with self._lock:
            for served in self._served.values():
                served.close()
            self._served.clear()
