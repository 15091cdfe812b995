"""What a model call cost: USD from provider, model and token usage, with where the price came from.

Prices come from pydantic's ``genai-prices`` (providers' list prices, dated, with prompt-cache and
tiered prices), looked up as of the call's time; a price set with :func:`set_price` (a fine-tune, a
self-hosted model) wins over it. A model neither knows has an unknown cost (None), never a guess.
The interface is small on purpose (provider, model, usage in; cost, source and date out) so any
provider adapter can price its calls. genai-prices is imported on first use: ``import nbdurable``
does not pay for its table.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from typing import Any

from .._errors import ConfigError

__all__ = ["Quote", "Usage", "quote", "set_price", "source"]

_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call. ``input_tokens`` counts everything that went in (cache reads and writes
    included), ``output_tokens`` everything that came out (reasoning included)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Quote:
    """A call's cost in USD (None: unknown) and the price it came from."""

    cost: float | None
    source: str | None = None  # "genai-prices 0.2.3", or "nd.ai.set_price"
    as_of: str | None = None  # the ISO date the price is for
    model: str | None = None  # the model as the price table names it
    provider: str | None = None

    def as_meta(self) -> dict[str, Any] | None:
        """What the journal keeps beside the cost (None when no price was found)."""
        if self.source is None:
            return None
        return {"source": self.source, "as_of": self.as_of, "model": self.model, "provider": self.provider}


@dataclasses.dataclass(frozen=True, slots=True)
class _Price:
    input: float
    output: float
    cache_read: float | None
    cache_write: float | None
    as_of: str


_USER_PRICES: dict[tuple[str | None, str], _Price] = {}
_UNKNOWN = Quote(None)


def _rate(name: str, value: Any, model: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"nd.ai.set_price({model!r}, ...): {name} must be a non-negative number of USD per million tokens, "
            f"got {value!r}."
        )
    return float(value)


def set_price(
    model: str,
    *,
    input: float,
    output: float,
    cache_read: float | None = None,
    cache_write: float | None = None,
    provider: str | None = None,
    as_of: _dt.date | str | None = None,
) -> None:
    """Price ``model`` in USD per million tokens, over any price genai-prices has for it.

    For fine-tunes, self-hosted or local models (``input=0, output=0`` shows them as free) or a
    negotiated price. ``cache_read``/``cache_write`` default to the input price. ``provider``
    limits it to one provider ("openai", "anthropic"); dated snapshots of ``model``
    (``model-2025-01-31``, ``model-20250131``, ``model-latest``) get the same price. ``as_of``
    (default today) is the date shown with costs that use it.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"nd.ai.set_price: the model name must be a non-empty string, got {model!r}.")
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise ConfigError(f"nd.ai.set_price({model!r}): provider must be a provider name or None, got {provider!r}.")
    if isinstance(as_of, str):
        try:
            as_of = _dt.date.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f"nd.ai.set_price({model!r}): as_of must be a date like '2026-01-31', got {as_of!r}.")
    day = (as_of or _dt.date.today()).isoformat()
    _USER_PRICES[(provider, model.strip().lower())] = _Price(
        _rate("input", input, model),
        _rate("output", output, model),
        None if cache_read is None else _rate("cache_read", cache_read, model),
        None if cache_write is None else _rate("cache_write", cache_write, model),
        day,
    )


def _user_price(provider: str | None, model: str) -> _Price | None:
    name = model.lower()
    names = [name]
    stripped = _SNAPSHOT_SUFFIX.sub("", name)
    if stripped != name:
        names.append(stripped)
    for candidate in names:
        for key in ((provider, candidate), (None, candidate)):
            if key in _USER_PRICES:
                return _USER_PRICES[key]
    return None


def _user_quote(provider: str | None, model: str, price: _Price, usage: Usage) -> Quote:
    cache_read = price.input if price.cache_read is None else price.cache_read
    cache_write = price.input if price.cache_write is None else price.cache_write
    plain = max(usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0)
    total = (
        plain * price.input
        + usage.cache_read_tokens * cache_read
        + usage.cache_write_tokens * cache_write
        + usage.output_tokens * price.output
    )
    return Quote(total / 1_000_000, "nd.ai.set_price", price.as_of, model, provider)


def source() -> str:
    """Where prices come from when no user price applies: the genai-prices release in use."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"genai-prices {version('genai-prices')}"
    except PackageNotFoundError:
        return "genai-prices (not installed: costs are unknown)"


_SOURCE: str | None = None


def quote(provider: str | None, model: str | None, usage: Usage | None, *, when: _dt.datetime | None = None) -> Quote:
    """The cost of one call of ``model`` at ``provider`` (None when the model or the usage is unknown).

    ``when`` (default now) picks the price in force then, where genai-prices knows a price changed.
    """
    global _SOURCE
    if not model or usage is None:
        return _UNKNOWN
    user = _user_price(provider, model)
    if user is not None:
        return _user_quote(provider, model, user, usage)
    try:
        import genai_prices
    except ImportError:
        return _UNKNOWN
    moment = when or _dt.datetime.now(_dt.timezone.utc)
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }
    try:
        calc = genai_prices.calc_price(
            genai_prices.Usage(**{k: v for k, v in counts.items() if v}),
            model,
            provider_id=provider,
            genai_request_timestamp=moment,
        )
    except (LookupError, ValueError):
        return _UNKNOWN  # a model (or provider) the table does not know: unknown, not a guess
    if _SOURCE is None:
        _SOURCE = source()
    return Quote(float(calc.total_price), _SOURCE, moment.date().isoformat(), calc.model.id, calc.provider.id)
