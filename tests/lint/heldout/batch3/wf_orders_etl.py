"""Daily orders ETL: Postgres -> pandas clean-up -> parquet partition in the warehouse bucket."""

import numpy as np
import pandas as pd
import psycopg

import nbdurable as nd

SRC_DSN = "postgresql://etl_ro@orders-db.internal/orders"
WAREHOUSE = "s3://acme-warehouse/orders"


def extract(since: str) -> list[dict]:
    with psycopg.connect(SRC_DSN) as conn:
        df = pd.read_sql("SELECT * FROM orders WHERE updated_at >= %(since)s", conn, params={"since": since})
    df["updated_at"] = df["updated_at"].astype(str)
    return df.to_dict("records")


def load_partition(records: list[dict], partition: str) -> int:
    df = pd.DataFrame.from_records(records)
    df.to_parquet(f"{WAREHOUSE}/dt={partition}/part-0.parquet", index=False)
    return len(df)


def write_audit(records: list[dict]) -> None:
    pd.DataFrame.from_records(records).to_csv("audit/orders_sample.csv", index=False)


@nd.function(id="orders-etl-daily", trigger="etl/orders.daily")
async def orders_etl(ctx: nd.Context) -> dict:
    partition = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")  # <- ND103
    since = ctx.event.data.get("since", "2025-01-01")
    rows = await ctx.step.run("extract", extract, since)
    df = pd.DataFrame(rows)
    if df.empty:
        return {"rows": 0}
    df["amount"] = df["amount_cents"] / 100
    df = df[df["status"] != "test"].drop_duplicates("order_id", keep="last")
    by_country = df.groupby("country")["amount"].agg(["sum", "count"]).reset_index()
    audit = df.sample(n=min(50, len(df)), random_state=7)
    rng = np.random.default_rng(7)
    holdout = rng.random(len(df)) < 0.1
    written = await ctx.step.run(f"load-{partition}", load_partition, df[~holdout].to_dict("records"), partition)  # <- ND701
    await ctx.step.run("audit", write_audit, audit.to_dict("records"))
    return {"rows": written, "countries": by_country["country"].tolist()}


@nd.function(id="orders-etl-backfill")
async def orders_backfill(ctx: nd.Context) -> int:
    """Backfill explicit days; the day list is in the event, so names are stable."""
    total = 0
    for day in pd.date_range(ctx.event.data["start"], ctx.event.data["end"], freq="D"):
        label = day.strftime("%Y-%m-%d")
        rows = await ctx.step.run(f"extract-{label}", extract, label)
        total += await ctx.step.run(f"load-{label}", load_partition, rows, label)
    return total
