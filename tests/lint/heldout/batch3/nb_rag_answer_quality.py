# %% [markdown]
# # RAG answer quality, retriever v3
# Runs the handbook QA set through retrieval + generation. Durable so a crash halfway
# through doesn't re-bill the 400 questions already answered.

# %%
%load_ext nbdurable
import json
from datetime import datetime
from pathlib import Path

import chromadb
from openai import OpenAI

import nbdurable as nd

client = OpenAI()
chroma = chromadb.PersistentClient(path="./chroma")
col = chroma.get_collection("handbook")

# %%
questions = [json.loads(l) for l in Path("qa/handbook_qa.jsonl").read_text().splitlines() if l.strip()]
RUN_STAMP = datetime.now().strftime("%Y%m%d-%H%M")
len(questions), RUN_STAMP

# %%
def retrieve(q: str, k: int = 5) -> list[str]:
    vec = client.embeddings.create(model="text-embedding-3-small", input=[q]).data[0].embedding
    res = col.query(query_embeddings=[vec], n_results=k)
    return res["documents"][0]


def save(rows: list[dict], path: str) -> str:
    Path(path).parent.mkdir(exist_ok=True)
    Path(path).write_text(json.dumps(rows, indent=1))
    return path


SYSTEM = "Answer using only the context. If the context does not say, answer 'not in the handbook'."

# %%
%%durable rag-eval-v3
rows = []
for i, q in enumerate(questions):
    ctxs = await step.run(f"retrieve-{i}", retrieve, q["question"])
    ans = await step.ai.wrap(
        f"answer-{i}",
        client.chat.completions.create,
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Context:\n" + "\n---\n".join(ctxs) + f"\n\nQuestion: {q['question']}"},
        ],
    )
    rows.append({"q": q["question"], "gold": q["answer"], "pred": ans.choices[0].message.content, "ctx": ctxs})
out = await step.run("save", save, rows, f"results/rag-{RUN_STAMP}.json")  # <- ND103
print("saved to", out, "at", datetime.now().strftime("%H:%M"))

# %% [markdown]
# Quick probe of one query before the bigger rerun.

# %%
%%durable rag-probe
probe = client.embeddings.create(model="text-embedding-3-small", input=["parental leave policy"]).data[0].embedding  # <- ND401
hits = await step.run("probe", lambda: col.query(query_embeddings=[probe], n_results=3)["ids"][0])
hits

# %%
%%durable rag-probe-2
hits = await step.run("probe", retrieve, "parental leave policy", 3)
n_unique = len(set(hits))
print(f"{n_unique} distinct chunks")
