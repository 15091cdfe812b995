"""Pairwise preference eval between two model versions, with position swapping against judge bias."""

import json
import random
from datetime import datetime as dt

import nbdurable as nd

judge = nd.ai.openai("gpt-4o")

JUDGE = """Which response better answers the user? Reply "1" or "2".

User: {q}

Response 1:
{a}

Response 2:
{b}"""


def load_pairs(path: str) -> list[dict]:
    with open(path) as fh:
        return json.load(fh)


def save(rows: list[dict], started: str) -> str:
    out = f"evals/pairwise-{started}.json"
    with open(out, "w") as fh:
        json.dump(rows, fh)
    return out


@nd.function(id="pairwise-eval")
async def pairwise(ctx: nd.Context) -> dict:
    started = dt.utcnow().strftime("%Y%m%dT%H%M")  # <- ND103
    pairs = await ctx.step.run("pairs", load_pairs, ctx.event.data["path"])
    rows, wins = [], {"new": 0, "old": 0}
    for i, p in enumerate(pairs):
        swap = random.random() < 0.5  # <- ND201
        a, b = (p["new"], p["old"]) if not swap else (p["old"], p["new"])
        resp = await ctx.step.ai.infer(
            f"judge-{i}", model=judge, body={"messages": [{"role": "user", "content": JUDGE.format(q=p["q"], a=a, b=b)}]}
        )
        first_wins = resp["choices"][0]["message"]["content"].strip().startswith("1")
        winner = "new" if first_wins != swap else "old"
        wins[winner] += 1
        rows.append({"i": i, "swap": swap, "winner": winner})
    path = await ctx.step.run("save", save, rows, started)
    return {"wins": wins, "file": path}


@nd.function(id="pairwise-eval-v2")
async def pairwise_v2(ctx: nd.Context) -> dict:
    started = ctx.step.now().strftime("%Y%m%dT%H%M")
    pairs = await ctx.step.run("pairs", load_pairs, ctx.event.data["path"])
    rows, wins = [], {"new": 0, "old": 0}
    for i, p in enumerate(pairs):
        swap = ctx.step.random() < 0.5
        a, b = (p["new"], p["old"]) if not swap else (p["old"], p["new"])
        resp = await ctx.step.ai.infer(
            f"judge-{i}", model=judge, body={"messages": [{"role": "user", "content": JUDGE.format(q=p["q"], a=a, b=b)}]}
        )
        winner = "new" if resp["choices"][0]["message"]["content"].strip().startswith("1") != swap else "old"
        wins[winner] += 1
        rows.append({"i": i, "swap": swap, "winner": winner, "at": dt.now().isoformat()})  # <- ND103
    print(f"finished {len(rows)} comparisons at {dt.now():%H:%M:%S}")
    path = await ctx.step.run("save", save, rows, started)
    return {"wins": wins, "file": path}
