"""IPython integration: ``%load_ext nbdurable``, the ``%%durable`` cell and the ``%durable`` line magic.

A cell magic is a plain function and cannot await on the kernel's running loop,
so ``%load_ext`` also installs an input transformer that rewrites a cell starting
with ``%%durable NAME`` into one top-level ``await`` of :func:`run_cell`; IPython's
autoawait then runs the workflow on the kernel's own loop (no nested loop, no
``nest-asyncio``). The registered cell magic remains for ``%%durable?`` and for
callers that bypass transformers; it starts the run in the background.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import shlex
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError, NbDurableError, RunCancelledError, UntrustedSourceError
from ..engine._engine import Engine, configure, effective_status, get_engine
from ..journal._protocol import RunRecord
from ..timeline import format_age
from ._cell import cell_function_id, make_cell_function
from ._cellsig import SIGNATURE_OPTION, sign_source, source_is_signed

if TYPE_CHECKING:
    from ..engine._handle import RunHandle
    from ..workflow._function import Function

__all__ = ["load_ipython_extension", "run_cell", "transform_cell", "unload_ipython_extension"]

_engines: dict[str, Engine] = {}


class DurableUsageError(ConfigError):
    """Bad ``%%durable`` arguments or cell; IPython shows just the message (no traceback) and stops Run All."""

    def _render_traceback_(self) -> list[str]:
        return [f"UsageError: {self}"]


def _usage_error(message: str) -> Exception:
    try:
        from IPython.core.error import UsageError

        return UsageError(message)
    except ImportError:  # pragma: no cover - IPython is there whenever magics run
        return ConfigError(message)


class _Parser(argparse.ArgumentParser):
    """argparse that raises a UsageError (shown by IPython without a traceback) instead of exiting."""

    def error(self, message: str) -> Any:
        raise _usage_error(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        # --help prints and returns here; it must not end the kernel.
        if message:
            print(message)
        raise _usage_error("") if status else _HelpShown()


class _HelpShown(Exception):  # noqa: N818 - a signal, not an error
    pass


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _duration_arg(text: str) -> str:
    from .._duration import parse_duration

    try:
        parse_duration(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _cell_parser() -> _Parser:
    p = _Parser(prog="%%durable", description="Run this cell as a durable workflow named NAME.", add_help=True)
    p.add_argument("name", metavar="NAME", help="the run's name; running the cell again resumes this run")
    p.add_argument("--journal", metavar="PATH", help="journal file (default: .nbdurable/journal.db here)")
    p.add_argument("--retries", type=_nonnegative, default=0, metavar="N", help="retries of each step (default 0)")
    p.add_argument("--background", action="store_true", help="start the run as a task and return at once")
    p.add_argument("--new", action="store_true", help="start a fresh run under NAME, keeping the old one")
    p.add_argument("--lint", choices=["warn", "off", "error"], default="warn", help="static determinism check")
    p.add_argument(
        "--timeout",
        metavar="DURATION",
        type=_duration_arg,
        default=None,
        help="cancel the run if it runs longer than this (e.g. 30m, 2h), counted from its first start",
    )
    p.add_argument("--determinism", choices=["warn", "strict", "off"], default="warn", help="replay divergence policy")
    p.add_argument(
        "--on-change",
        dest="on_change",
        choices=["warn", "rerun", "error"],
        default="warn",
        help="when a completed step's code changed: keep its result, redo from it in a new run, or stop",
    )
    return p


_TRUST_HELP = (
    "run a cell's source from the journal even though this user's kernel did not sign it "
    "(a journal from elsewhere or from nbdurable 0.1): read it first with %durable show RUN --source"
)


def _line_parser() -> _Parser:
    p = _Parser(prog="%durable", description="Look at and act on durable runs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    ls = sub.add_parser("list", help="runs with status, progress and age")
    ls.add_argument("--status", help="only runs with this status")
    ls.add_argument("--limit", type=_nonnegative, default=50)
    show = sub.add_parser("show", help="the steps of a run")
    show.add_argument("run", metavar="RUN")
    show.add_argument("--source", action="store_true", help="print the cell source the journal keeps for the run")
    resume = sub.add_parser("resume", help="resume a run (or --all unfinished runs)")
    resume.add_argument("run", metavar="RUN", nargs="?")
    resume.add_argument("--all", action="store_true")
    resume.add_argument("--trust-source", action="store_true", help=_TRUST_HELP)
    cancel = sub.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run", metavar="RUN")
    cancel.add_argument("--reason", default="cancelled with %durable cancel")
    send = sub.add_parser("send", help="send an event, e.g. to answer a wait_for_event")
    send.add_argument("event", metavar="EVENT")
    send.add_argument("data", metavar="JSON", nargs="?", default="{}")
    send.add_argument("--id", help="event id (sending the same id twice is a no-op)")
    journal = sub.add_parser("journal", help="show or switch the journal")
    journal.add_argument("path", metavar="PATH", nargs="?")
    rerun = sub.add_parser("rerun", help="a new run reusing the journal before STEP")
    rerun.add_argument("run", metavar="RUN")
    rerun.add_argument("--from", dest="from_step", metavar="STEP", required=True)
    rerun.add_argument("--trust-source", action="store_true", help=_TRUST_HELP)
    return p


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise _usage_error(f"cannot parse the arguments {line!r}: {exc} (check the quotes)") from None


def _engine_for(journal: str | None) -> Engine:
    if journal is None:
        return get_engine()
    path = str(Path(journal).expanduser().resolve())
    default = get_engine()
    if getattr(default.journal, "location", None) == path:
        return default
    if path not in _engines:
        from ..journal._sqlite import SQLiteJournal

        _engines[path] = Engine(SQLiteJournal(path))
    return _engines[path]


def _shell() -> Any:
    try:
        from IPython import get_ipython

        return get_ipython()
    except ImportError:  # pragma: no cover
        return None


def notebook_origin() -> dict[str, str] | None:
    """The notebook this kernel serves and the cell executing now (JupyterLab sends its id), for listings."""
    from ..engine._engine import session_origin

    origin = session_origin() or {}
    shell = _shell()
    if shell is None:
        return origin or None
    session = shell.user_ns.get("__session__")
    if "notebook" not in origin and isinstance(session, str) and session:
        origin["notebook"] = session
    kernel = getattr(shell, "kernel", None)
    parent = kernel.get_parent("shell") if kernel is not None and hasattr(kernel, "get_parent") else None
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    if isinstance(cell_id, str) and cell_id:
        origin["cell_id"] = cell_id[:200]
    return origin or None


def _attach(engine: Engine, namespace: dict[str, Any]) -> None:
    """Give the engine what only the notebook knows: how to rebuild a cell's workflow, and where runs start."""
    engine.cell_loader = _cell_loader(engine, namespace)
    engine.origin = notebook_origin


