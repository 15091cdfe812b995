"""Write the example notebooks from readable Python source (run after editing them here)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent.parent / "notebooks"


def quickstart() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# nbdurable quickstart\n\n"
                "A `%%durable` cell is a workflow: each `step.run(...)` is checkpointed to a local journal "
                "(`.nbdurable/journal.db` next to this notebook). If the kernel dies part-way, run the cell again: "
                "finished steps replay from the journal in microseconds and the first unfinished one runs."
            ),
            new_code_cell("%load_ext nbdurable\nimport nbdurable as nd"),
            new_markdown_cell("Ordinary set-up: a slow call we would hate to repeat. It prints when it really runs."),
            new_code_cell(
                "import asyncio\n\n\n"
                "async def fetch_page(i: int) -> dict:\n"
                '    """Pretend to call a slow API."""\n'
                '    print(f"  fetching page {i} ...")\n'
                "    await asyncio.sleep(0.4)\n"
                '    return {"page": i, "words": 100 + 17 * i}\n\n\n'
                "def summarize(pages: list[dict]) -> str:\n"
                '    print("  summarizing ...")\n'
                "    return f\"{len(pages)} pages, {sum(p['words'] for p in pages)} words\""
            ),
            new_markdown_cell(
                "The durable cell. `step` is bound here and top-level `await` works; the variables it assigns "
                "land in the notebook when it finishes. Try restarting the kernel while it runs, then run "
                "all cells again."
            ),
            new_code_cell(
                "%%durable quickstart\n"
                "pages = []\n"
                "for i in range(6):\n"
                '    pages.append(await step.run(f"fetch-{i}", fetch_page, i))\n'
                'summary = await step.run("summarize", summarize, pages)\n'
                "finished_at = step.now()  # journaled: the same value on every replay\n"
                'print("done:", summary)'
            ),
            new_code_cell("summary"),
            new_markdown_cell("What the journal knows:"),
            new_code_cell("%durable list"),
            new_code_cell("%durable show quickstart"),
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


AGENT_SETUP = """import asyncio
import os
import random

import nbdurable as nd
from nbdurable.testing import ScriptedLLMServer, reply, tool_call

if os.environ.get("OPENAI_API_KEY"):
    # A real provider when you have a key (the key itself is never journaled).
    model = nd.ai.openai("gpt-4o-mini")
    server = None
else:
    # Otherwise a real HTTP server on 127.0.0.1 speaking OpenAI's wire format, answering from a script.
    server = ScriptedLLMServer(
        [
            [tool_call("lookup_order", {"order_id": "A-17"}), tool_call("check_stock", {"sku": "kettle-2"})],
            tool_call("refund", {"order_id": "A-17", "amount": 39.0}),
            reply("Refunded 39.00 EUR for order A-17; a replacement kettle ships when stock allows."),
        ],
        mode="by_turn",
    ).start()
    model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url, api_key_env=None)
"""

AGENT_TOOLS = """_flaky = random.Random(7)


def classify(ticket: dict) -> str:
    \"\"\"Pretend model call that fails now and then (retried by the step).\"\"\"
    if _flaky.random() < 0.3:
        raise ConnectionError("classifier timed out")
    return "refund" if "broken" in ticket["text"] else "question"


@nd.agent.tool
def lookup_order(order_id: str) -> dict:
    \"\"\"Find an order.

    Args:
        order_id: The order's id, like "A-17".
    \"\"\"
    return {"order_id": order_id, "item": "kettle-2", "paid": 39.0}


@nd.agent.tool
async def check_stock(sku: str) -> int:
    \"\"\"How many items of a SKU are in stock.

    Args:
        sku: The stock keeping unit.
    \"\"\"
    await asyncio.sleep(1.0)  # a slow warehouse API
    return 0


@nd.agent.tool(requires_approval=True)
def refund(order_id: str, amount: float) -> str:
    \"\"\"Refund an order (a human must approve).

    Args:
        order_id: The order to refund.
        amount: How much, in EUR.
    \"\"\"
    return f"refunded {amount:.2f} EUR on {order_id}"


