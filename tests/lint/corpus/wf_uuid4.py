# expect: ND205@12, ND205@13
"""uuid4 and uuid1 (also imported by name) make other ids on replay."""
import uuid
from uuid import uuid1

import nbdurable as nd


@nd.function(id="order", trigger="cart/checkout")
async def order(ctx):
    step = ctx.step
    order_id = str(uuid.uuid4())  # <- ND205
    trace = uuid1().hex  # <- ND205
    await step.run("charge", charge, ctx.event.data["cart"], order_id, trace)


def charge(cart, order_id, trace):
    return cart, order_id, trace
