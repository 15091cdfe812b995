"""The floors: one INSERT + COMMIT per step of a 200-byte value (sqlite3, aiosqlite), and the least a replay reads.

Same durability as nbdurable's default journal: WAL, synchronous=NORMAL. aiosqlite
runs each call on its own thread, so a step there is two awaited thread hops
(execute, then commit), which is what a user of it writes. The value is stored as
JSON text, as nbdurable stores a result.

``row`` is nbdurable's own step row through plain ``sqlite3``: the statement and parameters the
SQLite journal executes for a plain completed step (fenced by the run's epoch, autocommit), built
before the clock starts, so the time is SQLite's alone; ``--check`` adds the cancel check nbdurable
makes before each step (``PRAGMA data_version``). What a first run costs above it is the engine.

``read`` is the Python read floor of a replay, in a fresh process over the database a
``sqlite3`` run wrote: one query for all the rows, then per step a ``json.loads`` and
one awaited call that hands the value back (what any replay must at least do).
Opening the connection is left out, as nbdurable's resume leaves out ``nd.configure``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from pathlib import Path

import aiosqlite
from _common import PAYLOAD, checkpointed_size, clock, cpu, report, us_per_step

parser = argparse.ArgumentParser()
parser.add_argument("kind", choices=["sqlite3", "aiosqlite", "read", "row"])
parser.add_argument("--check", action="store_true", help="row: also the cancel check before each step")
parser.add_argument("--n", type=int, required=True)
parser.add_argument("--db", required=True)
args = parser.parse_args()

SCHEMA = "CREATE TABLE steps (id INTEGER PRIMARY KEY, value TEXT NOT NULL)"
INSERT = "INSERT INTO steps (value) VALUES (?)"


def with_sqlite3(path: Path, n: int) -> tuple[float, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(SCHEMA)
    conn.commit()
    t0, c0 = clock(), cpu()
    for _ in range(n):
        conn.execute(INSERT, (json.dumps(PAYLOAD),))
        conn.commit()
    elapsed, cpu_s = clock() - t0, cpu() - c0
    conn.close()
    return elapsed, cpu_s


async def with_aiosqlite(path: Path, n: int) -> tuple[float, float]:
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute(SCHEMA)
        await db.commit()
        t0, c0 = clock(), cpu()
        for _ in range(n):
            await db.execute(INSERT, (json.dumps(PAYLOAD),))
            await db.commit()
        return clock() - t0, cpu() - c0


async def handed_back(value: object) -> object:
    return value


async def read_floor(path: Path, n: int) -> tuple[float, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    loads = json.loads
    t0, c0 = clock(), cpu()
    rows = conn.execute("SELECT value FROM steps ORDER BY id").fetchall()
    for (text,) in rows:
        await handed_back(loads(text))
    elapsed, cpu_s = clock() - t0, cpu() - c0
    conn.close()
    if len(rows) != n:
        raise SystemExit(f"read floor: {len(rows)} rows in {path}, expected {n}")
    return elapsed, cpu_s


def row_statements(path: Path, n: int) -> tuple[sqlite3.Connection, list[tuple[str, tuple[object, ...]]]]:
    """A journal with one claimed run (made by nbdurable), its writer, and the statements of N mixed steps."""
    import nbdurable as nd
    from nbdurable.journal import StepRecord
    from nbdurable.journal._sqlite import SQLiteJournal

    nd.configure(path)

    @nd.function
    async def empty(ctx: nd.Context) -> None:
        return None

    asyncio.run(empty.run(run_id="row-floor"))
    nd.get_engine().journal.close()  # its connections are not used again
    journal = SQLiteJournal(path)
    rn, epoch = journal._writer.execute("SELECT rn, epoch FROM runs WHERE run_id='row-floor'").fetchone()
    kinds = ("lambda", "closure", "partial", "method", "async", "function")  # as the mixed run names them
    stmts = []
    for i in range(n):
        name = kinds[i % 6]
        step = StepRecord(
            run_id="row-floor",
            step_id=name if i < 6 else f"{name}:{i // 6}",
            name=name,
            position=i,
            output=json.dumps(PAYLOAD),
            started_at=1.0,
            ended_at=2.0,
            code_hash="0123456789abcdef",
        )
        stmts.append(journal._step_write(rn, step, epoch))
    return journal._writer, stmts


def with_row(path: Path, n: int, check: bool) -> tuple[float, float]:
    conn, stmts = row_statements(path, n)
    execute, dumps = conn.execute, json.dumps
    t0, c0 = clock(), cpu()
    for sql, params in stmts:
        if check:
            execute("PRAGMA data_version").fetchone()
        dumps(PAYLOAD)  # the floor encodes its value in the loop too
        if execute(sql, params).rowcount != 1:
            raise SystemExit(f"row floor: a step write was refused in {path}")
    return clock() - t0, cpu() - c0


path = Path(args.db)
if args.kind == "sqlite3":
    elapsed, cpu_s = with_sqlite3(path, args.n)
elif args.kind == "row":
    elapsed, cpu_s = with_row(path, args.n, args.check)
elif args.kind == "aiosqlite":
    elapsed, cpu_s = asyncio.run(with_aiosqlite(path, args.n))
else:
    elapsed, cpu_s = asyncio.run(read_floor(path, args.n))
report(
    us_per_step=us_per_step(0.0, elapsed, args.n),
    cpu_us_per_step=us_per_step(0.0, cpu_s, args.n),
    size=checkpointed_size(path),
)
