# expect: ND203@12, ND204@13
"""secrets and os.urandom make fresh values on every replay."""
import os
import secrets

import nbdurable as nd


@nd.function(id="invite", trigger="user/invited")
async def invite(ctx):
    step = ctx.step
    token = secrets.token_urlsafe(16)  # <- ND203
    salt = os.urandom(8)  # <- ND204
    await step.run("send-invite", send_invite, ctx.event.data["email"], token, salt.hex())


def send_invite(email, token, salt):
    return email, token, salt
