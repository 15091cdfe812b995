# %%
%load_ext nbdurable
import nbdurable as nd
import pandas as pd
import numpy as np
import json

df = pd.read_parquet("data/customers.parquet")
model = nd.ai.anthropic("claude-sonnet-4-5")
segments = sorted(df["segment"].unique())

# %%
def churn_stats(segment: str) -> dict:
    part = df[df["segment"] == segment]
    return {"n": len(part), "churn": float(part["churned"].mean()), "mrr": float(part["mrr"].sum())}

# %%
%%durable churn-report
stats = {}
for seg in segments:
    stats[seg] = await step.run(f"stats-{seg}", churn_stats, seg)
worst = max(stats, key=lambda s: stats[s]["churn"])
examples = df[df["segment"] == worst].sample(5)  # <- ND202
story = await step.ai.infer(
    "story",
    model=model,
    body={"messages": [{"role": "user", "content": f"Explain churn in {worst}: {json.dumps(stats[worst])}\nExamples:\n{examples.to_csv()}"}], "max_tokens": 800},
)
noise = np.random.normal(0, 0.01, size=len(segments))  # <- ND202
chart = pd.Series([stats[s]["churn"] for s in segments], index=segments) + noise
chart.plot.barh()
print(story["content"][0]["text"])
