"""Two agents debate a question for a few rounds; a judge picks the winner. Written with care."""

import asyncio
import hashlib
import logging
import random
import time

import nbdurable as nd

log = logging.getLogger(__name__)
pro = nd.ai.openai("gpt-4o")
con = nd.ai.anthropic("claude-sonnet-4-5")
judge = nd.ai.openai("gpt-4o-mini")
ROUNDS = 3


def speak(resp: dict) -> str:
    if "choices" in resp:
        return resp["choices"][0]["message"]["content"]
    return resp["content"][0]["text"]


@nd.function(id="debate", trigger="debate/start")
async def debate(ctx: nd.Context) -> dict:
    step = ctx.step
    question = ctx.event.data["question"]
    debate_id = step.uuid()
    started = step.now()
    t0 = time.perf_counter()
    coin = step.random()
    first, second = (pro, con) if coin < 0.5 else (con, pro)
    transcript: list[str] = []
    for r in range(ROUNDS):
        a, b = await asyncio.gather(
            step.ai.infer(f"r{r}-first", model=first, body={"messages": [{"role": "user", "content": f"{question}\n{transcript}"}]}),
            step.ai.infer(f"r{r}-second", model=second, body={"messages": [{"role": "user", "content": f"{question}\n{transcript}"}]}),
        )
        transcript += [speak(a), speak(b)]
        log.info("round %d done after %.1fs", r, time.perf_counter() - t0)
    verdict = await step.ai.infer(
        "verdict", model=judge, body={"messages": [{"role": "user", "content": "Who argued better?\n" + "\n".join(transcript)}]}
    )
    tags = {w.strip(".,").lower() for w in question.split() if len(w) > 4}
    key = hashlib.sha256(question.encode()).hexdigest()[:10]
    local_rng = random.Random(key)
    quote = local_rng.choice(transcript)
    await step.run(f"archive-{key}", archive, str(debate_id), sorted(tags), transcript, started.isoformat())
    return {"id": str(debate_id), "verdict": speak(verdict), "quote": quote, "n_tags": len(tags)}


def archive(debate_id: str, tags: list[str], transcript: list[str], started: str) -> None:
    import json

    with open(f"debates/{debate_id}.json", "w") as f:
        json.dump({"tags": tags, "transcript": transcript, "started": started}, f)
