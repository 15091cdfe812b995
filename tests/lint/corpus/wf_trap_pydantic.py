# expect: none
"""Models, dataclasses and plain data transforms in workflow code are deterministic."""
from dataclasses import asdict, dataclass

from pydantic import BaseModel

import nbdurable as nd


class Ticket(BaseModel):
    id: str
    body: str


@dataclass
class Summary:
    ticket_id: str
    words: int


@nd.function(id="models", trigger="go")
async def models(ctx):
    step = ctx.step
    ticket = Ticket.model_validate(ctx.event.data)
    words = await step.run("count", lambda: len(ticket.body.split()))
    summary = Summary(ticket.id, words)
    return await step.run("store", store, asdict(summary), ticket.model_dump())


def store(summary, ticket):
    return summary, ticket
