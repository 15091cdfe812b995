"""Build a monthly usage report from S3 logs and the billing database."""

import gzip
import json
import os
import socket
from datetime import date

import boto3
import nbdurable as nd
import psycopg

s3 = boto3.client("s3")
BUCKET = "acme-usage-logs"
DSN = os.environ.get("BILLING_DSN", "postgresql://localhost/billing")
model = nd.ai.anthropic("claude-sonnet-4-5")


def list_keys(prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def count_events(key: str) -> dict[str, int]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    counts: dict[str, int] = {}
    for line in gzip.decompress(body).splitlines():
        event = json.loads(line)
        counts[event["tenant"]] = counts.get(event["tenant"], 0) + 1
    return counts


def invoices(month: str) -> list[tuple[str, float]]:
    with psycopg.connect(DSN) as conn:
        return conn.execute("SELECT tenant, amount FROM invoices WHERE month = %s", (month,)).fetchall()


@nd.function(id="usage-report", trigger="report/monthly")
async def usage_report(ctx: nd.Context) -> str:
    month = ctx.event.data.get("month") or date.today().strftime("%Y-%m")  # <- ND103
    keys = await ctx.step.run("keys", list_keys, f"{month}/")
    totals: dict[str, int] = {}
    for i, key in enumerate(keys):
        for tenant, n in (await ctx.step.run(f"count-{i}", count_events, key)).items():
            totals[tenant] = totals.get(tenant, 0) + n
    billed = dict(await ctx.step.run("invoices", invoices, month))
    with psycopg.connect(DSN) as conn:  # <- ND322
        tenants = [r[0] for r in conn.execute("SELECT name FROM tenants WHERE active").fetchall()]  # <- ND322
    rows = [{"tenant": t, "events": totals.get(t, 0), "billed": billed.get(t, 0.0)} for t in tenants]
    text = await ctx.step.ai.infer(
        "write-report",
        model=model,
        body={"messages": [{"role": "user", "content": f"Write a usage report for {month}:\n{json.dumps(rows)}"}]},
    )
    report = text["content"][0]["text"]
    host = socket.gethostname()
    ctx.logger.info("report for %s written on %s", month, host)
    await ctx.step.run("upload", lambda: s3.put_object(Bucket=BUCKET, Key=f"reports/{month}.md", Body=report.encode()))
    s3.put_object(Bucket=BUCKET, Key="reports/latest.txt", Body=month.encode())  # <- ND322
    return report
