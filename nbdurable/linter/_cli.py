"""The ``python -m nbdurable lint PATH...`` command: the static determinism check on files.

Prints one ``path:line:col: CODE message`` line per finding (``path:cell N:line:col: ...``
for notebooks) with the fix on the next line, so editors and CI logs can link to the
place. Exits 1 when there are findings, 0 when clean, 2 when some input cannot be read or
the check itself fails (one line on stderr, never a traceback), so a CI step can tell
"nondeterministic code" from "the check itself could not run". Only regular files are read,
at most 64 MiB each: a FIFO or a device named on the command line is an error, not a hang.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .._errors import LintError
from ._api import lint_path
from ._rules import RULES, Finding

__all__ = ["main"]

_SUFFIXES = (".py", ".ipynb")
# Directories that hold environments, caches or build output, never the user's workflows.
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on ``argv`` (the words after ``lint``; a leading ``lint`` is accepted too).

    Exit status: 0 clean, 1 findings, 2 when some input could not be read or the check itself
    failed. Never a traceback: an unexpected error is one line on stderr and status 2.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["lint"] and not os.path.exists("lint"):
        args = args[1:]
    try:
        options = _parser().parse_args(args)
    except SystemExit as exc:  # --help (0) or a usage error (2): return it, do not exit the caller
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _Run(options).run()
    except KeyboardInterrupt:
        _say("interrupted; nothing more was checked.")
        return 130
    except BrokenPipeError:  # `... | head`: the reader left while findings were printed; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 1
    except Exception as exc:  # the check itself failed: say so in one line, never a traceback
        _say(f"internal error ({type(exc).__name__}: {_safe(str(exc))[:200]}); please report it. Nothing was checked.")
        return 2


class _Run:
    """One invocation: the files, the counts, the output."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.select = _codes(options.select)
        self.ignore = _codes(options.ignore)
        self.unreadable = 0
        self.files = 0
        self.flagged: set[str] = set()
        self.total = 0

    def run(self) -> int:
        for target in self.options.paths:
            try:
                paths = list(_expand(target, self._skipped))
            except LintError as exc:
                self._unreadable(exc)
                continue
            for path in paths:
                self.files += 1
                try:
                    findings = lint_path(path)
                except LintError as exc:
                    self._unreadable(exc)
                    continue
                self._report(path, findings)
        return self._summary()

    def _report(self, path: str, findings: list[Finding]) -> None:
        for finding in findings:
            if self.select and not finding.code.startswith(self.select):
                continue
            if self.ignore and finding.code.startswith(self.ignore):
                continue
            self.total += 1
            self.flagged.add(path)
            print(_safe(_format(finding, path)), file=sys.stdout)
            print(_safe(f"    hint: {finding.hint}"), file=sys.stdout)

    def _unreadable(self, exc: LintError) -> None:
        _say(f"error: {_safe(str(exc))}")
        self.unreadable += 1

    @staticmethod
    def _skipped(path: str, why: str) -> None:
        _say(f"skipped {_safe(path)}: {why}")

    def _summary(self) -> int:
        if self.total:
            _say(
                f"{self.total} finding(s) in {len(self.flagged)} of {self.files} file(s). Code outside steps runs "
                "again on every replay; fix these or mark a line `# nd: ignore[CODE]`."
            )
        if self.unreadable:
            _say(f"{self.unreadable} input(s) could not be read; nothing was checked there.")
            return 2
        if self.total:
            return 1
        _say(f"no findings in {self.files} file(s).")
        return 0


def _say(text: str) -> None:
    print(f"nbdurable lint: {text}", file=sys.stderr)


def _safe(text: str) -> str:
    """Text any terminal can print: file names that are not UTF-8 come back with backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code}  {text}" for code, text in RULES.items())
    parser = argparse.ArgumentParser(
        prog="python -m nbdurable lint",
        description=(
            "Check @nd.function workflows and %%durable notebook cells for code that gives another "
            "result on replay (clock, randomness, I/O, LLM calls outside step.ai, set order, globals)."
        ),
        epilog=f"codes:\n{codes}\n\nexit status: 0 clean, 1 findings, 2 unreadable input",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help=".py files, .ipynb notebooks, or directories")
    parser.add_argument(
        "--select", metavar="CODES", default="", help="only report these codes or prefixes, e.g. ND1,ND205"
    )
    parser.add_argument("--ignore", metavar="CODES", default="", help="do not report these codes or prefixes")
    return parser


def _codes(text: str) -> tuple[str, ...]:
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


def _expand(target: str, skipped: Callable[[str, str], None]) -> Iterator[str]:
    """The files to check for one command-line path: the file itself, or the .py/.ipynb under a directory.

    Under a directory, files that are not regular (pipes, devices, sockets) and folders that
    cannot be listed are skipped with a notice; a named file that is not regular is an error
    (lint_path says so) rather than a read that never ends.
    """
    path = Path(target)
    if path.is_dir():

        def unlistable(exc: OSError) -> None:
            skipped(str(exc.filename or target), f"cannot list it ({exc.strerror or exc})")

        for root, dirs, names in os.walk(path, onerror=unlistable):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for name in sorted(names):
                if not name.endswith(_SUFFIXES):
                    continue
                full = os.path.join(root, name)
                try:
                    regular = stat.S_ISREG(os.stat(full).st_mode)
                except OSError as exc:
                    skipped(full, f"cannot read it ({exc.strerror or exc})")
                    continue
                if regular:
                    yield full
                else:
                    skipped(full, "not a regular file (a pipe, device or socket)")
        return
    if not os.path.lexists(target):
        raise LintError(f"{target}: no such file or directory. Check the path.", path=target)
    yield target


def _format(finding: Finding, path: str) -> str:
    where = f"{path}:cell {finding.cell}" if finding.cell is not None else path
    return f"{where}:{finding.line}:{finding.col}: {finding.code} {finding.message}"


if __name__ == "__main__":
    raise SystemExit(main())
