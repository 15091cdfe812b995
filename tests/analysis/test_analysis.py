"""Runs as data: nd.runs_frame, nd.steps_frame and nd.compare over a real journal and real AI steps on loopback."""

from __future__ import annotations

import html.parser
from pathlib import Path
from typing import Any

import genai_prices
import pandas as pd
import pytest

import nbdurable as nd
from nbdurable.testing import ScriptedLLMServer, reply

USER = "What should I cook?"


def listed(model: str, tokens_in: int, tokens_out: int) -> float:
    usage = genai_prices.Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    return float(genai_prices.calc_price(usage, model, provider_id="openai").total_price)


async def two_agent_runs(server: ScriptedLLMServer) -> tuple[str, str]:
    """One workflow run twice with two prompts: a lookup, an AI call, a formatting step."""
    model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url, api_key_env=None)

    @nd.function(id="cook", retries=2, lint="off")
    async def cook(ctx: nd.Context) -> str:
        pantry = await ctx.step.run("pantry", lambda: ["rice", "eggs"])
        prompt = f"{ctx.event.data['style']}: {USER} I have {', '.join(pantry)}."
        answer = await ctx.step.ai.infer("ask", model=model, body={"messages": [{"role": "user", "content": prompt}]})
        text = str(answer["choices"][0]["message"]["content"])
        return await ctx.step.run("format", str.upper, text)

    await cook.run(data={"style": "short"}, run_id="run-a")
    await cook.run(data={"style": "fancy"}, run_id="run-b")
    return "run-a", "run-b"


@pytest.mark.asyncio
async def test_steps_frame_has_one_row_per_step_with_tokens_and_cost(journal_path: Path) -> None:
    with ScriptedLLMServer([reply("fried rice", usage=(120, 30)), reply("egg fried rice", usage=(150, 45))]) as server:
        a, b = await two_agent_runs(server)
    steps = nd.steps_frame(a)
    assert list(steps["name"]) == ["pantry", "ask", "format"]
    assert set(steps["run_id"]) == {a}
    ask = steps[steps["kind"] == "ai"].iloc[0]
    assert (ask["model"], ask["provider"], ask["tokens_in"], ask["tokens_out"]) == ("gpt-4o-mini", "openai", 120, 30)
    assert ask["cost"] == pytest.approx(listed("gpt-4o-mini", 120, 30))
    assert ask["price_source"] == f"genai-prices {genai_prices.__version__}"
    assert "fancy" not in ask["input"] and "short" in ask["input"]
    assert steps.iloc[2]["output"] == '"FRIED RICE"'
    assert list(steps["attempts"]) == [1, 1, 1]
    assert not steps["replayed"].any()
    assert isinstance(steps["started_at"].dtype, pd.ArrowDtype)  # Arrow-backed columns
    assert str(steps["started_at"].dtype.pyarrow_dtype) == "timestamp[ns, tz=UTC]"
    assert (steps["duration"].dropna() >= pd.Timedelta(0)).all()
    both = nd.steps_frame(function_id="cook")
    assert len(both) == 6 and set(both["run_id"]) == {a, b}
    assert len(nd.steps_frame(function_id="nothing-like-it")) == 0


@pytest.mark.asyncio
async def test_runs_frame_has_one_row_per_run_with_totals_and_filters(journal_path: Path) -> None:
    with ScriptedLLMServer([reply("one", usage=(100, 10)), reply("two", usage=(200, 20))]) as server:
        a, b = await two_agent_runs(server)

    @nd.function(id="breaks", lint="off")
    async def breaks(ctx: nd.Context) -> None:
        await ctx.step.run("boom", lambda: 1 / 0)

    with pytest.raises(nd.RunFailedError):
        await breaks.run(run_id="run-c")
    runs = nd.runs_frame()
    assert list(runs["run_id"]) == ["run-c", b, a]  # newest first, as nd.runs()
    row = runs.set_index("run_id").loc[b]
    assert (row["function_id"], row["status"], row["trigger"], row["attempts"]) == ("cook", "completed", "cook/run", 1)
    assert (row["steps"], row["steps_done"], row["ai_steps"], row["models"]) == (3, 3, 1, "gpt-4o-mini")
    assert (row["tokens_in"], row["tokens_out"]) == (200, 20)
    assert row["cost"] == pytest.approx(listed("gpt-4o-mini", 200, 20))
    assert row["duration"] > pd.Timedelta(0)
    failed = runs.set_index("run_id").loc["run-c"]
    assert (failed["status"], failed["error_type"], failed["steps_failed"]) == ("failed", "ZeroDivisionError", 1)
    assert pd.isna(failed["cost"])  # no AI step: no cost, not zero
    assert list(nd.runs_frame(status="failed")["run_id"]) == ["run-c"]
    assert list(nd.runs_frame(function_id="cook", limit=1)["run_id"]) == [b]


