"""A three-persona panel debates a product question for a few rounds; a moderator writes the verdict."""

import asyncio

import anthropic

import nbdurable as nd

claude = anthropic.AsyncAnthropic()
SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"

PERSONAS = {
    "optimist": "You are an upbeat product manager. Argue for the idea.",
    "skeptic": "You are a skeptical staff engineer. Find the risks.",
    "economist": "You are a pragmatic finance partner. Talk about cost and payback.",
}


def text_of(msg) -> str:
    return "".join(block.text for block in msg.content if block.type == "text")


@nd.function(id="panel-debate")
async def debate(ctx: nd.Context) -> dict:
    topic = ctx.event.data["topic"]
    rounds = int(ctx.event.data.get("rounds", 3))
    transcript: list[str] = [f"Topic: {topic}"]
    for r in range(rounds):
        history = "\n\n".join(transcript)
        calls = [
            ctx.step.ai.wrap(
                f"r{r}-{name}",
                claude.messages.create,
                model=SONNET,
                max_tokens=600,
                system=persona,
                messages=[{"role": "user", "content": f"{history}\n\nYour turn, {name}."}],
            )
            for name, persona in PERSONAS.items()
        ]
        # whoever answers first speaks first in the transcript
        for fut in asyncio.as_completed(calls):  # <- ND503
            msg = await fut
            transcript.append(text_of(msg))

    # cheap pre-check so we don't pay Sonnet for an obviously one-sided debate
    check = await claude.messages.create(  # <- ND401
        model=HAIKU, max_tokens=5, messages=[{"role": "user", "content": "\n\n".join(transcript) + "\n\nBalanced? yes/no"}]
    )
    balanced = text_of(check).strip().lower().startswith("y")
    verdict = await ctx.step.ai.wrap(
        "verdict",
        claude.messages.create,
        model=SONNET,
        max_tokens=800,
        messages=[{"role": "user", "content": "Write the moderator's verdict:\n\n" + "\n\n".join(transcript)}],
    )
    return {"balanced": balanced, "verdict": text_of(verdict), "turns": len(transcript) - 1}


@nd.function(id="panel-debate-ordered")
async def debate_ordered(ctx: nd.Context) -> str:
    """Same panel, but speakers keep a fixed order: gather returns results in call order."""
    transcript = [f"Topic: {ctx.event.data['topic']}"]
    for r in range(int(ctx.event.data.get("rounds", 3))):
        history = "\n\n".join(transcript)
        replies = await asyncio.gather(
            *[
                ctx.step.ai.wrap(
                    f"r{r}-{name}",
                    claude.messages.create,
                    model=SONNET,
                    max_tokens=600,
                    system=persona,
                    messages=[{"role": "user", "content": f"{history}\n\nYour turn, {name}."}],
                )
                for name, persona in PERSONAS.items()
            ]
        )
        transcript.extend(f"{name}: {text_of(m)}" for name, m in zip(PERSONAS, replies))
    return "\n\n".join(transcript)