agent = nd.agent.Agent(model, tools=[lookup_order, check_stock, refund], system="You resolve support tickets.")
tickets = [{"id": i, "text": "my kettle arrived broken" if i % 4 == 0 else "where is my order?"} for i in range(12)]
"""

AGENT_CELL = """%%durable triage --background --retries 4
labels = await asyncio.gather(*[step.run(f"classify-{t['id']}", classify, t) for t in tickets])
urgent = [t for t, label in zip(tickets, labels) if label == "refund"]
result = await agent.run(step, f"Resolve ticket {urgent[0]['id']}: {urgent[0]['text']} (order A-17)")
"""

AGENT_WAIT = """run = nd.get_run("triage")
while run.status != "waiting":  # the agent asks a human before refunding
    await asyncio.sleep(0.2)
waiting = next(s for s in run.steps() if s.status == "waiting")
call_id = nd.agent.approval_call_id(waiting.meta["if_exp"])
print("waiting for approval of tool call", call_id)"""

AGENT_APPROVE = """# The timeline's approve button does the same; so does
# %durable send nbdurable/tool.approval '{"call_id": "...", "approved": true}'
await nd.agent.approve(call_id, approved=True, reason="checked the photo")
await run.result()
print(result.answer)
print("model turns:", result.turns, "| tokens in/out:", result.tokens_in, "/", result.tokens_out)
if server is not None:
    print("model calls sent by this kernel:", server.count)"""


def agent_experiment() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# An agent experiment that survives restarts\n\n"
                "Twelve tickets are classified in parallel (a fan-out of durable steps with retries), then a "
                "tool-calling agent resolves the urgent one: every model turn is an AI step and every tool call a "
                "step, and the refund waits for a human's approval. Kill the kernel at any point and run the "
                "notebook again: no completed model call or tool call is repeated.\n\n"
                "Without `OPENAI_API_KEY` the model is a scripted server on 127.0.0.1 that speaks OpenAI's "
                "wire format; with a key it is the real API."
            ),
            new_code_cell("%load_ext nbdurable"),
            new_code_cell(AGENT_SETUP),
            new_code_cell(AGENT_TOOLS),
            new_markdown_cell("The workflow runs in the background, so the notebook stays usable while it waits."),
            new_code_cell(AGENT_CELL),
            new_code_cell(AGENT_WAIT),
            new_code_cell(AGENT_APPROVE),
            new_code_cell("%durable show triage"),
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


SCRIPTED = """import asyncio
import json
import os

import nbdurable as nd
from nbdurable.testing import ScriptedLLMServer, reply, tool_call

if os.environ.get("OPENAI_API_KEY"):
    # A real provider when you have a key (the key itself is never journaled).
    base_url, api_key, server = None, os.environ["OPENAI_API_KEY"], None
else:
    # Otherwise a real HTTP server on 127.0.0.1 speaking OpenAI's wire format, answering from a script. The second
    # answer takes 2 seconds: restart the kernel while it is in flight to see what a resume does.
    server = ScriptedLLMServer(
        [
            tool_call("lookup_order", {"order_id": "A-17"}),
SECOND_TURN            reply("Refunded 39.00 EUR for order A-17; a replacement kettle ships this week."),
        ],
        mode="by_turn",
    ).start()
    base_url, api_key = server.openai_base_url, "sk-scripted-demo"

tool_runs = []


