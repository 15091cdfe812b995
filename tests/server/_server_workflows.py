"""Workflows the test server imports (c.NbDurable.function_modules), so their runs resume in the server process."""

from __future__ import annotations

import nbdurable as nd


@nd.function(id="served")
async def served(ctx: nd.Context) -> str:
    first = await ctx.step.run("first", lambda: "one")
    second = await ctx.step.run("second", lambda: "two")
    return f"{first}+{second}"


@nd.function(id="served-slow")
async def served_slow(ctx: nd.Context) -> str:
    await ctx.step.run("first", lambda: "one")
    await ctx.step.sleep("long", "120s")
    return "woke"
