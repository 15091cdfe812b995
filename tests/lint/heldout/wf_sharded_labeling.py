"""Label a dataset with an LLM, spreading records over shards so each shard is one batch step."""

import json
import zlib

import nbdurable as nd

labeler = nd.ai.openai("gpt-4o-mini")
N_SHARDS = 8


def shard_of(record_id: str) -> int:
    return hash(record_id) % N_SHARDS


def stable_shard(record_id: str) -> int:
    return zlib.crc32(record_id.encode()) % N_SHARDS


def load_records(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


@nd.function(id="label", trigger="dataset/uploaded")
async def label_dataset(ctx: nd.Context) -> dict:
    records = await ctx.step.run("load", load_records, ctx.event.data["path"])
    shards: dict[int, list[dict]] = {i: [] for i in range(N_SHARDS)}
    for rec in records:
        shards[shard_of(rec["id"])].append(rec)  # <- ND206
    labels = {}
    for shard, recs in shards.items():
        if not recs:
            continue
        prompt = "Label each record as positive/negative/neutral, JSON list:\n" + json.dumps([r["text"] for r in recs])
        resp = await ctx.step.ai.infer(f"label-shard-{shard}", model=labeler, body={"messages": [{"role": "user", "content": prompt}]})
        labels.update(zip([r["id"] for r in recs], json.loads(resp["choices"][0]["message"]["content"])))
    audit = [r for r in records if stable_shard(r["id"]) == 0]
    await ctx.step.run("write", write_labels, ctx.event.data["path"] + ".labels.json", labels, len(audit))
    return {"labeled": len(labels)}


def write_labels(path: str, labels: dict, audited: int) -> None:
    with open(path, "w") as f:
        json.dump({"labels": labels, "audited": audited}, f)
