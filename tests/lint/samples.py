"""Material shared by the linter tests: a small flagged workflow, a notebook's cells, writing them to disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

SIMPLE = """\
import time
import nbdurable as nd


@nd.function(id="w", trigger="t")
async def w(ctx):
    started = time.time()
    return await ctx.step.run("s", lambda: started)
"""


MakeNotebook = Callable[[list[tuple[str, str]]], Path]  # the make_notebook fixture

NOTEBOOK_CELLS = [
    ("markdown", "# An experiment"),
    ("code", "%load_ext nbdurable\nimport nbdurable as nd\nfrom time import time as now\nresults = []\n"),
    ("code", "def load():\n    return open('data.txt').read().split()\n"),
    ("code", "%%durable exp-1\ndocs = await step.run('load', load)\nresults.append(now())\n"),
    ("code", "@nd.function(id='w', trigger='t')\nasync def w(ctx):\n    return load()\n"),
    ("code", "obj?\n"),
    ("code", "%%bash\nls -l\n"),
    (
        "code",
        "%%durable exp-2\nfor i, d in enumerate(await step.run('load', load)):\n    await step.run(f'r-{i}', len, d)\n",
    ),
]


def write_notebook(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    notebook = {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
            | ({"outputs": [], "execution_count": None} if kind == "code" else {})
            for kind, source in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "experiment.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def write_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
