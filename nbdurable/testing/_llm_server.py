"""A scripted LLM server on loopback for tests and offline notebooks.

A real HTTP server (stdlib, one thread per request) that speaks OpenAI chat
completions, OpenAI's Responses API (without streaming) and the Anthropic messages
API, including tool calls and SSE streaming (chat completions and messages),
so the official clients and ``step.ai.infer`` can be tested end to end without a
provider. Answers come from a script; every request is counted and recorded, which
lets a test prove that a resumed run sent no completed call twice.

Run it in-process (``with ScriptedLLMServer(script=[...]) as server:``) or as its own
process: ``python -m nbdurable.testing._llm_server --port 0 --script script.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, cast

from .._errors import ConfigError

__all__ = [
    "RecordedRequest",
    "ScriptedError",
    "ScriptedLLMServer",
    "ToolCall",
    "Turn",
    "error",
    "reply",
    "tool_call",
]


@dataclass(frozen=True)
class ToolCall:
    """One tool call the scripted model makes; ``id`` is generated when not given."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Turn:
    """One scripted model answer: text, tool calls, or both.

    ``usage`` is (input, output) tokens; by default both are estimated from the
    request and answer sizes, deterministically. ``delay`` holds the answer back (to
    kill a process while a call is in flight); ``chunk_delay`` paces streamed chunks;
    ``cut_after`` closes a stream after that many events, as a dropped connection would.
    """

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    model: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None


@dataclass(frozen=True)
class ScriptedError:
    """An HTTP error answer in the provider's error format (429, 500, 400, ...)."""

    status: int
    message: str | None = None
    retry_after: float | str | None = None
    type: str | None = None
    delay: float = 0.0


ScriptItem = Turn | ScriptedError | str | Sequence[Turn] | Mapping[str, Any]


def reply(
    text: str,
    *,
    usage: tuple[int, int] | None = None,
    finish_reason: str | None = None,
    model: str | None = None,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
    cut_after: int | None = None,
) -> Turn:
    """A text answer."""
    return Turn(text, (), finish_reason, usage, model, delay, chunk_delay, cut_after)


def tool_call(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    text: str | None = None,
    usage: tuple[int, int] | None = None,
    delay: float = 0.0,
) -> Turn:
    """An answer that calls one tool; put several in a list for parallel calls in one turn."""
    return Turn(text, (ToolCall(name, dict(args or {}), id),), None, usage, None, delay)


def error(
    status: int, message: str | None = None, *, retry_after: float | str | None = None, type: str | None = None
) -> ScriptedError:
    """An error answer, e.g. ``error(429, retry_after=2)`` or ``error(400, "bad request")``."""
    return ScriptedError(status, message, retry_after, type)


@dataclass
class RecordedRequest:
    """A request the server received, as it saw it (headers included: it plays the provider)."""

    number: int
    method: str
    path: str
    provider: str | None
    headers: dict[str, str]
    body: Any
    stream: bool = False
    status: int | None = None  # what the server answered; None while in flight

    @property
    def messages(self) -> list[Any]:
        """The request's messages (empty when there are none)."""
        body = self.body if isinstance(self.body, Mapping) else {}
        messages = body.get("messages", body.get("input"))  # chat and messages APIs; the Responses API's input
        return list(messages) if isinstance(messages, list) else []

    @property
    def turn(self) -> int:
        """How many model answers the conversation already holds: which answer the request asks for.

        A Responses API answer can be several items (text, function calls) that come back as
        consecutive input items; they count once.
        """
        count, previous = 0, False
        grouped = self.path.endswith("/responses")
        for item in self.messages:
            answer = isinstance(item, Mapping) and (
                item.get("role") == "assistant" or item.get("type") in ("function_call", "reasoning")
            )
            if answer and not (grouped and previous):
                count += 1
            previous = answer
        return count


# --------------------------------------------------------------------------- normalizing scripts


