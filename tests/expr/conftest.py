"""Fixtures shared by the expression-language tests (nbdurable.expr)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nbdurable.expr import Limits, set_default_limits


@pytest.fixture
def default_limits() -> Iterator[Limits]:
    """The process-wide expression limits, put back as they were after the test changes them."""
    previous = set_default_limits()
    set_default_limits(previous)
    yield previous
    set_default_limits(previous)
