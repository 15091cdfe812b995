# %%
%load_ext nbdurable
import nbdurable as nd
import json, random, time
from pathlib import Path

questions = json.loads(Path("eval/questions.json").read_text())
random.seed(7)
random.shuffle(questions)
judge = nd.ai.openai("gpt-4o-mini")
retrieve_times = []

# %%
def retrieve(q):
    t0 = time.perf_counter()
    hits = [d for d in Path("corpus").glob("*.txt") if any(w in d.read_text() for w in q.split()[:3])]
    retrieve_times.append(time.perf_counter() - t0)
    return [h.read_text()[:2000] for h in hits[:3]]

# %%
%%durable rag-eval
scores = []
for i, q in enumerate(questions[:25]):
    ctx_docs = await step.run(f"retrieve-{i}", retrieve, q["question"])
    verdict = await step.ai.infer(
        f"judge-{i}",
        model=judge,
        body={"messages": [{"role": "user", "content": f"Q: {q['question']}\nDocs: {ctx_docs}\nExpected: {q['answer']}\nDo the docs contain the answer? yes/no"}]},
    )
    scores.append(verdict["choices"][0]["message"]["content"].strip().lower().startswith("yes"))
slow = max(retrieve_times) if retrieve_times else 0  # <- ND603
summary = {"hit_rate": sum(scores) / len(scores), "slowest_retrieval_s": slow}
await step.run("save", lambda: Path("eval/summary.json").write_text(json.dumps(summary)))
