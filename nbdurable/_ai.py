"""LLM providers for AI steps: model handles, one HTTP attempt per call, usage, cost, redaction.

``step.ai.infer`` calls :func:`infer` once per attempt and lets the step engine do the
durable retrying; ``step.ai.wrap`` calls :func:`extract` on whatever an SDK returned.
Everything that ends up in the journal goes through :func:`redact` first, because
journals get shared and API keys must never reach them.

httpx and pydantic are imported lazily so ``import nbdurable`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import os
import re
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from nbdurable import _prices
from nbdurable._errors import ConfigError, NonRetriableError, RetryAfterError
from nbdurable._redact import MASK, known_secrets, redact_clipped, redact_text, register_secret, watch_env

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AICall",
    "AIConfigError",
    "Model",
    "anthropic",
    "extract",
    "infer",
    "openai",
    "price",
    "prices_source",
    "redact",
    "register_price",
    "register_secret",
    "set_price",
]

set_price = _prices.set_price

Provider = Literal["openai", "anthropic"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
# Anthropic's messages API requires max_tokens; a body without it gets this.
DEFAULT_ANTHROPIC_MAX_TOKENS = 4096

# Delay hints (seconds) when the provider does not say how long to wait.
RATE_LIMIT_DELAY = 5.0
SERVER_ERROR_DELAY = 2.0
CONNECTION_ERROR_DELAY = 1.0

REDACTED = MASK

# Statuses a retry can fix, as the official SDKs see them (408 timeout, 409 lock conflict,
# 429 rate limit, 5xx incl. Anthropic's 529 overloaded). Every other non-2xx fails at once.
_RETRIABLE_4XX = frozenset({408, 409, 429})


# --------------------------------------------------------------------------- models


class AIConfigError(ConfigError, NonRetriableError):
    """A model or request that cannot work as configured (no API key, a body that is not a dict).

    Also a NonRetriableError: retrying the step cannot fix it, so it fails at once.
    """


@dataclass(frozen=True)
class Model:
    """Which provider, model and endpoint an AI step calls.

    Holds only the *name* of the environment variable with the API key, never the key,
    so a Model can be journaled, printed and shared. ``api_key_env=None`` sends no
    credentials (local OpenAI-compatible servers such as Ollama or llama.cpp).
    """

    provider: Provider
    model: str
    base_url: str
    api_key_env: str | None
    anthropic_version: str = ANTHROPIC_VERSION

    def __post_init__(self) -> None:
        if self.provider not in ("openai", "anthropic"):
            raise ConfigError(
                f"nd.ai: unknown provider {self.provider!r}; use nd.ai.openai(...) or nd.ai.anthropic(...)."
            )
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(
                f"nd.ai.{self.provider}: the model name must be a non-empty string, got {self.model!r}; "
                f"pass it as nd.ai.{self.provider}('model-name')."
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"nd.ai.{self.provider}({self.model!r}): base_url {self.base_url!r} is not an http(s) URL; "
                "pass the server's address, e.g. base_url='http://127.0.0.1:8000/v1'."
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.api_key_env is not None:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
                raise ConfigError(
                    f"nd.ai.{self.provider}({self.model!r}): api_key_env={self.api_key_env!r} is not an environment "
                    "variable name. Pass the variable's NAME (like 'OPENAI_API_KEY'), never the key itself."
                )
            watch_env(self.api_key_env)

    @property
    def url(self) -> str:
        """The endpoint this model's calls POST to."""
        if self.provider == "openai":
            return f"{self.base_url}/chat/completions"
        return f"{self.base_url}/v1/messages"


