"""Answer questions over a document set, reusing answers to repeated questions."""

import nbdurable as nd

model = nd.ai.anthropic("claude-sonnet-4-5")
ANSWERS: dict[str, str] = {}
INDEX: dict[str, list[str]] = {}


def retrieve(question: str, k: int = 4) -> list[str]:
    words = set(question.lower().split())
    scored = sorted(INDEX.items(), key=lambda kv: -len(words & set(kv[0].split())))
    return [chunk for _, chunks in scored[:k] for chunk in chunks]


def remember(question: str, answer: str) -> str:
    ANSWERS[question] = answer
    return answer


@nd.function(id="doc-qa", trigger="qa/asked")
async def answer(ctx: nd.Context) -> str:
    q = ctx.event.data["question"].strip()
    cached = ANSWERS.get(q)  # <- ND603
    if cached is not None:
        return cached
    chunks = await ctx.step.run("retrieve", retrieve, q)
    resp = await ctx.step.ai.infer(
        "answer",
        model=model,
        body={"messages": [{"role": "user", "content": "Context:\n" + "\n".join(chunks) + f"\n\nQ: {q}"}], "max_tokens": 600},
    )
    text = resp["content"][0]["text"]
    return await ctx.step.run("remember", remember, q, text)
