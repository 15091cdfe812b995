"""NbDurableRunner with the real openai-agents SDK against the scripted server (real HTTP, real journal)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    function_tool,
    handoff,
    input_guardrail,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

import nbdurable as nd
from nbdurable.integrations.openai_agents import NbDurableRunner
from nbdurable.testing import ScriptedLLMServer, reply, tool_call
from tests.helpers import journal

KEY = "sk-test-agents-0123456789SECRET"


@pytest.fixture(autouse=True)
def no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)  # the SDK would export traces to the provider otherwise
    yield
    set_tracing_disabled(False)


def responses(server: ScriptedLLMServer) -> OpenAIResponsesModel:
    return OpenAIResponsesModel("gpt-4o", AsyncOpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0))


def steps(run_id: str) -> list[str]:
    return [s.step_id.split("#")[0] for s in journal().load_steps(run_id) if s.kind != "value"]


@pytest.mark.asyncio
@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_model_and_tool_calls_are_steps_and_a_completed_run_replays(journal_path: Path, api: str) -> None:
    looked_up: list[str] = []

    @function_tool
    def lookup(order_id: str) -> str:
        """Find an order."""
        looked_up.append(order_id)
        return f"{order_id}: shipped"

    script = [tool_call("lookup", {"order_id": "A-1"}, id="call_1"), reply("It shipped.", usage=(30, 4))]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        client = AsyncOpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0)
        model: Any = responses(server) if api == "responses" else OpenAIChatCompletionsModel("gpt-4o", client)
        agent = Agent(name="support", tools=[lookup], model=model)
        result = await NbDurableRunner.run(agent, "Where is A-1?", run_id="o1")
        assert result.final_output == "It shipped." and server.count == 2 and looked_up == ["A-1"]
        again = await NbDurableRunner.run(agent, "Where is A-1?", run_id="o1")
        assert again.final_output == "It shipped." and server.count == 2 and looked_up == ["A-1"]
        expected = "/v1/responses" if api == "responses" else "/v1/chat/completions"
        assert {r.path for r in server.requests} == {expected}
    assert steps("o1") == ["support.model", "support.tool.lookup", "support.model:1"]
    ai = (journal().load_steps("o1")[-1].meta or {})["ai"]
    assert (ai["model"], ai["tokens_in"], ai["tokens_out"]) == ("gpt-4o", 30, 4)
    assert await nd.get_run("o1").result() == {"final_output": "It shipped."}


@pytest.mark.asyncio
async def test_a_handoff_is_a_step_and_the_next_agent_is_durable_too(journal_path: Path) -> None:
    handed: list[str] = []
    script = [tool_call("transfer_to_billing", {}, id="call_h"), reply("Billing here: refunded.")]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        billing = Agent(name="billing", model=responses(server))
        triage = Agent(
            name="triage",
            model=responses(server),
            handoffs=[handoff(billing, on_handoff=lambda ctx: handed.append("billing"))],
        )
        result = await NbDurableRunner.run(triage, "I want a refund", run_id="h1")
        assert result.final_output == "Billing here: refunded." and result.last_agent.name == "billing"
        assert handed == ["billing"]
        # Replayed: the same answer from the journal, the on_handoff callback not run again.
        again = await NbDurableRunner.run(triage, "I want a refund", run_id="h1")
        assert again.final_output == "Billing here: refunded." and again.last_agent.name == "billing"
        assert handed == ["billing"] and server.count == 2
    assert steps("h1") == ["triage.model", "triage.handoff.transfer_to_billing", "billing.model"]


@pytest.mark.asyncio
async def test_a_guardrail_is_a_step_and_its_tripwire_stops_the_run(journal_path: Path) -> None:
    checked: list[str] = []

    @input_guardrail
    def no_secrets(ctx: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
        checked.append(str(text))
        return GuardrailFunctionOutput(output_info={"why": "password"}, tripwire_triggered="password" in str(text))

    with ScriptedLLMServer(["fine"], mode="by_turn") as server:
        agent = Agent(name="guarded", model=responses(server), input_guardrails=[no_secrets])
        ok = await NbDurableRunner.run(agent, "hello", run_id="g1")
        assert ok.final_output == "fine"
        with pytest.raises(nd.RunFailedError, match="InputGuardrailTripwireTriggered"):
            await NbDurableRunner.run(agent, "my password is 123", run_id="g2")
    assert "guarded.input.no_secrets" in steps("g1") and "guarded.input.no_secrets" in steps("g2")
    assert checked == ["hello", "my password is 123"]


@pytest.mark.asyncio
async def test_inside_a_function_the_runner_joins_that_run(journal_path: Path) -> None:
    with ScriptedLLMServer(["one", "two"]) as server:
        agent = Agent(name="helper", model=responses(server))

        @nd.function(id="two-agents", lint="off")
        async def wf(ctx: nd.Context) -> list[str]:
            a = await NbDurableRunner.run(agent, "first?")
            b = await NbDurableRunner.run(agent, "second?")
            return [a.final_output, b.final_output]

        assert await wf.run(run_id="joined") == ["one", "two"]
    assert steps("joined") == ["helper.model", "helper.model:1"]


def test_streaming_is_refused_with_a_reason() -> None:
    with pytest.raises(nd.ConfigError, match="run_streamed"):
        NbDurableRunner.run_streamed(Agent(name="x"), "hi")
