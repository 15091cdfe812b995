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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import NonRetriableError, RetryAfterError
from .._redact import redact_clipped

if TYPE_CHECKING:
    import httpx

from ._adapter import StreamError, provider_message
from ._extract import extract
from ._models import (
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


def _safe_url(url: str) -> str:
    """The URL without user:password or query string, for error messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _where(model: Model) -> str:
    return f"{model.provider} {model.adapter.api} at {_safe_url(model.url)} (model {model.model!r})"


def _raise_for_status(model: Model, status: int, reason: str, headers: httpx.Headers, text: str) -> None:
    message = redact(provider_message(text))
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
    model.adapter.prepare(sent, stream=stream)
    return sent


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
    headers = model.adapter.headers(model, key)
    where = _where(model)
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0))) as client:
            if stream:
                async with client.stream("POST", model.url, json=sent, headers=headers) as resp:
                    if resp.status_code >= 300:
                        await resp.aread()
                        _raise_for_status(model, resp.status_code, resp.reason_phrase, resp.headers, resp.text)
                    data = await _read_stream(model, resp, on_delta)
            else:
                resp = await client.post(model.url, json=sent, headers=headers)
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
        raise NonRetriableError(f"{where} answered with an error: {redact(provider_message(json.dumps(data)))}.")
    record = extract(data, request=sent, latency=latency, model=model.model, provider=model.provider)
    record.base_url = _safe_url(model.base_url)
    record.streamed = stream
    return record


async def _read_stream(model: Model, resp: httpx.Response, on_delta: Callable[[str], None] | None) -> dict[str, Any]:
    where = _where(model)
    parser = _SSE()
    assembler = model.adapter.assembler(on_delta)
    try:
        async for line in resp.aiter_lines():
            item = parser.feed(line.rstrip("\r"))
            if item is None:
                continue
            assembler.feed(*item)
            if assembler.done:
                break
        item = parser.feed("")  # a last event without its blank line
        if item is not None and not assembler.done:
            assembler.feed(*item)
    except StreamError as exc:
        message = f"{where} sent an error in the middle of the stream: {redact(str(exc))}"
        if exc.retriable:
            raise RetryAfterError(f"{message}. The step will be retried.", SERVER_ERROR_DELAY) from None
        raise NonRetriableError(f"{message}. Retrying will not help; fix the request.") from None
    except ValueError as exc:
        raise RetryAfterError(
            f"{where} sent a stream event that is not JSON ({exc}); the step will be retried.", SERVER_ERROR_DELAY
        ) from None
    if not assembler.finished():
        raise RetryAfterError(
            f"{where} closed the stream before the response was complete; the step will be retried.",
            CONNECTION_ERROR_DELAY,
        )
    return assembler.result()
