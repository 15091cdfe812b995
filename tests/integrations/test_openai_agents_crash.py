"""The OpenAI Agents SDK on NbDurableRunner (Responses API), killed by SIGKILL mid-request, then run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrations.kit import assert_resumed_exactly, crash_in_second_request

pytestmark = pytest.mark.crash


def test_killed_mid_request_resumes_without_resending_or_rerunning(tmp_path: Path) -> None:
    outcome = crash_in_second_request(tmp_path, "openai_agents")
    assert all(r.path == "/v1/responses" for r in outcome.requests), "the SDK's default model speaks Responses"
    assert_resumed_exactly(outcome)
