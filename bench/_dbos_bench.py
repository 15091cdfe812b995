"""DBOS with its SQLite system database: a workflow of N trivial @DBOS.step calls.

Modes: ``first`` runs the workflow and, with ``--kill``, dies by SIGKILL as step
N+1 starts (N steps committed, the run left PENDING); ``resume`` is the next
process: DBOS.launch() finds the pending workflow and recovers it (its own
restart path: re-enqueue, dequeue by the queue poller, replay). ``--wal`` gives
DBOS an engine whose connections use WAL and synchronous=NORMAL, the durability
nbdurable and the sqlite3 floor use; without it DBOS runs with its defaults
(rollback journal, synchronous=FULL: an fsync per commit).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import sqlalchemy as sa
from _common import PAYLOAD, clock, die, report, us_per_step
from dbos import DBOS, SetWorkflowID
from sqlalchemy import event

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["first", "resume"])
parser.add_argument("--n", type=int, required=True)
parser.add_argument("--db", required=True)
parser.add_argument("--kill", action="store_true")
parser.add_argument("--wal", action="store_true")
args = parser.parse_args()

marks: dict[str, float] = {}
executed = 0
RUN_ID = "bench-run"


def wal_engine(url: str) -> sa.Engine:
    """DBOS's own SQLite engine set-up (IMMEDIATE transactions, busy timeout), plus WAL and synchronous=NORMAL."""
    engine = sa.create_engine(url)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    return engine


url = f"sqlite:///{args.db}"
config: dict[str, Any] = {"name": "nbdurable-bench", "system_database_url": url, "log_level": "WARNING"}
if args.wal:
    config["system_database_engine"] = wal_engine(url)
DBOS(config=config)
logging.getLogger("dbos").setLevel(logging.WARNING)


@DBOS.step()
def trivial() -> str:
    global executed
    executed += 1
    return PAYLOAD


@DBOS.step()
def first_unfinished() -> str:
    marks["first_unfinished"] = clock()
    if args.kill:
        report(
            first_run_us_per_step=us_per_step(marks["call"], marks["first_unfinished"], args.n),
            executed=executed,
        )
        die()
    return PAYLOAD


@DBOS.workflow()
def workflow(n: int) -> int:
    marks.setdefault("body", clock())
    for _ in range(n):
        trivial()
    first_unfinished()
    return n


if args.mode == "first":
    DBOS.launch()
    marks["call"] = clock()
    with SetWorkflowID(RUN_ID):
        workflow(args.n)
    report(first_run_us_per_step=us_per_step(marks["call"], marks["first_unfinished"], args.n), executed=executed)
else:
    marks["call"] = clock()
    DBOS.launch()  # recovery of the pending workflow starts here, in DBOS's background thread
    DBOS.retrieve_workflow(RUN_ID).get_result()
    if executed:
        raise SystemExit(f"DBOS recovery re-executed {executed} completed steps; the benchmark is wrong")
    report(
        resume_s=marks["first_unfinished"] - marks["call"],
        replay_us_per_step=us_per_step(marks["body"], marks["first_unfinished"], args.n),
        executed=executed,
    )
DBOS.destroy()
