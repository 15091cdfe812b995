# %% [markdown]
# # Launch announcement review
# Draft -> ask #launch for review -> wait for the approve event -> publish (not after 17:00).

# %%
%load_ext nbdurable
import getpass
import os
import time
from datetime import timedelta

from slack_sdk import WebClient

import nbdurable as nd

slack = WebClient(token=os.environ["SLACK_BOT_TOKEN"])
writer = nd.ai.openai("gpt-4o")

# %%
def build_announcement(slug: str) -> dict:
    import httpx

    brief = httpx.get(f"http://cms.internal/briefs/{slug}", timeout=20).json()
    return {"slug": slug, "title": brief["title"], "url": f"http://cms.internal/drafts/{slug}", "body": brief["body"]}


def publish(draft: dict) -> str:
    import httpx

    return httpx.post(f"http://cms.internal/drafts/{draft['slug']}/publish", timeout=20).json()["public_url"]

# %%
%%durable launch-review-q3 --background
draft = await step.run("draft", build_announcement, "q3-launch")
requested_by = getpass.getuser()  # <- ND312
await step.run("ask", slack.chat_postMessage, channel="#launch", text=f"{requested_by} asks for a review: {draft['url']}")
decision = await step.wait_for_event("review", event="launch/reviewed", timeout="3d", if_exp="async.data.slug == 'q3-launch'")
if decision is None or not decision.data.get("approved"):
    await step.run("not-approved", slack.chat_postMessage, channel="#launch", text="Q3 launch post not approved.")
else:
    if time.localtime().tm_hour >= 17:  # <- ND101
        await step.sleep("overnight", "14h")
    url = await step.run("publish", publish, draft)
    await step.run("announce", slack.chat_postMessage, channel="#launch", text=f"Published: {url}")

# %%
%%durable launch-review-q4 --background
draft = await step.run("draft", build_announcement, "q4-launch")
await step.run("ask", slack.chat_postMessage, channel="#launch", text=f"Review please: {draft['url']}")
decision = await step.wait_for_event("review", event="launch/reviewed", timeout="3d", if_exp="async.data.slug == 'q4-launch'")
if decision is not None and decision.data.get("approved"):
    now = step.now()
    if now.hour >= 15:  # 17:00 Paris is 15:00 UTC in summer
        await step.sleep_until("next-morning", now.replace(hour=7, minute=0, second=0, microsecond=0) + timedelta(days=1))
    url = await step.run("publish", publish, draft)
    print("published", url, "reviewed by", decision.data.get("by"), "at", time.strftime("%H:%M"))
