"""Run snapshots (contract version 1) used by the timeline, widget and browser tests.

One step of each state the timeline must show, so every renderer is exercised on
the same data. The data is ``tests/fixtures/timeline.json``, which the TypeScript
tests read too (``labextension/test/fixtures.ts``), with the texts and colours both
renderers must show for it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "timeline.json").read_text("utf-8"))
EXPECTED: dict[str, Any] = FIXTURES["expected"]

T0: float = FIXTURES["T0"]  # 2026-01-01 12:00:00 UTC

HOSTILE: str = FIXTURES["hostile"]


def step(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = copy.deepcopy(FIXTURES["step"])
    base.update(overrides)
    return base


def waiting_snapshot() -> dict[str, Any]:
    """A run waiting for an approval: replayed, AI, retrying and waiting steps."""
    return copy.deepcopy(FIXTURES["snapshots"]["waiting"])


def completed_snapshot() -> dict[str, Any]:
    """The same run after approval: every step done, no actions left but rerun."""
    return copy.deepcopy(FIXTURES["snapshots"]["completed"])


def hostile_snapshot() -> dict[str, Any]:
    """Markup and quotes in every text field a user or a model controls."""
    snap = waiting_snapshot()
    run = snap["run"]
    run["function_id"] = HOSTILE
    run["run_id"] = HOSTILE
    run["status_reason"] = HOSTILE
    run["warnings"] = [{"message": HOSTILE, "step_id": HOSTILE}]
    run["error"] = {"type": HOSTILE, "message": HOSTILE, "traceback": HOSTILE}
    run["waiting_for"]["event"] = HOSTILE
    first = snap["steps"][0]
    first.update(
        name=HOSTILE,
        step_id=HOSTILE,
        kind=HOSTILE,
        input_preview=HOSTILE,
        output_preview=HOSTILE,
        idempotency_key=HOSTILE,
        error={"type": HOSTILE, "message": HOSTILE, "traceback": HOSTILE},
    )
    snap["steps"][1]["ai"].update(model=HOSTILE, provider=HOSTILE, request=HOSTILE, response={"x": HOSTILE})
    snap["steps"][3]["wait_event"] = HOSTILE
    return snap