def _coerce(item: Any) -> Turn | ScriptedError:
    """One script item as a Turn or ScriptedError (strings, lists of turns, JSON dicts)."""
    if isinstance(item, (Turn, ScriptedError)):
        return item
    if isinstance(item, str):
        return reply(item)
    if isinstance(item, Mapping):
        return _from_json(item)
    if isinstance(item, Sequence) and item and all(isinstance(t, Turn) for t in item):
        texts = [t.text for t in item if t.text]
        first = item[0]
        return Turn(
            "".join(texts) if texts else None,
            tuple(c for t in item for c in t.tool_calls),
            first.finish_reason,
            first.usage,
            first.model,
            max(t.delay for t in item),
            first.chunk_delay,
        )
    raise ConfigError(
        f"ScriptedLLMServer: cannot use {item!r} as a script item; use reply(text), tool_call(name, args), "
        "a list of tool_call(...) for parallel calls, error(status), or a string."
    )


def _from_json(item: Mapping[str, Any]) -> Turn | ScriptedError:
    usage = item.get("usage")
    usage_pair = (int(usage[0]), int(usage[1])) if isinstance(usage, (list, tuple)) and len(usage) == 2 else None
    delay = float(item.get("delay", 0.0))
    if "error" in item:
        return ScriptedError(int(item["error"]), item.get("message"), item.get("retry_after"), item.get("type"), delay)
    calls = tuple(
        ToolCall(str(c["name"]), dict(c.get("args") or c.get("arguments") or {}), c.get("id"))
        for c in item.get("tool_calls") or ()
    )
    text = item.get("reply", item.get("text"))
    if text is None and not calls:
        raise ConfigError(
            f"ScriptedLLMServer: script entry {dict(item)!r} has none of 'reply', 'text', 'tool_calls' or 'error'."
        )
    return Turn(
        text, calls, item.get("finish_reason"), usage_pair, item.get("model"), delay, float(item.get("chunk_delay", 0))
    )


# --------------------------------------------------------------------------- wire formats


def _estimate_tokens(obj: Any) -> int:
    # About four characters per token, like the providers' rule of thumb; deterministic.
    text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, default=str)
    return max(1, len(text) // 4)


def _chunks(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [text]


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _validate_openai(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    pending: set[Any] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, Mapping) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"messages[{i}].role must be one of system, developer, user, assistant, tool; got {role!r}"
        assert isinstance(msg, Mapping)
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                return (
                    f"messages[{i}]: messages with role 'tool' must be a response to a preceding message with "
                    f"'tool_calls' (unknown tool_call_id {call_id!r})"
                )
            pending.discard(call_id)
            continue
        if pending:
            return f"messages[{i}]: the tool_calls {sorted(map(str, pending))} were not answered by tool messages"
        if role == "assistant":
            for call in msg.get("tool_calls") or []:
                pending.add(call.get("id"))
    return None


def _validate_anthropic(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending: set[Any] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, Mapping) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        assert isinstance(msg, Mapping)
        content = msg.get("content")
        blocks = content if isinstance(content, list) else []
        if role == "user":
            answered = {
                b.get("tool_use_id") for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_result"
            }
            unknown = answered - pending
            if unknown:
                found = sorted(map(str, unknown))
                return f"messages.{i}.content: unexpected tool_use_id found in tool_result blocks: {found}"
            if pending - answered:
                return (
                    f"messages.{i}: tool_use ids were found without tool_result blocks immediately after: "
                    f"{sorted(map(str, pending - answered))}"
                )
            pending = set()
        else:
            if pending:
                return f"messages.{i}: tool_use ids {sorted(map(str, pending))} were not answered"
            pending = {b.get("id") for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_use"}
    return None


def _openai_message(turn: Turn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text, "refusal": None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or _new_id("call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.args))},
            }
            for call in turn.tool_calls
        ]
    return message


def _anthropic_content(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    for call in turn.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id or _new_id("toolu_"), "name": call.name, "input": dict(call.args)}
        )
    if not blocks:
        blocks.append({"type": "text", "text": ""})
    return blocks


def _usage_pair(turn: Turn, body: Mapping[str, Any]) -> tuple[int, int]:
    if turn.usage is not None:
        return turn.usage
    prompt = {k: body.get(k) for k in ("system", "instructions", "messages", "input", "tools")}
    answer = (turn.text or "") + "".join(json.dumps(dict(c.args)) + c.name for c in turn.tool_calls)
    return _estimate_tokens(prompt), _estimate_tokens(answer)


def _openai_events(turn: Turn, body: Mapping[str, Any], model: str) -> Iterator[str]:
    message = _openai_message(turn)
    head = {"id": _new_id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps(
            {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        )

    yield chunk({"role": "assistant", "content": ""})
    for piece in _chunks(turn.text) if turn.text else []:
        yield chunk({"content": piece})
    for k, call in enumerate(message.get("tool_calls") or []):
        fn = call["function"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": k,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": fn["name"], "arguments": ""},
                    }
                ]
            }
        )
        half = len(fn["arguments"]) // 2
        for part in (fn["arguments"][:half], fn["arguments"][half:]):
            yield chunk({"tool_calls": [{"index": k, "function": {"arguments": part}}]})
    yield chunk({}, turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop"))
    if include_usage:
        tokens_in, tokens_out = _usage_pair(turn, body)
        usage = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}
        yield json.dumps({**head, "choices": [], "usage": usage})
    yield "[DONE]"


