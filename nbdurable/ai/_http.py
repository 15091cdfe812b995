"""LLM providers for AI steps: one HTTP attempt per call, streamed or not, with the errors a retry can fix.

``step.ai.infer`` calls :func:`infer` once per attempt and lets the step engine do the
durable retrying; ``step.ai.wrap`` calls :func:`extract` on whatever an SDK returned.
Everything that ends up in the journal goes through :func:`redact` first, because
journals get shared and API keys must never reach them.

httpx and pydantic are imported lazily so ``import nbdurable`` stays cheap.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import NonRetriableError, RetryAfterError
from .._redact import redact_clipped

if TYPE_CHECKING:
    import httpx

from ._extract import extract
from ._models import (
    DEFAULT_ANTHROPIC_MAX_TOKENS,
    AICall,
    AIConfigError,
    Model,
    redact,
    register_secret,
)

__all__ = ["infer"]

# Delay hints (seconds) when the provider does not say how long to wait.
RATE_LIMIT_DELAY = 5.0
SERVER_ERROR_DELAY = 2.0
CONNECTION_ERROR_DELAY = 1.0

# Statuses a retry can fix, as the official SDKs see them (408 timeout, 409 lock conflict,
# 429 rate limit, 5xx incl. Anthropic's 529 overloaded). Every other non-2xx fails at once.
_RETRIABLE_4XX = frozenset({408, 409, 429})


# --------------------------------------------------------------------------- errors from HTTP


def _retry_delay(headers: httpx.Headers, default: float) -> float:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return default
        if when is not None:
            return max(when.timestamp() - time.time(), 0.0)
    return default


def _provider_message(text: str) -> str:
    """The human message inside a provider's error body (OpenAI, Anthropic, FastAPI shapes)."""
    try:
        data = json.loads(text)
    except ValueError:
        return redact_clipped(text.strip(), 500) or "(empty body)"
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping):
            message = error.get("message")
            kind = error.get("type") or error.get("code")
            if isinstance(message, str):
                return f"{message} ({kind})" if isinstance(kind, str) and kind else message
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return redact_clipped(text.strip(), 500)


