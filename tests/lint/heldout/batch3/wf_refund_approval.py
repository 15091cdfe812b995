"""Refunds above the auto-approve limit wait for a finance lead; below it they go straight through."""

import os
from datetime import datetime, timedelta, timezone

import httpx
import stripe

import nbdurable as nd

stripe.api_key = os.environ["STRIPE_SECRET_KEY"]
SLACK_HOOK = os.environ.get("FINANCE_SLACK_HOOK", "")


def issue_refund(charge_id: str, amount_cents: int) -> dict:
    key = nd.current_step().idempotency_key
    refund = stripe.Refund.create(charge=charge_id, amount=amount_cents, idempotency_key=key)
    return {"id": refund.id, "status": refund.status}


def notify(req: dict, expires: str, reminder: bool = False) -> None:
    prefix = "Reminder: " if reminder else ""
    text = f"{prefix}Refund of {req['amount_cents'] / 100:.2f} for {req['customer']} needs approval (until {expires})"
    httpx.post(SLACK_HOOK, json={"text": text}, timeout=10)


def notify_declined(req: dict, reason: str) -> None:
    httpx.post(SLACK_HOOK, json={"text": f"Refund for {req['customer']} declined: {reason}"}, timeout=10)


@nd.function(id="refund-approval", trigger="billing/refund.requested")
async def refund_flow(ctx: nd.Context) -> dict:
    req = ctx.event.data
    amount = int(req["amount_cents"])
    auto_limit = int(os.environ.get("AUTO_REFUND_LIMIT_CENTS", "2000"))  # <- ND311
    if amount <= auto_limit:
        refund = await ctx.step.run("refund", issue_refund, req["charge_id"], amount)
        return {"status": "auto", "refund": refund}

    expires = (datetime.now(timezone.utc) + timedelta(hours=72)).isoformat(timespec="minutes")  # <- ND103
    await ctx.step.run("ask-approver", notify, req, expires)
    match = "async.data.request_id == event.data.request_id"
    decision = await ctx.step.wait_for_event("approval", event="billing/refund.decided", timeout="24h", if_exp=match)
    if decision is None:
        await ctx.step.run("remind", notify, req, expires, reminder=True)
        decision = await ctx.step.wait_for_event("approval-2", event="billing/refund.decided", timeout="48h", if_exp=match)

    if decision is None or not decision.data.get("approved"):
        reason = "no answer in 72h" if decision is None else decision.data.get("reason", "declined")
        await ctx.step.run("declined", notify_declined, req, reason)
        return {"status": "declined", "reason": reason}

    approved_at = ctx.step.now()
    refund = await ctx.step.run("refund", issue_refund, req["charge_id"], amount)
    return {"status": "approved", "by": decision.data["by"], "at": approved_at.isoformat(), "refund": refund}


@nd.function(id="refund-approval-v2", trigger="billing/refund.requested.v2")
async def refund_flow_v2(ctx: nd.Context) -> dict:
    """The limit travels with the request now, and the deadline comes from the journal."""
    req = ctx.event.data
    amount = int(req["amount_cents"])
    if amount <= int(req.get("auto_limit_cents", 2000)):
        return {"status": "auto", "refund": await ctx.step.run("refund", issue_refund, req["charge_id"], amount)}
    expires = (ctx.step.now() + timedelta(hours=72)).isoformat(timespec="minutes")
    await ctx.step.run("ask-approver", notify, req, expires)
    decision = await ctx.step.wait_for_event(
        "approval", event="billing/refund.decided", timeout="72h", if_exp="async.data.request_id == event.data.request_id"
    )
    if decision is None or not decision.data.get("approved"):
        return {"status": "declined"}
    return {"status": "approved", "refund": await ctx.step.run("refund", issue_refund, req["charge_id"], amount)}
