"""Render a frame range on whichever farm node picked up the job, then upload and report."""

import locale
import os
import socket

import nbdurable as nd

CHUNK = 24


def render_frames(start: int, end: int, node: str, scratch: str) -> list[str]:
    import subprocess

    out = f"{scratch}/frames"
    subprocess.run(["blender", "-b", "scene.blend", "-o", f"{out}/####", "-s", str(start), "-e", str(end - 1), "-a"], check=True)
    return [f"{out}/{n:04d}.png" for n in range(start, end)]


def upload_frames(job: str, paths: list[str]) -> int:
    import boto3

    s3 = boto3.client("s3")
    for p in paths:
        s3.upload_file(p, "acme-renders", f"{job}/{os.path.basename(p)}")
    return len(paths)


def report(job: str, frames: int, lang: str) -> str:
    msg = {"de": "Bilder gerendert", "fr": "images rendues"}.get(lang[:2] if lang else "en", "frames rendered")
    return f"{job}: {frames:,} {msg}"


@nd.function(id="render-shard", trigger="render/shard.assigned")
async def render_shard(ctx: nd.Context) -> str:
    job = ctx.event.data["job"]
    frames = range(ctx.event.data["start"], ctx.event.data["end"])
    node = socket.gethostname()  # <- ND312
    scratch = os.environ.get("RENDER_SCRATCH", "/tmp/render")  # <- ND311
    ctx.logger.info("pid %d on %s rendering %d frames", os.getpid(), node, len(frames))
    paths: list[str] = []
    for start in range(frames.start, frames.stop, CHUNK):
        end = min(start + CHUNK, frames.stop)
        paths += await ctx.step.run(f"frames-{start}-{end}", render_frames, start, end, node, scratch)
    uploaded = await ctx.step.run("upload", upload_frames, job, paths)
    lang, _enc = locale.getlocale()  # <- ND312
    return await ctx.step.run("report", report, job, uploaded, lang or "en")
