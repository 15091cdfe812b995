# expect: none
"""Concurrency whose results come back in the order given: gather, TaskGroup, wait for all then sort."""
import asyncio

import nbdurable as nd


@nd.function(id="ordered", trigger="go")
async def ordered(ctx):
    step = ctx.step
    answers = await asyncio.gather(*[step.run(f"ask-{i}", ask, i) for i in range(3)])
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(step.run(f"tg-{i}", ask, i)) for i in range(3)]
    results = [t.result() for t in tasks]
    pending = [asyncio.ensure_future(step.run(f"w-{i}", ask, i)) for i in range(3)]
    done, _ = await asyncio.wait(pending)
    by_input = sorted((t.result() for t in done), key=str)
    queue = asyncio.Queue()
    await queue.put(1)
    item = await asyncio.wait_for(queue.get(), timeout=1)
    best = await step.run("pick", pick, answers, results, by_input, item)
    return best


def ask(i):
    return i


def pick(*args):
    return args
