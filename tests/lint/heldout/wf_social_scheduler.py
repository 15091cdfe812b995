"""Schedule a week of social posts: draft them, space them out, publish each at its time."""

from datetime import timedelta

import nbdurable as nd
import requests

writer = nd.ai.anthropic("claude-sonnet-4-5")
CHANNELS = {"linkedin", "mastodon", "bluesky"}


def publish(channel: str, text: str) -> str:
    return requests.post(f"https://social.local/{channel}/posts", json={"text": text}, timeout=15).json()["id"]


@nd.function(id="social-week", trigger="campaign/week")
async def social_week(ctx: nd.Context) -> list[str]:
    topic = ctx.event.data["topic"]
    start = ctx.step.now()
    ids = []
    for day in range(5):
        draft = await ctx.step.ai.infer(
            f"draft-{day}",
            model=writer,
            body={"messages": [{"role": "user", "content": f"Day {day + 1} post about {topic}, under 280 chars"}], "max_tokens": 200},
        )
        text = draft["content"][0]["text"]
        await ctx.step.sleep_until(f"slot-{day}", start + timedelta(days=day, hours=9))
        for channel in CHANNELS:  # <- ND501
            ids.append(await ctx.step.run(f"post-{day}-{channel}", publish, channel, text))
    return ids
