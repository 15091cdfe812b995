"""DBOS on PostgreSQL (its system database in the benchmark's server): the scale-out benchmark's peer.

``latency``: one workflow of N trivial ``@DBOS.step`` calls, µs per step (call to result).
``many``: R workflows of S steps started at once in this process (``DBOS.start_workflow``, DBOS's
own executor), steps per second from the first start to the last result.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
from typing import Any

from _common import PAYLOAD, clock, cpu, report
from dbos import DBOS

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["latency", "many"])
parser.add_argument("--url", required=True)
parser.add_argument("--n", type=int, default=500)
parser.add_argument("--runs", type=int, default=200)
parser.add_argument("--steps", type=int, default=10)
args = parser.parse_args()

config: dict[str, Any] = {"name": "nbdurable-scale-bench", "system_database_url": args.url, "log_level": "WARNING"}
DBOS(config=config)
logging.getLogger("dbos").setLevel(logging.WARNING)
starts: list[float] = []


@DBOS.step()
def trivial() -> str:
    starts.append(clock())
    return PAYLOAD


@DBOS.workflow()
def workflow(n: int) -> int:
    for _ in range(n):
        trivial()
    return n


DBOS.launch()
workflow(5)  # warm, as nbdurable's side is
starts.clear()
if args.mode == "latency":
    began, began_cpu = clock(), cpu()
    workflow(args.n)
    took, took_cpu = clock() - began, cpu() - began_cpu
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    report(
        us_per_step=took / args.n * 1e6,
        cpu_us_per_step=took_cpu / args.n * 1e6,
        p50_us=statistics.median(gaps) * 1e6,
        p99_us=gaps[int(len(gaps) * 0.99) - 1] * 1e6,
    )
else:
    began = clock()
    handles = [DBOS.start_workflow(workflow, args.steps) for _ in range(args.runs)]
    done = sum(h.get_result() for h in handles)
    took = clock() - began
    if done != args.runs * args.steps:
        raise SystemExit(f"DBOS ran {done} steps, expected {args.runs * args.steps}")
    report(steps_per_s=done / took, runs_per_s=args.runs / took, seconds=took)
DBOS.destroy()
