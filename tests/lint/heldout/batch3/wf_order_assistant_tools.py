"""Order-status assistant: a hand-rolled tool loop on the OpenAI SDK, each model turn journaled."""

from __future__ import annotations

import json
import os

import httpx
from openai import AsyncOpenAI

import nbdurable as nd

client = AsyncOpenAI()
getenv = os.environ.get
DEFAULT_MODEL = os.getenv("ASSISTANT_MODEL", "gpt-4o-mini")

ORDERS_API = "http://orders.internal:8080"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order by id",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "track_parcel",
            "description": "Tracking events for a parcel",
            "parameters": {
                "type": "object",
                "properties": {"tracking_no": {"type": "string"}},
                "required": ["tracking_no"],
            },
        },
    },
]


def get_order(order_id: str) -> dict:
    r = httpx.get(f"{ORDERS_API}/orders/{order_id}", timeout=10)
    r.raise_for_status()
    return r.json()


def track_parcel(tracking_no: str) -> dict:
    r = httpx.get(f"{ORDERS_API}/tracking/{tracking_no}", timeout=10)
    r.raise_for_status()
    return r.json()


HANDLERS = {"get_order": get_order, "track_parcel": track_parcel}


@nd.function(id="order-assistant", trigger="support/question")
async def order_assistant(ctx: nd.Context) -> str:
    # ops can force a bigger model while we debug a bad week
    model = getenv("ASSISTANT_MODEL_OVERRIDE") or DEFAULT_MODEL  # <- ND311
    max_turns = int(ctx.event.data.get("max_turns", 6))
    messages = [
        {"role": "system", "content": "You answer questions about orders. Use the tools, never guess."},
        {"role": "user", "content": ctx.event.data["question"]},
    ]
    for turn in range(max_turns):
        completion = await ctx.step.ai.wrap(
            f"turn-{turn}", client.chat.completions.create, model=model, messages=messages, tools=TOOLS
        )
        msg = completion.choices[0].message
        messages.append(msg.model_dump(exclude_none=True))
        if not msg.tool_calls:
            return msg.content or ""
        for k, call in enumerate(msg.tool_calls):
            args = json.loads(call.function.arguments)
            handler = HANDLERS[call.function.name]
            result = await ctx.step.run(f"tool-{turn}-{call.function.name}-{k}", handler, **args)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result, sort_keys=True)}
            )
    ctx.logger.warning("gave up after %d turns (model %s)", max_turns, model)
    return "I could not finish in time; a human will follow up."
