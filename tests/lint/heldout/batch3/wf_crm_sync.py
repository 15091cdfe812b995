"""Keep HubSpot contacts in line with the billing system: create, archive and update by e-mail."""

import httpx

import nbdurable as nd

HUBSPOT = "http://hubspot-proxy.internal/crm/v3"
BILLING = "http://billing.internal/api"


def fetch_hubspot_contacts() -> dict[str, dict]:
    out, after = {}, None
    while True:
        r = httpx.get(f"{HUBSPOT}/objects/contacts", params={"limit": 100, "after": after}, timeout=30).json()
        for c in r["results"]:
            out[c["properties"]["email"].lower()] = {"id": c["id"], "plan": c["properties"].get("plan")}
        after = r.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


def fetch_billing_customers() -> dict[str, dict]:
    rows = httpx.get(f"{BILLING}/customers", timeout=30).json()
    return {row["email"].lower(): row for row in rows}


def create_contact(customer: dict) -> str:
    return httpx.post(f"{HUBSPOT}/objects/contacts", json={"properties": customer}, timeout=30).json()["id"]


def archive_contacts(emails: list[str]) -> int:
    httpx.post(f"{HUBSPOT}/objects/contacts/batch/archive", json={"inputs": [{"id": e} for e in emails]}, timeout=30)
    return len(emails)


def update_plan(email: str, plan: str) -> None:
    httpx.patch(f"{HUBSPOT}/objects/contacts/{email}?idProperty=email", json={"properties": {"plan": plan}}, timeout=30)


def post_summary(text: str) -> None:
    httpx.post("http://chat.acme.internal/hooks/revops", json={"text": text}, timeout=10)


@nd.function(id="crm-sync", trigger="cron/hourly")
async def crm_sync(ctx: nd.Context) -> dict:
    hubspot = await ctx.step.run("hubspot", fetch_hubspot_contacts)
    billing = await ctx.step.run("billing", fetch_billing_customers)

    missing = billing.keys() - hubspot.keys()
    stale = hubspot.keys() - billing.keys()
    both = sorted(hubspot.keys() & billing.keys())

    for email in missing:  # <- ND501
        await ctx.step.run("create", create_contact, billing[email])
    if stale:
        await ctx.step.run("archive", archive_contacts, list(stale))  # <- ND502

    changed = [e for e in both if hubspot[e]["plan"] != billing[e]["plan"]]
    for i, email in enumerate(changed):
        await ctx.step.run(f"update-{i}", update_plan, email, billing[email]["plan"])

    domains = {e.split("@")[1] for e in billing}
    ctx.logger.info("billing customers from %d domains", len(domains))
    vip = "acme-vip.com" in domains
    await ctx.step.run("summary", post_summary, f"created {len(missing)}, archived {len(stale)}, updated {len(changed)}, vip={vip}")
    return {"created": len(missing), "archived": len(stale), "updated": len(changed)}


@nd.function(id="crm-sync-by-domain")
async def crm_sync_by_domain(ctx: nd.Context) -> list[str]:
    billing = await ctx.step.run("billing", fetch_billing_customers)
    reports = []
    for domain in {e.split("@")[1] for e in billing}:  # <- ND501
        emails = sorted(e for e in billing if e.endswith("@" + domain))
        reports.append(await ctx.step.run("domain-report", post_summary, f"{domain}: {len(emails)} customers"))
    every_plan = set().union(*({c["plan"]} for c in billing.values()))
    await ctx.step.run("plans", post_summary, "plans in use: " + ", ".join(every_plan))  # <- ND502
    await ctx.step.run("plans-sorted", post_summary, "plans in use: " + ", ".join(sorted(every_plan)))
    return reports
