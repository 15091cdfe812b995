"""nd.workflow_step, nd.join_or_start and nd.stream_text: durable code that is not handed ``step``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import nbdurable as nd
from tests.helpers import journal, restart, until


@pytest.mark.asyncio
async def test_workflow_step_is_the_runs_step_in_workflow_code_only(journal_path: Path) -> None:
    assert nd.workflow_step() is None
    seen: dict[str, object] = {}

    def inside_a_step() -> str:
        seen["in step"] = nd.workflow_step()
        return "done"

    @nd.function(id="ws", lint="off")
    async def wf(ctx: nd.Context) -> str:
        step = nd.workflow_step()
        assert step is not None and step.run_id == ctx.run_id
        seen["same"] = nd.workflow_step() is step  # one Step per run: its ids come from one RunState
        return await step.run("s", inside_a_step)

    assert await wf.run(run_id="ws-1") == "done"
    assert seen == {"in step": None, "same": True}
    assert [s.step_id for s in journal().load_steps("ws-1")] == ["s"]


@pytest.mark.asyncio
async def test_join_or_start_joins_the_run_executing_here(journal_path: Path) -> None:
    async def body(step: nd.Step) -> int:
        return await step.run("inner", lambda: 41) + 1

    @nd.function(id="outer", lint="off")
    async def wf(ctx: nd.Context) -> int:
        return await nd.join_or_start(body, function_id="helper", run_id="ignored-here")

    assert await wf.run(run_id="outer-1") == 42
    assert [s.step_id for s in journal().load_steps("outer-1")] == ["inner"]
    assert journal().get_run("ignored-here") is None


@pytest.mark.asyncio
async def test_join_or_start_outside_a_run_starts_resumes_and_replays(journal_path: Path) -> None:
    ran: list[str] = []

    class Live:
        """A value the journal cannot hold: the caller still gets it, the journal keeps what journal_as says."""

        def __init__(self, n: int) -> None:
            self.n = n

    def effect(name: str) -> str:
        ran.append(name)
        if name == "b" and ran.count("b") == 1:
            raise RuntimeError("flaky")
        return name

    async def body(step: nd.Step) -> Live:
        parts = [await step.run("a", effect, "a"), await step.run("b", effect, "b")]
        return Live(len("".join(parts)))

    with pytest.raises(nd.RunFailedError, match="flaky"):
        await nd.join_or_start(body, function_id="helper", run_id="h-1", journal_as=lambda v: v.n, retries=0)
    assert ran == ["a", "b"]
    restart(journal_path)
    value = await nd.join_or_start(body, function_id="helper", run_id="h-1", journal_as=lambda v: v.n, retries=0)
    assert isinstance(value, Live) and value.n == 2
    assert ran == ["a", "b", "b"], "the completed step did not run again"
    assert nd.get_run("h-1").status == "completed"
    assert await nd.get_run("h-1").result() == 2
    # Completed: called again, every step replays and the caller gets a fresh live value.
    again = await nd.join_or_start(body, function_id="helper", run_id="h-1", journal_as=lambda v: v.n, retries=0)
    assert isinstance(again, Live) and again.n == 2
    assert ran == ["a", "b", "b"]


@pytest.mark.asyncio
async def test_a_join_or_start_run_cannot_be_resumed_without_its_caller(journal_path: Path) -> None:
    async def body(step: nd.Step) -> None:
        await step.sleep("nap", 30)

    task = asyncio.ensure_future(nd.join_or_start(body, function_id="helper", run_id="h-2"))
    await until(lambda: (rec := journal().get_run("h-2")) is not None and rec.status == "sleeping", what="sleeping")
    assert nd.get_engine().interrupt("h-2")
    with pytest.raises(nd.RunInterruptedError):
        await task
    restart(journal_path)
    with pytest.raises(nd.FunctionNotFoundError):
        nd.get_run("h-2").resume()


@pytest.mark.asyncio
async def test_stream_text_shows_on_the_live_step_and_the_feed(journal_path: Path) -> None:
    notices: list[tuple[str, str | None, str | None]] = []
    nd.get_engine().subscribe(lambda n: notices.append((n.kind, n.step_id, n.text)) if n.kind == "stream" else None)
    nd.stream_text("outside any step: ignored")
    previews: list[str | None] = []

    async def produce() -> str:
        for word in ("one ", "two ", "sk-proj-abcdefghijklmnopqrstuvwxyz012345"):
            nd.stream_text(word)
        st = nd.get_engine().active["st-1"]
        previews.append(st.live["talk"].output_preview)
        return "done"

    @nd.function(id="st", lint="off")
    async def wf(ctx: nd.Context) -> str:
        return await ctx.step.run("talk", produce)

    assert await wf.run(run_id="st-1") == "done"
    assert [n[:2] for n in notices] == [("stream", "talk")] * 3
    assert "".join(n[2] or "" for n in notices).startswith("one two ")
    assert previews[0] is not None and previews[0].startswith("one two ")
    assert "abcdefghijklmnopqrstuvwxyz" not in "".join(n[2] or "" for n in notices), "streamed text is redacted"
