# expect: ND203@10
"""`from nbdurable import function as durable` is recognised as the workflow decorator."""
import secrets

from nbdurable import function as durable


@durable(id="aliased-decorator", trigger="go")
async def aliased(ctx):
    code = secrets.randbelow(10**6)  # <- ND203
    await ctx.step.run("send-code", send, ctx.event.data["phone"], code)


def send(phone, code):
    return phone, code