@contextlib.contextmanager
def _trusting(engine: Engine, namespace: dict[str, Any], trust: bool) -> Iterator[None]:
    """With ``trust``, a loader that rebuilds unsigned source for this one command only.

    The engine rebuilds a cell while ``resume``/``rerun`` runs, so the signature check is back in place
    before anything else (``nd.get_run(id).resume()`` in a later cell, say) can resume a run.
    """
    if not trust:
        yield
        return
    engine.cell_loader = _cell_loader(engine, namespace, trust=True)
    try:
        yield
    finally:
        engine.cell_loader = _cell_loader(engine, namespace)


def _cell_loader(engine: Engine, namespace: dict[str, Any], *, trust: bool = False) -> Any:
    def load(rec: RunRecord) -> Function[Any]:
        options = rec.options or {}
        name = str(options.get("cell") or rec.function_id.removeprefix("cell:"))
        source = rec.source or ""
        if not trust and not source_is_signed(rec.function_id, source, options.get(SIGNATURE_OPTION)):
            raise UntrustedSourceError(_untrusted_message(engine, rec))
        return make_cell_function(
            name,
            source,
            namespace,
            engine=engine,
            retries=int(options.get("retries", 0)),
            determinism=str(options.get("determinism", "warn")),
            on_change=str(options.get("on_change", "warn")),
            timeout=options.get("timeout"),
            on_locals=lambda _run_id, names: namespace.update(names),
        )

    return load


def _untrusted_message(engine: Engine, rec: RunRecord) -> str:
    return (
        f"run {rec.run_id!r} is a %%durable cell whose source in the journal at {engine.journal.location} was not "
        "signed by this user's kernel (a journal from elsewhere, one written by nbdurable 0.1, or a row edited "
        "since), so nbdurable will not run it: a journal is data, never code. Run the cell again to resume the run "
        f"with the code in your notebook (its completed steps replay), or read the journal's copy with "
        f"%durable show {rec.run_id} --source and, if you trust it, %durable resume {rec.run_id} --trust-source."
    )


