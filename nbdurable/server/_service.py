"""What the REST API does, apart from HTTP: list and find runs, build timelines, cancel, resume, rerun, send.

Reads run in worker threads over read-only connections (the handlers call them with
``asyncio.to_thread``); actions run on the server's event loop through an engine on
a writable connection, because a resumed run executes on that loop.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
from pathlib import Path
from typing import Any, get_args

from .._errors import ConfigError, JournalBusyError, JournalError, NbDurableError, RunOwnedElsewhereError
from ..engine import Engine, registry
from ..journal import FINAL_STATUSES, RunRecord, RunStatus, describe_owner, is_alive, this_owner
from ..timeline import build_snapshot
from ._errors import ApiError
from ._index import Entry, matches_text, notebook_of, origin_of, relative_notebook, summary_json
from ._journals import JournalSet, ServedJournal

__all__ = ["ListQuery", "Service"]

STATUSES = frozenset(get_args(RunStatus))
MAX_LIMIT = 500


class ListQuery:
    """The filters and page of GET /nbdurable/api/runs, checked."""

    def __init__(
        self,
        *,
        status: str | None = None,
        function: str | None = None,
        journal: str | None = None,
        text: str | None = None,
        limit: str | None = None,
        cursor: str | None = None,
    ) -> None:
        self.statuses: frozenset[str] | None = None
        if status:
            wanted = frozenset(s.strip() for s in status.split(",") if s.strip())
            unknown = sorted(wanted - STATUSES)
            if unknown:
                raise ApiError(
                    400, f"unknown status {', '.join(unknown)}; the statuses are {', '.join(sorted(STATUSES))}"
                )
            self.statuses = wanted
        self.function = _bounded(function, "function")
        self.journal = _bounded(journal, "journal", 4096)
        self.text = (_bounded(text, "text") or "").strip().lower() or None
        self.limit = 50
        if limit is not None:
            try:
                self.limit = int(limit)
            except ValueError:
                self.limit = 0
            if not 1 <= self.limit <= MAX_LIMIT:
                raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit[:40]!r}")
        self.after: tuple[float, str, str] | None = decode_cursor(cursor) if cursor else None


def _bounded(value: str | None, name: str, size: int = 500) -> str | None:
    if value is not None and (len(value) > size or "\x00" in value):
        raise ApiError(400, f"the {name} parameter is longer than {size} characters or holds a NUL")
    return value or None


def encode_cursor(key: tuple[float, str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str, str]:
    """The position a cursor stands for: (started_at, journal, run_id) of the last run of the previous page."""
    bad = ApiError(400, "the cursor is not one this API gave out: pass next_cursor from the previous page unchanged")
    if len(cursor) > 8192:
        raise bad
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], (int, float))
        or isinstance(value[0], bool)
        or not all(isinstance(v, str) for v in value[1:])
    ):
        raise bad
    return float(value[0]), value[1], value[2]


def _order(journal: str, entry: Entry) -> tuple[float, str, str]:
    return (entry.rec.created_at, journal, entry.run_id)


def _sort(items: list[tuple[str, Entry]]) -> None:
    """Newest first; ties broken by journal (ascending), then run id (descending): a total, stable order."""
    items.sort(key=lambda item: item[1].run_id, reverse=True)
    items.sort(key=lambda item: item[0])
    items.sort(key=lambda item: item[1].rec.created_at, reverse=True)


def _after(item: tuple[str, Entry], cursor: tuple[float, str, str]) -> bool:
    started, journal, run_id = _order(*item)
    if started != cursor[0]:
        return started < cursor[0]
    if journal != cursor[1]:
        return journal > cursor[1]
    return run_id < cursor[2]


class Service:
    """The API's operations over a JournalSet."""

    def __init__(self, journals: JournalSet) -> None:
        self.journals = journals

    # -- reading (worker threads) -------------------------------------------------------------------

    def served(self, key: str | None) -> list[ServedJournal]:
        return [self.journals.get(key)] if key else self.journals.all()

    def journals_json(self) -> dict[str, Any]:
        out = []
        for served in self.journals.all():
            info = served.describe()
            try:
                index = served.index()
                index.refresh()
                info.update(runs=len(index.entries()), truncated=index.truncated, error=None)
            except NbDurableError as exc:
                info.update(runs=None, truncated=False, error=str(exc))
            out.append(info)
        return {"root_dir": str(self.journals.root), "journals": out}

    def list_runs(self, query: ListQuery) -> dict[str, Any]:
        items: list[tuple[str, Entry]] = []
        errors: list[dict[str, str]] = []
        counts: dict[str, int] = {}
        indexes = {}
        for served in self.served(query.journal):
            try:
                index = served.index()
                index.refresh()
            except NbDurableError as exc:
                errors.append({"journal": served.key, "message": str(exc)})
                continue
            indexes[served.key] = index
            for entry in index.entries():
                counts[entry.status] = counts.get(entry.status, 0) + 1
                if query.statuses is not None and entry.status not in query.statuses:
                    continue
                if query.function is not None and entry.rec.function_id != query.function:
                    continue
                items.append((served.key, entry))
        root = self.journals.root
        if query.text is not None:
            needle = query.text
            items = [(key, e) for key, e in items if matches_text(e, needle, notebook_of(e, root))]
        total = len(items)
        if query.after is not None:
            after = query.after
            items = [item for item in items if _after(item, after)]
        _sort(items)
        page = items[: query.limit]
        for key in {k for k, _ in page}:
            indexes[key].ensure_steps([e for k, e in page if k == key])
        return {
            "runs": [summary_json(e, key, root) for key, e in page],
            "next_cursor": encode_cursor(_order(*page[-1])) if len(items) > query.limit else None,
            "total": total,
            "counts": counts,
            "errors": errors,
        }

    def find(self, run_id: str, journal: str | None) -> tuple[ServedJournal, RunRecord]:
        """The journal holding ``run_id`` and its record: 404 if none, 409 if several hold it and none was named."""
        if not run_id or len(run_id) > 1000 or "\x00" in run_id:
            raise ApiError(400, "a run id is 1 to 1000 characters, with no NUL")
        found: list[tuple[ServedJournal, RunRecord]] = []
        for served in self.served(journal):
            try:
                rec = served.index().journal.get_run(run_id)
            except NbDurableError as exc:
                if journal:
                    raise ApiError(503, f"journal {served.key!r} cannot be read: {exc}") from exc
                continue
            if rec is not None:
                found.append((served, rec))
        if not found:
            where = f"journal {journal!r}" if journal else "any journal served here"
            raise ApiError(404, f"no run {run_id!r} in {where}; GET /nbdurable/api/runs lists the runs")
        if len(found) > 1:
            keys = [s.key for s, _ in found]
            raise ApiError(
                409,
                f"run id {run_id!r} is in several journals ({', '.join(keys)}): say which with ?journal=",
                journals=keys,
            )
        return found[0]

    def snapshot(self, served: ServedJournal, run_id: str) -> dict[str, Any]:
        """The run's timeline from the read-only connection (a run executing in the server: see ``local_engine``)."""
        return build_snapshot(Engine(served.index().journal), run_id)

    # -- acting (the event loop) --------------------------------------------------------------------

    @staticmethod
    def local_engine(served: ServedJournal, run_id: str) -> Engine | None:
        """The server's own engine if the run executes (or just finished) in this process."""
        engine = served.running_engine
        if engine is not None and (run_id in engine.active or run_id in engine.finished):
            return engine
        return None

    def cancel(self, served: ServedJournal, run_id: str, reason: str) -> dict[str, Any]:
        engine = served.engine()
        try:
            changed = engine.cancel(run_id, reason)
        except ConfigError as exc:
            raise ApiError(404, str(exc)) from exc
        except JournalBusyError as exc:
            raise ApiError(503, f"{exc}; try again in a moment") from exc
        except JournalError as exc:
            raise ApiError(503, str(exc)) from exc
        rec = engine.journal.get_run(run_id)
        status = rec.status if rec is not None else "cancelled"
        if not changed:
            raise ApiError(409, f"run {run_id!r} had already ended ({status}); nothing changed", status=status)
        return {"run_id": run_id, "journal": served.key, "status": status}

    def resume(self, served: ServedJournal, run_id: str) -> dict[str, Any]:
        engine = served.engine()
        rec = self._resumable(served, engine, run_id, action="resume")
        try:
            handle = engine.resume(rec.run_id)
        except RunOwnedElsewhereError as exc:
            raise ApiError(409, str(exc)) from exc
        served.index().watch(rec.run_id)
        return {"run_id": handle.run_id, "journal": served.key, "status": handle.status, "where": "server"}

    def rerun(self, served: ServedJournal, run_id: str, from_step: str) -> dict[str, Any]:
        engine = served.engine()
        steps = [s.step_id for s in engine.journal.load_steps(run_id)]
        if from_step not in steps:
            known = ", ".join(repr(s) for s in steps[:20]) or "none"
            raise ApiError(400, f"run {run_id!r} has no step {from_step!r}; its steps are: {known}")
        self._resumable(served, engine, run_id, action="rerun", from_step=from_step, final_ok=True)
        try:
            handle = engine.rerun(run_id, from_step)
        except ConfigError as exc:
            raise ApiError(400, str(exc)) from exc
        return {
            "run_id": handle.run_id,
            "journal": served.key,
            "status": handle.status,
            "rerun_of": run_id,
            "from_step": from_step,
            "where": "server",
        }

    def _resumable(
        self,
        served: ServedJournal,
        engine: Engine,
        run_id: str,
        *,
        action: str,
        from_step: str | None = None,
        final_ok: bool = False,
    ) -> RunRecord:
        """The run's record if this process can run it (``action``); else a 409 that says where it can."""
        rec = engine.journal.get_run(run_id)
        if rec is None:
            raise ApiError(404, f"no run {run_id!r} in journal {served.key!r}")
        if not final_ok and rec.status in FINAL_STATUSES and rec.status != "failed":
            raise ApiError(
                409,
                f"run {run_id!r} is {rec.status}: there is nothing to resume. Start it again from a step with "
                f"POST /nbdurable/api/runs/{run_id}/rerun",
                status=rec.status,
            )
        if (
            not final_ok
            and rec.status not in FINAL_STATUSES
            and rec.owner
            and rec.owner != this_owner()
            and is_alive(rec.owner)
            and rec.status != "interrupted"
        ):
            raise ApiError(
                409, f"run {run_id!r} is being executed by {describe_owner(rec.owner)}; it cannot run in two places"
            )
        if rec.kind == "cell" or rec.function_id not in registry():
            where = _where(rec, action, from_step, self.journals.root)
            raise ApiError(409, _where_message(rec, served, action, where), resume_in=where)
        return rec

    def send(self, served: ServedJournal, name: str, data: dict[str, Any], event_id: str | None) -> dict[str, Any]:
        engine = served.engine()
        duplicate = event_id is not None and engine.journal.get_event(event_id) is not None
        try:
            handles = engine.send_nowait(name, data, id=event_id)
        except ConfigError as exc:
            raise ApiError(400, str(exc)) from exc
        except JournalBusyError as exc:
            raise ApiError(503, f"{exc}; try again in a moment") from exc
        return {
            "journal": served.key,
            "name": name,
            "duplicate": duplicate,
            "runs": [h.run_id for h in handles],
        }

    def event_journal(self, key: str | None) -> ServedJournal:
        """The journal an event goes to: the one named, else the only one served, else $NBDURABLE_JOURNAL's."""
        if key:
            return self.journals.get(key)
        served = self.journals.all()
        if len(served) == 1:
            return served[0]
        env = [s for s in served if s.source == "env"]
        if len(env) == 1:
            return env[0]
        keys = ", ".join(s.key for s in served) or "none"
        raise ApiError(400, f'say which journal the event goes to with "journal" (served: {keys})')


