"""Prompt regression evals: answer golden questions with the candidate model, grade with a judge."""

import json
import random
import re
import statistics
import time
from pathlib import Path

import nbdurable as nd

candidate = nd.ai.openai("gpt-4o-mini")
judge = nd.ai.anthropic("claude-sonnet-4-5")

GOLDEN = Path("evals/golden.jsonl")
SYSTEM = Path("prompts/support_v7.txt")

JUDGE_PROMPT = """You grade answers. Question: {q}
Reference answer: {ref}
Candidate answer: {ans}
Reply with a score from 1 to 5 on the first line, then one sentence of justification."""


def load_cases(path: str) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def parse_score(text: str) -> int:
    m = re.search(r"[1-5]", text)
    return int(m.group()) if m else 1


async def answer_and_grade(step, i: int, case: dict, system: str) -> int:
    ans = await step.ai.infer(
        f"answer-{i}",
        model=candidate,
        body={"messages": [{"role": "system", "content": system}, {"role": "user", "content": case["question"]}]},
    )
    text = ans["choices"][0]["message"]["content"]
    verdict = await step.ai.infer(
        f"judge-{i}",
        model=judge,
        body={
            "max_tokens": 200,
            "messages": [
                {"role": "user", "content": JUDGE_PROMPT.format(q=case["question"], ref=case["answer"], ans=text)}
            ],
        },
    )
    return parse_score(verdict["content"][0]["text"])


@nd.function(id="eval-smoke")
async def eval_smoke(ctx: nd.Context) -> dict:
    """Quick check on 25 cases before a deploy."""
    cases = await ctx.step.run("load", load_cases, str(GOLDEN))
    system = SYSTEM.read_text()  # <- ND301
    picked = random.sample(cases, k=min(25, len(cases)))  # <- ND201
    t0 = time.perf_counter()
    scores = [await answer_and_grade(ctx.step, i, case, system) for i, case in enumerate(picked)]
    ctx.logger.info("smoke eval: %d cases in %.1fs", len(scores), time.perf_counter() - t0)
    return {"mean": statistics.mean(scores), "n": len(scores)}


@nd.function(id="eval-full")
async def eval_full(ctx: nd.Context) -> dict:
    """All cases, in a shuffled order reproducible from the seed in the event, grouped by tag."""
    seed = int(ctx.event.data.get("seed", 17))
    cases = await ctx.step.run("load", load_cases, str(GOLDEN))
    system = await ctx.step.run("system-prompt", SYSTEM.read_text)
    rng = random.Random(seed)
    order = list(range(len(cases)))
    rng.shuffle(order)
    limit = ctx.event.data.get("limit")
    if limit:
        order = order[: int(limit)]
    by_tag: dict[str, list[int]] = {}
    for i in order:
        score = await answer_and_grade(ctx.step, i, cases[i], system)
        by_tag.setdefault(cases[i].get("tag", "untagged"), []).append(score)
    tags = sorted({c.get("tag", "untagged") for c in cases})
    report = {t: round(statistics.mean(by_tag[t]), 2) for t in tags if t in by_tag}
    finished = ctx.step.now()
    await ctx.step.run("publish", publish_report, report, finished.isoformat())
    return report


def publish_report(report: dict, finished: str) -> None:
    Path("evals/out").mkdir(parents=True, exist_ok=True)
    Path(f"evals/out/report-{finished[:10]}.json").write_text(json.dumps(report, indent=2))