def openai(model: str, *, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY") -> Model:
    """An OpenAI chat-completions model, or any OpenAI-compatible server through ``base_url``.

    ``base_url`` follows the OpenAI SDK's convention and includes the version prefix,
    e.g. ``http://localhost:11434/v1`` for Ollama; calls POST ``{base_url}/chat/completions``.
    """
    return Model("openai", model, base_url or OPENAI_BASE_URL, api_key_env)


def anthropic(
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = "ANTHROPIC_API_KEY",
    anthropic_version: str = ANTHROPIC_VERSION,
) -> Model:
    """An Anthropic messages-API model.

    ``base_url`` follows the Anthropic SDK's convention and has no version prefix
    (default ``https://api.anthropic.com``); calls POST ``{base_url}/v1/messages``, so the
    same URL works for this and for ``anthropic.Anthropic(base_url=...)``.
    """
    return Model("anthropic", model, base_url or ANTHROPIC_BASE_URL, api_key_env, anthropic_version)


# --------------------------------------------------------------------------- the journaled record


@dataclass
class AICall:
    """What an AI step journals beside its result: request, response, usage, latency, cost.

    ``None`` means unknown (a server that reports no usage, a model without a price),
    never zero. ``request`` and ``response`` are redacted and JSON-serializable.
    """

    provider: str | None = None
    model: str | None = None
    request: dict[str, Any] | None = None
    response: Any = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency: float | None = None
    cost: float | None = None
    finish_reason: str | None = None
    base_url: str | None = None
    streamed: bool = False
    cache_read_tokens: int | None = None  # part of tokens_in read from a prompt cache
    cache_write_tokens: int | None = None  # part of tokens_in written to a prompt cache
    reasoning_tokens: int | None = None  # part of tokens_out spent reasoning
    # Where the cost's price came from: {"source", "as_of", "model", "provider"}; None when unknown.
    price: dict[str, Any] | None = None

    def set_usage(self, usage: _Usage) -> None:
        """Fill in tokens and the cost they come to at this call's provider and model."""
        self.tokens_in, self.tokens_out = usage.tokens_in, usage.tokens_out
        known = usage.tokens_in is not None
        self.cache_read_tokens = usage.cached_in if known else None
        self.cache_write_tokens = usage.cache_write if known else None
        self.reasoning_tokens = usage.reasoning if usage.tokens_out is not None else None
        quoted = usage.quote(self.provider, self.model)
        self.cost, self.price = quoted.cost, quoted.as_meta()


# --------------------------------------------------------------------------- redaction

_SECRET_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "authorization",
        "proxy_authorization",
        "openai_api_key",
        "anthropic_api_key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "bearer",
        "cookie",
        "set_cookie",
        "private_key",
    }
)


def redact(obj: Any) -> Any:
    """A copy of ``obj`` safe to journal: credential fields and known secret values replaced.

    Dict entries whose key names a credential (api_key, authorization, x-api-key, ...)
    get the value ``"***"``; so does any occurrence, inside any string, of the current
    values of the API-key environment variables in use, of other secret-named
    environment variables, of secrets passed to :func:`register_secret`, and of
    strings shaped like bearer tokens or ``sk-`` keys.
    Tuples become lists (the journal stores JSON). Other objects pass through unchanged.
    """
    return _redact(obj, known_secrets())


def _redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            norm = key.lower().replace("-", "_") if isinstance(key, str) else None
            if norm in _SECRET_KEYS:
                out[key] = REDACTED
            else:
                out[_redact(key, secrets) if isinstance(key, str) else key] = _redact(value, secrets)
        return out
    if isinstance(obj, (list, tuple)):
        return [_redact(item, secrets) for item in obj]
    return obj


# --------------------------------------------------------------------------- pricing


def prices_source() -> str:
    """Where costs come from when no price of yours applies (the genai-prices release in use)."""
    return _prices.source()


def register_price(
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    cached_input_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
    provider: str | None = None,
) -> None:
    """Set the price of a model in USD per million tokens, over the one genai-prices has.

    Use it for models genai-prices does not know (fine-tunes, local models: register 0, 0
    to show them as free) or a price of your own. Dated snapshots of ``model``
    (``model-2025-01-31``, ``model-20250131``, ``model-latest``) get the same price.
    The same as ``nd.ai.set_price(model, input=..., output=...)``.
    """
    _prices.set_price(
        model,
        input=input_per_mtok,
        output=output_per_mtok,
        cache_read=cached_input_per_mtok,
        cache_write=cache_write_per_mtok,
        provider=provider,
    )


def price(
    model: str | None, tokens_in: int | None, tokens_out: int | None, *, provider: str | None = None
) -> float | None:
    """Cost in USD of a call, or None when the model has no known price or usage is unknown."""
    if tokens_in is None or tokens_out is None:
        return None
    return _prices.quote(provider, model, _prices.Usage(tokens_in, tokens_out)).cost


@dataclass(frozen=True)
class _Usage:
    tokens_in: int | None = None
    tokens_out: int | None = None
    cached_in: int = 0  # part of tokens_in read from a prompt cache
    cache_write: int = 0  # part of tokens_in written to a prompt cache (Anthropic)
    reasoning: int = 0  # part of tokens_out spent reasoning

    def quote(self, provider: str | None, model: str | None) -> _prices.Quote:
        if self.tokens_in is None or self.tokens_out is None:
            return _prices.Quote(None)
        usage = _prices.Usage(self.tokens_in, self.tokens_out, self.cached_in, self.cache_write, self.reasoning)
        return _prices.quote(provider, model, usage)

    def cost(self, model: str | None, provider: str | None = None) -> float | None:
        return self.quote(provider, model).cost


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _details(usage: Mapping[str, Any], key: str, field: str) -> int:
    details = usage.get(key)
    return (_int(details.get(field)) or 0) if isinstance(details, Mapping) else 0


