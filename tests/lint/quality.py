"""Recall and false alarms of the determinism linter, per rule, on the corpus and the held-out set.

The corpus (tests/lint/corpus/) is what the rules were written from; the held-out set
(tests/lint/heldout/) is realistic code written apart from them. Run it to print the
tables that docs/guide.md quotes:

    python -m tests.lint.quality            # both sets, markdown tables
    python -m tests.lint.quality --misses   # and every miss and false alarm, with its line
    python -m tests.lint.quality --write    # rewrite the tables in docs/lint-quality.md

A finding counts when its code and line match a marked one (cell and line in notebooks).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nbdurable.linter import RULES, Finding, lint, lint_path
from tests.lint.corpus_files import CORPUS, corpus_files, expected_findings

HELDOUT = Path(__file__).resolve().parent / "heldout"
DOC = Path(__file__).resolve().parents[2] / "docs" / "lint-quality.md"
BEGIN = "<!-- lint-quality:begin (written by python -m tests.lint.quality --write; edits here are overwritten) -->"
END = "<!-- lint-quality:end -->"
MARK = re.compile(r"#\s*<-\s*([A-Z0-9, ]+)\s*$")
CELL_START = re.compile(r"^# %%(?: \[(\w+)\])?\s*$")

# (cell or None, line, code)
Key = tuple[int | None, int, str]


@dataclasses.dataclass
class Outcome:
    """What the linter found in one file against what was marked."""

    name: str
    expected: collections.Counter[Key]
    found: collections.Counter[Key]
    where: dict[Key, str]  # a marked or found key -> the source line, for the misses listing

    @property
    def hits(self) -> collections.Counter[Key]:
        return self.expected & self.found

    @property
    def misses(self) -> collections.Counter[Key]:
        return self.expected - self.found

    @property
    def false_alarms(self) -> collections.Counter[Key]:
        return self.found - self.expected


def percent_cells(text: str) -> list[tuple[str, str]]:
    """The (cell type, source) cells of a notebook written in the percent format (``# %%`` lines)."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        match = CELL_START.match(line)
        if match is not None:
            cells.append(("markdown" if match.group(1) == "markdown" else "code", []))
        elif cells:
            kind, lines = cells[-1]
            lines.append(line[2:] if kind == "markdown" and line.startswith("# ") else line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def _marks(lines: list[str], cell: int | None) -> Iterator[tuple[Key, str]]:
    for number, line in enumerate(lines, start=1):
        match = MARK.search(line)
        if match:
            for code in match.group(1).split(","):
                yield (cell, number, code.strip()), line.strip()


def measure_heldout_file(path: Path, work: Path) -> Outcome:
    """Lint one held-out file (a module, or a percent-format notebook written out as .ipynb)."""
    text = path.read_text(encoding="utf-8")
    where: dict[Key, str] = {}
    expected: collections.Counter[Key] = collections.Counter()
    if path.name.startswith("nb_"):
        cells = percent_cells(text)
        for index, (kind, source) in enumerate(cells, start=1):
            if kind == "code":
                for key, line in _marks(source.split("\n"), index):
                    expected[key] += 1
                    where[key] = line
        notebook = {
            "cells": [
                {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
                | ({"outputs": [], "execution_count": None} if kind == "code" else {})
                for kind, source in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        target = work / (path.relative_to(HELDOUT).with_suffix("").as_posix().replace("/", "__") + ".ipynb")
        target.write_text(json.dumps(notebook), encoding="utf-8")
        findings = lint_path(target)
        sources = {i: s.split("\n") for i, (_, s) in enumerate(cells, start=1)}
    else:
        for key, line in _marks(text.split("\n"), None):
            expected[key] += 1
            where[key] = line
        findings = lint(text, filename=path.name)
        sources = {None: text.split("\n")}
    found = collections.Counter((f.cell, f.line, f.code) for f in findings)
    for f in findings:
        lines = sources.get(f.cell, [])
        where.setdefault((f.cell, f.line, f.code), lines[f.line - 1].strip() if 0 < f.line <= len(lines) else "")
    return Outcome(path.relative_to(HELDOUT).as_posix(), expected, found, where)


def measure_corpus_file(path: Path) -> Outcome:
    text = path.read_text(encoding="utf-8")
    expected = collections.Counter({(None, line, code): n for (code, line), n in expected_findings(text).items()})
    findings: list[Finding] = lint(text, filename=path.name)
    found = collections.Counter((None, f.line, f.code) for f in findings)
    lines = text.split("\n")
    where = {key: lines[key[1] - 1].strip() for key in (expected | found) if 0 < key[1] <= len(lines)}
    return Outcome(path.name, expected, found, where)


def heldout_files(batch: str | None = None) -> list[Path]:
    """The held-out files: the first batches at the top of the folder, later ones in subfolders.

    The top-level files come first, so the benchmark notebook built from the first 500 lines
    stays the same as batches are added; ``batch`` keeps only one subfolder (``"."`` the top).
    """
    files = [p for p in HELDOUT.rglob("*.py") if p.name.startswith(("wf_", "nb_"))]
    if batch is not None:
        files = [p for p in files if p.parent == (HELDOUT / batch).resolve()]
    return sorted(files, key=lambda p: (len(p.relative_to(HELDOUT).parts), str(p.relative_to(HELDOUT))))


def measure_heldout(batch: str | None = None) -> list[Outcome]:
    with tempfile.TemporaryDirectory() as work:
        return [measure_heldout_file(path, Path(work)) for path in heldout_files(batch)]


def measure_corpus() -> list[Outcome]:
    return [measure_corpus_file(path) for path in corpus_files()]


@dataclasses.dataclass
class Totals:
    """Sums over a set of files, overall and per rule code."""

    files: int
    expected: int
    hits: int
    false_alarms: int
    lines_marked: int
    lines_caught: int
    per_rule: dict[str, tuple[int, int, int]]  # code -> (expected, hits, false alarms)

    @property
    def recall(self) -> float:
        return self.hits / self.expected if self.expected else 1.0


def totals(outcomes: list[Outcome]) -> Totals:
    per_rule: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    lines_marked = lines_caught = 0
    for o in outcomes:
        for (_, _, code), n in o.expected.items():
            per_rule[code][0] += n
        for (_, _, code), n in o.hits.items():
            per_rule[code][1] += n
        for (_, _, code), n in o.false_alarms.items():
            per_rule[code][2] += n
        marked = {(cell, line) for cell, line, _ in o.expected}
        flagged = {(cell, line) for cell, line, _ in o.found}
        lines_marked += len(marked)
        lines_caught += len(marked & flagged)
    return Totals(
        files=len(outcomes),
        expected=sum(sum(o.expected.values()) for o in outcomes),
        hits=sum(sum(o.hits.values()) for o in outcomes),
        false_alarms=sum(sum(o.false_alarms.values()) for o in outcomes),
        lines_marked=lines_marked,
        lines_caught=lines_caught,
        per_rule={code: (v[0], v[1], v[2]) for code, v in sorted(per_rule.items())},
    )


def table(title: str, t: Totals) -> str:
    """A markdown table of one set's numbers, per rule."""
    rows = [
        f"**{title}**: {t.files} files, {t.expected} marked findings; recall {t.recall:.1%} "
        f"({t.hits}/{t.expected}), {t.false_alarms} false alarm(s); nondeterministic lines caught "
        f"{t.lines_caught}/{t.lines_marked}.",
        "",
        "| rule | what | marked | found | recall | false alarms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for code, (expected, hits, false) in t.per_rule.items():
        recall = f"{hits / expected:.0%}" if expected else "-"
        rows.append(f"| {code} | {RULES.get(code, '?')} | {expected} | {hits} | {recall} | {false} |")
    return "\n".join(rows)


def misses(outcomes: list[Outcome]) -> Iterator[str]:
    for o in outcomes:
        for kind, keys in (("miss", o.misses), ("false alarm", o.false_alarms)):
            for cell, line, code in sorted(keys, key=lambda k: (k[0] or 0, k[1], k[2])):
                at = f"cell {cell} line {line}" if cell is not None else f"line {line}"
                yield f"{kind}: {o.name} {at} {code}: {o.where.get((cell, line, code), '')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--write", action="store_true", help="rewrite the tables in docs/lint-quality.md")
    parser.add_argument("--batch", help="also print the table of one held-out subfolder (e.g. batch3)")
    args = parser.parse_args()
    corpus, heldout = measure_corpus(), measure_heldout()
    text = "\n\n".join(
        (
            table(f"Held-out set ({HELDOUT.relative_to(HELDOUT.parents[2])})", totals(heldout)),
            table(f"Corpus ({CORPUS.relative_to(CORPUS.parents[2])})", totals(corpus)),
        )
    )
    print(text)
    if args.batch:
        print()
        print(table(f"Held-out batch {args.batch}", totals(measure_heldout(args.batch))))
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:start] + "\n\n" + text + "\n\n" + doc[end:], encoding="utf-8")
    if args.misses:
        print()
        for line in (*misses(corpus), *misses(heldout)):
            print(line)


if __name__ == "__main__":
    main()
