"""``nd.ai``: model helpers and what AI steps record.

``nd.ai.openai("gpt-4o")`` and ``nd.ai.anthropic("claude-sonnet-4-5")`` name a
model for ``step.ai.infer``; ``price``/``register_price`` manage the dated price
table costs come from (a model without a price has unknown cost, never zero).
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
    prices_as_of,
    redact,
    register_price,
    register_secret,
)

__all__ = [
    "AICall",
    "AIConfigError",
    "Model",
    "anthropic",
    "extract",
    "openai",
    "price",
    "prices_as_of",
    "redact",
    "register_price",
    "register_secret",
]
