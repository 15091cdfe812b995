"""The command line: ``python -m nbdurable`` (or ``nbdurable``) COMMAND.

``lint PATH...`` checks workflows for code that replays differently; ``list``,
``show``, ``send`` and ``cancel`` read and act on a journal from outside any
kernel (a kernel and the CLI share one journal safely); ``doctor`` checks a
journal file. A journal this user cannot write opens read-only: ``list`` and
``show`` work, ``send`` and ``cancel`` say why they cannot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nbdurable", description="Durable execution for notebooks.")
    p.add_argument(
        "--journal", metavar="PATH", help="journal file (default: $NBDURABLE_JOURNAL or .nbdurable/journal.db)"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("lint", help="static determinism check of .py files and notebooks", add_help=False)
    ls = sub.add_parser("list", help="runs with status, progress and age")
    ls.add_argument("--status")
    ls.add_argument("--limit", type=int, default=50)
    show = sub.add_parser("show", help="the steps of a run")
    show.add_argument("run")
    send = sub.add_parser(
        "send",
        help="send an event: answers waiting runs (runs it triggers start in a process that defines their function)",
    )
    send.add_argument("event")
    send.add_argument("data", nargs="?", default="{}", help="JSON object")
    send.add_argument("--id")
    cancel = sub.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run")
    cancel.add_argument("--reason", default="cancelled from the command line")
    doctor = sub.add_parser(
        "doctor",
        help="check a journal: permissions, integrity, schema version, owners of unfinished runs "
        "(exit 0 healthy, 1 problems, 2 cannot examine)",
    )
    doctor.add_argument("--repair", action="store_true", help="tighten permissions, mark dead-owned runs interrupted")
    for command in (ls, show, send, cancel, doctor):
        # Also accepted after the command (python -m nbdurable doctor --journal PATH).
        command.add_argument("--journal", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["lint"]:
        from .linter._cli import main as lint_main

        return lint_main(args_list[1:])
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "doctor":
        from ._doctor import main as doctor_main

        return doctor_main(args.journal, repair=args.repair)
    from ._engine import Engine
    from ._errors import NbDurableError
    from ._magics import _age
    from ._sqlite import SQLiteJournal

    if args.command in ("list", "show", "cancel"):
        # A command that reads (or acts on an existing run) must not create a journal as a side effect.
        from ._sqlite import default_journal_path

        path = Path(args.journal).expanduser() if args.journal else default_journal_path()
        if not os.path.lexists(path):
            print(
                f"nbdurable: there is no journal at {path}; point --journal or NBDURABLE_JOURNAL at one",
                file=sys.stderr,
            )
            return 2
    try:
        engine = Engine(SQLiteJournal(args.journal))
    except NbDurableError as exc:
        print(f"nbdurable: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "list":
            handles = engine.runs(status=args.status, limit=args.limit)
            counts = engine.journal.step_counts([h.run_id for h in handles])
            for h in handles:
                rec = h.record
                age = _age(rec.updated_at) if rec else ""
                print(_shown(f"{h.run_id}\t{h.function_id}\t{h.status}\t{counts.get(h.run_id, 0)} steps\t{age}"))
        elif args.command == "show":
            handle = engine.handle(args.run)
            print(_shown(f"run {args.run} ({handle.function_id}): {handle.status}"))
            rec = handle.record
            for warning in (rec.warnings or []) if rec is not None and rec.damaged else []:
                print(_shown(f"  unreadable: {warning['message']}"))
            for s in handle.steps():
                took = f"{s.duration * 1000:.1f} ms" if s.duration is not None else ""
                print(_shown(f"  {s.position:>4}  {s.step_id:<30} {s.kind:<7} {s.status:<10} {took}"))
                if s.error and s.error.get("type") == "JournalRecordError":
                    print(_shown(f"        unreadable: {s.error.get('message')}"))
        elif args.command == "send":
            try:
                data = json.loads(args.data)
            except json.JSONDecodeError as exc:
                print(
                    f"nbdurable send: the payload is not valid JSON ({exc.msg} at character {exc.pos})", file=sys.stderr
                )
                return 2
            if not isinstance(data, dict):
                print("nbdurable send: the payload must be a JSON object", file=sys.stderr)
                return 2
            engine.send_nowait(args.event, data, id=args.id)
            print(f"sent {args.event} at {time.strftime('%H:%M:%S')}")
        elif args.command == "cancel":
            changed = engine.cancel(args.run, args.reason)
            print(f"run {args.run} cancelled" if changed else f"run {args.run} had already ended; nothing changed")
    except NbDurableError as exc:
        print(f"nbdurable: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.journal.close()
    return 0


def _shown(line: str) -> str:
    """A line safe for a terminal: names from a journal may hold control characters or invalid text."""
    if line.isprintable():
        return line
    # Escapes, tabs aside: no terminal control sequence and no lone surrogate reaches stdout.
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in line)


if __name__ == "__main__":
    sys.exit(main())
