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

__all__ = [
    "MASK",
    "StreamRedactor",
    "known_secrets",
    "redact_clipped",
    "redact_strings",
    "redact_text",
    "register_secret",
    "secret_values",
    "watch_env",
]

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
# Characters a credential shape may need past a cut to be recognised: "Bearer " and 16, or "sk-" and 20.
_SHAPE_REACH = 64
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_cache: tuple[int, float, tuple[str, ...]] = (-1, 0.0, ())
_known: tuple[object, list[str]] = (None, [])
# The clock itself, not the determinism watch's wrapper of it (installed in workflows): this runs per step.
_monotonic = getattr(time.monotonic, "__wrapped__", time.monotonic)


def secret_values() -> tuple[str, ...]:
    """Secret-looking environment values (8+ characters), longest first.

    Cached for a second (or until the environment's size changes): scanning the
    environment on every step would cost more than the step.
    """
    global _cache
    marker = len(os.environ)
    now = _monotonic()
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
    """Every secret value to mask, longest first (so a key that contains another is masked whole).

    The watched variables are read every time, as before; the list is built again only when they,
    :func:`secret_values` or the registered secrets changed (this runs for every step with inputs,
    and building it was most of a step's redaction).
    """
    global _known
    values = secret_values()
    watched = tuple(os.environ.get(name, "") for name in _WATCHED_ENVS)
    marker = (values, len(_REGISTERED), watched)
    if _known[0] == marker:
        return _known[1]
    found = set(watched) | _REGISTERED | set(values)
    listed = sorted((v for v in found if len(v) >= _MIN_LEN), key=len, reverse=True)
    _known = (marker, listed)
    return listed


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every known secret value, and every credential-shaped string, masked."""
    for value in known_secrets() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    if "sk-" in text or "Bearer" in text:  # the regexes only where they can match (this runs per step)
        for pattern in _PATTERNS:
            text = pattern.sub(MASK, text)
    return text


def redact_clipped(text: str, limit: int, secrets: list[str] | None = None, *, tail: bool = False) -> str:
    """``text`` redacted, then cut to ``limit`` characters (the last ones with ``tail``), marked with "…".

    Redacting first is the point: a secret that crosses the cut is masked whole, where cutting first
    would leave a fragment no check recognises. Only a window around the kept part is redacted, so a
    huge text costs what its preview costs; the window grows until the part kept cannot hold a piece
    of a secret that the window's own edge cut.
    """
    if len(text) <= limit:
        return redact_text(text, secrets)
    secrets = known_secrets() if secrets is None else secrets
    margin = max((len(s) for s in secrets), default=0) + _SHAPE_REACH
    window = limit + margin
    while True:
        part = text[-window:] if tail else text[:window]
        red = redact_text(part, secrets)
        if window >= len(text) or len(red) >= limit + margin:
            break
        window *= 2  # masks shrank the window: widen it so its edge stays far from what is kept
    if len(red) <= limit and window >= len(text):
        return red
    return "…" + red[-(limit - 1) :] if tail else red[: limit - 1] + "…"


def redact_strings(value: object, secrets: list[str] | None = None) -> object:
    """A copy of a JSON-like value with every string (keys too) redacted; other values unchanged."""
    secrets = known_secrets() if secrets is None else secrets
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_strings(k, secrets): redact_strings(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_strings(v, secrets) for v in value]
    return value


class StreamRedactor:
    """Redacts text that arrives in pieces (streamed tokens), where a secret may be split across pieces.

    ``feed`` returns what is safe to show now: the text so far, redacted, minus a held-back tail that
    could be the start of a secret (a prefix of a known value, or a run of token characters a
    credential shape could continue). ``flush`` returns the rest at the end.
    """

    _TOKEN_TAIL = re.compile(r"(?:\bBearer\s*|\bsk-?)?[A-Za-z0-9._~+/=-]*\Z")

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets = known_secrets() if secrets is None else secrets
        self._pending = ""

    def feed(self, piece: str) -> str:
        buf = self._pending + piece
        split = len(buf) - self._hold(buf)
        # Never split inside a whole secret that starts before the split and ends after it.
        moved = True
        while moved:
            moved = False
            for secret in self._secrets:
                start = buf.find(secret, max(0, split - len(secret) + 1))
                if 0 <= start < split < start + len(secret):
                    split, moved = start, True
        self._pending = buf[split:]
        return redact_text(buf[:split], self._secrets)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return redact_text(rest, self._secrets)

    def _hold(self, buf: str) -> int:
        """How many trailing characters could still become part of a secret."""
        hold = 0
        for secret in self._secrets:
            for k in range(min(len(secret) - 1, len(buf)), hold, -1):
                if buf.endswith(secret[:k]):
                    hold = k
                    break
        # A credential shape has no known length; hold up to 256 characters of one (a longer run of token
        # characters, say base64 data, is let through once the shape's regex has masked its start).
        match = self._TOKEN_TAIL.search(buf[-256:])
        if match is not None:
            hold = max(hold, len(match.group()))
        return hold
