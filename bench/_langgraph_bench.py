"""LangGraph with SqliteSaver: a graph whose one node loops N times, one trivial step per super-step.

Every super-step is checkpointed before the next starts (``durability="sync"``,
the same promise a durable step makes). Modes: ``first`` runs the graph and, with
``--kill``, dies by SIGKILL as step N+1 starts; ``resume`` is the next process:
``graph.invoke(None, config)`` continues the thread from its last checkpoint.
LangGraph does not replay finished nodes; it restores the latest state.
The connection uses WAL (SqliteSaver sets it) and ``--sync`` (NORMAL by default,
as nbdurable; FULL is what ``SqliteSaver.from_conn_string`` leaves).
"""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any, TypedDict

from _common import PAYLOAD, clock, cpu, die, report, us_per_step
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["first", "resume"])
parser.add_argument("--n", type=int, required=True)
parser.add_argument("--db", required=True)
parser.add_argument("--kill", action="store_true")
parser.add_argument("--sync", choices=["normal", "full"], default="normal")
args = parser.parse_args()

marks: dict[str, float] = {}
executed = 0


class State(TypedDict):
    i: int
    value: str


def step(state: State) -> dict[str, Any]:
    global executed
    i = state["i"]
    if i == args.n:
        marks["first_unfinished"] = clock()
        marks["cpu_first_unfinished"] = cpu()
        if args.kill:
            report(
                first_run_us_per_step=us_per_step(marks["call"], marks["first_unfinished"], args.n), executed=executed
            )
            die()
    else:
        executed += 1
    return {"i": i + 1, "value": PAYLOAD}


def route(state: State) -> str:
    return END if state["i"] > args.n else "step"


builder = StateGraph(State)
builder.add_node("step", step)
builder.add_edge(START, "step")
builder.add_conditional_edges("step", route)

conn = sqlite3.connect(args.db, check_same_thread=False)
conn.execute(f"PRAGMA synchronous={args.sync.upper()}")
saver = SqliteSaver(conn)
saver.setup()  # sets journal_mode=WAL
graph = builder.compile(checkpointer=saver)
config: Any = {"configurable": {"thread_id": "bench-run"}, "recursion_limit": args.n + 10}

marks["call"], marks["cpu_call"] = clock(), cpu()
if args.mode == "first":
    graph.invoke({"i": 0, "value": ""}, config, durability="sync")
    report(first_run_us_per_step=us_per_step(marks["call"], marks["first_unfinished"], args.n), executed=executed)
else:
    out = graph.invoke(None, config, durability="sync")
    if executed or out["i"] != args.n + 1:
        raise SystemExit(
            f"LangGraph resume re-ran {executed} finished steps (state {out['i']}); the benchmark is wrong"
        )
    report(
        resume_s=marks["first_unfinished"] - marks["call"],
        resume_cpu_s=marks["cpu_first_unfinished"] - marks["cpu_call"],
        executed=executed,
    )
conn.close()
