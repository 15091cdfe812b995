# %% [markdown]
# Synthesize customer interview notes into themes, then ask the PM which themes to keep.

# %%
%load_ext nbdurable
import nbdurable as nd
import glob
import json
import time
from collections import Counter

model = nd.ai.openai("gpt-4o")
notes_files = sorted(glob.glob("interviews/*.txt"))
started_at = time.time()

# %%
def read_note(path):
    with open(path, encoding="utf-8") as f:
        return f.read()

def extract_themes(text):
    return []

# %%
%%durable themes
themes = Counter()
for i, path in enumerate(notes_files):
    text = await step.run(f"read-{i}", read_note, path)
    resp = await step.ai.infer(
        f"themes-{i}",
        model=model,
        body={"messages": [{"role": "user", "content": "List the themes in this interview as a JSON list of short strings:\n" + text}]},
    )
    themes.update(json.loads(resp["choices"][0]["message"]["content"]))

top = [t for t, _ in themes.most_common(10)]
print("\n".join(f"{n}. {t}" for n, t in enumerate(top, 1)))
keep = input("Which themes to keep (comma-separated numbers)? ")  # <- ND341
chosen = [top[int(k) - 1] for k in keep.split(",") if k.strip()]
summary = await step.ai.infer(
    "summary",
    model=model,
    body={"messages": [{"role": "user", "content": f"Write a one-page summary around: {chosen}"}]},
)
elapsed = time.time() - started_at
print(f"done in {elapsed:.0f}s")
