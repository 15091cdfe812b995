# expect: none
"""Clients made at module level or in the body without calling them, used only inside steps."""
import sqlite3

import boto3
import redis
from openai import OpenAI
from psycopg import sql
from sqlalchemy import create_engine, select, text

import nbdurable as nd

engine = create_engine("sqlite:///app.db")
s3 = boto3.client("s3")
client = OpenAI()


def count_rows(table: str) -> int:
    with sqlite3.connect("app.db") as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@nd.function(id="clients-ok", trigger="go")
async def clients_ok(ctx):
    step = ctx.step
    cache = redis.Redis(host="localhost")
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier("users"))
    stmt = select(text("1"))
    n = await step.run("count", count_rows, "users")
    body = await step.run("get", lambda: s3.get_object(Bucket="b", Key="k")["Body"].read())
    reply = await step.ai.wrap("reply", client.chat.completions.create, model="gpt-4o", messages=[])
    cached = await step.run("cache", cache.get, "k")
    try:
        await step.run("write", write, engine, str(query), str(stmt))
    except sqlite3.OperationalError:
        pass
    return n, body, reply, cached


def write(*args):
    return args


@nd.function(id="in-memory", trigger="go")
async def in_memory(ctx):
    import duckdb

    scratch = sqlite3.connect(":memory:")
    scratch.execute("CREATE TABLE t (x)")
    scratch.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    total = scratch.execute("SELECT sum(x) FROM t").fetchone()[0]
    local = duckdb.connect()
    doubled = local.sql("SELECT 2 * 21").fetchall()
    return await ctx.step.run("keep", write, total, doubled)
