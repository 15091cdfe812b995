# expect: ND301@15, ND301@16, ND301@18, ND301@19, ND301@20, ND301@21
"""More file-system reads: disk usage, images, dataframe readers, model weights."""
import os
import shutil

import polars as pl
import torch
from PIL import Image

import nbdurable as nd


@nd.function(id="files-more", trigger="go")
async def files_more(ctx):
    free = shutil.disk_usage("/data").free  # <- ND301
    with Image.open("photo.jpg") as im:  # <- ND301
        size = im.size
    frame = pl.read_csv("data.csv")  # <- ND301
    weights = torch.load("model.pt")  # <- ND301
    ok = os.access("/data/out", os.W_OK)  # <- ND301
    tool = shutil.which("ffmpeg")  # <- ND301
    return await ctx.step.run("use", use, free, size, frame.height, len(weights), ok, tool)


def use(*args):
    return args
