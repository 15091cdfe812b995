"""Collect messages from a few channels, summarize the busiest threads, post a digest."""

import asyncio

import httpx
import nbdurable as nd

model = nd.ai.openai("gpt-4o-mini")
API = "http://slack.local/api"
_thread_cache: dict[str, list[dict]] = {}


def channel_history(channel: str, oldest: float) -> list[dict]:
    r = httpx.get(f"{API}/conversations.history", params={"channel": channel, "oldest": oldest})
    return r.json()["messages"]


def thread_replies(channel: str, ts: str) -> list[dict]:
    r = httpx.get(f"{API}/conversations.replies", params={"channel": channel, "ts": ts})
    replies = r.json()["messages"]
    _thread_cache[ts] = replies
    return replies


@nd.function(id="digest", trigger="digest/daily")
async def digest(ctx: nd.Context) -> str:
    step = ctx.step
    since = step.now().timestamp() - 86400
    channels = ctx.event.data["channels"]
    fetches = [asyncio.ensure_future(step.run(f"history-{c}", channel_history, c, since)) for c in channels]
    done, pending = await asyncio.wait(fetches, timeout=120, return_when=asyncio.FIRST_EXCEPTION)  # <- ND503
    for task in pending:
        task.cancel()
    messages = [m for task in done for m in task.result()]  # <- ND501
    busiest = sorted(messages, key=lambda m: m.get("reply_count", 0), reverse=True)[:5]
    threads = []
    for i, msg in enumerate(busiest):
        if msg["ts"] in _thread_cache:  # <- ND603
            replies = _thread_cache[msg["ts"]]
        else:
            replies = await step.run(f"thread-{i}", thread_replies, msg["channel"], msg["ts"])
        threads.append("\n".join(r["text"] for r in replies))
    summary = await step.ai.infer(
        "summarize",
        model=model,
        body={"messages": [{"role": "user", "content": "Summarize these threads:\n\n" + "\n---\n".join(threads)}]},
    )
    text = summary["choices"][0]["message"]["content"]
    await step.run("post", lambda: httpx.post(f"{API}/chat.postMessage", json={"channel": "#digest", "text": text}))
    return text