def _anthropic_events(turn: Turn, body: Mapping[str, Any], model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    tokens_in, tokens_out = _usage_pair(turn, body)
    start: dict[str, Any] = {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": tokens_in, "output_tokens": 1},
    }
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(_anthropic_content(turn)):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
            for piece in _chunks(block["text"]) if block["text"] else []:
                yield (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                )
        else:
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                },
            )
            args = json.dumps(block["input"])
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                )
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    stop = turn.finish_reason or ("tool_use" if turn.tool_calls else "end_turn")
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": tokens_out},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _error_body(provider: str | None, status: int, message: str, kind: str | None) -> dict[str, Any]:
    default_kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        422: "invalid_request_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error" if provider == "anthropic" else "server_error")
    if provider == "anthropic":
        return {"type": "error", "error": {"type": kind or default_kind, "message": message}}
    return {"error": {"message": message, "type": kind or default_kind, "param": None, "code": None}}


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


def _validate_responses(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "Missing required parameter: 'model'."
    items = body.get("input")
    if body.get("stream"):
        return "ScriptedLLMServer: streaming is not scripted for the Responses API; call it without stream=True."
    if isinstance(items, str):
        return None
    if not isinstance(items, list) or not items:
        return "Missing required parameter: 'input'."
    calls: set[Any] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            return f"input[{i}] must be an object"
        if item.get("type") == "function_call":
            calls.add(item.get("call_id"))
        elif item.get("type") == "function_call_output" and item.get("call_id") not in calls:
            return f"No tool call found for function call output with call_id {item.get('call_id')!r}."
    return None


def _validator(path: str, provider: str) -> Callable[[Mapping[str, Any]], str | None]:
    if path.endswith("/responses"):
        return _validate_responses
    return _validate_openai if provider == "openai" else _validate_anthropic


def _responses_payload(turn: Turn, model: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    """A Responses API answer: a message item for the text, a function_call item per tool call."""
    output: list[dict[str, Any]] = []
    if turn.text:
        output.append(
            {
                "type": "message",
                "id": _new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": turn.text, "annotations": [], "logprobs": []}],
            }
        )
    for call in turn.tool_calls:
        output.append(
            {
                "type": "function_call",
                "id": _new_id("fc_"),
                "call_id": call.id or _new_id("call_"),
                "name": call.name,
                "arguments": json.dumps(dict(call.args)),
                "status": "completed",
            }
        )
    return {
        "id": _new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": tokens_in,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": tokens_out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens_in + tokens_out,
        },
    }


# --------------------------------------------------------------------------- the server


class ScriptedLLMServer:
    """A real HTTP server on 127.0.0.1 answering OpenAI and Anthropic calls from a script.

    ``script`` is a list of answers (``reply``, ``tool_call``, a list of tool calls
    for one turn, ``error``, plain strings) or a callable ``(RecordedRequest) -> answer``.
    ``mode="sequential"`` (default) gives the next unused answer to each request;
    ``mode="by_turn"`` picks the answer by the number of assistant messages in the
    request, so a resent request gets the same answer again (agents killed
    mid-call). ``errors`` maps 1-based request numbers to errors injected before the
    script is consulted (the script does not advance). With ``api_key`` set, requests
    without that key in the provider's header get a 401.

    Point clients at ``openai_base_url`` (OpenAI SDK, ``nd.ai.openai``) or
    ``anthropic_base_url`` (Anthropic SDK, ``nd.ai.anthropic``).
    """

    def __init__(
        self,
        script: Sequence[ScriptItem] | Callable[[RecordedRequest], ScriptItem] = (),
        *,
        errors: Mapping[int, ScriptedError | int] | None = None,
        mode: Literal["sequential", "by_turn"] = "sequential",
        api_key: str | None = None,
        model: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if mode not in ("sequential", "by_turn"):
            raise ConfigError(f"ScriptedLLMServer: mode must be 'sequential' or 'by_turn', got {mode!r}.")
        self._callable: Callable[[RecordedRequest], ScriptItem] | None = script if callable(script) else None
        self._script: list[Turn | ScriptedError] = [] if callable(script) else [_coerce(i) for i in script]
        self._errors = {
            int(n): (e if isinstance(e, ScriptedError) else ScriptedError(int(e))) for n, e in (errors or {}).items()
        }
        self._mode = mode
        self._next = 0
        self._api_key = api_key
        self._model = model
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ScriptedLLMServer:
        """Start serving in a daemon thread; returns self so ``server = ScriptedLLMServer(...).start()`` works."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="ScriptedLLMServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    close = stop

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by the command line)."""
        self.start()
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(timeout=0.5)

    # ----------------------------------------------------------------- addresses

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise ConfigError("ScriptedLLMServer is not running; use it as a context manager or call start().")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)`` and ``nd.ai.openai(..., base_url=...)``."""
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For ``anthropic.Anthropic(base_url=...)`` and ``nd.ai.anthropic(..., base_url=...)``."""
        return self.base_url

    # ----------------------------------------------------------------- what was seen

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        """How many LLM requests arrived (errors included)."""
        with self._lock:
            return len(self._requests)

    @property
    def completed(self) -> int:
        """How many requests were answered with 200."""
        with self._lock:
            return sum(1 for r in self._requests if r.status == 200)

    @property
    def remaining(self) -> int:
        """Answers left in a sequential script."""
        with self._lock:
            return len(self._script) - self._next

    def add(self, *items: ScriptItem) -> None:
        """Append answers to the script."""
        coerced = [_coerce(i) for i in items]
        with self._lock:
            self._script.extend(coerced)

    @staticmethod
    def fetch_requests(base_url: str, timeout: float = 10.0) -> list[RecordedRequest]:
        """The requests recorded by a server running in another process (``python -m ...``)."""
        url = f"{base_url.rstrip('/')}/_scripted/requests"
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"ScriptedLLMServer.fetch_requests: {base_url!r} is not an http(s) URL.")
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            return [RecordedRequest(**r) for r in json.loads(resp.read())]

    # ----------------------------------------------------------------- answering

    def _choose(self, record: RecordedRequest) -> Turn | ScriptedError:
        """Decide the answer for a request (called with the lock held)."""
        if record.number in self._errors:
            return self._errors[record.number]
        if self._callable is not None:
            return _coerce(self._callable(record))
        index = record.turn if self._mode == "by_turn" else self._next
        if index >= len(self._script):
            return ScriptedError(
                400,
                f"ScriptedLLMServer: the script has no answer for request #{record.number} "
                f"(answer {index + 1} wanted, {len(self._script)} scripted); add more with server.add(...).",
                type="script_exhausted",
            )
        if self._mode == "sequential":
            self._next += 1
        return self._script[index]

    def _authorized(self, provider: str, headers: Mapping[str, str]) -> bool:
        if self._api_key is None:
            return True
        if provider == "openai":
            return headers.get("authorization") == f"Bearer {self._api_key}"
        return headers.get("x-api-key") == self._api_key or headers.get("authorization") == f"Bearer {self._api_key}"


