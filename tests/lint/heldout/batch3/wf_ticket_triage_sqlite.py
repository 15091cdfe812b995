"""Label unlabelled help-desk tickets with an LLM; the help desk keeps its tickets in SQLite."""

import sqlite3

import nbdurable as nd

DB = "helpdesk.db"
LABELS = ("billing", "bug", "how-to", "account", "other")
triage_model = nd.ai.openai("gpt-4o-mini")

conn = sqlite3.connect(DB, check_same_thread=False)
conn.row_factory = sqlite3.Row

PROMPT = "Classify this support ticket as one of: {labels}. Reply with the label only.\n\nSubject: {s}\n\n{b}"


def set_label(ticket_id: int, label: str) -> None:
    with sqlite3.connect(DB) as c:
        c.execute("UPDATE tickets SET label = ? WHERE id = ?", (label, ticket_id))


def open_tickets(limit: int) -> list[dict]:
    with sqlite3.connect(DB) as c:
        c.row_factory = sqlite3.Row
        rows = c.execute(
            "SELECT id, subject, body FROM tickets WHERE label IS NULL ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
    return [dict(r) for r in rows]


def classify_body(subject: str, body: str) -> dict:
    text = PROMPT.format(labels=", ".join(LABELS), s=subject, b=body[:4000])
    return {"messages": [{"role": "user", "content": text}], "max_tokens": 5, "temperature": 0}


@nd.function(id="triage-open-tickets")
async def triage(ctx: nd.Context) -> int:
    rows = conn.execute("SELECT id, subject, body FROM tickets WHERE label IS NULL ORDER BY id LIMIT 50").fetchall()  # <- ND322
    for row in rows:
        resp = await ctx.step.ai.infer(f"classify-{row['id']}", model=triage_model, body=classify_body(row["subject"], row["body"]))  # <- ND701
        label = resp["choices"][0]["message"]["content"].strip().lower()
        if label not in LABELS:
            label = "other"
        await ctx.step.run(f"label-{row['id']}", set_label, row["id"], label)  # <- ND701
    conn.execute("INSERT INTO triage_runs (run_id, n) VALUES (?, ?)", (ctx.run_id, len(rows)))  # <- ND322
    conn.commit()  # <- ND322
    return len(rows)


@nd.function(id="triage-open-tickets-v2")
async def triage_v2(ctx: nd.Context) -> int:
    rows = await ctx.step.run("open-tickets", open_tickets, 50)
    counts = {label: 0 for label in LABELS}
    for row in rows:
        resp = await ctx.step.ai.infer(
            f"classify-{row['id']}", model=triage_model, body=classify_body(row["subject"], row["body"])
        )
        label = resp["choices"][0]["message"]["content"].strip().lower()
        label = label if label in LABELS else "other"
        counts[label] += 1
        await ctx.step.run(f"label-{row['id']}", set_label, row["id"], label)
    ctx.logger.info("labelled %s", counts)
    return len(rows)
