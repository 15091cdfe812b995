"""Nightly: snapshot a Postgres database to S3, verify the dump, prune old snapshots."""

import datetime as dt
import os
import subprocess

import boto3
import nbdurable as nd

s3 = boto3.client("s3")
BUCKET = os.environ.get("BACKUP_BUCKET", "backups")


def dump(db: str, path: str) -> int:
    subprocess.run(["pg_dump", "-Fc", "-f", path, db], check=True)
    return os.path.getsize(path)


def upload(path: str, key: str) -> str:
    s3.upload_file(path, BUCKET, key)
    return key


def verify(path: str) -> bool:
    return subprocess.run(["pg_restore", "--list", path], capture_output=True).returncode == 0


@nd.function(id="backup", trigger="cron/nightly")
async def backup(ctx: nd.Context) -> dict:
    db = ctx.event.data["db"]
    day = ctx.step.now().strftime("%Y-%m-%d")
    path = f"/tmp/{db}-{day}.dump"
    size = await ctx.step.run("dump", dump, db, path)
    ok = await ctx.step.run("verify", verify, path)
    if not ok:
        raise RuntimeError(f"dump of {db} does not restore")
    key = await ctx.step.run("upload", upload, path, f"{db}/{day}.dump")
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{db}/")  # <- ND322
    keys = sorted(o["Key"] for o in listing.get("Contents", []))
    cutoff = (dt.date.today() - dt.timedelta(days=30)).isoformat()  # <- ND103
    old = [k for k in keys if k.split("/")[-1][:10] < cutoff]
    for i, k in enumerate(old):
        await ctx.step.run(f"prune-{i}", lambda k=k: s3.delete_object(Bucket=BUCKET, Key=k))
    os.remove(path)
    return {"key": key, "size": size, "pruned": len(old)}
