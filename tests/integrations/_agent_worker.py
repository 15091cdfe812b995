"""A process that runs one framework's agent on nbdurable, for the crash tests (it may be SIGKILLed).

Usage: python _agent_worker.py SPEC.json

The spec names the framework (``pydantic_ai``, ``openai_agents``, ``langgraph``), the
provider wire format, the scripted server's base URLs, the journal, the run id, a
side-effect log (one line per tool execution, outside the journal) and where to
write the run's output. The API key comes from the environment, as it would for a user.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import nbdurable as nd

spec: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text())
PROMPT = "Where is order A-17?"


def lookup_order(order_id: str) -> dict[str, Any]:
    """Find an order by id (the tool whose executions the test counts)."""
    with open(spec["log"], "a") as fh:
        fh.write(json.dumps({"tool": "lookup_order", "order_id": order_id, "pid": os.getpid()}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return {"order_id": order_id, "status": "shipped", "eta": "tomorrow"}


async def pydantic_ai() -> Any:
    from pydantic_ai import Agent

    from nbdurable.integrations.pydantic_ai import DurableAgent

    model: Any
    if spec["provider"] == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        provider = AnthropicProvider(base_url=spec["anthropic_base_url"], api_key=os.environ["ANTHROPIC_API_KEY"])
        model = AnthropicModel("claude-haiku-4-5", provider=provider)
    else:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        model = OpenAIChatModel(
            "gpt-4o", provider=OpenAIProvider(base_url=spec["openai_base_url"], api_key=os.environ["OPENAI_API_KEY"])
        )
    agent = Agent(model, name="support", instructions="You answer questions about orders.")
    agent.tool_plain(lookup_order)
    result = await DurableAgent(agent).run(PROMPT, run_id=spec["run_id"])
    return result.output


def add(left: list[Any], right: list[Any]) -> list[Any]:
    return left + right


class State(TypedDict):
    """The graph's state: the conversation, appended to by each node."""

    messages: Annotated[list[dict[str, Any]], add]


async def langgraph() -> Any:
    import openai
    from langgraph.graph import END, START, StateGraph

    from nbdurable.integrations.langgraph import NbDurableSaver, run_graph

    client = openai.AsyncOpenAI(base_url=spec["openai_base_url"], api_key=os.environ["OPENAI_API_KEY"], max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Find an order by id.",
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            },
        }
    ]

    async def agent(state: State) -> dict[str, Any]:
        response = await client.chat.completions.create(model="gpt-4o", messages=state["messages"], tools=tools)
        return {"messages": [response.choices[0].message.model_dump(exclude_none=True)]}

    def run_tools(state: State) -> dict[str, Any]:
        out = []
        for call in state["messages"][-1]["tool_calls"]:
            result = lookup_order(**json.loads(call["function"]["arguments"]))
            out.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
        return {"messages": out}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", run_tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
    builder.add_edge("tools", "agent")
    graph = builder.compile(checkpointer=NbDurableSaver())
    values = await run_graph(
        graph, {"messages": [{"role": "user", "content": PROMPT}]}, thread_id="t1", run_id=spec["run_id"]
    )
    return values["messages"][-1]["content"]


async def openai_agents() -> Any:
    from agents import Agent, OpenAIResponsesModel, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    from nbdurable.integrations.openai_agents import NbDurableRunner

    set_tracing_disabled(True)  # the SDK would export traces to the provider otherwise
    client = AsyncOpenAI(base_url=spec["openai_base_url"], api_key=os.environ["OPENAI_API_KEY"], max_retries=0)
    agent = Agent(
        name="support",
        instructions="You answer questions about orders.",
        tools=[function_tool(lookup_order)],
        model=OpenAIResponsesModel("gpt-4o", client),
    )
    result = await NbDurableRunner.run(agent, PROMPT, run_id=spec["run_id"])
    return result.final_output


async def main() -> None:
    nd.configure(spec["journal"])
    frameworks = {"pydantic_ai": pydantic_ai, "langgraph": langgraph, "openai_agents": openai_agents}
    output = await frameworks[spec["framework"]]()
    Path(spec["out"]).write_text(json.dumps({"output": output}))


asyncio.run(main())
