# expect: ND301@14, ND301@16, ND301@17
"""Listing a directory or checking that a file exists reads the file system."""
import glob
import os
from pathlib import Path

import nbdurable as nd


@nd.function(id="ingest", trigger="ingest/start")
async def ingest(ctx):
    step = ctx.step
    inbox = Path("inbox")
    if not inbox.exists():  # <- ND301
        return []
    names = os.listdir("inbox")  # <- ND301
    extra = glob.glob("inbox/*.csv")  # <- ND301
    return await step.run("ingest", ingest_files, names, extra)


def ingest_files(names, extra):
    return names + extra
