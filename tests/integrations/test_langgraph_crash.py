"""A LangGraph graph on NbDurableSaver, killed by SIGKILL while a model request is in flight, then run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrations.kit import assert_resumed_exactly, crash_in_second_request

pytestmark = pytest.mark.crash


def test_killed_mid_request_resumes_from_the_last_checkpoint(tmp_path: Path) -> None:
    outcome = crash_in_second_request(tmp_path, "langgraph")
    assert_resumed_exactly(outcome)
