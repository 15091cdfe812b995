"""Drain the thumbnail queue kept in Redis: render each pending job, mark it done, post a report."""

import json

import redis

import nbdurable as nd

r = redis.Redis.from_url("redis://cache.internal:6379/0", decode_responses=True)


def render_thumbnail(job: dict) -> str:
    from PIL import Image

    img = Image.open(job["src"])
    img.thumbnail((320, 320))
    out = job["src"].rsplit(".", 1)[0] + "_thumb.webp"
    img.save(out, "WEBP", quality=80)
    return out


def mark_done(job_id: str, thumb: str) -> None:
    pipe = r.pipeline()
    pipe.srem("thumbs:pending", job_id)
    pipe.hset(f"thumbs:job:{job_id}", "thumb", thumb)
    pipe.sadd("thumbs:done", job_id)
    pipe.execute()


def report_drain(seq: int, n: int) -> None:
    r.xadd("ops:reports", {"kind": "thumbs", "seq": seq, "n": n})


@nd.function(id="thumbnail-drain")
async def drain(ctx: nd.Context) -> int:
    pending = r.smembers("thumbs:pending")  # <- ND322
    seq = r.incr("thumbs:drain-seq")  # <- ND322
    for i, job_id in enumerate(sorted(pending)):
        raw = await ctx.step.run(f"get-{i}", r.get, f"thumbs:job:{job_id}")
        job = json.loads(raw)
        thumb = await ctx.step.run(f"render-{i}", render_thumbnail, job)
        await ctx.step.run(f"done-{i}", mark_done, job_id, thumb)
    await ctx.step.run(f"report-{seq}", report_drain, seq, len(pending))  # <- ND701
    return len(pending)


@nd.function(id="thumbnail-one", trigger="media/uploaded")
async def thumbnail_one(ctx: nd.Context) -> str:
    job_id = ctx.event.data["job_id"]
    raw = await ctx.step.run("get", r.get, f"thumbs:job:{job_id}")
    thumb = await ctx.step.run(f"render-{job_id}", render_thumbnail, json.loads(raw))
    await ctx.step.run(f"done-{job_id}", mark_done, job_id, thumb)
    return thumb
