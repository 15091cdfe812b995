"""The workflows the scale-out benchmark runs: served by ``nbdurable worker`` processes, or timed in-process.

``python bench/_workers_app.py latency --url URL --n N`` times one run of N trivial steps in this
process (µs per step, and the spread of the intervals between step starts); the worker processes
import this module for ``bw-steps``, whose event says how many steps a run takes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics

from _common import PAYLOAD, clock, cpu, report

import nbdurable as nd

starts: list[float] = []


def trivial() -> str:
    starts.append(clock())
    return PAYLOAD


@nd.function(id="bw-steps", retries=0, on="workers")
async def steps(ctx: nd.Context) -> int:
    """``steps`` trivial steps, one after the other."""
    n = int(ctx.event.data.get("steps", 1))
    for _ in range(n):
        await ctx.step.run("trivial", trivial)
    return n


@nd.function(id="bw-latency", retries=0)
async def latency(ctx: nd.Context) -> int:
    n = int(ctx.event.data["n"])
    for _ in range(n):
        await ctx.step.run("trivial", trivial)
    return n


async def _latency(url: str, n: int, durability: str) -> None:
    nd.configure(url, durability=durability)
    await latency.run({"n": 5})  # warm: connections, prepared statements, the schema's first use
    starts.clear()
    began, began_cpu = clock(), cpu()
    await latency.run({"n": n})
    took, took_cpu = clock() - began, cpu() - began_cpu
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    report(
        us_per_step=took / n * 1e6,
        cpu_us_per_step=took_cpu / n * 1e6,
        p50_us=statistics.median(gaps) * 1e6,
        p99_us=gaps[int(len(gaps) * 0.99) - 1] * 1e6,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["latency"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    args = parser.parse_args()
    asyncio.run(_latency(args.url, args.n, args.durability))
