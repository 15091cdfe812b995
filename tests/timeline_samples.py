"""Run snapshots (contract version 1) used by the timeline, widget and browser tests.

One step of each state the timeline must show, so every renderer is exercised on
the same data; the numbers match labextension/test/fixtures.ts.
"""

from __future__ import annotations

import copy
from typing import Any

T0 = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC

HOSTILE = '<img src=x onerror="window.__nbd_pwned=1"><script>window.__nbd_pwned=2</script>&amp;"\''


def step(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "step_id": "step",
        "name": "step",
        "kind": "run",
        "status": "completed",
        "replayed": False,
        "position": 0,
        "attempt": 1,
        "max_attempts": 4,
        "started_at": T0,
        "ended_at": T0 + 1,
        "next_attempt_at": None,
        "sleep_until": None,
        "wait_event": None,
        "input_preview": None,
        "output_preview": None,
        "output_size": None,
        "error": None,
        "idempotency_key": "run-1:step",
        "ai": None,
    }
    base.update(overrides)
    return base


def waiting_snapshot() -> dict[str, Any]:
    """A run waiting for an approval: replayed, AI, retrying and waiting steps."""
    return {
        "version": 1,
        "run": {
            "run_id": "run-1",
            "function_id": "resolve-ticket",
            "status": "waiting",
            "started_at": T0,
            "ended_at": None,
            "now": T0 + 60,
            "steps_done": 3,
            "steps_total": 6,
            "tokens_in": 1200,
            "tokens_out": 345,
            "cost": 0.0123,
            "warnings": [{"message": "time.time() called outside a step", "step_id": None}],
            "error": None,
            "status_reason": None,
            "waiting_for": {
                "step_id": "approval",
                "event": "support/ticket.approved",
                "if_exp": None,
                "timeout_at": T0 + 3600,
            },
        },
        "steps": [
            step(
                step_id="summarize",
                name="summarize",
                position=0,
                replayed=True,
                started_at=T0,
                ended_at=T0 + 2,
                input_preview='{"body": "my order is late"}',
                output_preview='"The customer',
                output_size=2048,
                idempotency_key="run-1:summarize",
            ),
            step(
                step_id="plan",
                name="plan",
                kind="ai",
                position=1,
                started_at=T0 + 2,
                ended_at=T0 + 5.5,
                idempotency_key="run-1:plan",
                ai={
                    "model": "gpt-4o",
                    "provider": "openai",
                    "request": {"messages": [{"role": "user", "content": "Plan a refund"}]},
                    "response": "Refund the charge",
                    "tokens_in": 1200,
                    "tokens_out": 345,
                    "latency": 3.5,
                    "cost": 0.0123,
                    "price": {
                        "source": "genai-prices 0.2.3",
                        "as_of": "2026-01-01",
                        "model": "gpt-4o",
                        "provider": "openai",
                    },
                },
            ),
            step(
                step_id="lookup",
                name="lookup",
                position=2,
                status="retrying",
                attempt=2,
                max_attempts=4,
                started_at=T0 + 5.5,
                ended_at=None,
                next_attempt_at=T0 + 90,
                idempotency_key="run-1:lookup",
                error={
                    "type": "TimeoutError",
                    "message": "upstream timed out",
                    "traceback": 'Traceback (most recent call last):\n  File "cell", line 3\nTimeoutError',
                },
            ),
            step(
                step_id="approval",
                name="approval",
                kind="wait",
                position=3,
                status="waiting",
                started_at=T0 + 6,
                ended_at=None,
                wait_event="support/ticket.approved",
                idempotency_key="run-1:approval",
            ),
        ],
        "steps_omitted": 0,
        "actions": {"send_event": True, "cancel": True, "rerun": True},
    }


def completed_snapshot() -> dict[str, Any]:
    """The same run after approval: every step done, no actions left but rerun."""
    snap = copy.deepcopy(waiting_snapshot())
    run = snap["run"]
    run.update(status="completed", ended_at=T0 + 75, now=T0 + 75, steps_done=6, waiting_for=None)
    steps = snap["steps"]
    steps[2].update(
        status="completed",
        attempt=3,
        ended_at=T0 + 62,
        next_attempt_at=None,
        error=None,
        output_preview='{"order": 42}',
        output_size=13,
    )
    steps[3].update(status="completed", ended_at=T0 + 70, output_preview='{"approved": true}', output_size=18)
    steps.append(
        step(
            step_id="refund",
            name="refund",
            position=4,
            started_at=T0 + 70,
            ended_at=T0 + 72,
            idempotency_key="run-1:refund",
        )
    )
    steps.append(
        step(
            step_id="notify",
            name="notify",
            kind="send",
            position=5,
            started_at=T0 + 70,
            ended_at=T0 + 75,
            idempotency_key="run-1:notify",
        )
    )
    snap["actions"] = {"send_event": False, "cancel": False, "rerun": True}
    return snap


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
