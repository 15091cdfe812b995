# expect: ND503@13, ND701@15, ND503@18, ND501@19, ND503@20, ND503@22, ND503@24, ND503@27, ND503@31
"""Work handed out in the order it finishes: on replay journaled steps finish at once, in another order."""
import asyncio
import concurrent.futures

import nbdurable as nd


@nd.function(id="first-wins", trigger="go")
async def first_wins(ctx):
    step = ctx.step
    calls = [step.run(f"ask-{i}", ask, i) for i in range(3)]
    for fut in asyncio.as_completed(calls):  # <- ND503
        answer = await fut
        await step.run(f"use-{answer}", use, answer)  # <- ND701
        break
    tasks = [asyncio.ensure_future(step.run(f"race-{i}", ask, i)) for i in range(3)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)  # <- ND503
    winner = [t.result() for t in done]  # <- ND501
    late = await asyncio.wait(tasks, timeout=5)  # <- ND503
    finished = []
    tasks[0].add_done_callback(lambda t: finished.append(t.result()))  # <- ND503
    try:
        slow = await asyncio.wait_for(step.run("slow", ask, 9), timeout=30)  # <- ND503
    except asyncio.TimeoutError:
        slow = None
    async with asyncio.timeout(60):  # <- ND503
        await step.run("bounded", ask, 10)
    with concurrent.futures.ThreadPoolExecutor() as pool:
        futures = [pool.submit(ask, i) for i in range(3)]
        firsts = [f.result() for f in concurrent.futures.as_completed(futures)]  # <- ND503
    return winner, late, slow, firsts, finished


def ask(i):
    return i


def use(answer):
    return answer
