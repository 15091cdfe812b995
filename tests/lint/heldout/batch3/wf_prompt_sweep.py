"""Sweep prompt style x temperature on a small labelled set and keep the best config."""

import asyncio
import itertools
import random

import numpy as np

import nbdurable as nd

model = nd.ai.openai("gpt-4o-mini")

PROMPTS = {
    "terse": "Answer in one sentence.",
    "friendly": "Answer warmly, like a helpful colleague, in at most three sentences.",
    "formal": "Answer formally and precisely.",
}
TEMPS = [0.0, 0.4, 0.8]

_tiebreak = random.Random(2024)
_trial_no = itertools.count(1)


def load_dataset(name: str) -> list[dict]:
    import datasets

    return datasets.load_dataset(name, split="validation[:40]").to_list()


def exact_match(pred: str, gold: str) -> float:
    return float(pred.strip().lower() == gold.strip().lower())


@nd.function(id="prompt-sweep")
async def sweep(ctx: nd.Context) -> dict:
    data = await ctx.step.run("dataset", load_dataset, ctx.event.data["dataset"])
    results = []
    for style, temp in itertools.product(PROMPTS, TEMPS):
        trial = next(_trial_no)  # <- ND604
        calls = [
            ctx.step.ai.infer(
                f"t{trial}-ex{j}",  # <- ND701
                model=model,
                body={
                    "temperature": temp,
                    "messages": [{"role": "system", "content": PROMPTS[style]}, {"role": "user", "content": ex["q"]}],
                },
            )
            for j, ex in enumerate(data)
        ]
        outs = await asyncio.gather(*calls)
        acc = np.mean([exact_match(o["choices"][0]["message"]["content"], ex["a"]) for o, ex in zip(outs, data)])
        results.append({"style": style, "temp": temp, "acc": float(acc)})

    best_acc = max(r["acc"] for r in results)
    best = [r for r in results if r["acc"] == best_acc]
    winner = _tiebreak.choice(best)  # <- ND604

    # bootstrap a CI for the winner; seeded, so it is the same on every replay
    boot = np.random.default_rng(ctx.event.data.get("seed", 0))
    accs = np.array([r["acc"] for r in results])
    ci = np.percentile([boot.choice(accs, size=len(accs)).mean() for _ in range(1000)], [2.5, 97.5])
    await ctx.step.run("save", save_results, results, winner)
    return {"winner": winner, "ci": ci.tolist()}


def save_results(results: list[dict], winner: dict) -> None:
    import json

    with open("sweeps/latest.json", "w") as fh:
        json.dump({"results": results, "winner": winner}, fh, indent=2)
