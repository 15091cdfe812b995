"""Tests for the determinism corpus in tests/lint/corpus/: recall 1.0 and no false alarms over all of it.

Files named ``wf_*.py`` are Python modules with ``@nd.function`` workflows; files named
``cell_*.py`` are the text of a ``%%durable`` notebook cell (first line is the magic, the
header is line 2).
"""

from __future__ import annotations

import collections

from nbdurable.linter import RULES, lint, lint_cell
from tests.lint.corpus_files import ARROW, Key, corpus_files, expected_findings


def test_corpus_recall_and_false_alarms() -> None:
    expected_total = found = false_alarms = 0
    problems: list[str] = []
    per_family: collections.Counter[str] = collections.Counter()
    for path in corpus_files():
        text = path.read_text(encoding="utf-8")
        expected = expected_findings(text)
        findings = lint(text, filename=path.name)
        got = collections.Counter((f.code, f.line) for f in findings)
        expected_total += sum(expected.values())
        found += sum((expected & got).values())
        false_alarms += sum((got - expected).values())
        per_family.update(code[:3] for code, _ in expected.elements())
        missing, extra = expected - got, got - expected
        if missing or extra:
            problems.append(f"{path.name}: missing {sorted(missing.elements())}, unexpected {sorted(extra.elements())}")
    recall = found / expected_total
    print(
        f"\ndeterminism corpus: {len(corpus_files())} files, {expected_total} expected findings, "
        f"recall {recall:.3f} ({found}/{expected_total}), false alarms {false_alarms}, "
        f"by family {dict(sorted(per_family.items()))}"
    )
    assert problems == [], "\n".join(problems)
    assert recall == 1.0
    assert false_alarms == 0


def test_corpus_is_large_covers_every_code_and_has_many_traps() -> None:
    files = corpus_files()
    assert len(files) >= 60
    clean = [p for p in files if not expected_findings(p.read_text(encoding="utf-8"))]
    assert len(clean) >= len(files) * 0.4, "about half the corpus should be traps that must not be flagged"
    codes = {code for p in files for code, _ in expected_findings(p.read_text(encoding="utf-8"))}
    assert codes == set(RULES), f"codes without a corpus case: {sorted(set(RULES) - codes)}"
    assert any(p.name.startswith("cell_") for p in files)
    assert any(p.name.startswith("wf_") for p in files)
    assert {p.name[: p.name.index("_")] for p in files} == {"cell", "wf"}


def test_corpus_headers_agree_with_inline_markers() -> None:
    for path in corpus_files():
        text = path.read_text(encoding="utf-8")
        marked: collections.Counter[Key] = collections.Counter()
        for number, line in enumerate(text.split("\n"), start=1):
            match = ARROW.search(line)
            if match:
                marked.update((code.strip(), number) for code in match.group(1).split(","))
        assert marked == expected_findings(text), path.name


def test_every_corpus_finding_has_message_hint_and_position() -> None:
    for path in corpus_files():
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        for finding in lint(text):
            assert finding.code in RULES
            assert len(finding.message) > 30, finding
            assert len(finding.hint) > 15, finding
            assert finding.hint != finding.message
            assert 1 <= finding.line <= len(lines)
            assert 1 <= finding.col <= len(lines[finding.line - 1]) + 1


def test_cell_corpus_files_are_linted_as_cells_by_lint_cell_too() -> None:
    for path in corpus_files():
        text = path.read_text(encoding="utf-8")
        if path.name.startswith("cell_"):
            assert text.startswith("%%durable ")
            assert lint_cell(text) == lint(text)
        else:
            assert lint_cell(text) == []
