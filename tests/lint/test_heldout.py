"""The held-out set (tests/lint/heldout/): realistic workflows the rules were not written from.

Issue 17's target: at least 95% recall and no false alarm on them. tests/lint/quality.py
measures (and prints per rule, for docs/guide.md).
"""

from __future__ import annotations

import collections

from nbdurable.linter import RULES
from tests.lint.quality import heldout_files, measure_heldout, percent_cells, totals


def test_heldout_recall_is_at_least_95_percent_with_no_false_alarm() -> None:
    outcomes = measure_heldout()
    result = totals(outcomes)
    problems = [f"{o.name}: missed {sorted(o.misses)}, false alarms {sorted(o.false_alarms)}" for o in outcomes]
    problems = [p for p, o in zip(problems, outcomes, strict=True) if o.misses or o.false_alarms]
    print(f"\nheld-out: {result.files} files, recall {result.recall:.1%}, false alarms {result.false_alarms}")
    assert result.files >= 20
    assert result.recall >= 0.95, problems
    assert result.false_alarms == 0, problems


def test_heldout_marks_name_known_rules_and_files_mix_traps_and_hazards() -> None:
    outcomes = measure_heldout()
    codes = collections.Counter(code for o in outcomes for (_, _, code) in o.expected.elements())
    assert set(codes) <= set(RULES)
    assert len({code[:3] for code in codes}) >= 6  # clock, randomness, I/O, sets/order, globals, names
    assert any(o.name.startswith("nb_") for o in outcomes)
    assert any(not o.expected for o in outcomes)  # at least one file written with care, all clean


def test_percent_format_cells() -> None:
    text = "# %%\nimport x\n\n# %% [markdown]\n# # Title\n# %%\n%%durable a\ny = 1\n"
    assert percent_cells(text) == [("code", "import x"), ("markdown", "# Title"), ("code", "%%durable a\ny = 1")]
    assert len(heldout_files()) >= 20