def _usage_of(usage: Any) -> _Usage:
    """Token counts from an OpenAI (chat or responses) or Anthropic ``usage`` object."""
    if not isinstance(usage, Mapping):
        return _Usage()
    if "prompt_tokens" in usage or "completion_tokens" in usage:  # OpenAI chat completions, embeddings
        tokens_out = _int(usage.get("completion_tokens"))
        if tokens_out is None and "completion_tokens" not in usage:
            tokens_out = 0  # embeddings produce no output tokens
        return _Usage(
            _int(usage.get("prompt_tokens")),
            tokens_out,
            _details(usage, "prompt_tokens_details", "cached_tokens"),
            reasoning=_details(usage, "completion_tokens_details", "reasoning_tokens"),
        )
    read = _int(usage.get("cache_read_input_tokens")) or 0
    write = _int(usage.get("cache_creation_input_tokens")) or 0
    tokens_in = _int(usage.get("input_tokens"))
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        # Anthropic: input_tokens excludes cached tokens; the sum is what went in.
        return _Usage(
            None if tokens_in is None else tokens_in + read + write, _int(usage.get("output_tokens")), read, write
        )
    # OpenAI responses API
    return _Usage(
        tokens_in,
        _int(usage.get("output_tokens")),
        _details(usage, "input_tokens_details", "cached_tokens"),
        reasoning=_details(usage, "output_tokens_details", "reasoning_tokens"),
    )


# --------------------------------------------------------------------------- reading responses


def _finish_reason(data: Mapping[str, Any]) -> str | None:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    for key in ("stop_reason", "finish_reason", "status"):
        value = data.get(key)
        if isinstance(value, str):
            return value
    return None


def _provider_of(data: Mapping[str, Any]) -> str | None:
    kind = data.get("object")
    if isinstance(kind, str) and (
        kind.startswith("chat.completion") or kind in ("response", "list", "text_completion")
    ):
        return "openai"
    if data.get("type") == "message" and "content" in data:
        return "anthropic"
    if "choices" in data:
        return "openai"
    provider = data.get("provider_name")  # Pydantic AI's ModelResponse
    return provider if isinstance(provider, str) and provider else None


def _jsonable(obj: Any) -> Any:
    """A JSON-serializable view of an SDK result, so the journal keeps a plain response."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        try:
            return _jsonable(model_dump(mode="json"))
        except TypeError:  # a model_dump with another signature (pydantic v1 shims): try the generic way
            pass
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    try:
        from pydantic_core import to_jsonable_python

        return to_jsonable_python(obj, fallback=repr)
    except Exception:
        return repr(obj)


def extract(
    response: Any,
    *,
    request: Mapping[str, Any] | None = None,
    latency: float | None = None,
    model: str | None = None,
    keep_response: bool = True,
    provider: str | None = None,
) -> AICall:
    """Read model, usage, finish reason and a JSON response from what an SDK call returned.

    Accepts the official openai and anthropic clients' pydantic objects, plain dicts in
    either wire format, or anything else (then only what can be found is filled in and
    the rest stays None, meaning unknown). ``request`` (the call's keyword arguments) is
    redacted before it is kept; ``model`` is a fallback when the response names none.
    ``keep_response=False`` leaves the response out (a step that journals it as its
    output): copying and redacting a long response costs more than the rest of the step.
    ``provider`` (default: read from the response's shape) picks whose price the cost uses.
    """
    # A mapping is read as it is when only its top-level fields are wanted.
    data = response if not keep_response and isinstance(response, Mapping) else _jsonable(response)
    record = AICall(
        request=None if request is None else redact(_jsonable(dict(request))),
        response=redact(data) if keep_response else None,
        latency=latency,
        model=model,
    )
    if isinstance(data, Mapping):
        name = data.get("model") or data.get("model_name")  # a provider's response, or Pydantic AI's ModelResponse
        if isinstance(name, str) and name:
            record.model = name
        record.provider = provider or _provider_of(data)
        record.finish_reason = _finish_reason(data)
    if record.model is None and request is not None and isinstance(request.get("model"), str):
        record.model = request["model"]
    if isinstance(data, Mapping):
        record.set_usage(_usage_of(data.get("usage")))
    return record


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
