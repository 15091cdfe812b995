"""The scripted LLM server, driven by the official openai and anthropic clients over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest

from nbdurable.testing._llm_server import RecordedRequest, ScriptedLLMServer, error, reply, tool_call

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
CLAUDE = "claude-haiku-4-5"


def oai(server: ScriptedLLMServer) -> openai.OpenAI:
    return openai.OpenAI(api_key=OPENAI_KEY, base_url=server.openai_base_url, max_retries=0)


def ant(server: ScriptedLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=server.anthropic_base_url, max_retries=0)


USER = [{"role": "user", "content": "hello"}]


def test_openai_text_reply_with_usage_and_headers() -> None:
    with ScriptedLLMServer(script=[reply("Hi there!", usage=(11, 3))]) as server:
        out = oai(server).chat.completions.create(model="gpt-4o", messages=USER)
        assert out.choices[0].message.content == "Hi there!"
        assert out.choices[0].finish_reason == "stop"
        assert out.model == "gpt-4o"
        assert out.usage is not None
        assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (11, 3, 14)
        assert server.count == 1
        assert server.completed == 1
        seen = server.requests[0]
        assert seen.provider == "openai"
        assert seen.path == "/v1/chat/completions"
        assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
        assert seen.body["messages"] == USER
        assert seen.status == 200


def test_openai_parallel_tool_calls() -> None:
    script = [[tool_call("add", {"a": 1, "b": 2}, id="call_a"), tool_call("now", {}, id="call_b")]]
    with ScriptedLLMServer(script=script) as server:
        out = oai(server).chat.completions.create(model="gpt-4o", messages=USER)
    message = out.choices[0].message
    assert out.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]
    assert calls == [("call_a", "add", {"a": 1, "b": 2}), ("call_b", "now", {})]


def test_openai_streaming_text_and_usage() -> None:
    with ScriptedLLMServer(script=[reply("one two three", usage=(5, 3))]) as server:
        stream = oai(server).chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        assert server.requests[0].stream is True
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 3  # one chunk per word
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_openai_streaming_tool_calls_through_the_stream_helper() -> None:
    with ScriptedLLMServer(script=[[tool_call("lookup", {"q": "x" * 40}), tool_call("other", {"n": 2})]]) as server:
        client = oai(server)
        with client.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("lookup", {"q": "x" * 40}),
        ("other", {"n": 2}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_anthropic_text_and_tool_use() -> None:
    script = [reply("Hello from Claude", usage=(20, 4)), tool_call("search", {"query": "kittens"}, text="Let me look.")]
    with ScriptedLLMServer(script=script) as server:
        client = ant(server)
        first = client.messages.create(model=CLAUDE, max_tokens=100, messages=USER)
        second = client.messages.create(model=CLAUDE, max_tokens=100, messages=USER)
        seen = server.requests[0]
    assert first.content[0].type == "text"
    assert first.content[0].text == "Hello from Claude"
    assert first.stop_reason == "end_turn"
    assert (first.usage.input_tokens, first.usage.output_tokens) == (20, 4)
    assert [b.type for b in second.content] == ["text", "tool_use"]
    block = second.content[1]
    assert block.type == "tool_use"
    assert block.name == "search"
    assert block.input == {"query": "kittens"}
    assert second.stop_reason == "tool_use"
    assert seen.provider == "anthropic"
    assert seen.path == "/v1/messages"
    # The official client sends the key in a header; which one depends on its version.
    assert ANTHROPIC_KEY in (
        seen.headers.get("x-api-key"),
        seen.headers.get("authorization", "").removeprefix("Bearer "),
    )


def test_anthropic_streaming_text_and_tools() -> None:
    script = [reply("streamed claude words"), [tool_call("a", {"x": [1, 2, 3]}), tool_call("b", {})]]
    with ScriptedLLMServer(script=script) as server:
        client = ant(server)
        with client.messages.stream(model=CLAUDE, max_tokens=100, messages=USER) as stream:
            pieces = list(stream.text_stream)
            message = stream.get_final_message()
        events = list(client.messages.create(model=CLAUDE, max_tokens=100, messages=USER, stream=True))
    assert pieces == ["streamed ", "claude ", "words"]
    assert message.content[0].type == "text"
    assert message.content[0].text == "streamed claude words"
    assert message.usage.output_tokens >= 1
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds.count("content_block_start") == 2
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert all(d.delta.type == "input_json_delta" for d in deltas)


def test_async_clients_inside_a_running_loop() -> None:
    """The server is thread-based, so it serves code running on an event loop (a notebook kernel's)."""

    async def main(server: ScriptedLLMServer) -> tuple[str | None, str]:
        o = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=server.openai_base_url, max_retries=0)
        a = anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=server.anthropic_base_url, max_retries=0)
        r1, r2 = await asyncio.gather(
            o.chat.completions.create(model="gpt-4o", messages=USER),
            a.messages.create(model=CLAUDE, max_tokens=10, messages=USER),
        )
        block = r2.content[0]
        assert block.type == "text"
        return r1.choices[0].message.content, block.text

    with ScriptedLLMServer(script=lambda req: reply(f"{req.provider} says hi")) as server:
        assert asyncio.run(main(server)) == ("openai says hi", "anthropic says hi")
        assert server.count == 2


