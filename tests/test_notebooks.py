"""The example notebooks run headless in real kernels, killed part-way and resumed, so they never rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbdurable.testing import run_notebook_with_crash

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_quickstart_survives_a_kernel_kill(tmp_path: Path) -> None:
    report = run_notebook_with_crash(
        NOTEBOOKS / "quickstart.ipynb", workdir=tmp_path, run_id="quickstart", kill_after_steps=3
    )
    assert report.status == "completed"
    assert report.steps_before_kill >= 3
    fetched_before = [f"fetch-{i}" for i in range(report.steps_before_kill)]
    assert report.replayed[: len(fetched_before)] == fetched_before
    assert "summarize" in report.ran
    durable_out = next(r.stdout for r in report.second if "done:" in r.stdout)
    # Steps that replayed did not run their code again: their print is absent in the second kernel.
    for step in fetched_before:
        assert f"fetching page {step.split('-')[1]} " not in durable_out
    assert "done: 6 pages, 855 words" in durable_out
    assert any("'6 pages, 855 words'" in r.text for r in report.second)
