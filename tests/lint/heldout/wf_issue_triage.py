"""Triage new GitHub issues: label them, find duplicates, assign an owner."""

from datetime import datetime

import nbdurable as nd
import requests

now = datetime.utcnow
model = nd.ai.openai("gpt-4o")
OWNERS = {"bug": "alice", "docs": "bob", "feature": "carol", "question": "dave"}
GH = "http://github.local/api/repos/acme/app"


def open_issues() -> list[dict]:
    return requests.get(f"{GH}/issues", params={"state": "open", "per_page": 100}, timeout=30).json()


def add_labels(number: int, labels: list[str]) -> None:
    requests.post(f"{GH}/issues/{number}/labels", json={"labels": labels}, timeout=30)


def assign(number: int, who: str) -> None:
    requests.post(f"{GH}/issues/{number}/assignees", json={"assignees": [who]}, timeout=30)


@nd.function(id="issue-triage", trigger="issues/opened")
async def triage(ctx: nd.Context) -> dict:
    issue = ctx.event.data
    resp = await ctx.step.ai.infer(
        "labels",
        model=model,
        body={"messages": [{"role": "user", "content": f"Labels from {sorted(OWNERS)} for:\n{issue['title']}\n{issue['body']}"}]},
    )
    suggested = {l.strip() for l in resp["choices"][0]["message"]["content"].split(",")}
    labels = suggested & OWNERS.keys()
    await ctx.step.run("label", add_labels, issue["number"], sorted(labels))
    others = await ctx.step.run("open-issues", open_issues)
    dupes = []
    for other in others:
        words = set(other["title"].lower().split()) & set(issue["title"].lower().split())
        if len(words) >= 3 and other["number"] != issue["number"]:
            dupes.append(other["number"])
    owner = OWNERS[next(iter(labels))] if labels else "triage-rota"  # <- ND502
    await ctx.step.run("assign", assign, issue["number"], owner)
    age_days = (now() - datetime.fromisoformat(issue["created_at"])).days  # <- ND103
    if age_days > 30:
        await ctx.step.run("stale-note", add_labels, issue["number"], ["stale-on-arrival"])
    return {"labels": sorted(labels), "dupes": dupes, "owner": owner}