def test_injected_errors_do_not_consume_the_script() -> None:
    with ScriptedLLMServer(script=["after the storm"], errors={1: error(429, retry_after=3)}) as server:
        client = oai(server)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="gpt-4o", messages=USER)
        assert caught.value.status_code == 429
        assert caught.value.response.headers["retry-after"] == "3"
        out = client.chat.completions.create(model="gpt-4o", messages=USER)
        assert out.choices[0].message.content == "after the storm"
        assert [r.status for r in server.requests] == [429, 200]
        assert server.remaining == 0


def test_script_errors_in_both_formats() -> None:
    script = [error(500), error(400, "messages: too long"), error(529), error(400, "bad tool schema")]
    with ScriptedLLMServer(script=script) as server:
        client = oai(server)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(openai.BadRequestError, match="messages: too long"):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        claude = ant(server)
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=USER)
        assert overloaded.value.status_code == 529
        with pytest.raises(anthropic.BadRequestError, match="bad tool schema") as bad:
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=USER)
        assert bad.value.body == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "bad tool schema"},
        }


def test_api_key_is_checked_when_given() -> None:
    with ScriptedLLMServer(script=["ok"], api_key=OPENAI_KEY) as server:
        wrong = openai.OpenAI(api_key="sk-wrong-key-000000000000", base_url=server.openai_base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="gpt-4o", messages=USER)
        assert oai(server).chat.completions.create(model="gpt-4o", messages=USER).choices[0].message.content == "ok"


def test_by_turn_mode_answers_a_resent_request_the_same_way() -> None:
    with ScriptedLLMServer(script=[tool_call("t", {}, id="call_1"), "done"], mode="by_turn") as server:
        client = oai(server)
        for _ in range(2):  # the same first turn, sent twice (a crash and a resume)
            out = client.chat.completions.create(model="gpt-4o", messages=USER)
            assert out.choices[0].message.tool_calls is not None
        followup = [
            *USER,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "t", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ]
        out = client.chat.completions.create(model="gpt-4o", messages=followup)
        assert out.choices[0].message.content == "done"
        assert server.count == 3


def test_exhausted_script_and_malformed_conversations_get_400() -> None:
    with ScriptedLLMServer(script=[]) as server:
        client = oai(server)
        with pytest.raises(openai.BadRequestError, match="no answer for request #1"):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        orphan = [*USER, {"role": "tool", "tool_call_id": "call_x", "content": "1"}]
        with pytest.raises(openai.BadRequestError, match="must be a response to a preceding message"):
            client.chat.completions.create(model="gpt-4o", messages=orphan)
        claude = ant(server)
        unanswered = [
            *USER,
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}}]},
            {"role": "user", "content": "no results given"},
        ]
        with pytest.raises(anthropic.BadRequestError, match="without tool_result"):
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=unanswered)
        assert [r.status for r in server.requests] == [400, 400, 400]


def test_callable_script_sees_the_request() -> None:
    def answer(request: RecordedRequest) -> str:
        return f"#{request.number}: {request.messages[-1]['content'][::-1]}"

    with ScriptedLLMServer(script=answer) as server:
        client = oai(server)
        out = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "abc"}])
        assert out.choices[0].message.content == "#1: cba"


def test_standalone_process_with_a_json_script(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "script": [{"reply": "from another process"}, {"tool_calls": [{"name": "f", "args": {"x": 1}}]}],
                "errors": {"2": {"error": 503, "retry_after": 1}},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdurable.testing._llm_server", "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        base_url = info["base_url"]
        client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{base_url}/v1", max_retries=0)
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == (
            "from another process"
        )
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=USER)
        out = client.chat.completions.create(model="m", messages=USER)
        assert out.choices[0].message.tool_calls is not None
        seen = ScriptedLLMServer.fetch_requests(base_url)
        assert [r.status for r in seen] == [200, 503, 200]
        assert seen[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_stop_frees_the_port() -> None:
    server = ScriptedLLMServer(script=["x"]).start()
    url = server.openai_base_url
    server.stop()
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=url, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=USER)


def test_openai_responses_api_text_tool_calls_and_turns() -> None:
    script = [
        [tool_call("add", {"a": 1}, id="call_r1"), tool_call("now", {}, id="call_r2")],
        reply("Two.", usage=(9, 2)),
    ]
    with ScriptedLLMServer(script, mode="by_turn") as server:
        client = oai(server)
        first = client.responses.create(model="gpt-4o", input="add and tell the time")
        assert [(o.type, o.call_id, o.name) for o in first.output] == [  # type: ignore[union-attr]
            ("function_call", "call_r1", "add"),
            ("function_call", "call_r2", "now"),
        ]
        follow_up = [
            {"role": "user", "content": "add and tell the time"},
            *[o.model_dump(exclude_none=True) for o in first.output],
            {"type": "function_call_output", "call_id": "call_r1", "output": "2"},
            {"type": "function_call_output", "call_id": "call_r2", "output": "noon"},
        ]
        second = client.responses.create(model="gpt-4o", input=follow_up)
        assert second.output_text == "Two."
        assert second.usage is not None and (second.usage.input_tokens, second.usage.output_tokens) == (9, 2)
        assert [r.turn for r in server.requests] == [0, 1], "two function calls of one answer are one turn"
        assert server.requests[1].path == "/v1/responses" and server.requests[1].provider == "openai"
        with pytest.raises(openai.BadRequestError, match="call_unknown"):
            client.responses.create(
                model="gpt-4o", input=[{"type": "function_call_output", "call_id": "call_unknown", "output": "x"}]
            )
        with pytest.raises(openai.BadRequestError, match="streaming is not scripted"):
            client.responses.create(model="gpt-4o", input="hi", stream=True)
