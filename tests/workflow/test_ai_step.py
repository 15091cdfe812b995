"""step.ai in a real workflow against the scripted server on loopback (real HTTP, real journal)."""

from __future__ import annotations

from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.testing import ScriptedLLMServer, error, reply


@pytest.mark.asyncio
async def test_rate_limits_are_retried_even_where_steps_default_to_no_retries(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-ai-step-0123456789")
    with ScriptedLLMServer([reply("fine")], errors={1: error(429, retry_after=0.05)}) as server:
        model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url)

        @nd.function(id="ai-retry", retries=0, lint="off")  # like a %%durable cell: no step retries
        async def wf(ctx: nd.Context) -> str:
            response = await ctx.step.ai.infer(
                "ask", model=model, body={"messages": [{"role": "user", "content": "hi"}]}
            )
            return str(response["choices"][0]["message"]["content"])

        assert await wf.run(run_id="ai-retry") == "fine"
        assert server.count == 2, "the 429 was retried once"
    (step,) = nd.get_engine().journal.load_steps("ai-retry")
    assert step.attempt == 1 and step.status == "completed"
    assert "sk-test-ai-step" not in journal_path.read_bytes().decode("latin-1")


@pytest.mark.asyncio
async def test_a_bad_request_is_not_retried(journal_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-ai-step-0123456789")
    with ScriptedLLMServer([reply("never")], errors={1: error(400, "bad messages")}) as server:
        model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url)

        @nd.function(id="ai-400", retries=5, lint="off")
        async def wf(ctx: nd.Context) -> None:
            await ctx.step.ai.infer("ask", model=model, body={"messages": [{"role": "user", "content": "hi"}]})

        with pytest.raises(nd.RunFailedError, match="bad messages"):
            await wf.run(run_id="ai-400")
        assert server.count == 1
