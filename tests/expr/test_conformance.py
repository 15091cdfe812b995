"""google/cel-spec's conformance tests (tests/simple/testdata), run on nbdurable.expr.

Every test either passes or is listed in ``cel_spec/known_failures.txt`` with a reason:
``unsupported`` (outside the subset nbdurable implements: uint, bytes, protobuf messages,
containers, optionals...) or ``differs`` (inside the subset, a deliberate difference). A listed
test that starts passing fails too, so the list, and the pass rates in docs/guide.md, stay true.
"""

from __future__ import annotations

import pytest

from tests.expr import celspec

KNOWN = celspec.read_known(celspec.HERE / "known_failures.txt")
CASES = celspec.cases()

# The pass rates reached (docs/guide.md and docs/architecture.md quote them); they may only go up.
IN_SUBSET_AT_LEAST = 0.976  # 796 of 815
OVERALL_AT_LEAST = 0.548  # 796 of 1,450


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(case: celspec.Case) -> None:
    problem = celspec.run(case)
    if case.id in KNOWN:
        category, reason = KNOWN[case.id]
        assert problem is not None, f"{case.id} now passes: remove it from known_failures.txt ({category}: {reason})"
    else:
        assert problem is None, f"{case.id}: {case.expr!r}: {problem}"


def test_the_known_failures_name_real_tests_and_the_rates_hold() -> None:
    ids = {c.id for c in CASES}
    assert len(ids) == len(CASES), "test ids must be unique"
    assert set(KNOWN) <= ids, f"known_failures.txt names tests that do not exist: {sorted(set(KNOWN) - ids)}"
    unsupported = sum(1 for category, _ in KNOWN.values() if category == "unsupported")
    differs = sum(1 for category, _ in KNOWN.values() if category == "differs")
    in_subset = len(CASES) - unsupported
    passed = len(CASES) - unsupported - differs
    assert passed / in_subset >= IN_SUBSET_AT_LEAST
    assert passed / len(CASES) >= OVERALL_AT_LEAST