@pytest.mark.asyncio
async def test_replayed_steps_are_marked_in_the_frames(journal_path: Path) -> None:
    calls: list[int] = []
    broken = {"yes": True}

    @nd.function(id="twice", lint="off")
    async def twice(ctx: nd.Context) -> int:
        first = await ctx.step.run("first", lambda: calls.append(1) or len(calls))
        if broken["yes"]:
            raise RuntimeError("stop after the first step")
        return int(await ctx.step.run("second", lambda: first + 1))

    with pytest.raises(nd.RunFailedError):
        await twice.run(run_id="t")
    broken["yes"] = False
    await nd.get_run("t").resume().result()
    steps = nd.steps_frame("t")
    assert list(zip(steps["name"], steps["replayed"], strict=True)) == [("first", True), ("second", False)]
    assert nd.runs_frame().set_index("run_id").loc["t", "replayed"] == 1
    assert calls == [1]


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.asyncio
async def test_compare_pairs_steps_and_highlights_what_differs(journal_path: Path) -> None:
    with ScriptedLLMServer([reply("rice <b>", usage=(100, 10)), reply("eggs", usage=(300, 50))]) as server:
        a, b = await two_agent_runs(server)
    cmp = nd.compare(a, nd.get_run(b))
    assert [p.name for p in cmp.steps] == ["pantry", "ask", "format"]
    pantry, ask, fmt = cmp.steps
    assert pantry.differs == frozenset()  # same input, same output
    assert {"input", "output", "tokens_in", "tokens_out", "cost"} <= ask.differs
    assert "status" not in ask.differs and "model" not in ask.differs
    assert fmt.differs == {"input", "output"}
    assert cmp.differing == ["ask", "format"]
    ta, tb = cmp.totals("a"), cmp.totals("b")
    assert (ta["tokens_in"], tb["tokens_in"], ta["steps"]) == (100, 300, 3)
    assert tb["cost"] == pytest.approx(listed("gpt-4o-mini", 300, 50))

    page = cmp._repr_html_()
    parser = _Tags()
    parser.feed(page)
    names = [t for t, _ in parser.tags]
    assert "script" not in names and not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    assert "rice &lt;b&gt;" in page and "<b>" not in page  # model output is text, never markup
    changed = [attrs for tag, attrs in parser.tags if tag == "tr" and "nbd-cmp-changed" in (attrs.get("class") or "")]
    assert len(changed) == 2
    assert page.count("nbd-cmp-differs") >= 2 * 4  # input, output, tokens and cost on both sides of "ask"
    assert "2 of 3 steps differ" in page
    text = str(cmp)
    assert "≠ ask" in text and "= pantry" in text and "tokens 300 in / 50 out" in text

    frame = cmp.frame
    assert list(frame["side"]) == ["a", "a", "a", "b", "b", "b"] or sorted(frame["side"]) == ["a"] * 3 + ["b"] * 3
    assert set(frame[frame["name"] == "pantry"]["differs"].isna()) == {True}


@pytest.mark.asyncio
async def test_compare_shows_steps_only_one_run_has(journal_path: Path) -> None:
    @nd.function(id="branchy", lint="off")
    async def branchy(ctx: nd.Context) -> None:
        await ctx.step.run("common", lambda: 1)
        if ctx.event.data["extra"]:
            await ctx.step.run("extra", lambda: 2)

    await branchy.run(data={"extra": False}, run_id="short")
    await branchy.run(data={"extra": True}, run_id="long")
    cmp = nd.compare("short", "long")
    assert [(p.name, p.a is None, p.b is None) for p in cmp.steps] == [("common", False, False), ("extra", True, False)]
    assert cmp.steps[1].differs == {"missing"}
    assert "not in this run" in cmp._repr_html_()
    with pytest.raises(nd.ConfigError, match="no run 'nope'"):
        nd.compare("short", "nope")
    with pytest.raises(nd.ConfigError, match="two run ids or run handles"):
        nd.compare("short", 42)  # type: ignore[arg-type]
