"""The snapshot's one schema: the committed JSON Schema is the TypedDicts', and every snapshot fits it.

The TypeScript side (labextension/test/schema.test.ts) checks its interfaces against the same file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

import nbdurable as nd
from nbdurable.timeline._schema import Snapshot, schema_text
from nbdurable.timeline._snapshot import build_snapshot
from tests.timeline_samples import completed_snapshot, hostile_snapshot, waiting_snapshot

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "labextension" / "schema" / "snapshot.schema.json"
SNAPSHOT = TypeAdapter(Snapshot)


def test_the_committed_schema_is_the_one_the_python_types_give() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "labextension/schema/snapshot.schema.json is stale: run .venv/bin/python scripts/snapshot_schema.py"
    )


@pytest.mark.parametrize("sample", [waiting_snapshot, completed_snapshot, hostile_snapshot])
def test_the_shared_samples_fit_the_schema(sample: Any) -> None:
    SNAPSHOT.validate_python(sample())


def test_a_field_the_schema_does_not_know_is_refused() -> None:
    snap = completed_snapshot()
    snap["steps"][0]["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        SNAPSHOT.validate_python(snap)


@pytest.mark.asyncio
async def test_snapshots_the_engine_builds_fit_the_schema(journal_path: Path) -> None:
    @nd.function(id="schema-run", retries=1, lint="off")
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.run("a", lambda: {"x": 1})
        await ctx.step.sleep("nap", 0.01)
        got = await ctx.step.wait_for_event("w", event="schema/go", timeout="5s", if_exp="async.data.n == 41")
        assert got is not None
        await ctx.step.run("boom", _fail)
        return "never"

    handle = wf.start(run_id="schema")
    while handle.status != "waiting":
        await asyncio.sleep(0.01)
    waiting = build_snapshot(nd.get_engine(), "schema")
    assert waiting["run"]["waiting_for"]["event"] == "schema/go"
    SNAPSHOT.validate_python(waiting)
    await nd.send("schema/go", {"n": 41})
    with pytest.raises(nd.RunFailedError):
        await handle.result()
    failed = build_snapshot(nd.get_engine(), "schema")
    assert failed["run"]["status"] == "failed" and failed["run"]["error"]["step_id"] == "boom"
    SNAPSHOT.validate_python(failed)


def _fail() -> None:
    raise ValueError("no")
