"""Enrich new sales leads: company lookup, scoring with an LLM, CRM update, Slack ping for hot leads."""

import json
import logging
import os
import socket
from datetime import datetime, timezone

import httpx
import nbdurable as nd
from slack_sdk import WebClient

log = logging.getLogger("leads")
slack = WebClient(token=os.environ.get("SLACK_TOKEN", ""))
scorer = nd.ai.openai("gpt-4o-mini")
HOT = float(os.environ.get("HOT_SCORE", "0.8"))


async def lookup_company(domain: str) -> dict:
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.get(f"https://company.local/v1/lookup?domain={domain}")
        return r.json()


def update_crm(lead_id: str, fields: dict) -> None:
    httpx.patch(f"https://crm.local/api/leads/{lead_id}", json=fields, timeout=20)


@nd.function(id="enrich-lead", trigger="lead/created", retries=2)
async def enrich(ctx: nd.Context) -> dict:
    lead = ctx.event.data
    domain = lead["email"].split("@")[-1].lower()
    company = await ctx.step.run("company", lookup_company, domain)
    prompt = json.dumps({"lead": lead, "company": company})
    resp = await ctx.step.ai.infer(
        "score",
        model=scorer,
        body={"messages": [{"role": "system", "content": "Score 0-1 how likely this lead buys. Reply with the number."},
                           {"role": "user", "content": prompt}]},
    )
    score = float(resp["choices"][0]["message"]["content"].strip())
    fields = {
        "score": score,
        "industry": company.get("industry"),
        "enriched_at": datetime.now(timezone.utc).isoformat(),  # <- ND103
        "enriched_by": socket.gethostname(),  # <- ND312
    }
    await ctx.step.run("crm", update_crm, lead["id"], fields)
    if score >= HOT:
        slack.chat_postMessage(channel="#sales", text=f"Hot lead: {lead['email']} ({score:.2f})")  # <- ND322
    log.info("lead %s scored %.2f at %s", lead["id"], score, datetime.now())
    return fields
