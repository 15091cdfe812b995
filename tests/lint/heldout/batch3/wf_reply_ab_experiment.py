"""A/B test of two reply prompts for the in-app assistant: 20% of users get prompt B."""

import hashlib
import zlib

import nbdurable as nd

model = nd.ai.openai("gpt-4o-mini")

PROMPTS = {
    "A": "You are Acme's assistant. Be concise.",
    "B": "You are Acme's assistant. Be concise, and end with one follow-up question.",
}


def log_exposure(user_id: str, arm: str, conversation: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://exp@db.internal/experiments") as conn:
        conn.execute(
            "INSERT INTO exposures (experiment, user_id, arm, conversation) VALUES ('reply-prompt', %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (user_id, arm, conversation),
        )


def body_for(arm: str, text: str) -> dict:
    return {"messages": [{"role": "system", "content": PROMPTS[arm]}, {"role": "user", "content": text}]}


@nd.function(id="reply-ab-test", trigger="chat/message")
async def reply(ctx: nd.Context) -> str:
    user = ctx.event.data["user_id"]
    text = ctx.event.data["text"]
    arm = "B" if hash(user) % 100 < 20 else "A"  # <- ND206
    await ctx.step.run(f"expose-{arm}", log_exposure, user, arm, ctx.event.data["conversation_id"])  # <- ND701
    # reuse answers for repeated questions within the run
    resp = await ctx.step.ai.infer(f"reply-{hash(text) & 0xffff:x}", model=model, body=body_for(arm, text))  # <- ND702
    return resp["choices"][0]["message"]["content"]


@nd.function(id="reply-ab-test-v2", trigger="chat/message.v2")
async def reply_v2(ctx: nd.Context) -> str:
    """Stable bucketing: crc32 is the same in every process, unlike hash()."""
    user = ctx.event.data["user_id"]
    text = ctx.event.data["text"]
    bucket = zlib.crc32(user.encode()) % 100
    arm = "B" if bucket < 20 else "A"
    await ctx.step.run(f"expose-{arm}", log_exposure, user, arm, ctx.event.data["conversation_id"])
    digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    resp = await ctx.step.ai.infer(f"reply-{digest}", model=model, body=body_for(arm, text))
    return resp["choices"][0]["message"]["content"]
