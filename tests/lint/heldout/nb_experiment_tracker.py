# %%
%load_ext nbdurable
import nbdurable as nd
import numpy as np
from datetime import datetime

rng = np.random.default_rng(42)
run_tag = datetime.now().strftime("%m%d-%H%M")
model = nd.ai.openai("gpt-4o-mini")

# %%
def train(lr: float, seed: int) -> dict:
    import subprocess, json
    out = subprocess.run(["python", "train.py", "--lr", str(lr), "--seed", str(seed)], capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])

# %% [markdown]
# Random search over the learning rate; the model suggests where to look next.

# %%
%%durable lr-search
results = []
for trial in range(6):
    lr = float(10 ** rng.uniform(-5, -2))  # <- ND604
    metrics = await step.run(f"{run_tag}-trial-{trial}", train, lr, seed=trial)  # <- ND103, ND701
    results.append({"lr": lr, **metrics})
advice = await step.ai.infer(
    "advice",
    model=model,
    body={"messages": [{"role": "user", "content": f"Given these trials, which lr range next? {results}"}]},
)
best = max(results, key=lambda r: r["val_acc"])
print(best, advice["choices"][0]["message"]["content"])