def _pick_run_id(engine: Engine, name: str, new: bool) -> str:
    latest = engine.journal.list_runs(function_id=cell_function_id(name), limit=1)
    if not latest:
        return name
    if not new:
        return latest[0].run_id
    n = 2
    while engine.journal.get_run(f"{name}#{n}") is not None:
        n += 1
    return f"{name}#{n}"


def _show(handle: RunHandle[Any]) -> None:
    """Display a run's timeline: the live widget, or a static view updated in place where widgets cannot show."""
    from ._display import display_run

    display_run(handle)


def _start_line(engine: Engine, run_id: str, before: RunRecord | None) -> str:
    """What starting the cell's run does, in one line: a new run, a resume, or a replay of a finished one."""
    if before is None:
        return f"nbdurable: started run {run_id!r}"
    done = engine.journal.step_counts([run_id]).get(run_id, 0)
    steps = f"{done} completed step{'' if done == 1 else 's'}"
    status = effective_status(before, engine)
    if status == "completed":
        return f"nbdurable: run {run_id!r} had completed; running the cell again replays its {steps} from the journal"
    if status == "queued" and before.status_reason:
        return f"nbdurable: run {run_id!r} is queued ({before.status_reason}); {steps} so far"
    if done == 0:
        return f"nbdurable: run {run_id!r} starts again from the beginning (it was {status}; no step had finished)"
    return f"nbdurable: resuming run {run_id!r} ({status}): {steps} replay from the journal, then the rest runs"


def _lint_cell(name: str, body: str, mode: str) -> list[str]:
    """Check the cell before it runs; print findings (or refuse to run); return them for the timeline."""
    if mode == "off":
        return []
    try:
        from ..linter import lint_cell
    except ImportError:  # pragma: no cover - shipped with the package
        return []
    try:
        findings = lint_cell(f"%%durable {name}\n" + body, context=_history())
    except NbDurableError:
        return []  # a cell that does not parse gets its syntax error from the compiler, with the line

    from ..engine._usercode import note_linted

    # Runtime warnings and replay reports for these lines then point here instead of repeating the advice.
    note_linted(f"<durable-cell {name}>", {f.line for f in findings}, replace=True)
    if not findings:
        return []
    if mode == "error":
        lines = [f"%%durable {name}: {len(findings)} replay determinism finding(s):"]
        for f in findings:
            lines.append(f"  line {f.line}:{f.col} {f.code} {f.message}\n      fix: {f.hint}")
        raise _usage_error("\n".join(lines) + "\nNothing ran. Fix these, or run with --lint=warn or --lint=off.")
    # Said once: each finding and its fix is on the run's timeline (and in its journal); the cell says where.
    at = ", ".join(str(line) for line in sorted({f.line for f in findings}))
    print(
        f"%%durable {name}: {len(findings)} replay determinism finding(s) at line(s) {at}; "
        "each is listed with its fix among the timeline's warnings"
    )
    return [f"line {f.line}: {f.code} {f.message} Fix: {f.hint}" for f in findings]


def _history(limit: int = 100, longest: int = 20_000) -> list[tuple[str, str]]:
    """The cells this kernel ran before the current one, as (label, source): what the linter reads them as.

    A value made from the clock in an earlier cell and used in a %%durable cell changes after
    a restart (the set-up cells run again): the linter can say so only if it sees them. Each
    text once (its last run), the last ``limit`` cells, none longer than ``longest``.
    """
    shell = _shell()
    raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if not isinstance(raw, list) or len(raw) < 2:
        return []
    last: dict[str, int] = {}
    for number in range(max(1, len(raw) - 1 - limit), len(raw) - 1):  # the last entry is the cell running now
        text = raw[number]
        if isinstance(text, str) and text.strip() and len(text) <= longest:
            last[text] = number
    return [(f"In [{number}]", text) for text, number in sorted(last.items(), key=lambda item: item[1])]


