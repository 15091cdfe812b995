"""``nd.ai``: model helpers and what AI steps record.

``nd.ai.openai("gpt-4o")`` and ``nd.ai.anthropic("claude-sonnet-4-5")`` name a
model for ``step.ai.infer``. Costs come from pydantic's genai-prices (``prices_source``);
``set_price`` prices a model it does not know (a model without a price has an unknown
cost, never zero).
"""

from __future__ import annotations

from ._ai import (
    AICall,
    AIConfigError,
    Model,
    anthropic,
    extract,
    openai,
    price,
    prices_source,
    redact,
    register_price,
    register_secret,
    set_price,
)

__all__ = [
    "AICall",
    "AIConfigError",
    "Model",
    "anthropic",
    "extract",
    "openai",
    "price",
    "prices_source",
    "redact",
    "register_price",
    "register_secret",
    "set_price",
]
