"""Pydantic AI on nbdurable, killed by SIGKILL while a model request is in flight, then run again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integrations.kit import assert_resumed_exactly, crash_in_second_request

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(sys.version_info < (3, 11), reason="needs pydantic-ai-slim >= 2.68, which needs Python >= 3.11"),
]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_killed_mid_request_resumes_without_resending_or_rerunning(tmp_path: Path, provider: str) -> None:
    outcome = crash_in_second_request(tmp_path, "pydantic_ai", provider)
    assert_resumed_exactly(outcome)
