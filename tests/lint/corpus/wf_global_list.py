# expect: ND602@12, ND602@14, ND602@16
"""Module-level containers changed by workflow code keep growing across replays and runs."""
import nbdurable as nd

history = []
CACHE = {}


@nd.function(id="chat", trigger="chat/message")
async def chat(ctx):
    step = ctx.step
    history.append(ctx.event.data["text"])  # <- ND602
    reply = await step.run("reply", answer, list(history))
    CACHE[ctx.event.data["user"]] = reply  # <- ND602
    if len(history) > 20:
        history.clear()  # <- ND602
    return reply


def answer(turns):
    return turns[-1]
