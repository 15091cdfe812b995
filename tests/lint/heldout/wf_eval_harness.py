"""Run an eval set against two prompts and compare scores."""

import asyncio
import json
import random
import statistics
from pathlib import Path

import nbdurable as nd

judge = nd.ai.openai("gpt-4o")
candidate = nd.ai.openai("gpt-4o-mini")
rng = random.Random(1234)
CASES = json.loads(Path("evals/cases.json").read_text())

PROMPTS = {
    "terse": "Answer in one sentence.",
    "cot": "Think step by step, then answer.",
}


async def answer(step, prompt_name: str, case: dict, i: int) -> str:
    resp = await step.ai.infer(
        f"{prompt_name}-answer-{i}",
        model=candidate,
        body={"messages": [{"role": "system", "content": PROMPTS[prompt_name]}, {"role": "user", "content": case["q"]}]},
    )
    return resp["choices"][0]["message"]["content"]


async def grade(step, prompt_name: str, case: dict, reply: str, i: int) -> float:
    resp = await step.ai.infer(
        f"{prompt_name}-grade-{i}",
        model=judge,
        body={"messages": [{"role": "user", "content": f"Score 0-10. Expected: {case['a']}\nGot: {reply}"}]},
    )
    return float(resp["choices"][0]["message"]["content"].strip().split()[0])


@nd.function(id="eval", trigger="eval/start")
async def run_eval(ctx: nd.Context) -> dict:
    subset = rng.sample(CASES, k=min(50, len(CASES)))  # <- ND604
    scores: dict[str, list[float]] = {}
    for prompt_name in PROMPTS:
        replies = await asyncio.gather(*[answer(ctx.step, prompt_name, c, i) for i, c in enumerate(subset)])
        grades = await asyncio.gather(
            *[grade(ctx.step, prompt_name, c, r, i) for i, (c, r) in enumerate(zip(subset, replies))]
        )
        scores[prompt_name] = grades
    summary = {name: statistics.mean(vals) for name, vals in scores.items()}
    await ctx.step.run("save", save_summary, summary)
    return summary


def save_summary(summary: dict) -> None:
    Path("evals/summary.json").write_text(json.dumps(summary, indent=2))
