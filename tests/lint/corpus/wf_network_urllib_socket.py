# expect: ND321@12, ND321@13
"""urllib.request.urlopen and socket connections are network I/O."""
import socket
import urllib.request

import nbdurable as nd


@nd.function(id="probe", trigger="probe")
async def probe(ctx):
    step = ctx.step
    body = urllib.request.urlopen("https://status.invalid").read()  # <- ND321
    conn = socket.create_connection(("db.invalid", 5432), timeout=1)  # <- ND321
    conn.close()
    await step.run("record", record, body)


def record(body):
    return body