def _safe_url(url: str) -> str:
    """The URL without user:password or query string, for error messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _where(model: Model) -> str:
    api = "chat completions" if model.provider == "openai" else "messages API"
    return f"{model.provider} {api} at {_safe_url(model.url)} (model {model.model!r})"


def _raise_for_status(model: Model, status: int, reason: str, headers: httpx.Headers, text: str) -> None:
    message = redact(_provider_message(text))
    where = _where(model)
    answered = f"answered {status} {reason}".rstrip()
    if status == 429 or status in _RETRIABLE_4XX or status >= 500:
        default = RATE_LIMIT_DELAY if status == 429 else SERVER_ERROR_DELAY
        delay = _retry_delay(headers, default)
        raise RetryAfterError(f"{where} {answered}: {message}. The step will be retried after {delay:g}s.", delay)
    hint = "fix the request (model name, messages, parameters) and run the step again"
    if status in (401, 403):
        hint = (
            f"check the API key in ${model.api_key_env} and its permissions"
            if model.api_key_env
            else "this server needs credentials: pass api_key_env= naming the variable that holds the key"
        )
    elif status == 404:
        hint = "check the model name and base_url"
    raise NonRetriableError(f"{where} {answered}: {message}. Retrying will not help: {hint}.")


# --------------------------------------------------------------------------- streaming


class _SSE:
    """Incremental server-sent-events parser: feed lines, get (event, data) pairs."""

    def __init__(self) -> None:
        self.event: str | None = None
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str | None, str] | None:
        if line == "":
            if not self.data:
                self.event = None
                return None
            out = (self.event, "\n".join(self.data))
            self.event, self.data = None, []
            return out
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def _emit(on_delta: Callable[[str], None] | None, text: str) -> None:
    if on_delta is None or not text:
        return
    try:
        on_delta(text)
    except Exception as exc:  # a display callback must never fail a paid-for call
        warnings.warn(f"nd.ai: the streaming callback raised {exc!r}; ignoring it.", RuntimeWarning, stacklevel=2)


class _OpenAIStream:
    """Assembles chat.completion.chunk events into one chat.completion response."""

    def __init__(self, on_delta: Callable[[str], None] | None) -> None:
        self.on_delta = on_delta
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: Any = None
        self.done = False

    def feed(self, data: str) -> None:
        if data.strip() == "[DONE]":
            self.done = True
            return
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            return
        if isinstance(chunk.get("error"), Mapping):
            raise _StreamError(_provider_message(data), retriable=True)
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                self.head[key] = chunk[key]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index", 0))
            slot = self.choices.setdefault(
                index, {"role": "assistant", "content": [], "tool_calls": {}, "finish_reason": None, "refusal": []}
            )
            delta = choice.get("delta") or {}
            if delta.get("role"):
                slot["role"] = delta["role"]
            if delta.get("content"):
                slot["content"].append(delta["content"])
                if index == 0:
                    _emit(self.on_delta, delta["content"])
            if delta.get("refusal"):
                slot["refusal"].append(delta["refusal"])
            for call in delta.get("tool_calls") or []:
                position = int(call.get("index", len(slot["tool_calls"])))
                entry = slot["tool_calls"].setdefault(
                    position, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if call.get("id"):
                    entry["id"] = call["id"]
                if call.get("type"):
                    entry["type"] = call["type"]
                function = call.get("function") or {}
                if function.get("name"):
                    entry["function"]["name"] += function["name"]
                if function.get("arguments"):
                    entry["function"]["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]

    def result(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self.choices):
            slot = self.choices[index]
            message: dict[str, Any] = {
                "role": slot["role"],
                "content": "".join(slot["content"]) if slot["content"] else None,
                "refusal": "".join(slot["refusal"]) if slot["refusal"] else None,
            }
            if slot["tool_calls"]:
                message["tool_calls"] = [slot["tool_calls"][k] for k in sorted(slot["tool_calls"])]
            choices.append(
                {"index": index, "message": message, "finish_reason": slot["finish_reason"], "logprobs": None}
            )
        return {
            "id": self.head.get("id"),
            "object": "chat.completion",
            "created": self.head.get("created"),
            "model": self.head.get("model"),
            "choices": choices,
            "usage": self.usage,
            **{k: self.head[k] for k in ("system_fingerprint", "service_tier") if k in self.head},
        }


class _AnthropicStream:
    """Assembles messages-API stream events into one message response."""

    def __init__(self, on_delta: Callable[[str], None] | None) -> None:
        self.on_delta = on_delta
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial_json: dict[int, list[str]] = {}
        self.done = False

    def feed(self, event: str | None, data: str) -> None:
        payload = json.loads(data)
        if not isinstance(payload, dict):
            return
        kind = payload.get("type", event)
        if kind == "message_start":
            self.message = dict(payload.get("message") or {})
        elif kind == "content_block_start":
            index = int(payload.get("index", len(self.blocks)))
            self.blocks[index] = dict(payload.get("content_block") or {})
        elif kind == "content_block_delta":
            index = int(payload.get("index", 0))
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            delta = payload.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
                _emit(self.on_delta, delta.get("text", ""))
            elif dtype == "input_json_delta":
                self.partial_json.setdefault(index, []).append(delta.get("partial_json", ""))
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif dtype == "signature_delta":
                block["signature"] = block.get("signature", "") + delta.get("signature", "")
            elif dtype == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "content_block_stop":
            self._close_block(int(payload.get("index", 0)))
        elif kind == "message_delta":
            for key, value in (payload.get("delta") or {}).items():
                self.message[key] = value
            usage = payload.get("usage")
            if isinstance(usage, Mapping):
                merged = dict(self.message.get("usage") or {})
                merged.update({k: v for k, v in usage.items() if v is not None})
                self.message["usage"] = merged
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error = payload.get("error") or {}
            retriable = error.get("type") in ("overloaded_error", "api_error", "rate_limit_error")
            raise _StreamError(_provider_message(data), retriable=retriable)

    def _close_block(self, index: int) -> None:
        parts = self.partial_json.pop(index, None)
        if parts is not None:
            text = "".join(parts)
            self.blocks.setdefault(index, {})["input"] = json.loads(text) if text.strip() else {}

    def result(self) -> dict[str, Any]:
        for index in list(self.partial_json):
            self._close_block(index)
        message = dict(self.message)
        message["content"] = [self.blocks[k] for k in sorted(self.blocks)]
        return message


class _StreamError(Exception):
    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


# --------------------------------------------------------------------------- the call


def _api_key(model: Model) -> str | None:
    if model.api_key_env is None:
        return None
    key = os.environ.get(model.api_key_env, "")
    if not key:
        raise AIConfigError(
            f"nd.ai.{model.provider}({model.model!r}) reads its API key from the environment variable "
            f"{model.api_key_env}, which is not set. Set it (in the shell, or os.environ[{model.api_key_env!r}] = ... "
            f"in the notebook) and run the step again, or pass api_key_env= to name another variable "
            f"(api_key_env=None for servers that need no key)."
        )
    register_secret(key)
    return key


def _prepare(model: Model, body: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise AIConfigError(
            f"step.ai.infer with {_where(model)}: body must be a dict of request fields (messages, tools, ...), "
            f"got {type(body).__name__}."
        )
    sent = dict(body)
    sent.setdefault("model", model.model)
    if model.provider == "anthropic":
        sent.setdefault("max_tokens", DEFAULT_ANTHROPIC_MAX_TOKENS)
    if stream:
        sent["stream"] = True
        if model.provider == "openai":
            sent.setdefault("stream_options", {"include_usage": True})
    else:
        sent.pop("stream", None)
    return sent


def _headers(model: Model, key: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if model.provider == "openai":
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
    else:
        headers["anthropic-version"] = model.anthropic_version
        if key is not None:
            headers["x-api-key"] = key
    return headers


async def infer(
    model: Model,
    body: Mapping[str, Any],
    *,
    stream: bool = False,
    on_delta: Callable[[str], None] | None = None,
    timeout: float = 600.0,
) -> AICall:
    """Make one HTTP call to the model's provider and return what to journal.

    One attempt only: rate limits (429), server errors (5xx) and dropped connections
    raise :class:`RetryAfterError` with the provider's Retry-After (or a default), so
    the step engine retries durably; requests the provider rejects (400, 401, 403, 404,
    422, ...) raise :class:`NonRetriableError` with the provider's message. With
    ``stream=True`` each text chunk goes to ``on_delta`` as it arrives and the returned
    response has the same shape as a non-streamed one.
    """
    import httpx

    key = _api_key(model)
    sent = _prepare(model, body, stream)
    where = _where(model)
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0))) as client:
            if stream:
                async with client.stream("POST", model.url, json=sent, headers=_headers(model, key)) as resp:
                    if resp.status_code >= 300:
                        await resp.aread()
                        _raise_for_status(model, resp.status_code, resp.reason_phrase, resp.headers, resp.text)
                    data = await _read_stream(model, resp, on_delta)
            else:
                resp = await client.post(model.url, json=sent, headers=_headers(model, key))
                if resp.status_code >= 300:
                    _raise_for_status(model, resp.status_code, resp.reason_phrase, resp.headers, resp.text)
                try:
                    data = resp.json()
                except ValueError as exc:
                    raise RetryAfterError(
                        f"{where} answered {resp.status_code} with a body that is not JSON "
                        f"({redact_clipped(resp.text, 200)!r}); the step will be retried.",
                        SERVER_ERROR_DELAY,
                        cause=exc,
                    ) from None
    except httpx.TimeoutException as exc:
        raise RetryAfterError(
            f"{where} did not answer within {timeout:g}s ({type(exc).__name__}); the step will be retried. "
            "Pass a larger timeout if the model needs longer.",
            CONNECTION_ERROR_DELAY,
            cause=exc,
        ) from None
    except httpx.TransportError as exc:
        raise RetryAfterError(
            f"{where} could not be reached ({type(exc).__name__}: {redact(str(exc))}); the step will be retried. "
            "Check that the server is running and base_url is right.",
            CONNECTION_ERROR_DELAY,
            cause=exc,
        ) from None
    latency = time.perf_counter() - started
    if isinstance(data, Mapping) and "error" in data and not ("choices" in data or "content" in data):
        raise NonRetriableError(f"{where} answered with an error: {redact(_provider_message(json.dumps(data)))}.")
    record = extract(data, request=sent, latency=latency, model=model.model, provider=model.provider)
    record.base_url = _safe_url(model.base_url)
    record.streamed = stream
    return record


async def _read_stream(model: Model, resp: httpx.Response, on_delta: Callable[[str], None] | None) -> dict[str, Any]:
    where = _where(model)
    parser = _SSE()
    assembler: _OpenAIStream | _AnthropicStream = (
        _OpenAIStream(on_delta) if model.provider == "openai" else _AnthropicStream(on_delta)
    )
    try:
        async for line in resp.aiter_lines():
            item = parser.feed(line.rstrip("\r"))
            if item is None:
                continue
            event, data = item
            if isinstance(assembler, _OpenAIStream):
                assembler.feed(data)
            else:
                assembler.feed(event, data)
            if assembler.done:
                break
        item = parser.feed("")  # a last event without its blank line
        if item is not None and not assembler.done:
            if isinstance(assembler, _OpenAIStream):
                assembler.feed(item[1])
            else:
                assembler.feed(*item)
    except _StreamError as exc:
        message = f"{where} sent an error in the middle of the stream: {redact(str(exc))}"
        if exc.retriable:
            raise RetryAfterError(f"{message}. The step will be retried.", SERVER_ERROR_DELAY) from None
        raise NonRetriableError(f"{message}. Retrying will not help; fix the request.") from None
    except ValueError as exc:
        raise RetryAfterError(
            f"{where} sent a stream event that is not JSON ({exc}); the step will be retried.", SERVER_ERROR_DELAY
        ) from None
    finished = assembler.done or (
        isinstance(assembler, _OpenAIStream) and any(c["finish_reason"] for c in assembler.choices.values())
    )
    if not finished:
        raise RetryAfterError(
            f"{where} closed the stream before the response was complete; the step will be retried.",
            CONNECTION_ERROR_DELAY,
        )
    return assembler.result()
