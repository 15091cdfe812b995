"""Fixtures for the linter tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lint.samples import MakeNotebook, write_notebook


@pytest.fixture
def make_notebook(tmp_path: Path) -> MakeNotebook:
    """Write a notebook of (cell type, source) cells to tmp_path/experiment.ipynb and return its path."""

    def make(cells: list[tuple[str, str]], folder: Path = tmp_path) -> Path:
        return write_notebook(folder, cells)

    return make
