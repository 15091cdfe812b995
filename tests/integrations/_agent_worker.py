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
from typing import Any

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


async def main() -> None:
    nd.configure(spec["journal"])
    output = await {"pydantic_ai": pydantic_ai}[spec["framework"]]()
    Path(spec["out"]).write_text(json.dumps({"output": output}))


asyncio.run(main())