def lookup_order(order_id: str) -> dict:
    \"\"\"Find an order by its id, like "A-17".\"\"\"
    tool_runs.append("lookup_order")
    print(f"  looking up {order_id} ...")
    return {"order_id": order_id, "item": "kettle-2", "paid": 39.0, "status": "delivered broken"}"""

REPORT = """print(answer)
print("tools run by this kernel:", tool_runs)
if server is not None:
    print("model calls sent by this kernel:", server.count)"""


def scripted(second_turn: str | None) -> str:
    """The set-up cell: a real provider with a key, else the scripted server (a second turn if given)."""
    return SCRIPTED.replace("SECOND_TURN", f"            {second_turn}\n" if second_turn else "")


def _notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


def pydantic_ai_agent() -> nbformat.NotebookNode:
    refund_turn = 'tool_call("refund", {"order_id": "A-17", "amount": 39.0}, delay=2.0),'
    return _notebook(
        [
            new_markdown_cell(
                "# A Pydantic AI agent that survives restarts\n\n"
                "`DurableAgent(agent)` makes an ordinary `pydantic_ai.Agent` durable: each model request and each "
                "tool call is a step of the `%%durable` cell's run, so after a kernel restart the finished ones "
                "replay from the journal and only the rest runs. The refund needs a human: the run waits for the "
                "timeline's button (or `nd.agent.approve`), across restarts."
            ),
            new_code_cell("%load_ext nbdurable"),
            new_code_cell(scripted(refund_turn)),
            new_code_cell(
                "from pydantic_ai import Agent\n"
                "from pydantic_ai.models.openai import OpenAIChatModel\n"
                "from pydantic_ai.providers.openai import OpenAIProvider\n"
                "from pydantic_ai.tools import DeferredToolRequests\n\n"
                "from nbdurable.integrations.pydantic_ai import DurableAgent\n\n"
                'model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=base_url, api_key=api_key))\n'
                'agent = Agent(model, name="support", instructions="You resolve support tickets.",\n'
                "              output_type=[str, DeferredToolRequests])\n"
                "agent.tool_plain(lookup_order)\n\n\n"
                "@agent.tool_plain(requires_approval=True)\n"
                "def refund(order_id: str, amount: float) -> str:\n"
                '    """Refund an order (a human approves it first)."""\n'
                '    tool_runs.append("refund")\n'
                '    return f"refunded {amount:.2f} EUR on {order_id}"\n\n\n'
                "support = DurableAgent(agent)"
            ),
            new_markdown_cell("The run goes in the background, so the notebook stays usable while it waits."),
            new_code_cell(
                "%%durable refund-demo --background\n"
                'result = await support.run("Kettle A-17 arrived broken, please refund it.")\n'
                "answer = result.output"
            ),
            new_code_cell(
                'run = nd.get_run("refund-demo")\n'
                'while run.status != "waiting":  # the refund waits for a human\n'
                "    await asyncio.sleep(0.2)\n"
                'waiting = next(s for s in run.steps() if s.status == "waiting")\n'
                'call_id = nd.agent.approval_call_id(waiting.meta["if_exp"])\n'
                'print("waiting for approval of", waiting.name)'
            ),
            new_code_cell(
                "# The timeline's Approve button does the same.\n"
                'await nd.agent.approve(call_id, reason="photo checked")\n'
                "await run.result()\n" + REPORT
            ),
            new_code_cell("%durable show refund-demo"),
        ]
    )


OPENAI_AGENTS_SETUP = """from agents import Agent, OpenAIResponsesModel, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from nbdurable.integrations.openai_agents import NbDurableRunner

set_tracing_disabled(True)  # keep traces on this machine
client = AsyncOpenAI(base_url=base_url, api_key=api_key)
agent = Agent(
    name="support",
    instructions="You resolve support tickets.",
    tools=[function_tool(lookup_order)],
    model=OpenAIResponsesModel("gpt-4o-mini", client),
)"""


def openai_agents_agent() -> nbformat.NotebookNode:
    return _notebook(
        [
            new_markdown_cell(
                "# An OpenAI Agents SDK agent that survives restarts\n\n"
                "`NbDurableRunner.run` is `Runner.run` with every model call, tool call, handoff and guardrail a "
                "step of the `%%durable` cell's run: restart the kernel while the second model call is in flight, "
                "run the notebook again, and only that call is sent again."
            ),
            new_code_cell("%load_ext nbdurable"),
            new_code_cell(
                scripted(None).replace('reply("Refunded 39.00 EUR', 'reply(delay=2.0, text="Refunded 39.00 EUR')
            ),
            new_code_cell(OPENAI_AGENTS_SETUP),
            new_code_cell(
                "%%durable agents-demo\n"
                'result = await NbDurableRunner.run(agent, "Kettle A-17 arrived broken, what now?")\n'
                "answer = result.final_output"
            ),
            new_code_cell(REPORT),
            new_code_cell("%durable show agents-demo"),
        ]
    )


LANGGRAPH_SETUP = """from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from openai import AsyncOpenAI

