"""Weekly and monthly KPI reports for the leadership channel."""

from datetime import date, datetime, timedelta, timezone

import nbdurable as nd

writer = nd.ai.anthropic("claude-sonnet-4-5")


def load_metrics(start: str, end: str) -> dict:
    import duckdb

    con = duckdb.connect("analytics.duckdb", read_only=True)
    row = con.execute(
        "SELECT count(*) AS orders, sum(amount) AS revenue, count(DISTINCT customer_id) AS buyers "
        "FROM orders WHERE created_at >= ? AND created_at < ?",
        [start, end],
    ).fetchone()
    return {"orders": row[0], "revenue": float(row[1] or 0), "buyers": row[2]}


def post_report(title: str, text: str) -> None:
    import httpx

    httpx.post("http://chat.acme.internal/hooks/leadership", json={"title": title, "text": text}, timeout=10)


async def write_up(step, name: str, title: str, metrics: dict) -> str:
    resp = await step.ai.infer(
        name,
        model=writer,
        body={"max_tokens": 600, "messages": [{"role": "user", "content": f"Write a short KPI note '{title}': {metrics}"}]},
    )
    return resp["content"][0]["text"]


@nd.function(id="weekly-kpis", trigger="cron/monday-0700")
async def weekly_kpis(ctx: nd.Context) -> str:
    # the cron event's timestamp is journaled with the event, so this is the same on every replay
    triggered = datetime.fromtimestamp(ctx.event.ts, tz=timezone.utc)
    week_start = (triggered - timedelta(days=triggered.weekday() + 7)).date()
    week_end = week_start + timedelta(days=7)
    metrics = await ctx.step.run(f"metrics-{week_start}", load_metrics, week_start.isoformat(), week_end.isoformat())
    title = f"Week of {week_start:%d %b %Y}"
    text = await write_up(ctx.step, "write", title, metrics)
    await ctx.step.run("post", post_report, title, text)
    return text


@nd.function(id="monthly-kpis", trigger="cron/first-of-month")
async def monthly_kpis(ctx: nd.Context) -> str:
    today = date.today()  # <- ND103
    last_month_end = today.replace(day=1)
    last_month_start = (last_month_end - timedelta(days=1)).replace(day=1)
    label = last_month_start.strftime("%Y-%m")
    metrics = await ctx.step.run(f"metrics-{label}", load_metrics, last_month_start.isoformat(), last_month_end.isoformat())  # <- ND701
    baseline = await ctx.step.run("metrics-2024-baseline", load_metrics, date(2024, 1, 1).isoformat(), date(2025, 1, 1).isoformat())
    metrics["vs_2024_monthly_avg"] = metrics["revenue"] / max(baseline["revenue"] / 12, 1)
    text = await write_up(ctx.step, "write", f"KPIs for {label}", metrics)
    # hold the post until 9:00 UTC the next morning
    now = ctx.step.now()
    send_at = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    await ctx.step.sleep_until("wait-9am", send_at)
    await ctx.step.run("post", post_report, f"KPIs for {label}", text)
    return text
