"""The Anthropic messages API: nbdurable's adapter for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._adapter import StreamError, ToolCall, emit, provider_message

if TYPE_CHECKING:
    from ._models import Model

__all__ = ["ANTHROPIC", "DEFAULT_MAX_TOKENS", "AnthropicAdapter", "AnthropicStream"]

# The messages API requires max_tokens; a body without it gets this.
DEFAULT_MAX_TOKENS = 4096


class AnthropicAdapter:
    """Messages API: ``{base_url}/v1/messages``, ``x-api-key`` and ``anthropic-version``, tool_use blocks."""

    name = "anthropic"
    api = "messages API"

    def url(self, base_url: str) -> str:
        return f"{base_url}/v1/messages"

    def prepare(self, sent: dict[str, Any], *, stream: bool) -> None:
        sent.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        if stream:
            sent["stream"] = True
        else:
            sent.pop("stream", None)

    def headers(self, model: Model, key: str | None) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": model.anthropic_version,
        }
        if key is not None:
            headers["x-api-key"] = key
        return headers

    def assembler(self, on_delta: Callable[[str], None] | None) -> AnthropicStream:
        return AnthropicStream(on_delta)

    def tool_schema(self, name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "description": description, "input_schema": parameters}

    def first_messages(self, messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
        return messages  # the system prompt goes in the body

    def agent_body(
        self, body: dict[str, Any], *, system: str | None, tools: list[dict[str, Any]], max_tokens: int | None
    ) -> None:
        body["max_tokens"] = max_tokens or body.get("max_tokens") or DEFAULT_MAX_TOKENS
        if system:
            body["system"] = system
        if tools:
            body["tools"] = tools

    def read_turn(self, response: Mapping[str, Any]) -> tuple[str, list[ToolCall], dict[str, Any]]:
        content = response.get("content") or []
        text = "".join(b.get("text", "") for b in content if isinstance(b, Mapping) and b.get("type") == "text")
        calls = [
            ToolCall(str(b.get("id")), str(b.get("name")), b.get("input"))
            for b in content
            if isinstance(b, Mapping) and b.get("type") == "tool_use"
        ]
        return text, calls, {"role": "assistant", "content": list(content)}

    def tool_results(self, results: Sequence[tuple[ToolCall, str, bool]]) -> list[dict[str, Any]]:
        blocks = []
        for call, content, is_error in results:
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": content}
            if is_error:
                block["is_error"] = True
            blocks.append(block)
        return [{"role": "user", "content": blocks}]


ANTHROPIC = AnthropicAdapter()


class AnthropicStream:
    """Assembles messages-API stream events into one message response."""

    def __init__(self, on_delta: Callable[[str], None] | None) -> None:
        self.on_delta = on_delta
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial_json: dict[int, list[str]] = {}
        self.done = False

    def feed(self, event: str | None, data: str) -> None:
        payload = json.loads(data)
        if not isinstance(payload, dict):
            return
        kind = payload.get("type", event)
        if kind == "message_start":
            self.message = dict(payload.get("message") or {})
        elif kind == "content_block_start":
            index = int(payload.get("index", len(self.blocks)))
            self.blocks[index] = dict(payload.get("content_block") or {})
        elif kind == "content_block_delta":
            index = int(payload.get("index", 0))
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            delta = payload.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
                emit(self.on_delta, delta.get("text", ""))
            elif dtype == "input_json_delta":
                self.partial_json.setdefault(index, []).append(delta.get("partial_json", ""))
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif dtype == "signature_delta":
                block["signature"] = block.get("signature", "") + delta.get("signature", "")
            elif dtype == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "content_block_stop":
            self._close_block(int(payload.get("index", 0)))
        elif kind == "message_delta":
            for key, value in (payload.get("delta") or {}).items():
                self.message[key] = value
            usage = payload.get("usage")
            if isinstance(usage, Mapping):
                merged = dict(self.message.get("usage") or {})
                merged.update({k: v for k, v in usage.items() if v is not None})
                self.message["usage"] = merged
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error = payload.get("error") or {}
            retriable = error.get("type") in ("overloaded_error", "api_error", "rate_limit_error")
            raise StreamError(provider_message(data), retriable=retriable)

    def finished(self) -> bool:
        return self.done

    def _close_block(self, index: int) -> None:
        parts = self.partial_json.pop(index, None)
        if parts is not None:
            text = "".join(parts)
            self.blocks.setdefault(index, {})["input"] = json.loads(text) if text.strip() else {}

    def result(self) -> dict[str, Any]:
        for index in list(self.partial_json):
            self._close_block(index)
        message = dict(self.message)
        message["content"] = [self.blocks[k] for k in sorted(self.blocks)]
        return message