class _HTTPServer(ThreadingHTTPServer):
    """The HTTP server of one ScriptedLLMServer: its handlers reach the script through ``scripted``."""

    def __init__(self, address: tuple[str, int], scripted: ScriptedLLMServer) -> None:
        self.scripted = scripted
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """One connection to the scripted server: records each request, answers it in the provider's wire format."""

    protocol_version = "HTTP/1.1"
    server_version = "ScriptedLLMServer/1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, a keep-alive client's delayed
    # ACK holds each answer back about 40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status, _REASONS.get(status))
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    # -- GET: what the test asks the server, and the model listing ------------------------------------

    def do_GET(self) -> None:
        scripted = self.server.scripted
        path = self.path.rstrip("/")
        if path == "/_scripted/requests":
            self._send_json(200, [asdict(r) for r in scripted.requests])
        elif path == "/_scripted/count":
            self._send_json(200, {"count": scripted.count, "completed": scripted.completed})
        elif path.endswith("/models"):
            model = {"id": scripted._model or "scripted-model", "object": "model", "created": 0, "owned_by": "scripted"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, {"error": {"message": f"no route for GET {self.path}", "type": "not_found"}})

    # -- POST: a model call ------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        record, answer = self._record(path)
        if answer.delay:
            time.sleep(answer.delay)
        try:
            if isinstance(answer, ScriptedError):
                self._answer_error(record, answer)
            else:
                self._answer_turn(record, answer)
        except (BrokenPipeError, ConnectionResetError):
            record.status = -1  # the client went away mid-answer

    def _record(self, path: str) -> tuple[RecordedRequest, Turn | ScriptedError]:
        """Read and record the request; the scripted answer (or the error a bad request gets)."""
        scripted = self.server.scripted
        provider = _provider_of(path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        stream = bool(isinstance(body, Mapping) and body.get("stream"))
        with scripted._lock:
            record = RecordedRequest(
                len(scripted._requests) + 1, "POST", path, provider, headers, copy.deepcopy(body), stream
            )
            scripted._requests.append(record)
            return record, _answer_for(scripted, record)

    def _answer_error(self, record: RecordedRequest, err: ScriptedError) -> None:
        record.status = err.status
        headers = {} if err.retry_after is None else {"retry-after": str(err.retry_after)}
        message = err.message or f"scripted {err.status} {_REASONS.get(err.status, 'error')}"
        self._send_json(err.status, _error_body(record.provider, err.status, message, err.type), headers)

    def _answer_turn(self, record: RecordedRequest, turn: Turn) -> None:
        body = record.body
        assert isinstance(body, Mapping)
        model = turn.model or self.server.scripted._model or str(body.get("model"))
        if record.stream:
            self._stream(record, turn, body, model)
            return
        tokens_in, tokens_out = _usage_pair(turn, body)
        payload: dict[str, Any]
        if record.path.endswith("/responses"):
            payload = _responses_payload(turn, model, tokens_in, tokens_out)
        elif record.provider == "openai":
            payload = _chat_payload(turn, model, tokens_in, tokens_out)
        else:
            payload = _messages_payload(turn, model, tokens_in, tokens_out)
        record.status = 200
        self._send_json(200, payload)

    def _stream(self, record: RecordedRequest, turn: Turn, body: Mapping[str, Any], model: str) -> None:
        self.send_response(200, "OK")
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        events: Iterator[tuple[str | None, str]]
        if record.provider == "openai":
            events = ((None, data) for data in _openai_events(turn, body, model))
        else:
            events = ((name, json.dumps(data)) for name, data in _anthropic_events(turn, body, model))
        for sent, (name, data) in enumerate(events):
            if turn.cut_after is not None and sent >= turn.cut_after:
                break
            frame = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
            self.wfile.write(frame.encode())
            self.wfile.flush()
            if turn.chunk_delay:
                time.sleep(turn.chunk_delay)
        record.status = 200


def _provider_of(path: str) -> str | None:
    """Which provider's API a POST path is: "openai", "anthropic", or None (no such route)."""
    if path.endswith(("/chat/completions", "/responses")):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    return None


def _answer_for(scripted: ScriptedLLMServer, record: RecordedRequest) -> Turn | ScriptedError:
    """The answer to a recorded request: an error for a bad route, key or body, else the script's (under its lock)."""
    body = record.body
    if record.provider is None:
        return ScriptedError(
            404, f"no route for POST {record.path}; use /v1/chat/completions, /v1/responses or /v1/messages"
        )
    if not scripted._authorized(record.provider, record.headers):
        return ScriptedError(401, "Incorrect API key provided.", type="authentication_error")
    if not isinstance(body, Mapping):
        return ScriptedError(400, "the request body must be a JSON object")
    if problem := _validator(record.path, record.provider)(body):
        return ScriptedError(400, problem)
    try:
        return scripted._choose(record)
    except Exception as exc:  # a broken callable script shows up in the test, not as a hang
        return ScriptedError(500, f"ScriptedLLMServer: the script raised {exc!r}")


def _chat_payload(turn: Turn, model: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    """An OpenAI chat completion answering with ``turn``."""
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": _openai_message(turn),
                "logprobs": None,
                "finish_reason": turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop"),
            }
        ],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }


