# expect: ND205@12
"""A workflow defined as a method of a class is found and checked too."""
import uuid

import nbdurable as nd


class Pipelines:
    @nd.function(id="method-flow", trigger="go")
    async def flow(self, ctx):
        step = ctx.step
        ticket = uuid.uuid4()  # <- ND205
        await step.run("open", self.open_ticket, str(ticket))

    def open_ticket(self, ticket):
        return ticket
