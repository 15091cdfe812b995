"""``python -m nbdurable doctor``: check a journal file and say what is wrong and what to do.

It reads the journal without changing it (a read-only connection, no migration):
its files' ownership and permissions, SQLite's integrity check, the schema
version, and the owners of unfinished runs and whether they still live. With
``--repair`` it makes the safe repairs: tighten permissions of what this user
owns, and mark runs whose owner is gone as interrupted (a claim that bumps their
epoch, so a stale owner can never commit over them). A damaged file is never
rewritten: the report says how to recover it.

Exit codes: 0 healthy (or repaired), 1 problems found (listed), 2 the journal could
not be examined (missing, unreadable, not an nbdurable journal).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from .._errors import NbDurableError
from ..journal import _files
from ..journal._owner import describe_owner, is_alive
from ..journal._protocol import ACTIVE_STATUSES
from ..journal._sqlite import (
    SCHEMA_VERSION,
    SQLiteJournal,
    connect_readonly,
    default_journal_path,
    recovery_hint,
    unfinished_runs,
)

__all__ = ["Report", "diagnose", "main"]

_APP_ID = 0x6E626475


class CannotExamineError(Exception):
    """The journal cannot be examined at all (exit code 2)."""


@dataclasses.dataclass(slots=True)
class Problem:
    """One thing wrong, and the repair ``--repair`` makes for it (None: a person must act)."""

    text: str
    repair: str | None = None
    repaired: bool = False


@dataclasses.dataclass(slots=True)
class Report:
    """What the doctor found in one journal."""

    path: Path
    notes: list[str] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    findings: list[_files.Finding] = dataclasses.field(default_factory=list)
    dead_runs: list[tuple[str, str | None, int, str]] = dataclasses.field(default_factory=list)
    corrupt: bool = False


def _examine_files(report: Report) -> Path:
    path = report.path
    target, findings = _files.inspect(path, allow_unsafe=False, follow_symlinks=True)
    if target != path:
        report.problems.append(
            Problem(
                f"the journal path is a symlink to {target}: nbdurable opens it only with "
                f"{_files.FOLLOW_SYMLINKS_ENV}=1 (or follow_symlinks=True); replace the symlink by the file itself"
            )
        )
    report.findings = findings
    for f in findings:
        if f.chmod is not None:
            report.problems.append(Problem(f"{f.path}: {f.problem}", repair=f"chmod {f.chmod:04o} {f.path}"))
        else:
            report.problems.append(
                Problem(
                    f"{f.path}: {f.problem}; nbdurable refuses it unless {_files.ALLOW_UNSAFE_ENV}=1: fix the "
                    "ownership or permissions (chown, chmod go-w), or move the journal to a folder of your own"
                )
            )
    if not target.exists():
        raise CannotExamineError(f"there is no journal at {path}")
    if not target.is_file():
        raise CannotExamineError(f"{path} is not a file")
    return target


def _examine_database(report: Report, target: Path) -> sqlite3.Connection | None:
    try:
        conn = connect_readonly(target, timeout=5.0, prefer_immutable=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "unable to open" in str(exc).lower() or "readonly" in str(exc).lower():
            raise CannotExamineError(f"cannot read {report.path}: {exc}") from exc
        report.corrupt = True
        report.problems.append(
            Problem(f"the file is damaged or not an SQLite database ({exc}). {recovery_hint(report.path)}")
        )
        return None
    if app_id not in (0, _APP_ID) or (version == 0 and tables):
        conn.close()
        raise CannotExamineError(f"{report.path} is an SQLite database but not an nbdurable journal")
    if version == 0:
        conn.close()
        report.problems.append(
            Problem(
                "the file holds no journal: it is empty (truncated, or never written by nbdurable). If it held "
                f"runs, restore it from a copy. {recovery_hint(report.path)}"
            )
        )
        return None
    if version > SCHEMA_VERSION:
        report.problems.append(
            Problem(
                f"schema version {version} was written by a newer nbdurable (this one reads up to "
                f"{SCHEMA_VERSION}): upgrade nbdurable (pip install -U nbdurable)"
            )
        )
    elif version < SCHEMA_VERSION:
        report.notes.append(f"schema version {version}: upgraded to {SCHEMA_VERSION} when next opened for writing")
    else:
        report.notes.append(f"schema version {version} (current)")
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows != ["ok"]:
        report.corrupt = True
        shown = "; ".join(rows[:5]) + (" ..." if len(rows) > 5 else "")
        report.problems.append(Problem(f"the integrity check failed: {shown}. {recovery_hint(report.path)}"))
    else:
        report.notes.append("integrity check: ok")
    return conn


def _examine_runs(report: Report, conn: sqlite3.Connection) -> None:
    try:
        rows = unfinished_runs(conn)
    except sqlite3.DatabaseError as exc:
        report.corrupt = True
        report.problems.append(Problem(f"the runs cannot be read ({exc}). {recovery_hint(report.path)}"))
        return
    alive = 0
    for run_id, status, owner, lease_until, epoch in rows:
        if not owner:
            report.notes.append(f"run {run_id}: {status}, no process has started it yet (any process may resume it)")
        elif is_alive(owner, lease_until):
            alive += 1
            report.notes.append(f"run {run_id}: {status}, executed by {describe_owner(owner)}, which is alive")
        elif status in ACTIVE_STATUSES or status == "queued":
            report.dead_runs.append((run_id, owner, int(epoch or 0), status))
            report.problems.append(
                Problem(
                    f"run {run_id}: journaled as {status} but its process ({describe_owner(owner)}) is gone; it "
                    "reads as interrupted and can be resumed",
                    repair=f"mark run {run_id} interrupted",
                )
            )
    if not rows:
        report.notes.append("no unfinished runs")


def diagnose(path: Path) -> tuple[Report, sqlite3.Connection | None]:
    """Examine the journal at ``path`` without changing it; CannotExamineError if it cannot be."""
    report = Report(path)
    target = _examine_files(report)
    conn = _examine_database(report, target)
    if conn is not None and not report.corrupt:
        _examine_runs(report, conn)
    return report, conn


def _repair(report: Report) -> None:
    _files.tighten(report.findings)
    for p in report.problems:
        if p.repair is not None and p.repair.startswith("chmod"):
            p.repaired = True
    if not report.dead_runs or report.corrupt:
        return
    try:
        journal = SQLiteJournal(report.path)
    except NbDurableError as exc:
        for p in report.problems:
            if p.repair is not None and p.repair.startswith("mark run"):
                p.text += f" (not repaired: {exc})"
        return
    try:
        for run_id, owner, epoch, status in report.dead_runs:
            done = journal.claim_run(
                run_id,
                owner or "",
                epoch=epoch,
                status=status,
                lease_until=None,
                fields={
                    "status": "interrupted",
                    "status_reason": f"marked interrupted by nbdurable doctor: {describe_owner(owner)} is gone",
                },
            )
            for p in report.problems:
                if p.repair == f"mark run {run_id} interrupted":
                    p.repaired = done is not None
                    if done is None:
                        p.text += " (not repaired: the run changed meanwhile; run doctor again)"
    finally:
        journal.close()


def _print(report: Report, repair: bool, out: TextIO) -> int:
    print(f"nbdurable doctor: {report.path}", file=out)
    for note in report.notes:
        print(f"  ok    {note}", file=out)
    for p in report.problems:
        if p.repaired:
            print(f"  fixed {p.text} ({p.repair})", file=out)
        elif p.repair is not None and not repair:
            print(f"  FIX   {p.text} -> --repair would: {p.repair}", file=out)
        else:
            print(f"  BAD   {p.text}", file=out)
    left = [p for p in report.problems if not p.repaired]
    fixable = [p for p in left if p.repair is not None]
    if not left:
        print("healthy" + (" after repairs" if report.problems else ""), file=out)
        return 0
    tail = f"; run with --repair to fix {len(fixable)} of them" if fixable and not repair else ""
    print(f"{len(left)} problem(s){tail}", file=out)
    return 1


def main(journal: str | None, *, repair: bool, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the doctor; never raises (a traceback is not an answer), returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    path = Path(journal).expanduser() if journal else default_journal_path()
    try:
        report, conn = diagnose(path)
        if conn is not None:
            conn.close()
        if repair:
            _repair(report)
        return _print(report, repair, out)
    except CannotExamineError as exc:
        print(f"nbdurable doctor: {exc}", file=err)
        return 2
    except Exception as exc:  # the doctor reports, it never crashes
        print(f"nbdurable doctor: could not examine {path}: {type(exc).__name__}: {exc}", file=err)
        return 2
