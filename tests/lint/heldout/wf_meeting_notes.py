"""Turn a meeting recording into notes and action items; file the action items as Jira tickets."""

import os
import tempfile
from pathlib import Path

import nbdurable as nd
from jira import JIRA
from openai import OpenAI

oai = OpenAI()
jira = JIRA(server="https://jira.local", token_auth=os.environ.get("JIRA_TOKEN"))
writer = nd.ai.openai("gpt-4o")


def transcribe(path: str) -> str:
    with open(path, "rb") as audio:
        return oai.audio.transcriptions.create(model="whisper-1", file=audio).text


def file_ticket(summary: str, project: str) -> str:
    return jira.create_issue(project=project, summary=summary, issuetype={"name": "Task"}).key


@nd.function(id="meeting-notes", trigger="meeting/recorded")
async def meeting_notes(ctx: nd.Context) -> dict:
    data = ctx.event.data
    text = await ctx.step.run("transcribe", transcribe, data["audio_path"])
    notes = await ctx.step.ai.infer(
        "notes",
        model=writer,
        body={"messages": [{"role": "user", "content": f"Write meeting notes, then a list of action items:\n{text}"}]},
    )
    content = notes["choices"][0]["message"]["content"]
    items = [line[2:].strip() for line in content.splitlines() if line.startswith("- ")]
    scratch = Path(tempfile.gettempdir()) / f"notes-{ctx.run_id}.md"
    scratch.write_text(content)
    keys = []
    for n, item in enumerate(items):
        keys.append(await ctx.step.run(f"ticket-{n}", file_ticket, item, data.get("project", "OPS")))
    existing = {issue.key for issue in jira.search_issues(f"project = {data.get('project', 'OPS')} AND created >= -1d")}  # <- ND322
    duplicates = sorted(existing & set(keys))
    return {"notes": content, "tickets": keys, "duplicates": duplicates}
