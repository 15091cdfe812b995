# expect: ND401@20, ND401@22, ND401@23, ND401@25
"""LangChain model objects are LLM clients: invoke, ainvoke, embed_documents ... are model calls.

`with_structured_output` and `bind_tools` only wrap the model (no call), and what they return
is a model too.
"""
from langchain.chat_models import init_chat_model
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

import nbdurable as nd

llm = ChatOpenAI(model="gpt-4o-mini", temperature=0)
embeddings = OpenAIEmbeddings(model="text-embedding-3-small")


@nd.function(id="lc", trigger="go")
async def lc(ctx):
    question = ctx.event.data["question"]
    judge = llm.with_structured_output(Verdict)
    draft = llm.invoke(question)  # <- ND401
    tooled = llm.bind_tools([lookup])
    verdict = await judge.ainvoke(draft.content)  # <- ND401
    vectors = embeddings.embed_documents([question])  # <- ND401
    fallback = init_chat_model("claude-sonnet-4-5", model_provider="anthropic")
    second = await fallback.ainvoke(question)  # <- ND401
    await ctx.step.run("save", save, draft.content, verdict, vectors, second.content, tooled.name)


class Verdict:
    ok: bool


def lookup(order_id: str) -> str:
    return order_id


def save(*values):
    return list(values)
