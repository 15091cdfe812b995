"""Ask three models the same question; keep the first good answer, then polish it."""

import asyncio
import itertools

import nbdurable as nd

MODELS = {
    "fast": nd.ai.openai("gpt-4o-mini"),
    "smart": nd.ai.anthropic("claude-sonnet-4-5"),
    "local": nd.ai.openai("llama3", base_url="http://localhost:11434/v1", api_key_env=None),
}
attempt_ids = itertools.count(1)


def good_enough(text: str) -> bool:
    return len(text) > 40 and "I cannot" not in text


@nd.function(id="race", trigger="question/asked")
async def race(ctx):
    question = ctx.event.data["question"]
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": 400}
    tasks = [ctx.step.ai.infer(f"ask-{name}", model=m, body=body) for name, m in MODELS.items()]
    best = None
    for fut in asyncio.as_completed(tasks):  # <- ND503
        resp = await fut
        text = resp["choices"][0]["message"]["content"] if "choices" in resp else resp["content"][0]["text"]
        if good_enough(text):
            best = text
            break
    if best is None:
        return {"answer": None}
    attempt = next(attempt_ids)  # <- ND604
    polished = await ctx.step.ai.infer(
        f"polish-{attempt}",  # <- ND701
        model=MODELS["smart"],
        body={"messages": [{"role": "user", "content": f"Polish this answer:\n{best}"}], "max_tokens": 400},
    )
    return {"answer": polished["content"][0]["text"]}
