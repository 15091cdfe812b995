"""The ``python -m nbdurable lint PATH...`` command: the static determinism check on files.

Prints one ``path:line:col: CODE message`` line per finding (``path:cell N:line:col: ...``
for notebooks) with the fix on the next line, so editors and CI logs can link to the
place. Exits 1 when there are findings, 0 when clean, 2 when some input cannot be read,
so a CI step can tell "nondeterministic code" from "the check itself could not run".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._errors import LintError
from ._api import lint_path
from ._rules import RULES, Finding

__all__ = ["main"]

_SUFFIXES = (".py", ".ipynb")
# Directories that hold environments, caches or build output, never the user's workflows.
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on ``argv`` (the words after ``lint``; a leading ``lint`` is accepted too)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["lint"] and not os.path.exists("lint"):
        args = args[1:]
    try:
        options = _parser().parse_args(args)
    except SystemExit as exc:  # --help (0) or a usage error (2): return it, do not exit the caller
        return exc.code if isinstance(exc.code, int) else 2
    select = _codes(options.select)
    ignore = _codes(options.ignore)
    out, err = sys.stdout, sys.stderr
    unreadable = 0
    files = 0
    flagged: set[str] = set()
    total = 0
    for target in options.paths:
        try:
            paths = list(_expand(target))
        except LintError as exc:
            print(f"nbdurable lint: error: {exc}", file=err)
            unreadable += 1
            continue
        for path in paths:
            files += 1
            try:
                findings = lint_path(path)
            except LintError as exc:
                print(f"nbdurable lint: error: {exc}", file=err)
                unreadable += 1
                continue
            for finding in findings:
                if select and not finding.code.startswith(select):
                    continue
                if ignore and finding.code.startswith(ignore):
                    continue
                total += 1
                flagged.add(path)
                print(_format(finding, path), file=out)
                print(f"    hint: {finding.hint}", file=out)
    if unreadable:
        print(f"nbdurable lint: {unreadable} input(s) could not be read; nothing was checked there.", file=err)
        return 2
    if total:
        print(
            f"nbdurable lint: {total} finding(s) in {len(flagged)} of {files} file(s). Code outside steps runs "
            "again on every replay; fix these or mark a line `# nd: ignore[CODE]`.",
            file=err,
        )
        return 1
    print(f"nbdurable lint: no findings in {files} file(s).", file=err)
    return 0


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


def _expand(target: str) -> Iterator[str]:
    """The files to check for one command-line path: the file itself, or the .py/.ipynb under a directory."""
    path = Path(target)
    if path.is_dir():
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for name in sorted(names):
                if name.endswith(_SUFFIXES):
                    yield os.path.join(root, name)
        return
    if not path.exists():
        raise LintError(f"{target}: no such file or directory. Check the path.", path=target)
    yield target


def _format(finding: Finding, path: str) -> str:
    where = f"{path}:cell {finding.cell}" if finding.cell is not None else path
    return f"{where}:{finding.line}:{finding.col}: {finding.code} {finding.message}"


if __name__ == "__main__":
    raise SystemExit(main())
