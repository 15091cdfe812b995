%%durable loop-clock
# expect: ND102@7
"""The event loop's clock read through a variable in a cell."""
import asyncio

loop = asyncio.get_running_loop()
t = loop.time()  # <- ND102
await step.run("save", save, t)
