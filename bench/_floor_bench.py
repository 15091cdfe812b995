"""The floor: one INSERT + COMMIT per step of a 200-byte value, with Python's sqlite3 and with aiosqlite.

Same durability as nbdurable's default journal: WAL, synchronous=NORMAL. aiosqlite
runs each call on its own thread, so a step there is two awaited thread hops
(execute, then commit), which is what a user of it writes.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
from _common import PAYLOAD, checkpointed_size, clock, cpu, report, us_per_step

parser = argparse.ArgumentParser()
parser.add_argument("kind", choices=["sqlite3", "aiosqlite"])
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
        conn.execute(INSERT, (PAYLOAD,))
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
            await db.execute(INSERT, (PAYLOAD,))
            await db.commit()
        return clock() - t0, cpu() - c0


path = Path(args.db)
elapsed, cpu_s = with_sqlite3(path, args.n) if args.kind == "sqlite3" else asyncio.run(with_aiosqlite(path, args.n))
report(
    us_per_step=us_per_step(0.0, elapsed, args.n),
    cpu_us_per_step=us_per_step(0.0, cpu_s, args.n),
    size=checkpointed_size(path),
)
