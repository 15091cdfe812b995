"""Weekly engineering-blog newsletter. Reviewed for replay safety before it went live."""

import hashlib
import json
import logging
import os
import random
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta

import httpx

import nbdurable as nd

MODEL = os.getenv("NEWSLETTER_MODEL", "gpt-4o-mini")
writer = nd.ai.openai(MODEL)
log = logging.getLogger("newsletter")
BATCH = 500


def fetch_feed(url: str) -> list[dict]:
    r = httpx.get(url, timeout=30)
    r.raise_for_status()
    return r.json()["items"]


def subscribers() -> list[str]:
    return httpx.get("http://crm.internal/api/subscribers?list=eng-blog", timeout=30).json()["emails"]


def send(batch: list[str], subject: str, html: str, campaign_id: str) -> int:
    key = nd.current_step().idempotency_key
    r = httpx.post(
        "http://mailer.internal/campaigns/send",
        json={"to": batch, "subject": subject, "html": html, "campaign": campaign_id},
        headers={"Idempotency-Key": key, "X-Api-Key": os.environ["MAILER_KEY"]},
        timeout=60,
    )
    return r.json()["accepted"]


@nd.function(id="weekly-newsletter", trigger="newsletter/weekly")
async def newsletter(ctx: nd.Context) -> dict:
    t0 = time.monotonic()
    s = ctx.step
    items: list[dict] = []
    for i, url in enumerate(ctx.event.data["feeds"]):
        items += await s.run(f"feed-{i}", fetch_feed, url)

    cutoff = s.now() - timedelta(days=7)
    fresh = [it for it in items if datetime.fromisoformat(it["published"]) >= cutoff]
    tags = Counter(t for it in fresh for t in it.get("tags", []))
    top_tags = [t for t, _ in tags.most_common(5)]
    authors = sorted({it["author"] for it in fresh})

    rng = random.Random(ctx.run_id)
    featured = rng.sample(fresh, k=min(3, len(fresh)))
    campaign_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"newsletter/{ctx.event.id}"))
    digest = hashlib.sha256(json.dumps([it["url"] for it in fresh], sort_keys=True).encode()).hexdigest()[:10]

    draft = await s.ai.infer(
        f"draft-{digest}",
        model=writer,
        body={
            "messages": [
                {"role": "system", "content": "Write a friendly HTML newsletter."},
                {"role": "user", "content": json.dumps({"featured": featured, "others": fresh, "authors": authors})},
            ]
        },
    )
    html = draft["choices"][0]["message"]["content"]
    emails = await s.run("subscribers", subscribers)
    subject = f"This week: {', '.join(top_tags)}" if top_tags else "This week on the blog"
    sent = 0
    for b, start in enumerate(range(0, len(emails), BATCH)):
        sent += await s.run(f"send-{b}", send, emails[start : start + BATCH], subject, html, campaign_id)
    log.info(
        "campaign %s: %d sent in %.1fs (pid %d, host %s)",
        campaign_id,
        sent,
        time.monotonic() - t0,
        os.getpid(),
        os.uname().nodename,
    )
    return {"campaign": campaign_id, "sent": sent, "authors": authors, "featured": [f["url"] for f in featured]}