async def run_cell(line: str, body: str, namespace: dict[str, Any], *, background: bool = False) -> None:
    """Run a ``%%durable`` cell: what the input transformer rewrites the cell into."""
    try:
        await _run_cell(line, body, namespace, background=background)
    except _HelpShown:
        return
    except Exception as exc:
        if type(exc).__name__ == "UsageError":
            # Raised from a coroutine, IPython would print a UsageError but report success; this stops Run All.
            raise DurableUsageError(str(exc)) from None
        raise


async def _run_cell(line: str, body: str, namespace: dict[str, Any], *, background: bool = False) -> None:
    args = _cell_parser().parse_args(_split(line))
    name: str = args.name
    if not body.strip():
        raise _usage_error(f"%%durable {name}: the cell is empty; write the workflow below the %%durable line.")
    lint_findings = _lint_cell(name, body, args.lint)
    engine = _engine_for(args.journal)
    _attach(engine, namespace)
    try:
        function = make_cell_function(
            name,
            body,
            namespace,
            engine=engine,
            retries=args.retries,
            determinism=args.determinism,
            on_change=args.on_change,
            timeout=args.timeout,
            on_locals=lambda _run_id, names: namespace.update(names),
        )
    except ConfigError as exc:
        raise _usage_error(str(exc)) from None
    from ..engine import registry

    registry()[function.id] = function
    run_id = _pick_run_id(engine, name, args.new)
    options = {
        "cell": name,
        "retries": args.retries,
        "determinism": args.determinism,
        "on_change": args.on_change,
        "timeout": args.timeout,
        SIGNATURE_OPTION: sign_source(function.id, body),
    }
    before = engine.journal.get_run(run_id)
    already_active = run_id in engine.active
    handle = engine.start(function, run_id=run_id, kind="cell", source=body, options=options, reexecute=True)
    if run_id in engine.active and not already_active:
        print(_start_line(engine, run_id, before))
    state = engine.active.get(run_id)
    if state is not None:
        # The static check's findings go on the timeline's header with the run's other warnings.
        for text in lint_findings:
            state.add_warning(f"lint: {text}")
    _show(handle)
    if args.background or background:
        return
    try:
        await handle.result()
    except RunCancelledError as exc:
        raise _usage_error(f"{exc}. Run the cell with --new to start a fresh run under {name!r}.") from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        engine.interrupt(run_id)
        print(f"nbdurable: run {run_id!r} interrupted; run the cell again to resume it (completed steps replay).")
        raise


def transform_cell(lines: list[str]) -> list[str]:
    """Rewrite a ``%%durable NAME`` cell into ``await run_cell(...)`` (an IPython input transformer)."""
    if not lines:
        return lines
    first = lines[0].lstrip()
    if not first.startswith("%%durable") or first.startswith("%%durable?"):
        return lines
    rest = first[len("%%durable") :]
    if rest and not rest[0].isspace():
        return lines
    line = rest.strip()
    body = "".join(lines[1:])
    return [f"await __import__('nbdurable.notebook', fromlist=['run_cell']).run_cell({line!r}, {body!r}, globals())\n"]


