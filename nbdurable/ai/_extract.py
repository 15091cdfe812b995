"""Reading what a provider answered: model, tokens, finish reason and cost of any response an SDK returned."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from ._models import AICall, _usage_of, redact

__all__ = ["extract"]


# --------------------------------------------------------------------------- reading responses


def _finish_reason(data: Mapping[str, Any]) -> str | None:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    for key in ("stop_reason", "finish_reason", "status"):
        value = data.get(key)
        if isinstance(value, str):
            return value
    return None


def _provider_of(data: Mapping[str, Any]) -> str | None:
    kind = data.get("object")
    if isinstance(kind, str) and (
        kind.startswith("chat.completion") or kind in ("response", "list", "text_completion")
    ):
        return "openai"
    if data.get("type") == "message" and "content" in data:
        return "anthropic"
    if "choices" in data:
        return "openai"
    provider = data.get("provider_name")  # Pydantic AI's ModelResponse
    return provider if isinstance(provider, str) and provider else None


def _jsonable(obj: Any) -> Any:
    """A JSON-serializable view of an SDK result, so the journal keeps a plain response."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        try:
            return _jsonable(model_dump(mode="json"))
        except TypeError:  # a model_dump with another signature (pydantic v1 shims): try the generic way
            pass
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    try:
        from pydantic_core import to_jsonable_python

        return to_jsonable_python(obj, fallback=repr)
    except Exception:
        return repr(obj)


def extract(
    response: Any,
    *,
    request: Mapping[str, Any] | None = None,
    latency: float | None = None,
    model: str | None = None,
    keep_response: bool = True,
    provider: str | None = None,
) -> AICall:
    """Read model, usage, finish reason and a JSON response from what an SDK call returned.

    Accepts the official openai and anthropic clients' pydantic objects, plain dicts in
    either wire format, or anything else (then only what can be found is filled in and
    the rest stays None, meaning unknown). ``request`` (the call's keyword arguments) is
    redacted before it is kept; ``model`` is a fallback when the response names none.
    ``keep_response=False`` leaves the response out (a step that journals it as its
    output): copying and redacting a long response costs more than the rest of the step.
    ``provider`` (default: read from the response's shape) picks whose price the cost uses.
    """
    # A mapping is read as it is when only its top-level fields are wanted.
    data = response if not keep_response and isinstance(response, Mapping) else _jsonable(response)
    record = AICall(
        request=None if request is None else redact(_jsonable(dict(request))),
        response=redact(data) if keep_response else None,
        latency=latency,
        model=model,
    )
    if isinstance(data, Mapping):
        name = data.get("model") or data.get("model_name")  # a provider's response, or Pydantic AI's ModelResponse
        if isinstance(name, str) and name:
            record.model = name
        record.provider = provider or _provider_of(data)
        record.finish_reason = _finish_reason(data)
    if record.model is None and request is not None and isinstance(request.get("model"), str):
        record.model = request["model"]
    if isinstance(data, Mapping):
        record.set_usage(_usage_of(data.get("usage")))
    return record
