"""DurableAgent / NbDurability with the real pydantic-ai-slim against the scripted server (real HTTP, real journal)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info < (3, 11):
    pytest.skip("needs pydantic-ai-slim >= 2.68, which needs Python >= 3.11", allow_module_level=True)

from pydantic_ai import Agent, CallDeferred
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import DeferredToolRequests

import nbdurable as nd
from nbdurable.integrations.pydantic_ai import DurableAgent, NbDurability, send_tool_result
from nbdurable.testing import ScriptedLLMServer, reply, tool_call
from tests.helpers import journal, restart, until

KEY = "sk-test-pyd-0123456789abcdefSECRET"


def make_agent(server: ScriptedLLMServer, **kwargs: Any) -> Agent[None, Any]:
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=server.openai_base_url, api_key=KEY))
    return Agent(model, name="support", **kwargs)


def responses(result: Any) -> list[Any]:
    """The model's side of a run (requests carry the time they were built, which a replay rebuilds)."""
    return [m for m in result.all_messages() if isinstance(m, ModelResponse)]


def is_waiting(run_id: str) -> bool:
    rec = journal().get_run(run_id)
    return rec is not None and rec.status == "waiting"


def waiting_step(run_id: str) -> nd.StepView:
    return next(s for s in nd.get_run(run_id).steps() if s.status == "waiting")


@pytest.mark.asyncio
async def test_a_run_journals_each_request_and_tool_call_and_replays_when_called_again(journal_path: Path) -> None:
    looked_up: list[str] = []
    script = [tool_call("lookup", {"order_id": "A-1"}, id="call_1"), reply("It shipped.", usage=(40, 3))]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        agent = make_agent(server)

        @agent.tool_plain
        def lookup(order_id: str) -> str:
            looked_up.append(order_id)
            return f"{order_id}: shipped"

        durable = DurableAgent(agent)
        result = await durable.run("Where is A-1?", run_id="r1")
        assert result.output == "It shipped."
        assert server.count == 2 and looked_up == ["A-1"]
        again = await durable.run("Where is A-1?", run_id="r1")
        assert again.output == "It shipped." and responses(again) == responses(result)
        assert server.count == 2 and looked_up == ["A-1"], "a completed run replays: nothing is sent or run again"
    steps = {s.step_id: s for s in journal().load_steps("r1")}
    assert list(steps) == ["support.model", "support.tool.lookup#call_1", "support.model:1"]
    assert steps["support.model"].kind == "ai" and steps["support.tool.lookup#call_1"].kind == "run"
    ai = (steps["support.model:1"].meta or {})["ai"]
    assert (ai["model"], ai["provider"], ai["tokens_in"], ai["tokens_out"]) == ("gpt-4o", "openai", 40, 3)
    assert ai["cost"] is not None and ai["cost"] > 0
    assert '"A-1"' in (steps["support.tool.lookup#call_1"].meta or {})["input"]
    run = journal().get_run("r1")
    assert run is not None and run.function_id == "pydantic-ai:support" and run.event is not None
    assert run.event["data"] == {"prompt": "Where is A-1?"}
    assert await nd.get_run("r1").result() == {"output": "It shipped."}
    assert KEY not in b"".join(p.read_bytes() for p in journal_path.parent.glob("journal.db*")).decode("latin-1")


@pytest.mark.asyncio
async def test_inside_a_function_the_agent_joins_that_run(journal_path: Path) -> None:
    with ScriptedLLMServer(["first", "second"]) as server:
        durable = DurableAgent(make_agent(server))

        @nd.function(id="two-questions", lint="off")
        async def wf(ctx: nd.Context) -> list[str]:
            a = await durable.run("one?", run_id="not-used-for-a-joined-run")
            b = await durable.run("two?")
            return [a.output, b.output]

        assert await wf.run(run_id="joined") == ["first", "second"]
    assert [s.step_id for s in journal().load_steps("joined") if s.kind != "value"] == [
        "support.model",
        "support.model:1",
    ]
    assert [r.run_id for r in journal().list_runs()] == ["joined"]


@pytest.mark.asyncio
async def test_outside_any_run_the_capability_changes_nothing(journal_path: Path) -> None:
    with ScriptedLLMServer(["plain"]) as server:
        agent = make_agent(server, capabilities=[NbDurability()])
        assert (await agent.run("hi")).output == "plain"
        assert server.count == 1
    assert journal().list_runs() == []


