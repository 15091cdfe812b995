# expect: ND301@11, ND301@13, ND701@19
"""Loop indexes over a flagged listing are stable: only the listing is reported, not the step names."""
import os

import nbdurable as nd


@nd.function(id="index-names", trigger="go")
async def index_names(ctx):
    step = ctx.step
    for i, name in enumerate(os.listdir("inbox")):  # <- ND301
        await step.run(f"read-{i}", read, name)
    files = sorted(os.listdir("outbox"))  # <- ND301
    for n in range(len(files)):
        await step.run(f"send-{n}", send, files[n])
    for k, (path, size) in enumerate(zip(files, [1, 2, 3])):
        await step.run(f"size-{k}-{size}", read, path)
    for i, path in enumerate(files):
        await step.run(f"item-{path}", read, path)  # <- ND701
    return len(files)


def read(x):
    return x


def send(x):
    return x
