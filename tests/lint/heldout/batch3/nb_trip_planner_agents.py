# %% [markdown]
# # Planner / worker agents for the offsite
# A planner splits the request into tasks, cheap workers do each, the planner writes it up.

# %%
%load_ext nbdurable
import asyncio
from datetime import datetime

import nbdurable as nd

planner = nd.ai.openai("gpt-4o")
worker = nd.ai.openai("gpt-4o-mini")
scratchpad: list[str] = []

# %%
def session_label() -> str:
    return datetime.now().strftime("%a-%H%M")


def remember(note: str) -> int:
    scratchpad.append(note)
    return len(scratchpad)


def msg(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}

# %%
%%durable offsite-plan
label = session_label()  # <- ND103
plan = await step.ai.infer("plan", model=planner, body=msg("Split into tasks, one per line starting with '-': plan a 3-day team offsite in Lisbon for 14 people"))
tasks = [t.lstrip("- ").strip() for t in plan["choices"][0]["message"]["content"].splitlines() if t.startswith("-")]
answers = await asyncio.gather(*[step.ai.infer(f"task-{i}", model=worker, body=msg(t)) for i, t in enumerate(tasks)])
for i, a in enumerate(answers):
    await step.run(f"note-{i}", remember, a["choices"][0]["message"]["content"])
if len(scratchpad) >= 3:  # <- ND603
    summary = await step.ai.infer(f"summary-{label}", model=planner, body=msg("Write the plan:\n" + "\n\n".join(scratchpad)))  # <- ND701
    print(summary["choices"][0]["message"]["content"])

# %%
%%durable offsite-plan-2
plan = await step.ai.infer("plan", model=planner, body=msg("Split into tasks, one per line starting with '-': plan a 2-day offsite in Porto"))
tasks = [t.lstrip("- ").strip() for t in plan["choices"][0]["message"]["content"].splitlines() if t.startswith("-")]
answers = await asyncio.gather(*[step.ai.infer(f"task-{i}", model=worker, body=msg(t)) for i, t in enumerate(tasks)])
notes = [a["choices"][0]["message"]["content"] for a in answers]
started = step.now()
summary = await step.ai.infer(f"summary-{started:%a}", model=planner, body=msg("Write the plan:\n" + "\n\n".join(notes)))
print(f"{len(notes)} notes, written {datetime.now():%H:%M}")
