"""Tests of nbdurable.notebook.

%load_ext, %%durable cells, the live timeline widget and the static timeline in real kernels, and
the example notebooks run through a kernel kill.

Run them alone with ``python -m pytest tests/notebook`` (the kernel and crash tests among them with
``-m "kernel or crash"``). The shared fixture ``journal_path`` is in ``tests/conftest.py``, the
shared helpers in ``tests/helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nbdurable.testing import Kernel


@pytest.fixture
def kernels() -> Iterator[list[Kernel]]:
    """The kernels a test starts (append them here): each is shut down after the test, also on failure."""
    started: list[Kernel] = []
    yield started
    for k in started:
        try:
            k.close()
        except Exception:
            pass  # a kernel the test killed on purpose has nothing left to close