def _list(engine: Engine, status: str | None, limit: int) -> None:
    handles = engine.runs(status=status, limit=limit)
    if not handles:
        print(f"No runs in {engine.journal.location}" + (f" with status {status}." if status else "."))
        return
    counts = engine.journal.step_counts([h.run_id for h in handles])
    rows = [("RUN", "FUNCTION", "STATUS", "STEPS DONE", "UPDATED", "WHY")]
    for h in handles:
        rec = h.record
        rows.append(
            (
                h.run_id,
                h.function_id,
                h.status,
                str(counts.get(h.run_id, 0)),
                format_age(rec.updated_at) if rec else "",
                (rec.status_reason or "") if rec else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _known_run(engine: Engine, run_id: str) -> None:
    """Refuse a run id the journal does not hold, pointing at ``%durable list`` (and a close match, if any)."""
    if engine.journal.get_run(run_id) is not None:
        return
    ids = [r.run_id for r in engine.journal.list_runs(limit=500)]
    close = difflib.get_close_matches(run_id, ids, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise _usage_error(
        f"no run {run_id!r} in the journal at {engine.journal.location}; {hint}"
        "%durable list shows its runs (%durable journal PATH switches to another journal)"
    )


def _waits_answered(engine: Engine, name: str, data: dict[str, Any], event_id: str) -> tuple[list[str], int]:
    """The waiting runs an event will answer (its name, and each wait's if_exp holds), and how many it will not.

    Read before the event is sent, from the journal, so runs waiting in other processes count too.
    """
    from ..expr import compile_expression

    answered: list[str] = []
    unmatched = 0
    candidate = {"name": name, "data": data, "id": event_id, "ts": time.time()}
    for rec in engine.journal.list_runs(statuses=["waiting"], limit=1000):
        waits = [
            s
            for s in engine.journal.load_steps(rec.run_id)
            if s.kind == "wait" and s.status == "waiting" and (s.meta or {}).get("event") == name
        ]
        for wait in waits[:1]:
            condition = (wait.meta or {}).get("if_exp")
            try:
                ok = not condition or compile_expression(condition).matches(
                    {"event": rec.event or {}, "async": candidate}
                )
            except NbDurableError:
                ok = False  # the run's own wait decides, and warns; here it only counts as not answered
            if ok:
                answered.append(rec.run_id)
            else:
                unmatched += 1
    return answered, unmatched


def _sent_line(name: str, answered: list[str], unmatched: int, started: list[str]) -> str:
    """What ``%durable send`` did: the waiting runs it answered, those whose condition it did not meet, runs started."""
    if answered:
        more = f" and {len(answered) - 5} more" if len(answered) > 5 else ""
        shown = ", ".join(repr(r) for r in answered[:5]) + more
        runs = "run" if len(answered) == 1 else "runs"
        text = f"nbdurable: sent {name!r}: answered {len(answered)} waiting {runs} ({shown})"
    else:
        text = f"nbdurable: sent {name!r}: no run was waiting for it (a wait that starts later can still take it)"
    if unmatched:
        text += f"; {unmatched} waiting run{'' if unmatched == 1 else 's'} for {name!r} did not match their if_exp"
    if started:
        text += f"; started {', '.join(started)}"
    return text


def _show_steps(engine: Engine, run_id: str) -> None:
    """Print a run's timeline as text: the same numbering (from 1) and durations as the timeline."""
    from ..timeline import build_snapshot, render_text

    print(render_text(build_snapshot(engine, run_id, max_steps=100_000), max_rows=None, step_errors=True))


def durable_line(line: str) -> Any:
    """``%durable COMMAND ...``: list, show, resume, cancel, send, journal, rerun."""
    try:
        return _durable_line(line)
    except _HelpShown:
        return None
    except Exception as exc:
        if type(exc).__name__ == "UsageError":
            raise DurableUsageError(str(exc)) from None
        raise


def _resume(engine: Engine, namespace: dict[str, Any], args: argparse.Namespace) -> None:
    """``%durable resume RUN`` or ``--all``: each run in the background; cells only from signed source."""
    if args.all == bool(args.run):
        raise _usage_error("%durable resume: give one RUN, or --all (not both)")
    if args.all and args.trust_source:
        raise _usage_error("%durable resume: --trust-source takes one RUN, read first with %durable show RUN --source")
    targets = [r.run_id for r in engine.resumable()] if args.all else [args.run]
    if not targets:
        print("Nothing to resume: no run stopped part-way.")
    for run_id in targets:
        try:
            with _trusting(engine, namespace, args.trust_source):
                handle = engine.resume(run_id)
        except UntrustedSourceError as exc:
            if not args.all:
                raise
            print(f"nbdurable: not resumed: {exc}")  # --all goes on with the other runs
            continue
        print(f"nbdurable: resuming {run_id!r} in the background; await nd.get_run({run_id!r}).result()")
        _show(handle)


def _show_source(engine: Engine, run_id: str) -> None:
    """Print the cell source the journal keeps for a run, and whether this user's kernel signed it."""
    rec = engine.journal.get_run(run_id)
    if rec is None:
        raise ConfigError(f"no run {run_id!r} in the journal at {engine.journal.location}; see %durable list")
    if rec.kind != "cell" or rec.source is None:
        print(f"nbdurable: run {run_id!r} is not a %%durable cell: its code is the function {rec.function_id!r}")
        return
    signed = source_is_signed(rec.function_id, rec.source, (rec.options or {}).get(SIGNATURE_OPTION))
    verdict = "signed by this user's kernel" if signed else "NOT signed here: read it before trusting it"
    print(f"nbdurable: the cell source of run {run_id!r} ({verdict}):")
    print(rec.source)


def _durable_line(line: str) -> Any:
    args = _line_parser().parse_args(_split(line))
    shell = _shell()
    namespace = shell.user_ns if shell is not None else {}
    engine = get_engine()
    _attach(engine, namespace)
    try:
        if args.command in ("show", "resume", "cancel", "rerun") and getattr(args, "run", None):
            _known_run(engine, args.run)
        if args.command == "list":
            _list(engine, args.status, args.limit)
        elif args.command == "show" and args.source:
            _show_source(engine, args.run)
        elif args.command == "show":
            _show_steps(engine, args.run)
        elif args.command == "resume":
            _resume(engine, namespace, args)
        elif args.command == "cancel":
            if engine.cancel(args.run, args.reason):
                print(f"nbdurable: run {args.run!r} cancelled (a step in flight finishes; nothing after it runs).")
            else:
                print(f"nbdurable: run {args.run!r} had already ended; nothing changed.")
        elif args.command == "send":
            from ..engine._events import parse_event_data

            try:
                data = parse_event_data(args.data, engine.event_limits)
            except NbDurableError as exc:
                raise _usage_error(
                    f"%durable send: {exc}; e.g. %durable send {args.event} '{{\"approved\": true}}'"
                ) from None
            event_id = args.id or uuid.uuid4().hex
            answered, unmatched = _waits_answered(engine, args.event, data, event_id)
            handles = engine.send_nowait(args.event, data, id=event_id)
            print(_sent_line(args.event, answered, unmatched, [h.run_id for h in handles]))
        elif args.command == "journal":
            if args.path is None:
                print(engine.journal.location)
            else:
                engine = configure(args.path)
                _attach(engine, namespace)
                print(f"nbdurable: journal is now {engine.journal.location}")
        elif args.command == "rerun":
            with _trusting(engine, namespace, args.trust_source):
                handle = engine.rerun(args.run, args.from_step)
            print(f"nbdurable: rerunning {args.run!r} from {args.from_step!r} as new run {handle.run_id!r}")
            _show(handle)
    except NbDurableError as exc:
        raise _usage_error(str(exc)) from None
    return None


def _startup_summary(engine: Engine) -> None:
    """Say which runs a dead kernel left unfinished, how far they got, and how to resume them."""
    stopped = engine.resumable()
    if not stopped:
        return
    counts = engine.journal.step_counts([r.run_id for r in stopped])
    print(f"nbdurable: {len(stopped)} run(s) in {engine.journal.location} stopped part-way:")
    for rec in stopped[:10]:
        status = effective_status(rec, engine)
        label = rec.run_id if rec.kind != "cell" else f"{rec.run_id} (%%durable cell)"
        print(
            f"  {label}: {status}, {counts.get(rec.run_id, 0)} step(s) done, last active {format_age(rec.updated_at)}"
        )
    if len(stopped) > 10:
        print(f"  ... and {len(stopped) - 10} more (%durable list)")
    print("Resume: run the cell again, or %durable resume RUN, or %durable resume --all.")


def load_ipython_extension(ipython: Any) -> None:
    from IPython.core.magic import Magics, line_cell_magic, magics_class

    @magics_class
    class DurableMagics(Magics):
        @line_cell_magic
        def durable(self, line: str, cell: str | None = None) -> Any:
            """%durable COMMAND (list, show, resume, cancel, send, journal, rerun) or %%durable NAME [options]."""
            if cell is None:
                return durable_line(line)
            # Reached only when input transformers were bypassed: start the run as a background task.
            assert self.shell is not None
            coro = run_cell(line, cell, self.shell.user_ns, background=True)
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(coro)
            return asyncio.ensure_future(coro)

    ipython.register_magics(DurableMagics)
    cleanup = ipython.input_transformers_cleanup
    cleanup[:] = [t for t in cleanup if getattr(t, "__name__", "") != "transform_cell"]
    cleanup.insert(0, transform_cell)
    engine = get_engine()
    _attach(engine, ipython.user_ns)
    _startup_summary(engine)


def unload_ipython_extension(ipython: Any) -> None:
    cleanup = ipython.input_transformers_cleanup
    cleanup[:] = [t for t in cleanup if getattr(t, "__name__", "") != "transform_cell"]
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("durable", None)