def _where(rec: RunRecord, action: str, from_step: str | None, root: Path) -> dict[str, Any]:
    """Where a run can be resumed or rerun, and the code that does it there (the notebook relative to the root)."""
    if rec.kind == "cell":
        magic = f"%durable rerun {shlex.quote(rec.run_id)} --from {shlex.quote(from_step or '')}"
        code = magic if action == "rerun" else f"%durable resume {shlex.quote(rec.run_id)}"
        origin = origin_of(rec)
        cell_id = origin.get("cell_id")
        return {
            "where": "notebook",
            "notebook": relative_notebook(origin.get("notebook"), root),
            "cell_id": cell_id if isinstance(cell_id, str) else None,
            "code": code,
        }
    python = f"nd.get_run({rec.run_id!r}).resume()"
    if action == "rerun":
        python = f"nd.rerun({rec.run_id!r}, from_step={from_step!r})"
    return {"where": "process", "function_id": rec.function_id, "code": python}


def _where_message(rec: RunRecord, served: ServedJournal, action: str, where: dict[str, Any]) -> str:
    if rec.kind == "cell":
        return (
            f"run {rec.run_id!r} is a notebook cell's run ({rec.function_id}); only its notebook can {action} it. In "
            f"a kernel with %load_ext nbdurable on journal {served.key!r}, run: {where['code']}"
        )
    return (
        f"function {rec.function_id!r} of run {rec.run_id!r} is not defined in the Jupyter server process, so the "
        f"run cannot {action} here. In a kernel or script that defines it (on journal {served.key!r}) run: "
        f"{where['code']}; or list its module in c.NbDurable.function_modules."
    )
