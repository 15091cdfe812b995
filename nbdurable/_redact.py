"""Keep secrets out of anything nbdurable writes: journal, timeline, logs.

Values of environment variables whose names say they hold a secret (API keys,
tokens, passwords) are replaced wherever they appear in text we store.
"""

from __future__ import annotations

import os
import re
import time

__all__ = ["MASK", "redact_text", "secret_values"]

MASK = "***"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_cache: tuple[int, float, tuple[str, ...]] = (-1, 0.0, ())


def secret_values() -> tuple[str, ...]:
    """Secret-looking environment values (8+ characters), longest first.

    Cached for a second (or until the environment's size changes): scanning the
    environment on every step would cost more than the step.
    """
    global _cache
    marker = len(os.environ)
    now = time.monotonic()
    if _cache[0] == marker and now - _cache[1] < 1.0:
        return _cache[2]
    values = sorted(
        {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8},
        key=len,
        reverse=True,
    )
    _cache = (marker, now, tuple(values))
    return _cache[2]


def redact_text(text: str) -> str:
    """``text`` with every known secret value masked."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return text
