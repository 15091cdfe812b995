"""``import nbdurable`` plus the first ``@nd.function``, timed in a fresh process (start-up excluded).

The decoration lints the function's source (read from this file by ``inspect``), so
the first one in a process pays for the linter; the second is timed too.
"""

from __future__ import annotations

import time

t0, c0 = time.perf_counter(), time.process_time()
import nbdurable as nd  # noqa: E402 - timed

t1, c1 = time.perf_counter(), time.process_time()


@nd.function(id="bench-first-function", retries=0)
async def first(ctx: nd.Context) -> str:
    value = await ctx.step.run("load", lambda: "x")
    return str(value)


t2, c2 = time.perf_counter(), time.process_time()


@nd.function(id="bench-second-function", retries=0)
async def second(ctx: nd.Context) -> str:
    value = await ctx.step.run("load", lambda: "y")
    return str(value)


t3, c3 = time.perf_counter(), time.process_time()

from _common import report  # noqa: E402 - after the timed part

report(
    import_s=t1 - t0,
    import_cpu_s=c1 - c0,
    first_s=t2 - t1,
    first_cpu_s=c2 - c1,
    second_s=t3 - t2,
    total_s=t2 - t0,
    total_cpu_s=c2 - c0,
)
