"""A tool-using agent that answers questions about the company wiki and files tickets."""

import getpass
import json
import os
import shutil

import nbdurable as nd

model = nd.ai.openai("gpt-4o")
WIKI = "/srv/wiki"

TOOLS = [
    {"type": "function", "function": {"name": "search_wiki", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "file_ticket", "parameters": {"type": "object", "properties": {"title": {"type": "string"}}}}},
]


def search_wiki(q: str) -> list[str]:
    hits = []
    for root, _, files in os.walk(WIKI):
        for name in files:
            with open(os.path.join(root, name), errors="ignore") as f:
                if q.lower() in f.read().lower():
                    hits.append(name)
    return hits[:10]


def file_ticket(title: str, reporter: str) -> str:
    import requests

    return requests.post("http://tickets.local/api", json={"title": title, "reporter": reporter}, timeout=10).json()["id"]


@nd.function(id="wiki-agent", trigger="agent/ask")
async def wiki_agent(ctx: nd.Context) -> str:
    step = ctx.step
    messages = [{"role": "user", "content": ctx.event.data["question"]}]
    reporter = getpass.getuser()  # <- ND312
    free_gb = shutil.disk_usage(WIKI).free / 1e9  # <- ND301
    if free_gb < 1:
        messages.append({"role": "system", "content": "The wiki disk is almost full; mention it."})
    for turn in range(8):
        resp = await step.ai.infer(f"turn-{turn}", model=model, body={"messages": messages, "tools": TOOLS})
        choice = resp["choices"][0]["message"]
        messages.append(choice)
        calls = choice.get("tool_calls") or []
        if not calls:
            return choice["content"]
        for k, call in enumerate(calls):
            args = json.loads(call["function"]["arguments"])
            if call["function"]["name"] == "search_wiki":
                result = await step.run(f"search-{turn}-{k}", search_wiki, args["q"])
            else:
                result = await step.run(f"ticket-{turn}-{k}", file_ticket, args["title"], reporter)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
    return "I could not finish in 8 turns."
