"""What nbdurable needs to know of one model API, behind one small Protocol: an adapter per provider.

``step.ai.infer``'s HTTP call (``_http``) and ``nd.agent`` speak to a model only through
an :class:`Adapter`: where to POST, the request's defaults and headers, how a stream is
assembled into one response, and, for the agent, how tools, tool calls and their
results are spelled. One module per provider (``_openai``, ``_anthropic``) holds
everything of its wire format; a new provider is one module and one line in
:func:`adapter_for`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._redact import redact_clipped

if TYPE_CHECKING:
    from ._models import Model

__all__ = ["Adapter", "StreamAssembler", "StreamError", "ToolCall", "adapter_for", "emit", "provider_message"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call a model asked for, read from its response."""

    id: str
    name: str
    arguments: Any  # the parsed JSON, or None when it did not parse
    problem: str | None = None  # why the arguments could not be read, told back to the model


class StreamError(Exception):
    """An error event in the middle of a stream (``retriable``: a retry of the step may succeed)."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class StreamAssembler(Protocol):
    """Builds one response from a provider's stream events, as if it had not been streamed."""

    done: bool

    def feed(self, event: str | None, data: str) -> None: ...

    def finished(self) -> bool:
        """Whether the response is complete (a stream closed before that is retried)."""
        ...

    def result(self) -> dict[str, Any]: ...


class Adapter(Protocol):
    """One provider's wire format."""

    name: str  # the provider, as ``Model.provider`` names it
    api: str  # how messages name its API ("chat completions")

    def url(self, base_url: str) -> str:
        """The endpoint calls POST to."""
        ...

    def prepare(self, sent: dict[str, Any], *, stream: bool) -> None:
        """Fill in the request body's provider defaults and its streaming fields, in place."""
        ...

    def headers(self, model: Model, key: str | None) -> dict[str, str]: ...

    def assembler(self, on_delta: Callable[[str], None] | None) -> StreamAssembler: ...

    # -- nd.agent's dialect ------------------------------------------------------------------------------

    def tool_schema(self, name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]: ...

    def first_messages(self, messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
        """The transcript an agent starts with (a system prompt goes here or in the body)."""
        ...

    def agent_body(
        self, body: dict[str, Any], *, system: str | None, tools: list[dict[str, Any]], max_tokens: int | None
    ) -> None:
        """Put an agent's system prompt, tools and token limit into a request body, in place."""
        ...

    def read_turn(self, response: Mapping[str, Any]) -> tuple[str, list[ToolCall], dict[str, Any]]:
        """(text, tool calls, the assistant message for the transcript) from a response."""
        ...

    def tool_results(self, results: Sequence[tuple[ToolCall, str, bool]]) -> list[dict[str, Any]]:
        """The messages that answer tool calls: (call, content, is_error) each."""
        ...


def adapter_for(provider: str) -> Adapter | None:
    """The adapter of a provider nbdurable speaks to, None for an unknown one."""
    from ._anthropic import ANTHROPIC
    from ._openai import OPENAI

    adapters: dict[str, Adapter] = {OPENAI.name: OPENAI, ANTHROPIC.name: ANTHROPIC}
    return adapters.get(provider)


def provider_message(text: str) -> str:
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


def emit(on_delta: Callable[[str], None] | None, text: str) -> None:
    """Hand streamed text to the display callback; one that raises never fails a paid-for call."""
    if on_delta is None or not text:
        return
    try:
        on_delta(text)
    except Exception as exc:
        warnings.warn(f"nd.ai: the streaming callback raised {exc!r}; ignoring it.", RuntimeWarning, stacklevel=2)
