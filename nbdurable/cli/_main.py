"""The command line: ``python -m nbdurable`` (or ``nbdurable``) COMMAND.

``lint PATH...`` checks workflows for code that replays differently; ``list``,
``show``, ``send`` and ``cancel`` read and act on a journal from outside any
kernel (a kernel and the CLI share one journal safely); ``doctor`` checks a
journal file. A journal this user cannot write opens read-only: ``list`` and
``show`` work, ``send`` and ``cancel`` say why they cannot. Bad input of any kind
(arguments, payloads, a journal that cannot be read) ends with one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..journal._protocol import RUN_STATUSES

__all__ = ["main"]

_STATUSES = RUN_STATUSES


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1000000, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nbdurable", description="Durable execution for notebooks.")
    p.add_argument(
        "--journal", metavar="PATH", help="journal file (default: $NBDURABLE_JOURNAL or .nbdurable/journal.db)"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("lint", help="static determinism check of .py files and notebooks", add_help=False)
    ls = sub.add_parser("list", help="runs with status, progress and age")
    ls.add_argument("--status", choices=_STATUSES)
    ls.add_argument("--limit", type=_limit, default=50)
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
    worker = sub.add_parser(
        "worker",
        help="serve the @nd.function workflows of MODULEs: runs handed to workers, their events, their sleeps "
        "and waits; on any machine sharing the journal (SIGTERM: finish the steps in flight and stop)",
    )
    worker.add_argument("modules", metavar="MODULE", nargs="+", help="module to import (dotted name or .py file)")
    worker.add_argument("--concurrency", type=int, default=16, help="runs executing steps at once (default 16)")
    worker.add_argument("--queue", action="append", metavar="NAME", help="serve only this queue (repeatable)")
    worker.add_argument("--function", action="append", metavar="ID", help="serve only this function (repeatable)")
    worker.add_argument(
        "--lease-ttl", type=float, metavar="SECONDS", help="how long a run stays this worker's without a heartbeat"
    )
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between looks for unannounced work")
    worker.add_argument("--grace", type=float, default=30.0, help="seconds SIGTERM waits for steps in flight")
    worker.add_argument(
        "--durability",
        choices=["normal", "full"],
        default="normal",
        help="normal: commits survive a killed worker; full: also a crash of the database server (default normal)",
    )
    worker.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    for command in (ls, show, send, cancel, doctor, worker):
        # Also accepted after the command (python -m nbdurable doctor --journal PATH).
        command.add_argument("--journal", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def _checked_text(value: str, what: str) -> str:
    """An argument as given, or ConfigError when it is not UTF-8 (bytes a non-UTF-8 terminal passed)."""
    from .._errors import ConfigError

    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"the {what} {value!r} is not valid UTF-8; type it in a UTF-8 terminal") from None
    return value


def _run_command(args: argparse.Namespace) -> int:
    from .._errors import ConfigError
    from ..engine._engine import Engine
    from ..engine._events import parse_event_data
    from ..journal._backends import is_postgres, open_journal
    from ..timeline import format_age
    from ..timeline._render import format_duration

    spec = args.journal or os.environ.get("NBDURABLE_JOURNAL") or None
    if args.command in ("list", "show", "cancel") and not is_postgres(spec):
        # A command that reads (or acts on an existing run) must not create a journal as a side effect.
        from ..journal._sqlite import default_journal_path

        path = Path(args.journal).expanduser() if args.journal else default_journal_path()
        if not os.path.lexists(path):
            raise ConfigError(f"there is no journal at {path}; point --journal or NBDURABLE_JOURNAL at one")
    engine = Engine(open_journal(spec))
    try:
        if args.command == "list":
            handles = engine.runs(status=args.status, limit=args.limit)
            counts = engine.journal.step_counts([h.run_id for h in handles])
            for h in handles:
                rec = h.record
                age = format_age(rec.updated_at) if rec else ""
                print(_shown(f"{h.run_id}\t{h.function_id}\t{h.status}\t{counts.get(h.run_id, 0)} steps\t{age}"))
        elif args.command == "show":
            handle = engine.handle(_checked_text(args.run, "run id"))
            print(_shown(f"run {args.run} ({handle.function_id}): {handle.status}"))
            rec = handle.record
            for warning in (rec.warnings or []) if rec is not None and rec.damaged else []:
                print(_shown(f"  unreadable: {warning['message']}"))
            for s in handle.steps():
                # Numbered from 1 with the timeline's durations, as %durable show and the timeline say them.
                took = format_duration(s.duration)
                print(_shown(f"  {s.position + 1:>4}  {s.step_id:<30} {s.kind:<7} {s.status:<10} {took}"))
                if s.error and s.error.get("type") == "JournalRecordError":
                    print(_shown(f"        unreadable: {s.error.get('message')}"))
        elif args.command == "send":
            data = parse_event_data(args.data, engine.event_limits)
            engine.send_nowait(args.event, data, id=args.id)
            print(f"sent {args.event} at {time.strftime('%H:%M:%S')}")
        elif args.command == "cancel":
            run_id = _checked_text(args.run, "run id")
            changed = engine.cancel(run_id, _checked_text(args.reason, "reason"))
            print(f"run {run_id} cancelled" if changed else f"run {run_id} had already ended; nothing changed")
    finally:
        engine.journal.close()
    return 0


def _shown(line: str) -> str:
    """A line safe for a terminal: names from a journal may hold control characters or invalid text."""
    if line.isprintable():
        return line
    # Escapes, tabs aside: no terminal control sequence and no lone surrogate reaches stdout.
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 done, 2 bad input or a journal that cannot be used)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["lint"]:
        from ..linter._cli import main as lint_main

        return lint_main(args_list[1:])
    for stream in (sys.stdout, sys.stderr):
        reconfigure: Any = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")  # any text prints, whatever the terminal's encoding
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "worker":
        from ._worker import main as worker_main

        return worker_main(args)
    if args.command == "doctor":
        from ..journal._backends import is_postgres

        if is_postgres(args.journal or os.environ.get("NBDURABLE_JOURNAL") or ""):
            print(
                "nbdurable doctor: it checks SQLite journal files; a PostgreSQL journal is its server's to check "
                "(`nbdurable list` shows its runs and whether their owners hold them).",
                file=sys.stderr,
            )
            return 2
        from ._doctor import main as doctor_main

        return doctor_main(args.journal, repair=args.repair)
    from .._errors import NbDurableError

    try:
        return _run_command(args)
    except NbDurableError as exc:
        print(f"nbdurable {args.command}: {_shown(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) stopped reading: not an error. Point stdout at /dev/null so the
        # interpreter's last flush does not complain about the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        # A bug or a journal damaged in a way no check foresaw: one line, not a traceback.
        print(
            f"nbdurable {args.command}: internal error: {type(exc).__name__}: {_shown(str(exc))[:500]}. If the journal "
            "is damaged, try `sqlite3 journal.db .recover`; otherwise please report this.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
