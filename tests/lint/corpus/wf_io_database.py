# expect: ND322@21, ND322@22, ND322@24, ND322@25, ND322@26, ND322@27, ND322@28, ND322@29, ND322@30, ND322@31, ND322@32, ND322@33
"""Database calls outside steps: they run again on every replay (a read may differ, a write repeats)."""
import sqlite3

import pandas as pd
import psycopg
import redis
from pymongo import MongoClient
from sqlalchemy import create_engine, text

import nbdurable as nd

engine = create_engine("postgresql://localhost/app")
cache = redis.Redis()
mongo = MongoClient()
users = mongo["app"]["users"]


@nd.function(id="db", trigger="go")
async def db(ctx):
    conn = sqlite3.connect("app.db")  # <- ND322
    count = conn.execute("SELECT count(*) FROM t").fetchone()[0]  # <- ND322
    cur = conn.cursor()
    cur.execute("SELECT name FROM t")  # <- ND322
    names = cur.fetchall()  # <- ND322
    with psycopg.connect("dbname=app") as pg:  # <- ND322
        rows = pg.execute("SELECT 1").fetchall()  # <- ND322
    with engine.connect() as sa:  # <- ND322
        total = sa.execute(text("SELECT sum(x) FROM t")).scalar()  # <- ND322
    seen = cache.get("seen")  # <- ND322
    doc = users.find_one({"id": ctx.event.data["id"]})  # <- ND322
    frame = pd.read_sql_query("SELECT * FROM t", conn)  # <- ND322
    frame.to_sql("copy", engine)  # <- ND322
    return await ctx.step.run("report", report, count, names, rows, total, seen, doc, len(frame))


def report(*args):
    return args
