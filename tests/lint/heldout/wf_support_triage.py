"""Support-ticket triage: classify, look up the customer, draft a reply, wait for approval."""

import sqlite3
import time

import nbdurable as nd
from openai import OpenAI

client = OpenAI()
DB_PATH = "crm.db"
CATEGORIES = ["billing", "bug", "how-to", "account", "other"]


def lookup_customer(email: str) -> dict | None:
    with sqlite3.connect(DB_PATH) as conn:
        row = conn.execute("SELECT id, plan, since FROM customers WHERE email = ?", (email,)).fetchone()
    return None if row is None else {"id": row[0], "plan": row[1], "since": row[2]}


@nd.function(id="triage", trigger="ticket/created")
async def triage(ctx):
    ticket = ctx.event.data
    started = time.monotonic()  # <- ND102

    label = await ctx.step.ai.wrap(
        "classify",
        client.chat.completions.create,
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Answer with one of: " + ", ".join(CATEGORIES)},
            {"role": "user", "content": ticket["body"]},
        ],
    )
    category = label.choices[0].message.content.strip().lower()

    conn = sqlite3.connect(DB_PATH)  # <- ND322
    open_tickets = conn.execute(  # <- ND322
        "SELECT count(*) FROM tickets WHERE email = ? AND status = 'open'", (ticket["email"],)
    ).fetchone()[0]
    conn.close()

    customer = await ctx.step.run("customer", lookup_customer, ticket["email"])
    priority = "high" if customer and customer["plan"] == "enterprise" or open_tickets > 3 else "normal"

    draft = client.chat.completions.create(  # <- ND401
        model="gpt-4o",
        messages=[{"role": "user", "content": f"Draft a {category} reply to: {ticket['body']}"}],
    )
    await ctx.step.run("save-draft", save_draft, ticket["id"], draft.choices[0].message.content, priority)

    approval = await ctx.step.wait_for_event("approve", event="ticket/approved", timeout="2d", if_exp=f"async.data.id == '{ticket['id']}'")
    if approval is None:
        return {"status": "expired"}
    if time.monotonic() - started > 3600:  # <- ND102
        await ctx.step.run("escalate", escalate, ticket["id"])
    await ctx.step.run("send", send_reply, ticket["id"])
    return {"status": "sent", "category": category, "priority": priority}


def save_draft(ticket_id, text, priority):
    with sqlite3.connect(DB_PATH) as conn:
        conn.execute("UPDATE tickets SET draft = ?, priority = ? WHERE id = ?", (text, priority, ticket_id))


def escalate(ticket_id):
    with sqlite3.connect(DB_PATH) as conn:
        conn.execute("UPDATE tickets SET escalated = 1 WHERE id = ?", (ticket_id,))


def send_reply(ticket_id):
    with sqlite3.connect(DB_PATH) as conn:
        conn.execute("UPDATE tickets SET status = 'answered' WHERE id = ?", (ticket_id,))
