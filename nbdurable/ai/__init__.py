"""``nd.ai``: model helpers and what AI steps record.

A leaf: it knows nothing of runs or the engine (``step.ai`` calls it). ``_models``
(model handles, the AICall record, redaction, usage and cost), ``_prices``
(genai-prices, set_price), ``_extract`` (reading any SDK's response), ``_http``
(one HTTP attempt per call, streamed or not), ``_adapter`` (what nbdurable needs of
a provider's API, one module per provider: ``_openai``, ``_anthropic``), ``_approval``
(the agent's approval wait, as surfaces read it).

``nd.ai.openai("gpt-4o")`` and ``nd.ai.anthropic("claude-sonnet-4-5")`` name a
model for ``step.ai.infer``. Costs come from pydantic's genai-prices (``prices_source``);
``set_price`` prices a model it does not know (a model without a price has an unknown
cost, never zero).
"""

from __future__ import annotations

from ._extract import extract
from ._models import (
    AICall,
    AIConfigError,
    Model,
    anthropic,
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
