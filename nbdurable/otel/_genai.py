"""An AI step's attributes under the OpenTelemetry GenAI semantic conventions.

Read from what the step journaled (``meta["ai"]`` and its output), so a span says exactly
what the journal says. Prompt and completion content are added only when asked for, in the
conventions' message shape, through the same redaction as the journal.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .._redact import redact_text

__all__ = ["ai_attributes", "content_attributes"]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def operation(ai: Mapping[str, Any], output: Any) -> str:
    """``gen_ai.operation.name``: embeddings for an embeddings response, else chat."""
    if isinstance(output, Mapping) and output.get("object") == "list":
        return "embeddings"
    return "chat"


def request_model(ai: Mapping[str, Any]) -> str | None:
    request = ai.get("request")
    asked = request.get("model") if isinstance(request, Mapping) else None
    return _str(asked) or _str(ai.get("model"))


def ai_attributes(ai: Mapping[str, Any], output: Any) -> dict[str, Any]:
    """Usage, models, finish reason, server and cost of one AI step (new work only: never for a replay)."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation(ai, output),
        "gen_ai.provider.name": _str(ai.get("provider")) or "_OTHER",
    }
    optional = {
        "gen_ai.request.model": request_model(ai),
        "gen_ai.response.model": _str(ai.get("model")),
        "gen_ai.usage.input_tokens": _int(ai.get("tokens_in")),
        "gen_ai.usage.output_tokens": _int(ai.get("tokens_out")),
        "gen_ai.usage.cache_read.input_tokens": _int(ai.get("cache_read_tokens")),
        "gen_ai.usage.cache_creation.input_tokens": _int(ai.get("cache_write_tokens")),
        "gen_ai.usage.reasoning.output_tokens": _int(ai.get("reasoning_tokens")),
        "nbdurable.ai.cost_usd": _number(ai.get("cost")),
        "nbdurable.ai.latency": _number(ai.get("latency")),
        "nbdurable.ai.streamed": ai.get("streamed") if isinstance(ai.get("streamed"), bool) else None,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    reason = _str(ai.get("finish_reason"))
    if reason:
        attrs["gen_ai.response.finish_reasons"] = [reason]
    if isinstance(output, Mapping) and _str(output.get("id")):
        attrs["gen_ai.response.id"] = output["id"]
    price = ai.get("price")
    if isinstance(price, Mapping):
        for key in ("source", "as_of"):
            if _str(price.get(key)):
                attrs[f"nbdurable.ai.price.{key}"] = price[key]
    base = _str(ai.get("base_url"))
    if base:
        url = urllib.parse.urlsplit(base)
        if url.hostname:
            attrs["server.address"] = url.hostname
            attrs["server.port"] = url.port or (443 if url.scheme == "https" else 80)
    return attrs


# ---------------------------------------------------------------- content (opt-in)


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def _result(call_id: Any, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def _answer(parts: list[dict[str, Any]], reason: Any) -> dict[str, Any]:
    return {"role": "assistant", "parts": parts, "finish_reason": str(reason or "")}


def _parts(content: Any) -> list[dict[str, Any]]:
    """A message's content as the conventions' parts: text, tool calls and tool results; anything else as is."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if not isinstance(content, list):
        return [] if content is None else [{"type": "text", "content": json.dumps(content, default=str)}]
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, Mapping):
            parts.append({"type": "text", "content": str(block)})
        elif block.get("type") in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": block.get("text", "")})
        elif block.get("type") == "tool_use":
            parts.append(
                {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
            )
        elif block.get("type") == "tool_result":
            parts.append(
                {"type": "tool_call_response", "id": block.get("tool_use_id"), "response": block.get("content")}
            )
        else:
            parts.append({"type": str(block.get("type") or "unknown"), "content": dict(block)})
    return parts


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for call in calls if isinstance(calls, list) else []:
        fn = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(fn, Mapping):
            args: Any = fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    pass
            out.append(_call(call.get("id"), fn.get("name"), args))
    return out


def _input_messages(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = request.get("messages")
    out = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role") or "user")
        parts = _parts(message.get("content")) + _tool_calls(message.get("tool_calls"))
        if role == "tool":
            parts = [
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": message.get("content")}
            ]
        out.append({"role": role, "parts": parts})
    return out


def _output_messages(output: Any) -> list[dict[str, Any]]:
    if not isinstance(output, Mapping):
        return [] if output is None else [_answer(_parts(output), "")]
    choices = output.get("choices")
    if isinstance(choices, list):  # OpenAI chat completions
        out = []
        for choice in choices:
            if isinstance(choice, Mapping) and isinstance(choice.get("message"), Mapping):
                message = choice["message"]
                parts = _parts(message.get("content")) + _tool_calls(message.get("tool_calls"))
                out.append(
                    {"role": "assistant", "parts": parts, "finish_reason": str(choice.get("finish_reason") or "")}
                )
        return out
    if output.get("type") == "message":  # Anthropic messages
        return [
            {
                "role": "assistant",
                "parts": _parts(output.get("content")),
                "finish_reason": str(output.get("stop_reason") or ""),
            }
        ]
    return [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": json.dumps(output, default=str)}],
            "finish_reason": "",
        }
    ]


def _redacted_json(value: Any) -> str:
    return redact_text(json.dumps(value, ensure_ascii=False, default=str))


def content_attributes(ai: Mapping[str, Any], output: Any) -> dict[str, str]:
    """``gen_ai.input.messages``, ``gen_ai.system_instructions`` and ``gen_ai.output.messages`` as JSON strings."""
    from ..ai import redact

    request = redact(ai.get("request"))
    response = redact(output)
    attrs: dict[str, str] = {}
    if isinstance(request, Mapping):
        messages = _input_messages(request)
        if messages:
            attrs["gen_ai.input.messages"] = _redacted_json(messages)
        system = request.get("system") or request.get("instructions")
        if system:
            attrs["gen_ai.system_instructions"] = _redacted_json(_parts(system))
    outputs = _output_messages(response)
    if outputs:
        attrs["gen_ai.output.messages"] = _redacted_json(outputs)
    return attrs
