"""The demo: run notebooks/quickstart.ipynb headless, kill its kernel mid-run, resume, report.

Prints which steps ran before the kill, which replayed from the journal after it
and which ran again, then the command that opens the same notebook in JupyterLab.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from nbdurable.testing import run_notebook_with_crash

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="nbdurable-demo-") as tmp:
        print(f"Running {NOTEBOOK.relative_to(ROOT)} in a real kernel (journal in {tmp}/.nbdurable/)")
        report = run_notebook_with_crash(NOTEBOOK, workdir=tmp, run_id="quickstart", kill_after_steps=3)
    print("\n--- first kernel, durable cell output before the SIGKILL ---")
    print(report.first[-1].stdout, end="")
    print(f"*** kernel killed with SIGKILL after {report.steps_before_kill} completed steps ***")
    durable = next(i for i, r in enumerate(report.second) if "done:" in r.stdout)
    print("\n--- new kernel, the same cell run again ---")
    print(report.second[durable].stdout, end="")
    print("\n--- steps of run 'quickstart' ---")
    for s in report.steps:
        how = "replayed from the journal" if s["replayed"] else "ran"
        print(f"  {s['step_id']:<12} {s['kind']:<6} {how}")
    print(f"\nRun status: {report.status}; {len(report.replayed)} step(s) replayed, {len(report.ran)} ran.")
    print("\nOpen the same notebook in JupyterLab:\n  .venv/bin/jupyter lab notebooks/quickstart.ipynb")
    return 0 if report.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
