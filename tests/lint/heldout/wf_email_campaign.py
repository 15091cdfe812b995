"""Personalize and send a campaign email to a segment, in batches, with a pause between batches."""

import random
from datetime import datetime, timezone

import nbdurable as nd

writer = nd.ai.openai("gpt-4o-mini")
BATCH = 50
sent_today: dict[str, int] = {}


def segment(name: str) -> list[dict]:
    import json

    with open(f"segments/{name}.json") as f:
        return json.load(f)


def send_email(to: str, subject: str, body: str) -> str:
    import smtplib
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["To"], msg["Subject"] = to, subject
    msg.set_content(body)
    with smtplib.SMTP("localhost", 1025) as s:
        s.send_message(msg)
    return to


@nd.function(id="campaign", trigger="campaign/launch")
async def campaign(ctx: nd.Context) -> dict:
    data = ctx.event.data
    people = await ctx.step.run("segment", segment, data["segment"])
    variant = random.choice(["A", "B"])  # <- ND201
    subject = data["subjects"][variant]
    total = 0
    for b in range(0, len(people), BATCH):
        batch = people[b : b + BATCH]
        for person in batch:
            text = await ctx.step.ai.infer(
                f"write-{person['id']}",
                model=writer,
                body={"messages": [{"role": "user", "content": f"Personalize for {person['name']}: {data['template']}"}]},
            )
            await ctx.step.run(f"send-{person['id']}", send_email, person["email"], subject, text["choices"][0]["message"]["content"])
            total += 1
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")  # <- ND103
        sent_today[day] = sent_today.get(day, 0) + len(batch)  # <- ND602
        await ctx.step.sleep(f"pause-{b}", "10m")
    stamp = ctx.step.now()
    return {"sent": total, "variant": variant, "finished": stamp.isoformat()}
