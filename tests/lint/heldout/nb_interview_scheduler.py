# %%
%load_ext nbdurable
import nbdurable as nd
from datetime import datetime, timedelta
import os
import uuid

calendar_token = os.environ["CAL_TOKEN"]
model = nd.ai.openai("gpt-4o-mini")
session = uuid.uuid4().hex[:8]

# %%
def free_slots(person: str, day: str) -> list[str]:
    import httpx
    r = httpx.get(f"http://calendar.local/api/{person}/free", params={"day": day},
                  headers={"Authorization": f"Bearer {calendar_token}"})
    return r.json()["slots"]


def book(person: str, slot: str, title: str) -> str:
    import httpx
    r = httpx.post(f"http://calendar.local/api/{person}/events", json={"slot": slot, "title": title},
                   headers={"Authorization": f"Bearer {calendar_token}"})
    return r.json()["id"]

# %%
candidate = "dana@example.com"
panel = ["ali@example.com", "bo@example.com", "cy@example.com"]

# %%
%%durable schedule-interviews
day = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%d")  # <- ND103
slots = {}
for person in panel:
    slots[person] = await step.run(f"slots-{person}", free_slots, person, day)
common = set.intersection(*(set(s) for s in slots.values()))
if not common:
    await step.send_event("no-common-slot", "interview/unschedulable", {"candidate": candidate})
else:
    slot = min(common)
    for person in panel:
        await step.run(f"book-{person}", book, person, slot, f"Interview {candidate} [{session}]")  # <- ND205
    note = await step.ai.infer(
        "invite-text",
        model=model,
        body={"messages": [{"role": "user", "content": f"Write a short invite for {candidate} at {slot}"}]},
    )
    await step.run("email", send_invite, candidate, note["choices"][0]["message"]["content"])