@pytest.mark.asyncio
async def test_an_approval_waits_durably_across_a_restart_and_is_answered_by_the_event(journal_path: Path) -> None:
    refunded: list[str] = []
    script = [tool_call("refund", {"order_id": "A-7"}, id="call_r"), reply("Refunded A-7.")]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        agent = make_agent(server, output_type=[str, DeferredToolRequests])

        @agent.tool_plain(requires_approval=True)
        def refund(order_id: str) -> str:
            refunded.append(order_id)
            return "refunded"

        durable = DurableAgent(agent)
        first = asyncio.ensure_future(durable.run("Refund A-7", run_id="ap"))
        await until(lambda: is_waiting("ap"), what="the approval wait")
        wait = waiting_step("ap")
        assert wait.step_id == "support.approve.refund#call_r"
        assert nd.agent.approval_call_id(wait.meta["if_exp"]) == "call_r"  # what the timeline's button answers
        assert nd.get_engine().interrupt("ap")  # the kernel goes away while the run waits
        with pytest.raises(nd.RunInterruptedError):
            await first
        restart(journal_path)
        second = asyncio.ensure_future(durable.run("Refund A-7", run_id="ap"))
        await until(lambda: is_waiting("ap"), what="waiting again")
        await nd.agent.approve("call_r", reason="ok")
        result = await second
        assert result.output == "Refunded A-7." and refunded == ["A-7"]
        assert server.count == 2, "the request that asked for the tool was not sent again"


@pytest.mark.asyncio
async def test_a_denied_approval_tells_the_model_and_skips_the_tool(journal_path: Path) -> None:
    refunded: list[str] = []
    script = [tool_call("refund", {"order_id": "A-8"}, id="call_d"), reply("Not refunded.")]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        agent = make_agent(server, output_type=[str, DeferredToolRequests])

        @agent.tool_plain(requires_approval=True)
        def refund(order_id: str) -> str:
            refunded.append(order_id)
            return "refunded"

        run = asyncio.ensure_future(DurableAgent(agent).run("Refund A-8", run_id="deny"))
        await until(lambda: is_waiting("deny"), what="the approval wait")
        await nd.agent.approve("call_d", approved=False, reason="fraud suspected")
        assert (await run).output == "Not refunded."
        assert refunded == []
        told = server.requests[-1].messages[-1]
        assert told["role"] == "tool" and "did not approve" in told["content"] and "fraud suspected" in told["content"]


@pytest.mark.asyncio
async def test_a_tool_executed_outside_gets_its_result_from_an_event(journal_path: Path) -> None:
    script = [tool_call("render", {"doc": "q3"}, id="call_x"), reply("Rendered.")]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        agent = make_agent(server, output_type=[str, DeferredToolRequests])

        @agent.tool_plain
        def render(doc: str) -> str:
            raise CallDeferred

        run = asyncio.ensure_future(DurableAgent(agent).run("Render q3", run_id="ext"))
        await until(lambda: is_waiting("ext"), what="the result wait")
        await send_tool_result("call_x", {"pages": 12})
        assert (await run).output == "Rendered."
        assert '"pages"' in server.requests[-1].messages[-1]["content"]


@pytest.mark.asyncio
async def test_run_stream_shows_text_live_and_a_replay_sends_nothing(journal_path: Path) -> None:
    streamed: list[str] = []
    nd.get_engine().subscribe(lambda n: streamed.append(n.text or "") if n.kind == "stream" else None)
    with ScriptedLLMServer([reply("one two three four", chunk_delay=0.01)], mode="by_turn") as server:
        durable = DurableAgent(make_agent(server))

        @nd.function(id="streamer", lint="off")
        async def wf(ctx: nd.Context) -> str:
            async with durable.run_stream("count") as result:
                return "".join([part async for part in result.stream_text(delta=True)])

        assert await wf.run(run_id="s1") == "one two three four"
        assert "".join(streamed) == "one two three four" and len(streamed) >= 4, "tokens reached the timeline live"
        assert server.count == 1 and server.requests[0].stream
        streamed.clear()
        restart(journal_path)
        nd.get_engine().subscribe(lambda n: streamed.append(n.text or "") if n.kind == "stream" else None)
        handle = nd.get_engine().start(wf, run_id="s1", reexecute=True)
        assert await handle.result() == "one two three four"
        assert server.count == 1, "the completed streamed request was not sent again"
        assert streamed == []
    (step,) = [s for s in journal().load_steps("s1") if s.kind == "ai"]
    assert step.step_id == "support.model-stream"


@pytest.mark.asyncio
async def test_run_stream_events_outside_a_run_is_durable(journal_path: Path) -> None:
    with ScriptedLLMServer([reply("streamed answer")], mode="by_turn") as server:
        durable = DurableAgent(make_agent(server))
        async with durable.run_stream_events("hi", run_id="ev") as stream:
            events = [event async for event in stream]
        assert type(events[-1]).__name__ == "AgentRunResultEvent"
        assert events[-1].result.output == "streamed answer"
    assert nd.get_run("ev").status == "completed"


@pytest.mark.asyncio
async def test_run_stream_outside_a_run_says_it_needs_one(journal_path: Path) -> None:
    with ScriptedLLMServer(["never sent"]) as server:
        durable = DurableAgent(make_agent(server))
        with pytest.raises(nd.ConfigError, match="need an nbdurable run to join"):
            async with durable.run_stream("hi"):
                pass
        assert server.count == 0


def test_a_durable_agent_needs_a_name() -> None:
    with pytest.raises(nd.ConfigError, match="needs a name"):
        DurableAgent(Agent("test"))
    with pytest.raises(nd.ConfigError, match="retries"):
        NbDurability(retries=-1)