from nbdurable.integrations.langgraph import NbDurableSaver, resume, run_graph

client = AsyncOpenAI(base_url=base_url, api_key=api_key)
TOOLS = [
    {"type": "function", "function": {"name": name, "description": text, "parameters": {"type": "object"}}}
    for name, text in [("lookup_order", "Find an order by id."), ("refund", "Refund an order (needs approval).")]
]


def add(left: list, right: list) -> list:
    return left + right


class State(TypedDict):
    messages: Annotated[list, add]


async def agent(state: State) -> dict:
    response = await client.chat.completions.create(model="gpt-4o-mini", messages=state["messages"], tools=TOOLS)
    return {"messages": [response.choices[0].message.model_dump(exclude_none=True)]}


def tools(state: State) -> dict:
    out = []
    for call in state["messages"][-1]["tool_calls"]:
        args = json.loads(call["function"]["arguments"])
        if call["function"]["name"] == "refund":
            approved = interrupt({"refund": args})  # waits, durably, for a human
            result = f"refunded {args['amount']:.2f} EUR" if approved else "refund denied"
        else:
            result = lookup_order(**args)
        out.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
    return {"messages": out}


builder = StateGraph(State)
builder.add_node("agent", agent)
builder.add_node("tools", tools)
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
builder.add_edge("tools", "agent")
graph = builder.compile(checkpointer=NbDurableSaver())"""


def langgraph_agent() -> nbformat.NotebookNode:
    refund_turn = 'tool_call("refund", {"order_id": "A-17", "amount": 39.0}, delay=2.0),'
    return _notebook(
        [
            new_markdown_cell(
                "# A LangGraph graph that survives restarts\n\n"
                "`NbDurableSaver` keeps the graph's checkpoints in the notebook's journal: the thread "
                "`ticket-17` is the run `langgraph:ticket-17`, one timeline row per super-step and per node. "
                "`run_graph` drives it inside the `%%durable` cell: after a kernel restart the graph continues "
                "from its last checkpoint, and its `interrupt()` waits durably for an answer from the timeline "
                "or `resume()`."
            ),
            new_code_cell("%load_ext nbdurable"),
            new_code_cell(scripted(refund_turn)),
            new_code_cell(LANGGRAPH_SETUP),
            new_code_cell(
                "%%durable graph-demo --background\n"
                "final = await run_graph(\n"
                '    graph, {"messages": [{"role": "user", "content": "Kettle A-17 arrived broken, refund it."}]},\n'
                '    thread_id="ticket-17",\n'
                ")\n"
                'answer = final["messages"][-1]["content"]'
            ),
            new_code_cell(
                'run = nd.get_run("graph-demo")\n'
                'while run.status != "waiting":  # the refund waits at interrupt()\n'
                "    await asyncio.sleep(0.2)\n"
                'thread = nd.get_run("langgraph:ticket-17")  # the thread: a row per super-step and node\n'
                'print("waiting:", [s.name for s in thread.steps() if s.status == "waiting"])'
            ),
            new_code_cell(
                '# The timeline\'s send button does the same, with {"thread_id": "ticket-17", "resume": true}.\n'
                'await resume("ticket-17", True)\n'
                "await run.result()\n" + REPORT
            ),
            new_code_cell("%durable show langgraph:ticket-17"),
        ]
    )


COMPARE_SETUP = """import os

