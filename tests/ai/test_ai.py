"""The AI provider layer: one HTTP call per attempt, errors mapped for the retry loop, usage, cost, redaction."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.utils
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import genai_prices
import openai
import pytest

import nbdurable.ai as _ai
from nbdurable._errors import ConfigError, NonRetriableError, RetryAfterError
from nbdurable.ai import _http, _models, _prices
from nbdurable.ai._adapter import StreamError, adapter_for
from nbdurable.ai._anthropic import ANTHROPIC, AnthropicStream
from nbdurable.ai._openai import OPENAI
from nbdurable.testing._llm_server import ScriptedLLMServer, error, reply, tool_call

OPENAI_KEY = "sk-test-openai-KNOWN-4f9a2b7c1d"
ANTHROPIC_KEY = "ant-test-KNOWN-77e1c0ffee99"
CLAUDE = "claude-haiku-4-5"
USER = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


def gpt(server: ScriptedLLMServer, name: str = "gpt-4o") -> _ai.Model:
    return _ai.openai(name, base_url=server.openai_base_url)


def claude(server: ScriptedLLMServer, name: str = CLAUDE) -> _ai.Model:
    return _ai.anthropic(name, base_url=server.anthropic_base_url)


def infer(model: _ai.Model, body: dict[str, Any] | None = None, **kwargs: Any) -> _ai.AICall:
    return asyncio.run(_http.infer(model, body or {"messages": USER}, **kwargs))


def listed(provider: str, model: str, **usage: int) -> float:
    """The cost genai-prices itself gives for this usage (input_tokens counting cache reads and writes)."""
    return float(genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider).total_price)


# --------------------------------------------------------------------------- models


def test_model_helpers_hold_the_variable_name_not_the_key() -> None:
    m = _ai.openai("gpt-4o")
    assert (m.provider, m.model, m.base_url, m.api_key_env) == (
        "openai",
        "gpt-4o",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
    )
    assert m.url == "https://api.openai.com/v1/chat/completions"
    a = _ai.anthropic("claude-x", base_url="http://127.0.0.1:9/")
    assert a.url == "http://127.0.0.1:9/v1/messages"
    assert OPENAI_KEY not in repr(m) + json.dumps(dataclasses.asdict(m))
    local = _ai.openai("llama3", base_url="http://127.0.0.1:11434/v1", api_key_env=None)
    assert local.api_key_env is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": ""}, "non-empty"),
        ({"model": "m", "base_url": "ftp://x"}, "not an http"),
        ({"model": "m", "api_key_env": "sk-abc-123-not-a-name"}, "variable's NAME"),
    ],
)
def test_model_helpers_reject_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _ai.openai(**kwargs)


# --------------------------------------------------------------------------- infer: success


def test_infer_openai(server: ScriptedLLMServer) -> None:
    server.add(reply("4", usage=(1000, 500)))
    call = infer(gpt(server), {"messages": USER, "temperature": 0})
    assert call.provider == "openai"
    assert call.model == "gpt-4o"
    assert call.response["choices"][0]["message"]["content"] == "4"
    assert (call.tokens_in, call.tokens_out) == (1000, 500)
    assert call.cost == pytest.approx(listed("openai", "gpt-4o", input_tokens=1000, output_tokens=500))
    assert call.cost > 0
    assert call.price is not None
    assert call.price["source"] == f"genai-prices {genai_prices.__version__}"
    assert (call.price["provider"], call.price["model"]) == ("openai", "gpt-4o")
    assert call.price["as_of"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert call.finish_reason == "stop"
    assert call.latency is not None
    assert 0 < call.latency < 10
    assert call.request == {"messages": USER, "temperature": 0, "model": "gpt-4o"}
    assert call.streamed is False
    seen = server.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert seen.body == {"messages": USER, "temperature": 0, "model": "gpt-4o"}


def test_infer_anthropic(server: ScriptedLLMServer) -> None:
    server.add(tool_call("calc", {"expr": "2+2"}, usage=(200, 10)))
    call = infer(claude(server), {"messages": USER, "system": "Be exact."})
    seen = server.requests[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY
    assert seen.headers["anthropic-version"] == _models.ANTHROPIC_VERSION
    assert "authorization" not in seen.headers
    assert seen.body["max_tokens"] == _models.DEFAULT_ANTHROPIC_MAX_TOKENS  # required by the API, filled in
    assert call.provider == "anthropic"
    assert call.finish_reason == "tool_use"
    assert call.response["content"][0]["input"] == {"expr": "2+2"}
    assert (call.tokens_in, call.tokens_out) == (200, 10)
    assert call.cost == pytest.approx(listed("anthropic", CLAUDE, input_tokens=200, output_tokens=10))


def test_infer_without_a_key_for_local_servers(server: ScriptedLLMServer) -> None:
    server.add("local answer")
    call = infer(_ai.openai("llama3", base_url=server.openai_base_url, api_key_env=None))
    assert "authorization" not in server.requests[0].headers
    assert call.response["choices"][0]["message"]["content"] == "local answer"
    assert call.cost is None  # a model without a price has an unknown cost, not zero
    assert call.price is None
    assert call.tokens_in is not None


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_streaming_calls_on_delta_and_returns_the_normal_shape(server: ScriptedLLMServer, provider: str) -> None:
    model = gpt(server) if provider == "openai" else claude(server)
    server.add(reply("two plus two is four", usage=(30, 6)), reply("two plus two is four", usage=(30, 6)))
    deltas: list[str] = []
    streamed = infer(model, stream=True, on_delta=deltas.append)
    plain = infer(model)
    assert deltas == ["two ", "plus ", "two ", "is ", "four"]
    assert server.requests[0].body["stream"] is True
    assert "stream" not in server.requests[1].body
    if provider == "openai":
        assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert streamed.streamed is True
    assert (streamed.tokens_in, streamed.tokens_out, streamed.finish_reason) == (30, 6, plain.finish_reason)
    assert streamed.cost == plain.cost is not None

    def shape(response: dict[str, Any]) -> Any:
        drop = {"id", "created"}
        return {k: v for k, v in response.items() if k not in drop}

    assert shape(streamed.response) == shape(plain.response)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_streamed_tool_calls_assemble_like_unstreamed_ones(server: ScriptedLLMServer, provider: str) -> None:
    model = gpt(server) if provider == "openai" else claude(server)
    calls = [tool_call("search", {"q": "durable execution", "k": 3}, id="id_1"), tool_call("noop", {}, id="id_2")]
    server.add(calls, calls)
    deltas: list[str] = []
    streamed = infer(model, stream=True, on_delta=deltas.append).response
    plain = infer(model).response
    assert deltas == []
    if provider == "openai":
        assert streamed["choices"][0]["message"]["tool_calls"] == plain["choices"][0]["message"]["tool_calls"]
        assert streamed["choices"][0]["finish_reason"] == "tool_calls"
    else:
        assert streamed["content"] == plain["content"]
        assert streamed["content"][0]["input"] == {"q": "durable execution", "k": 3}


def test_a_failing_stream_callback_does_not_fail_the_call(server: ScriptedLLMServer) -> None:
    server.add("fine")

    def broken(_text: str) -> None:
        raise RuntimeError("widget gone")

    with pytest.warns(RuntimeWarning, match="widget gone"):
        call = infer(gpt(server), stream=True, on_delta=broken)
    assert call.response["choices"][0]["message"]["content"] == "fine"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_cut_short_is_retriable(server: ScriptedLLMServer, provider: str) -> None:
    model = gpt(server) if provider == "openai" else claude(server)
    server.add(reply("one two three four five six seven", cut_after=5))
    deltas: list[str] = []
    with pytest.raises(RetryAfterError, match="closed the stream before the response was complete"):
        infer(model, stream=True, on_delta=deltas.append)
    assert deltas  # some tokens arrived before the cut


def test_error_events_inside_a_stream() -> None:
    overloaded = AnthropicStream(None)
    overloaded.feed("message_start", json.dumps({"type": "message_start", "message": {"id": "m", "content": []}}))
    with pytest.raises(StreamError, match="Overloaded") as caught:
        overloaded.feed(
            "error", json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )
    assert caught.value.retriable is True
    invalid = AnthropicStream(None)
    with pytest.raises(StreamError) as caught:
        invalid.feed(
            "error", json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "no"}})
        )
    assert caught.value.retriable is False


def test_each_provider_is_one_adapter_and_its_wire_format_lives_there() -> None:
    assert adapter_for("openai") is OPENAI
    assert adapter_for("anthropic") is ANTHROPIC
    assert adapter_for("mistral") is None
    with pytest.raises(ConfigError, match="unknown provider 'mistral'"):
        _models.Model("mistral", "m", "http://127.0.0.1:1", None)
    gpt, claude = _ai.openai("gpt-x", api_key_env=None), _ai.anthropic("claude-x", api_key_env=None)
    assert gpt.url == "https://api.openai.com/v1/chat/completions"
    assert claude.url == "https://api.anthropic.com/v1/messages"
    assert OPENAI.headers(gpt, "k")["authorization"] == "Bearer k"
    assert ANTHROPIC.headers(claude, "k")["x-api-key"] == "k"
    assert "x-api-key" not in ANTHROPIC.headers(claude, None)
    sent: dict[str, object] = {"model": "m", "stream": True}
    ANTHROPIC.prepare(sent, stream=False)
    assert sent == {"model": "m", "max_tokens": 4096}
    sent = {"model": "m"}
    OPENAI.prepare(sent, stream=True)
    assert sent == {"model": "m", "stream": True, "stream_options": {"include_usage": True}}


def test_sse_parser_handles_comments_multiline_data_and_crlf() -> None:
    parser = _http._SSE()
    lines = [": keep-alive", "event: message_delta", 'data: {"a":', "data: 1}", "", "", "data:[DONE]", ""]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert events == [("message_delta", '{"a":\n1}'), (None, "[DONE]")]


# --------------------------------------------------------------------------- infer: errors


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_429_retry_after_seconds(server: ScriptedLLMServer, provider: str) -> None:
    model = gpt(server) if provider == "openai" else claude(server)
    server.add(error(429, "Rate limit reached for requests", retry_after=7))
    with pytest.raises(RetryAfterError, match="Rate limit reached") as caught:
        infer(model)
    assert caught.value.delay == 7.0
    assert "429" in str(caught.value)


def test_429_retry_after_http_date_and_default(server: ScriptedLLMServer) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.add(error(429, retry_after=when), error(429))
    with pytest.raises(RetryAfterError) as dated:
        infer(gpt(server))
    assert isinstance(dated.value.delay, float)
    assert 25 <= dated.value.delay <= 31
    with pytest.raises(RetryAfterError) as default:
        infer(gpt(server))
    assert default.value.delay == _http.RATE_LIMIT_DELAY


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_server_errors_are_retriable(server: ScriptedLLMServer, status: int) -> None:
    server.add(error(status, "upstream trouble"))
    with pytest.raises(RetryAfterError, match=f"{status}.*upstream trouble") as caught:
        infer(claude(server))
    assert caught.value.delay == _http.SERVER_ERROR_DELAY


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_400_fails_at_once_with_the_providers_message(server: ScriptedLLMServer, provider: str) -> None:
    model = gpt(server) if provider == "openai" else claude(server)
    server.add(error(400, "Invalid value for 'temperature': must be <= 2"))
    with pytest.raises(NonRetriableError) as caught:
        infer(model, {"messages": USER, "temperature": 9})
    text = str(caught.value)
    assert "400" in text
    assert "Invalid value for 'temperature': must be <= 2" in text
    assert "Retrying will not help" in text


def test_401_names_the_key_variable_and_never_echoes_the_key(server: ScriptedLLMServer) -> None:
    # Providers echo part of a bad key; a whole one must never reach an error message (they get journaled).
    server.add(error(401, f"Incorrect API key provided: {OPENAI_KEY}."), error(404, "The model 'gpt-9' does not exist"))
    with pytest.raises(NonRetriableError) as caught:
        infer(gpt(server))
    assert "$OPENAI_API_KEY" in str(caught.value)
    assert OPENAI_KEY not in str(caught.value)
    with pytest.raises(NonRetriableError, match=r"does not exist.*check the model name"):
        infer(gpt(server, "gpt-9"))


def test_missing_key_variable_is_a_config_error_before_any_request(
    server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY, which is not set"):
        infer(claude(server))
    with pytest.raises(ConfigError, match="MY_TEAM_KEY") as caught:
        infer(_ai.openai("gpt-4o", base_url=server.openai_base_url, api_key_env="MY_TEAM_KEY"))
    assert isinstance(caught.value, NonRetriableError)  # the step fails at once instead of retrying
    with pytest.raises(NonRetriableError, match="body must be a dict"):
        asyncio.run(_http.infer(gpt(server), [{"role": "user", "content": "hi"}]))  # type: ignore[arg-type]
    assert server.count == 0


def test_connection_refused_is_retriable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryAfterError, match="could not be reached") as caught:
        infer(_ai.openai("gpt-4o", base_url=f"http://127.0.0.1:{port}/v1"))
    assert caught.value.delay == _http.CONNECTION_ERROR_DELAY


def test_timeout_is_retriable(server: ScriptedLLMServer) -> None:
    server.add(reply("slow", delay=1.0))
    with pytest.raises(RetryAfterError, match=r"did not answer within 0\.2s"):
        infer(gpt(server), timeout=0.2)


# --------------------------------------------------------------------------- extract (step.ai.wrap)


def test_extract_from_official_sdk_objects(server: ScriptedLLMServer) -> None:
    server.add(reply("sdk text", usage=(40, 8)), reply("claude text", usage=(50, 9)))
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=server.openai_base_url, max_retries=0)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    got = _ai.extract(completion)
    assert (got.provider, got.model, got.tokens_in, got.tokens_out, got.finish_reason) == (
        "openai",
        "gpt-4o-mini",
        40,
        8,
        "stop",
    )
    assert got.cost == pytest.approx(listed("openai", "gpt-4o-mini", input_tokens=40, output_tokens=8))
    assert got.response["choices"][0]["message"]["content"] == "sdk text"
    json.dumps(dataclasses.asdict(got))  # JSON-serializable as journaled

    message = anthropic.Anthropic(
        api_key=ANTHROPIC_KEY, base_url=server.anthropic_base_url, max_retries=0
    ).messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=USER,
    )
    got = _ai.extract(message, request={"model": CLAUDE, "messages": USER, "api_key": ANTHROPIC_KEY}, latency=0.5)
    assert (got.provider, got.model, got.tokens_in, got.tokens_out, got.finish_reason) == (
        "anthropic",
        CLAUDE,
        50,
        9,
        "end_turn",
    )
    assert got.latency == 0.5
    assert got.request is not None
    assert got.request["api_key"] == _models.REDACTED
    assert ANTHROPIC_KEY not in json.dumps(dataclasses.asdict(got))


def test_extract_from_async_sdk_and_anything_else(server: ScriptedLLMServer) -> None:
    server.add("async one")

    async def call() -> Any:
        client = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=server.openai_base_url, max_retries=0)
        return await client.chat.completions.create(model="gpt-4.1", messages=USER)

    got = _ai.extract(asyncio.run(call()))
    assert got.model == "gpt-4.1"
    assert got.tokens_out is not None

    plain = _ai.extract("just a string", model="fallback-model")
    assert (plain.response, plain.model, plain.tokens_in, plain.cost, plain.provider) == (
        "just a string",
        "fallback-model",
        None,
        None,
        None,
    )
    odd = _ai.extract(object())
    assert isinstance(odd.response, str)


def test_extract_counts_cached_tokens_at_their_price() -> None:
    anthropic_usage = {
        "type": "message",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 50,
        },
    }
    got = _ai.extract(anthropic_usage)
    assert (got.tokens_in, got.cache_read_tokens, got.cache_write_tokens) == (1300, 1000, 200)
    assert got.cost == pytest.approx(
        listed(
            "anthropic",
            "claude-sonnet-4-5",
            input_tokens=1300,
            cache_read_tokens=1000,
            cache_write_tokens=200,
            output_tokens=50,
        )
    )
    # Cache reads cost less than fresh input: the cached tokens were priced as such.
    assert got.cost < listed("anthropic", "claude-sonnet-4-5", input_tokens=1300, output_tokens=50)
    openai_usage = {
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"finish_reason": "length", "message": {"content": "x"}}],
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 800},
            "completion_tokens_details": {"reasoning_tokens": 6},
        },
    }
    got = _ai.extract(openai_usage)
    assert (got.tokens_in, got.finish_reason, got.cache_read_tokens, got.reasoning_tokens) == (1000, "length", 800, 6)
    assert got.cost == pytest.approx(
        listed("openai", "gpt-4o-2024-08-06", input_tokens=1000, cache_read_tokens=800, output_tokens=10)
    )
    assert got.cost < listed("openai", "gpt-4o-2024-08-06", input_tokens=1000, output_tokens=10)


# --------------------------------------------------------------------------- pricing


def test_price_table() -> None:
    assert _ai.price("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(
        listed("openai", "gpt-4o", input_tokens=1_000_000, output_tokens=1_000_000)
    )
    # Dated snapshots have prices; one priced apart from its family keeps its own.
    assert _ai.price("gpt-4o-2024-11-20", 1_000_000, 0) == _ai.price("gpt-4o", 1_000_000, 0)
    assert _ai.price("gpt-4o-2024-05-13", 1_000_000, 0) == pytest.approx(
        listed("openai", "gpt-4o-2024-05-13", input_tokens=1_000_000)
    )
    assert _ai.price("claude-sonnet-4-5-20250929", 0, 1_000_000) == pytest.approx(
        listed("anthropic", "claude-sonnet-4-5", output_tokens=1_000_000)
    )
    assert _ai.price("gpt-4o-mini", 1_000_000, 0) != _ai.price("gpt-4o", 1_000_000, 0)  # not gpt-4o's price
    assert _ai.price("some-local-model", 10, 10) is None
    assert _ai.price("gpt-5.9-imaginary", 10, 10) is None  # no guessing from a prefix
    assert _ai.price("gpt-4o-mini-scripted", 10, 10) is None
    assert _ai.price("gpt-4o", 10, 10, provider="no-such-provider") is None
    assert _ai.price("gpt-4o", None, 10) is None
    assert _ai.price(None, 10, 10) is None
    assert _ai.price("gpt-4o", 0, 0) == 0.0


def test_prices_come_from_genai_prices_in_force_at_the_call() -> None:
    assert _ai.prices_source() == f"genai-prices {genai_prices.__version__}"
    usage = _prices.Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=600)
    when = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.timezone.utc)
    got = _prices.quote("anthropic", "claude-sonnet-4-5", usage, when=when)
    calc = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=600),
        "claude-sonnet-4-5",
        provider_id="anthropic",
        genai_request_timestamp=when,
    )
    assert got.cost == pytest.approx(float(calc.total_price))
    assert (got.as_of, got.model, got.provider) == ("2026-01-15", calc.model.id, "anthropic")
    assert got.as_meta() == {
        "source": _ai.prices_source(),
        "as_of": "2026-01-15",
        "model": calc.model.id,
        "provider": "anthropic",
    }
    assert _prices.quote("openai", "no-such-model", usage) == _prices.Quote(None)
    assert _prices.quote("openai", "gpt-4o", None).cost is None


def test_set_price_for_models_genai_prices_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_prices, "_USER_PRICES", {})
    assert _ai.price("my-finetune", 1_000_000, 1_000_000) is None
    _ai.register_price("my-finetune", 1.0, 2.0)
    assert _ai.price("my-finetune", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert _ai.price("my-finetune-2025-01-01", 1_000_000, 0) == pytest.approx(1.0)
    _ai.register_price("gpt-4o", 0, 0)  # users can override genai-prices
    assert _ai.price("gpt-4o", 1000, 1000) == 0.0
    _ai.set_price("llama3", input=0.5, output=1.5, cache_read=0.1, provider="openai", as_of="2026-02-01")
    got = _prices.quote("openai", "llama3", _prices.Usage(1_000_000, 1_000_000, cache_read_tokens=500_000))
    assert got.cost == pytest.approx(0.25 + 0.05 + 1.5)
    assert got.as_meta() == {
        "source": "nd.ai.set_price",
        "as_of": "2026-02-01",
        "model": "llama3",
        "provider": "openai",
    }
    assert _prices.quote("anthropic", "llama3", _prices.Usage(10, 10)).cost is None  # priced for openai only
    for bad in (-1, float("nan"), "3"):
        with pytest.raises(ConfigError, match="non-negative"):
            _ai.register_price("x", bad, 1)
    with pytest.raises(ConfigError, match="as_of must be a date"):
        _ai.set_price("x", input=1, output=1, as_of="last tuesday")
    with pytest.raises(ConfigError, match="non-empty string"):
        _ai.set_price(" ", input=1, output=1)


def test_a_local_server_model_priced_by_the_user_costs_its_price(
    server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_prices, "_USER_PRICES", {})
    _ai.set_price("llama3", input=0, output=0, provider="openai")
    server.add(reply("local", usage=(30, 5)))
    call = infer(_ai.openai("llama3", base_url=server.openai_base_url, api_key_env=None))
    assert call.cost == 0.0
    assert call.price is not None and call.price["source"] == "nd.ai.set_price"


# --------------------------------------------------------------------------- redaction


def test_redact_removes_credentials_everywhere() -> None:
    _ai.register_secret("extra-secret-value-123")
    data = {
        "api_key": "whatever",
        "headers": {"Authorization": "Bearer abcdefghijkl", "X-Api-Key": "k", "accept": "json"},
        "prose": "the bearer of this letter, Bearer short",
        "messages": [{"role": "user", "content": f"my key is {OPENAI_KEY} and extra-secret-value-123"}],
        "max_tokens": 10,
        "nested": ("Bearer zyxwvutsrqponm0123", "sk-proj-abcdefghijklmnopqrstu"),
        "prompt_tokens": 5,
    }
    out = _ai.redact(data)
    text = json.dumps(out)
    for secret in ("whatever", "abcdefghijkl", OPENAI_KEY, "extra-secret-value-123", "zyxwvutsrqponm", "sk-proj-abc"):
        assert secret not in text
    assert out["prose"] == data["prose"]
    assert out["max_tokens"] == 10
    assert out["prompt_tokens"] == 5
    assert out["headers"]["accept"] == "json"
    assert out["messages"][0]["content"] == f"my key is {_models.REDACTED} and {_models.REDACTED}"
    assert data["api_key"] == "whatever"  # a copy; the input is untouched


def test_the_key_appears_nowhere_in_the_journaled_call(server: ScriptedLLMServer) -> None:
    # Even when the prompt and the answer contain it.
    server.add(reply(f"you said {OPENAI_KEY}"), reply(f"you said {ANTHROPIC_KEY}"))
    body = {"messages": [{"role": "user", "content": f"repeat {OPENAI_KEY}"}], "metadata": {"api_key": OPENAI_KEY}}
    calls = [
        infer(gpt(server), body),
        infer(claude(server), {"messages": [{"role": "user", "content": ANTHROPIC_KEY}]}),
    ]
    for call in calls:
        text = json.dumps(dataclasses.asdict(call))
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
    # The provider did get the key (in its header), and the prompt as written.
    assert server.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert server.requests[1].headers["x-api-key"] == ANTHROPIC_KEY


# --------------------------------------------------------------------------- cheap import


def test_importing_the_module_loads_no_http_or_sdk_library() -> None:
    code = "import sys, nbdurable.ai; print(sorted(m for m in ('httpx', 'openai', 'anthropic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
