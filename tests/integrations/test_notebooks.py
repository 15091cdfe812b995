"""The framework notebooks run in real kernels, killed while a model request is in flight, then run again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nbdurable.testing import run_notebook_with_crash

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"
SCRIPTED = {"OPENAI_API_KEY": "", "OPENAI_AGENTS_DISABLE_TRACING": "1"}


def final_text(report: object) -> str:
    return "\n".join(r.text for r in report.second)  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="needs pydantic-ai-slim >= 2.68, which needs Python >= 3.11")
def test_pydantic_ai_notebook(tmp_path: Path) -> None:
    # Completed before the kill: the run's journaled id, the first model request, the lookup; the second is in flight.
    report = run_notebook_with_crash(
        NOTEBOOKS / "pydantic_ai_agent.ipynb", workdir=tmp_path, run_id="refund-demo", kill_after_steps=3, env=SCRIPTED
    )
    assert report.status == "completed"
    assert "support.model" in report.replayed
    assert any(s.startswith("support.tool.lookup_order#") for s in report.replayed)
    assert "support.model:1" in report.ran and any(s.startswith("support.approve.refund#") for s in report.ran)
    text = final_text(report)
    assert "Refunded 39.00 EUR for order A-17" in text
    assert "tools run by this kernel: ['refund']" in text, "the lookup did not run again"
    assert "model calls sent by this kernel: 2" in text, "only the request in flight and the last one were sent"


def test_openai_agents_notebook(tmp_path: Path) -> None:
    report = run_notebook_with_crash(
        NOTEBOOKS / "openai_agents_agent.ipynb",
        workdir=tmp_path,
        run_id="agents-demo",
        kill_after_steps=2,
        env=SCRIPTED,
    )
    assert report.status == "completed"
    assert report.replayed[0] == "support.model" and report.replayed[1].startswith("support.tool.lookup_order#")
    assert report.ran == ["support.model:1"]
    text = final_text(report)
    assert "Refunded 39.00 EUR for order A-17" in text
    assert "tools run by this kernel: []" in text
    assert "model calls sent by this kernel: 1" in text


def test_langgraph_notebook(tmp_path: Path) -> None:
    # The thread's rows: input checkpoint, __start__, checkpoint, agent, checkpoint, tools, checkpoint; then the agent's
    # second request is in flight.
    report = run_notebook_with_crash(
        NOTEBOOKS / "langgraph_agent.ipynb",
        workdir=tmp_path,
        run_id="langgraph:ticket-17",
        kill_after_steps=7,
        env=SCRIPTED,
    )
    assert report.status == "completed"
    text = final_text(report)
    assert "waiting: ['interrupt in tools']" in text
    assert "Refunded 39.00 EUR for order A-17" in text
    assert "tools run by this kernel: []" in text, "the lookup did not run again"
    assert "model calls sent by this kernel: 2" in text