import nbdurable as nd
from nbdurable.testing import ScriptedLLMServer, reply, tool_call

if os.environ.get("OPENAI_API_KEY"):
    # A real provider when you have a key (the key itself is never journaled).
    model = nd.ai.openai("gpt-4o-mini")
    server = None
else:
    # Otherwise a real HTTP server on 127.0.0.1 speaking OpenAI's wire format, answering from a script:
    # the same tool call for both prompts, then a short answer and a longer one.
    server = ScriptedLLMServer(
        [
            tool_call("lookup_order", {"order_id": "A-17"}, usage=(180, 20)),
            reply("Your kettle A-17 ships on Friday.", usage=(260, 12)),
            tool_call("lookup_order", {"order_id": "A-17"}, usage=(230, 20)),
            reply(
                "Thank you for your patience! Your kettle (order A-17) left our warehouse today "
                "and should reach you on Friday; we have added free descaling tablets.",
                usage=(310, 48),
            ),
        ],
    ).start()
    model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url, api_key_env=None)


@nd.agent.tool
def lookup_order(order_id: str) -> dict:
    \"\"\"Find an order.

    Args:
        order_id: The order's id, like "A-17".
    \"\"\"
    return {"order_id": order_id, "item": "kettle", "ships": "Friday"}


@nd.function(id="support-agent")
async def support(ctx: nd.Context) -> str:
    agent = nd.agent.Agent(model, tools=[lookup_order], system=ctx.event.data["system"])
    result = await agent.run(ctx.step, "Where is my kettle? Order A-17.")
    return result.answer
"""

COMPARE_RUNS = """short = await support.run(data={"system": "Answer in one sentence."}, run_id="prompt-short")
warm = await support.run(data={"system": "Answer warmly, with every detail you have."}, run_id="prompt-warm")
print(short)
print(warm)"""


def compare_prompts() -> nbformat.NotebookNode:
    return _notebook(
        [
            new_markdown_cell(
                "# Two prompts, compared\n\n"
                "The same tool-calling agent runs twice, with two system prompts. Every model turn and tool call "
                "is a step in the journal, so the runs are data: `nd.runs_frame()` and `nd.steps_frame()` give "
                "them as DataFrames and `nd.compare()` shows them side by side with what differs highlighted "
                "(also in the saved notebook). Costs come from genai-prices.\n\n"
                "Without `OPENAI_API_KEY` the model is a scripted server on 127.0.0.1 that speaks OpenAI's "
                "wire format; with a key it is the real API."
            ),
            new_code_cell("%load_ext nbdurable"),
            new_code_cell(COMPARE_SETUP),
            new_code_cell(COMPARE_RUNS),
            new_markdown_cell("One row per run: tokens and cost per prompt."),
            new_code_cell(
                'nd.runs_frame(function_id="support-agent")'
                '[["run_id", "status", "steps", "tokens_in", "tokens_out", "cost", "duration"]]'
            ),
            new_markdown_cell("One row per step: where the tokens and the time went."),
            new_code_cell(
                'steps = nd.steps_frame(function_id="support-agent")\n'
                'steps[["run_id", "name", "kind", "model", "tokens_in", "tokens_out", "cost", "duration"]]'
            ),
            new_markdown_cell("Side by side: the tool call is the same, the answers and their cost differ."),
            new_code_cell('nd.compare("prompt-short", "prompt-warm")'),
        ]
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    nbformat.write(quickstart(), HERE / "quickstart.ipynb")
    nbformat.write(agent_experiment(), HERE / "agent_experiment.ipynb")
    nbformat.write(pydantic_ai_agent(), HERE / "pydantic_ai_agent.ipynb")
    nbformat.write(openai_agents_agent(), HERE / "openai_agents_agent.ipynb")
    nbformat.write(langgraph_agent(), HERE / "langgraph_agent.ipynb")
    nbformat.write(compare_prompts(), HERE / "compare_prompts.ipynb")


if __name__ == "__main__":
    main()
