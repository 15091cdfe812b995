# %% [markdown]
# # Fine-tune grid: learning rate x epochs
# Each job takes ~40 min; the durable cell sleeps between polls so the kernel can restart safely.

# %%
import itertools
import uuid

%load_ext nbdurable
import nbdurable as nd
from openai import OpenAI

client = OpenAI()
EXP = f"ft-{uuid.uuid4().hex[:6]}"
TRAIN_FILE = "file-8bT2x"
completed_jobs = 0
leaderboard = []

# %%
def launch(cfg: dict, suffix: str) -> str:
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=TRAIN_FILE,
        suffix=suffix,
        hyperparameters={"learning_rate_multiplier": cfg["lr"], "n_epochs": cfg["epochs"]},
    )
    return job.id


def status(job_id: str) -> dict:
    job = client.fine_tuning.jobs.retrieve(job_id)
    return {"status": job.status, "model": job.fine_tuned_model}


def val_loss(job_id: str) -> float:
    events = client.fine_tuning.jobs.list_events(job_id, limit=50)
    losses = [e.data["valid_loss"] for e in events.data if e.data and "valid_loss" in e.data]
    return float(losses[0]) if losses else float("inf")

# %%
%%durable lr-grid --background
for lr, epochs in itertools.product([0.5, 1.0, 2.0], [2, 3]):
    job_id = await step.run(f"{EXP}-launch-lr{lr}-e{epochs}", launch, {"lr": lr, "epochs": epochs}, EXP)  # <- ND205, ND701
    for poll in range(60):
        st = await step.run(f"poll-lr{lr}-e{epochs}-{poll}", status, job_id)
        if st["status"] in ("succeeded", "failed", "cancelled"):
            break
        await step.sleep(f"wait-lr{lr}-e{epochs}-{poll}", "2m")
    loss = await step.run(f"loss-lr{lr}-e{epochs}", val_loss, job_id)
    leaderboard.append((loss, lr, epochs))  # <- ND602
    completed_jobs += 1  # <- ND601
best = min(leaderboard)
print("best:", best)

# %%
%%durable lr-grid-2 --background
results = []
tag = "grid2"
for k, (lr, epochs) in enumerate(itertools.product([0.5, 1.0], [2, 3])):
    job_id = await step.run(f"launch-{k}", launch, {"lr": lr, "epochs": epochs}, tag)
    st = {"status": "queued"}
    poll = 0
    while st["status"] not in ("succeeded", "failed", "cancelled"):
        await step.sleep(f"wait-{k}-{poll}", "2m")
        st = await step.run(f"poll-{k}-{poll}", status, job_id)
        poll += 1
    results.append((await step.run(f"loss-{k}", val_loss, job_id), lr, epochs))
print(sorted(results)[:3])
