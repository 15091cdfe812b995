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


def main() -> None:
    HERE.mkdir(exist_ok=True)
    nbformat.write(quickstart(), HERE / "quickstart.ipynb")
    nbformat.write(agent_experiment(), HERE / "agent_experiment.ipynb")


if __name__ == "__main__":
    main()
