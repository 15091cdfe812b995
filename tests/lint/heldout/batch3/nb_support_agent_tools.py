# %% [markdown]
# # Support agent with order tools
# Claude + two tools; crediting an account needs a human to approve on the timeline.

# %%
%load_ext nbdurable
from pathlib import Path

import httpx
import pandas as pd

import nbdurable as nd

orders = pd.read_csv("exports/orders_2025-06.csv", dtype={"order_id": str}).set_index("order_id")
model = nd.ai.anthropic("claude-sonnet-4-5")
orders.shape

# %%
@nd.agent.tool
def lookup_order(order_id: str) -> dict:
    """Find an order.

    Args:
        order_id: The order id, like "A-1042".
    """
    row = orders.loc[order_id]
    return {"status": row["status"], "total": float(row["total"]), "shipped": str(row["shipped_at"])}


@nd.agent.tool(requires_approval=True)
def issue_credit(order_id: str, amount: float) -> str:
    """Credit the customer's account for an order (a human approves first)."""
    r = httpx.post(
        "http://billing.internal/credits",
        json={"order_id": order_id, "amount": amount},
        headers={"Idempotency-Key": nd.current_step().idempotency_key},
        timeout=20,
    )
    r.raise_for_status()
    return r.json()["credit_id"]


agent = nd.agent.Agent(
    model,
    tools=[lookup_order, issue_credit],
    system="You are Acme's support agent. Look orders up before answering. Offer a credit only for late orders.",
    max_turns=8,
)

# %%
%%durable ticket-4411 --background
ticket = input("Paste the customer's message: ")  # <- ND341
result = await agent.run(step, ticket)
print(result.answer)
print(f"{result.turns} turns, ${result.cost or 0:.4f}")

# %%
%%durable ticket-4412 --background
ticket = open("tickets/4412.txt").read()  # <- ND301
result = await agent.run(step, ticket)
print(result.answer)

# %%
%%durable ticket-4413 --background
ticket = await step.run("load-ticket", lambda: Path("tickets/4413.txt").read_text())
result = await agent.run(step, ticket)
print(result.answer, result.stop_reason)
