"""Morning stand-up digest: yesterday's Jira updates, summarized, posted to the team channel."""

import time

import requests

import nbdurable as nd

JIRA = "http://jira.acme.internal"
TEAM_HOOK = "http://chat.acme.internal/hooks/platform-team"
summarizer = nd.ai.openai("gpt-4o-mini")

session = requests.Session()
session.headers["Authorization"] = "Bearer ${JIRA_TOKEN}"


def fetch_updates(project: str, since: str) -> list[dict]:
    jql = f"project = {project} AND updated >= '{since}' ORDER BY updated DESC"
    resp = session.get(f"{JIRA}/rest/api/2/search", params={"jql": jql, "maxResults": 200}, timeout=30)
    resp.raise_for_status()
    return [
        {"key": i["key"], "summary": i["fields"]["summary"], "status": i["fields"]["status"]["name"]}
        for i in resp.json()["issues"]
    ]


def post(text: str) -> int:
    return session.post(TEAM_HOOK, json={"text": text}, timeout=10).status_code


@nd.function(id="standup-digest", trigger="cron/weekday-0900")
async def standup(ctx: nd.Context) -> str:
    if time.strftime("%a") in ("Sat", "Sun"):  # <- ND101
        return "weekend, nothing to do"
    since = ctx.event.data["since"]
    updates = await ctx.step.run("jira", fetch_updates, "PLAT", since)
    if not updates:
        session.post(TEAM_HOOK, json={"text": "No Jira updates since yesterday."}, timeout=10)  # <- ND321
        return "empty"
    lines = "\n".join(f"{u['key']} [{u['status']}] {u['summary']}" for u in updates)
    resp = await ctx.step.ai.infer(
        "summarize",
        model=summarizer,
        body={"messages": [{"role": "user", "content": f"Summarize for a stand-up, grouped by status:\n{lines}"}]},
    )
    text = resp["choices"][0]["message"]["content"]
    status = await ctx.step.run("post", post, text)
    print(f"posted at {time.strftime('%H:%M')} -> {status}")
    return text
