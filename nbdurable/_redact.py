"""Keep secrets out of anything nbdurable writes: journal, timeline, logs.

Values of environment variables whose names say they hold a secret (API keys,
tokens, passwords), of the variables model helpers read their keys from, and of
secrets registered with :func:`register_secret` are replaced wherever they appear
in text we store, as are strings shaped like bearer tokens or ``sk-`` keys. The AI
layer's structured :func:`nbdurable.ai.redact` uses this for every string.
"""

from __future__ import annotations

import os
import re
import time

__all__ = ["MASK", "known_secrets", "redact_text", "register_secret", "secret_values", "watch_env"]

MASK = "***"
# Shorter values are too likely to occur by chance (dummy keys like "x" for local servers).
_MIN_LEN = 8
# Variables holding keys whatever their names (every nd.ai model adds its api_key_env).
_WATCHED_ENVS: set[str] = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
_REGISTERED: set[str] = set()
# Shapes of credentials whose values we were never told, kept narrow so ordinary prose
# ("the bearer of this letter") passes untouched.
_PATTERNS = (
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
)
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


def register_secret(value: str) -> None:
    """Add a string that must never be stored (a key obtained elsewhere than the environment)."""
    if isinstance(value, str) and len(value) >= _MIN_LEN:
        _REGISTERED.add(value)


def watch_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret, whatever its name says."""
    _WATCHED_ENVS.add(name)


def known_secrets() -> list[str]:
    """Every secret value to mask, longest first (so a key that contains another is masked whole)."""
    found = {os.environ.get(name, "") for name in _WATCHED_ENVS} | _REGISTERED | set(secret_values())
    return sorted((v for v in found if len(v) >= _MIN_LEN), key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every known secret value, and every credential-shaped string, masked."""
    for value in known_secrets() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    if "sk-" in text or "Bearer" in text:  # the regexes only where they can match (this runs per step)
        for pattern in _PATTERNS:
            text = pattern.sub(MASK, text)
    return text
