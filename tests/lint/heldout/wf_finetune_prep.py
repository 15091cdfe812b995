"""Prepare a fine-tuning set: dedupe, split train/validation, upload, start the job."""

import json
import random

import nbdurable as nd
from openai import OpenAI

random.seed(0)
client = OpenAI()


def load_examples(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def upload(rows: list[dict], purpose_name: str) -> str:
    import io

    buf = io.BytesIO("\n".join(json.dumps(r) for r in rows).encode())
    buf.name = f"{purpose_name}.jsonl"
    return client.files.create(file=buf, purpose="fine-tune").id


@nd.function(id="ft-prep", trigger="ft/prepare")
async def prepare(ctx: nd.Context) -> str:
    rows = await ctx.step.run("load", load_examples, ctx.event.data["path"])
    unique = {json.dumps(r, sort_keys=True): r for r in rows}
    rows = list(unique.values())
    random.shuffle(rows)  # <- ND201
    cut = int(len(rows) * 0.9)
    train_id = await ctx.step.run("upload-train", upload, rows[:cut], "train")
    val_id = await ctx.step.run("upload-val", upload, rows[cut:], "val")
    job = await ctx.step.run(
        "start-job",
        lambda: client.fine_tuning.jobs.create(training_file=train_id, validation_file=val_id, model="gpt-4o-mini-2024-07-18").id,
    )
    status = client.fine_tuning.jobs.retrieve(job).status  # <- ND322
    while status not in ("succeeded", "failed", "cancelled"):
        await ctx.step.sleep(f"wait-{status}", "5m")  # <- ND701
        status = await ctx.step.run("poll", lambda: client.fine_tuning.jobs.retrieve(job).status)
    return status