def _messages_payload(turn: Turn, model: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    """An Anthropic message answering with ``turn``."""
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_content(turn),
        "stop_reason": turn.finish_reason or ("tool_use" if turn.tool_calls else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
    }


# --------------------------------------------------------------------------- command line


def _load_script(path: str) -> tuple[list[Any], dict[int, ScriptedError | int], str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        return data, {}, "sequential"
    errors: dict[int, ScriptedError | int] = {}
    for number, spec in (data.get("errors") or {}).items():
        parsed = _from_json(spec) if isinstance(spec, Mapping) else ScriptedError(int(spec))
        if not isinstance(parsed, ScriptedError):
            raise ConfigError(f"{path}: errors[{number!r}] must be a status code or {{'error': status, ...}}.")
        errors[int(number)] = parsed
    return list(data.get("script") or []), errors, str(data.get("mode", "sequential"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run a scripted server until interrupted; prints its base URL on the first line."""
    parser = argparse.ArgumentParser(
        prog="python -m nbdurable.testing._llm_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--script", help="JSON file: a list of answers, or {script, errors, mode}")
    parser.add_argument("--mode", choices=("sequential", "by_turn"), default=None)
    parser.add_argument("--api-key-env", help="require the key held in this environment variable")
    parser.add_argument("--model", help="model name to report in answers (default: the requested one)")
    args = parser.parse_args(argv)
    script, errors, mode = _load_script(args.script) if args.script else ([], {}, "sequential")
    api_key = None
    if args.api_key_env:
        import os

        api_key = os.environ.get(args.api_key_env)
    chosen = args.mode or mode
    if chosen not in ("sequential", "by_turn"):
        raise ConfigError(f"{args.script}: mode must be 'sequential' or 'by_turn', got {chosen!r}.")
    server = ScriptedLLMServer(
        script,
        errors=errors,
        mode=cast(Literal["sequential", "by_turn"], chosen),
        api_key=api_key,
        model=args.model,
        host=args.host,
        port=args.port,
    )
    server.start()
    print(json.dumps({"base_url": server.base_url, "port": server.port}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
