"""Shared fixtures: a fresh journal for the process engine in every test that asks for one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable import _flow
from nbdurable._function import registry
from tests.helpers import reset_engine


@pytest.fixture
def journal_path(tmp_path: Path) -> Iterator[Path]:
    """A fresh journal for the process engine; functions and nd.Limits the test defines are forgotten after it."""
    reset_engine()
    path = tmp_path / "journal.db"
    nd.configure(path, poll_interval=0.02)
    saved, saved_limits = dict(registry()), dict(_flow.limits())
    yield path
    registry().clear()
    registry().update(saved)
    _flow.limits().clear()
    _flow.limits().update(saved_limits)
    reset_engine()
