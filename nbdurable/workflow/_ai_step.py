"""``step.ai``: LLM calls as steps, journaled with what they cost and said.

An AI step is a ``step.run`` of kind "ai": memoized by name, retried (429 and 5xx
honour Retry-After through RetryAfterError), never paid for twice after a
restart. Its metadata (model, redacted request, tokens, latency, cost) goes to
the journal and the timeline; credentials never do.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine._executor import StepSpec, execute
from ._step import not_callable

if TYPE_CHECKING:
    from ..ai import Model
    from ..engine._runstate import RunState
    from ..flow import Limit

__all__ = ["AIStep"]

T = TypeVar("T")


def _ai_meta(call: Any, *, drop_response: bool) -> dict[str, Any]:
    info = dataclasses.asdict(call) if dataclasses.is_dataclass(call) and not isinstance(call, type) else dict(call)
    if drop_response:
        # The response is the step's output already; storing it twice would double the journal's size.
        info.pop("response", None)
    return {"ai": info}


def _limit_for(explicit: str | Limit | None, provider: str | None) -> Limit | None:
    """The shared nd.Limit an AI step waits for: the one named, else the one named after its provider."""
    from ..flow import Limit, limits

    if isinstance(explicit, Limit):
        return explicit
    if explicit is not None:
        if explicit not in limits():
            from .._errors import ConfigError

            raise ConfigError(f"no nd.Limit named {explicit!r}; define it with nd.Limit({explicit!r}, ...)")
        return limits()[explicit]
    return limits().get(provider) if provider else None


def _provider_of(fn: Any) -> str | None:
    module = getattr(getattr(fn, "__self__", None), "__module__", "") or getattr(fn, "__module__", "") or ""
    for provider in ("openai", "anthropic"):
        if module.startswith(provider):
            return provider
    return None


class AIStep:
    """``step.ai.infer`` (nbdurable makes the HTTP call) and ``step.ai.wrap`` (any SDK call)."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    async def infer(
        self,
        name: str,
        *,
        model: Model,
        body: dict[str, Any],
        stream: bool = False,
        retries: int | None = None,
        timeout: float = 600.0,
        limit: str | Limit | None = None,
    ) -> dict[str, Any]:
        """Call the model's HTTP API once for this run and return the provider's JSON response.

        ``body`` is the provider's request body (``messages``, ``tools``,
        ``max_tokens``...); the model name comes from ``model``. With
        ``stream=True`` tokens show on the timeline as they arrive and the journal
        keeps the assembled final response.
        """
        from ..ai._http import infer

        st = self._state
        step_id, position = st.next_id(name)
        holder: dict[str, Any] = {}

        def on_delta(text: str) -> None:
            # Tokens show on the timeline as they arrive (the step's output preview); the journal
            # keeps only the assembled final response. RunState.stream redacts across tokens.
            st.stream(step_id, text)

        async def call(**_inputs: Any) -> Any:  # the inputs are hashed by the step; the call closes over them
            result = await infer(model, body, stream=stream, on_delta=on_delta if stream else None, timeout=timeout)
            holder["call"] = result
            return result.response

        spec = StepSpec(
            name,
            "ai",
            call,
            (),
            {"model": model.model, "provider": model.provider, "body": body},
            # Rate limits and 5xx are routine for model APIs: retry them even where steps default to no retries.
            retries=retries if retries is not None else max(st.retries, 3),
            meta_of=lambda _v: _ai_meta(holder["call"], drop_response=True),
            limit=_limit_for(limit, model.provider),
        )
        value: dict[str, Any] = await execute(st, spec, step_id, position)
        return value

    async def wrap(
        self,
        name: str,
        fn: Callable[..., Awaitable[T]] | Callable[..., T],
        *args: Any,
        retries: int | None = None,
        **kwargs: Any,
    ) -> T:
        """Run an existing SDK call (``client.chat.completions.create``, ``client.messages.create``...) as a step.

        The response is journaled (a pydantic SDK object comes back as the same
        class on replay when ``fn``'s return annotation names it, as the official
        SDKs' do) and model, tokens and finish reason are read from it for the timeline.
        ``retries`` is taken by the step (default: the run's), as in ``step.run``.
        """
        from .. import ai as _ai

        if not callable(fn):
            raise TypeError(not_callable("step.ai.wrap", name, fn))
        st = self._state
        step_id, position = st.next_id(name)
        started: dict[str, float] = {}

        async def call(*_args: Any, **_kwargs: Any) -> Any:  # same values as args/kwargs, closed over
            started["t"] = time.perf_counter()
            out = fn(*args, **kwargs)
            if hasattr(out, "__await__"):
                out = await out
            started["latency"] = time.perf_counter() - started["t"]
            return out

        def meta_of(value: Any) -> dict[str, Any]:
            # The response is the step's output already: it is not copied into the metadata.
            info = _ai.extract(value, keep_response=False)
            info_dict = dataclasses.asdict(info) if dataclasses.is_dataclass(info) else dict(info)
            info_dict.pop("response", None)
            request = {k: v for k, v in kwargs.items() if k not in ("extra_headers", "api_key", "timeout")}
            info_dict["request"] = _ai.redact(request)
            info_dict["latency"] = started.get("latency")
            return {"ai": info_dict}

        # The SDK call's return annotation (e.g. ChatCompletion | Stream[...]) says which classes replay may rebuild.
        spec = StepSpec(name, "ai", call, args, kwargs, retries=retries, meta_of=meta_of, hint=fn)
        value: T = await execute(st, spec, step_id, position)
        return value
