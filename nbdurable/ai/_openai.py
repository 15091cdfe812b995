"""The OpenAI chat-completions API (and every server compatible with it): nbdurable's adapter for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._redact import redact_clipped
from ._adapter import StreamError, ToolCall, emit, provider_message

if TYPE_CHECKING:
    from ._models import Model

__all__ = ["OPENAI", "OpenAIAdapter", "OpenAIStream"]


class OpenAIAdapter:
    """Chat completions: ``{base_url}/chat/completions``, a bearer key, tools as functions."""

    name = "openai"
    api = "chat completions"

    def url(self, base_url: str) -> str:
        return f"{base_url}/chat/completions"

    def prepare(self, sent: dict[str, Any], *, stream: bool) -> None:
        if stream:
            sent["stream"] = True
            sent.setdefault("stream_options", {"include_usage": True})  # the last chunk says the tokens used
        else:
            sent.pop("stream", None)

    def headers(self, model: Model, key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return headers

    def assembler(self, on_delta: Callable[[str], None] | None) -> OpenAIStream:
        return OpenAIStream(on_delta)

    def tool_schema(self, name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}

    def first_messages(self, messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
        return [{"role": "system", "content": system}, *messages] if system else messages

    def agent_body(
        self, body: dict[str, Any], *, system: str | None, tools: list[dict[str, Any]], max_tokens: int | None
    ) -> None:
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if tools:
            body["tools"] = tools

    def read_turn(self, response: Mapping[str, Any]) -> tuple[str, list[ToolCall], dict[str, Any]]:
        choices = response.get("choices") or []
        message = (choices[0].get("message") or {}) if choices else {}
        raw_content = message.get("content")
        if isinstance(raw_content, list):  # some OpenAI-compatible servers send content parts
            text = "".join(p.get("text", "") for p in raw_content if isinstance(p, Mapping))
        else:
            text = raw_content or ""
        calls = []
        sent_calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            arguments_text = function.get("arguments") or "{}"
            try:
                arguments, problem = json.loads(arguments_text), None
            except ValueError as exc:
                arguments, problem = (
                    None,
                    f"the arguments are not valid JSON ({exc}): {redact_clipped(arguments_text, 200)}",
                )
            calls.append(ToolCall(str(call.get("id")), str(function.get("name")), arguments, problem))
            sent_calls.append(
                {
                    "id": call.get("id"),
                    "type": call.get("type") or "function",
                    "function": {"name": function.get("name"), "arguments": arguments_text},
                }
            )
        assistant: dict[str, Any] = {"role": "assistant", "content": raw_content}
        if sent_calls:
            assistant["tool_calls"] = sent_calls
        return text, calls, assistant

    def tool_results(self, results: Sequence[tuple[ToolCall, str, bool]]) -> list[dict[str, Any]]:
        return [{"role": "tool", "tool_call_id": call.id, "content": content} for call, content, _error in results]


OPENAI = OpenAIAdapter()


class OpenAIStream:
    """Assembles chat.completion.chunk events into one chat.completion response."""

    def __init__(self, on_delta: Callable[[str], None] | None) -> None:
        self.on_delta = on_delta
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: Any = None
        self.done = False

    def feed(self, event: str | None, data: str) -> None:
        if data.strip() == "[DONE]":
            self.done = True
            return
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            return
        if isinstance(chunk.get("error"), Mapping):
            raise StreamError(provider_message(data), retriable=True)
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                self.head[key] = chunk[key]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index", 0))
            slot = self.choices.setdefault(
                index, {"role": "assistant", "content": [], "tool_calls": {}, "finish_reason": None, "refusal": []}
            )
            delta = choice.get("delta") or {}
            if delta.get("role"):
                slot["role"] = delta["role"]
            if delta.get("content"):
                slot["content"].append(delta["content"])
                if index == 0:
                    emit(self.on_delta, delta["content"])
            if delta.get("refusal"):
                slot["refusal"].append(delta["refusal"])
            for call in delta.get("tool_calls") or []:
                position = int(call.get("index", len(slot["tool_calls"])))
                entry = slot["tool_calls"].setdefault(
                    position, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if call.get("id"):
                    entry["id"] = call["id"]
                if call.get("type"):
                    entry["type"] = call["type"]
                function = call.get("function") or {}
                if function.get("name"):
                    entry["function"]["name"] += function["name"]
                if function.get("arguments"):
                    entry["function"]["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]

    def finished(self) -> bool:
        return self.done or any(c["finish_reason"] for c in self.choices.values())

    def result(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self.choices):
            slot = self.choices[index]
            message: dict[str, Any] = {
                "role": slot["role"],
                "content": "".join(slot["content"]) if slot["content"] else None,
                "refusal": "".join(slot["refusal"]) if slot["refusal"] else None,
            }
            if slot["tool_calls"]:
                message["tool_calls"] = [slot["tool_calls"][k] for k in sorted(slot["tool_calls"])]
            choices.append(
                {"index": index, "message": message, "finish_reason": slot["finish_reason"], "logprobs": None}
            )
        return {
            "id": self.head.get("id"),
            "object": "chat.completion",
            "created": self.head.get("created"),
            "model": self.head.get("model"),
            "choices": choices,
            "usage": self.usage,
            **{k: self.head[k] for k in ("system_fingerprint", "service_tier") if k in self.head},
        }
