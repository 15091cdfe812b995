"""Nightly ETL: load yesterday's orders, clean them, sample some for manual QA, load the warehouse."""

import pandas as pd
import nbdurable as nd
from sqlalchemy import create_engine

engine = create_engine("postgresql://etl@localhost/warehouse")
qa_model = nd.ai.openai("gpt-4o-mini")


def extract(day: str) -> list[dict]:
    return pd.read_csv(f"exports/orders-{day}.csv").to_dict("records")


def load(rows: list[dict]) -> int:
    return pd.DataFrame(rows).to_sql("orders", engine, if_exists="append", index=False)


@nd.function(id="etl", trigger="etl/nightly")
async def etl(ctx: nd.Context) -> dict:
    day = ctx.event.data["day"]
    rows = await ctx.step.run("extract", extract, day)
    df = pd.DataFrame(rows)
    df = df.dropna(subset=["order_id"]).drop_duplicates("order_id")
    df["amount"] = df["amount"].clip(lower=0)
    currencies = pd.read_csv("reference/currencies.csv")  # <- ND301
    df = df.merge(currencies, on="currency", how="left")
    qa = df.sample(frac=0.02)  # <- ND202
    verdict = await ctx.step.ai.infer(
        "qa",
        model=qa_model,
        body={"messages": [{"role": "user", "content": f"Any anomalies in these orders? {qa.to_json(orient='records')}"}]},
    )
    loaded = await ctx.step.run("load", load, df.to_dict("records"))
    with engine.connect() as conn:  # <- ND322
        total = conn.exec_driver_sql("SELECT count(*) FROM orders").scalar()  # <- ND322
    return {"loaded": loaded, "total": total, "qa": verdict["choices"][0]["message"]["content"]}
