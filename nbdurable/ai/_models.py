"""Model handles for AI steps, the record an AI call journals (usage, cost) and its redaction.

Everything that ends up in the journal goes through :func:`redact` first, because
journals get shared and API keys must never reach them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._errors import ConfigError, NonRetriableError
from .._redact import MASK, known_secrets, redact_text, register_secret, watch_env
from . import _prices
from ._adapter import adapter_for
from ._anthropic import DEFAULT_MAX_TOKENS as DEFAULT_ANTHROPIC_MAX_TOKENS

if TYPE_CHECKING:
    from ._adapter import Adapter

__all__ = [
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_VERSION",
    "DEFAULT_ANTHROPIC_MAX_TOKENS",
    "OPENAI_BASE_URL",
    "REDACTED",
    "AICall",
    "AIConfigError",
    "Model",
    "Provider",
    "anthropic",
    "openai",
    "price",
    "prices_source",
    "redact",
    "register_price",
    "register_secret",
    "set_price",
]

Provider = Literal["openai", "anthropic"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

REDACTED = MASK

set_price = _prices.set_price


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
        if adapter_for(self.provider) is None:
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
    def adapter(self) -> Adapter:
        """This model's provider's wire format."""
        adapter = adapter_for(self.provider)
        assert adapter is not None  # checked when the model was made
        return adapter

    @property
    def url(self) -> str:
        """The endpoint this model's calls POST to."""
        return self.adapter.url(self.base_url)


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
