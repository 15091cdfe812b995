"""The OpenAI Agents SDK on nbdurable: ``NbDurableRunner.run`` is ``Runner.run`` with every model call,
tool call, handoff and guardrail a journaled step.

Modelled on DBOS's runner for the SDK: the starting agent (and every agent reachable
through its handoffs) is cloned with its model wrapped so each ``get_response`` is a
step (the response is journaled as JSON and rebuilt on replay, so a completed model
call is never sent again), its function tools wrapped so each call is a step named
after the tool and its call id (parallel calls replay into the right call whatever
order they start in), its handoffs journaled, and its guardrails run as steps.

Inside a ``%%durable`` cell or an ``@nd.function`` the run joins the run executing
there; elsewhere ``await NbDurableRunner.run(agent, input, run_id=...)`` starts (or
resumes, or replays) a run of its own and returns the SDK's ``RunResult``.
Streaming (``run_streamed``) is not durable and is refused.
"""

from __future__ import annotations

from . import require

require("agents", "openai-agents")

import contextlib
import dataclasses
import functools
import inspect
from collections.abc import AsyncIterator
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    Handoff,
    Model,
    ModelResponse,
    RunConfig,
    Runner,
    RunResult,
)
from agents.models.multi_provider import MultiProvider
from agents.tool import FunctionTool
from agents.tool_context import ToolContext
from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from .._errors import ConfigError, NonDeterminismError
from ..workflow import Step, join_or_start, workflow_step

__all__ = ["NbDurableRunner"]

_RESPONSE = TypeAdapter(ModelResponse)


class _State:
    """What the wrappers of one durable agent run share: the agents already wrapped, by identity."""

    def __init__(self, retries: int | None) -> None:
        self.retries = retries
        self.wrapped: dict[int, Agent[Any]] = {}


class _DurableModel(Model):
    """A model whose every response is a step (kind "ai": model, tokens and cost on the timeline)."""

    def __init__(self, model: Model, agent_name: str, state: _State) -> None:
        self.model = model
        self._agent = agent_name
        self._state = state

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        step = workflow_step()
        if step is None:  # inside another step's own code: that step is what is journaled
            return await self.model.get_response(*args, **kwargs)
        name = getattr(self.model, "model", None) or type(self.model).__name__

        async def call(**_inputs: Any) -> dict[str, Any]:
            response = await self.model.get_response(*args, **kwargs)
            payload: dict[str, Any] = _RESPONSE.dump_python(response, mode="json")
            # For the timeline's AI row: which model answered, and the token counts under the usual names.
            payload["model"] = str(name)
            return payload

        payload: dict[str, Any] = await step.ai.wrap(
            f"{self._agent}.model", call, retries=self._state.retries, model=str(name)
        )
        return _RESPONSE.validate_python({k: v for k, v in payload.items() if k != "model"})

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise ConfigError(
            "NbDurableRunner does not stream: a streamed model call cannot be journaled as one step. "
            "Use NbDurableRunner.run(); the timeline shows each model call as it completes."
        )

    async def close(self) -> None:
        closer = getattr(self.model, "close", None)
        if closer is not None:
            await closer()


class _DurableProvider(MultiProvider):
    """Resolves model names as the SDK does, then wraps the model so its calls are steps."""

    def __init__(self, state: _State, agent_name: str) -> None:
        super().__init__()
        self._state = state
        self._agent = agent_name

    def get_model(self, model_name: str | None) -> Model:
        return _DurableModel(super().get_model(model_name), self._agent, self._state)


def _wrap_tool(tool: FunctionTool, agent_name: str, state: _State) -> FunctionTool:
    invoke = tool.on_invoke_tool

    async def on_invoke_tool(ctx: ToolContext[Any], tool_input: str) -> Any:
        step = workflow_step()
        if step is None:
            return await invoke(ctx, tool_input)

        async def call(**_inputs: Any) -> Any:
            return to_jsonable_python(await invoke(ctx, tool_input), fallback=str)

        # The call id comes from the journaled model response: the same on every replay.
        return await step.run(
            f"{agent_name}.tool.{tool.name}#{ctx.tool_call_id}", call, retries=state.retries, arguments=tool_input
        )

    return dataclasses.replace(tool, on_invoke_tool=on_invoke_tool)


def _wrap_guardrail(guardrail: Any, agent_name: str, kind: str, state: _State) -> Any:
    function = guardrail.guardrail_function

    async def guardrail_function(*args: Any) -> GuardrailFunctionOutput:
        async def check() -> GuardrailFunctionOutput:
            out = function(*args)
            return await out if inspect.isawaitable(out) else out  # type: ignore[no-any-return]

        step = workflow_step()
        if step is None:
            return await check()

        async def call() -> dict[str, Any]:
            out = await check()
            return {
                "output_info": to_jsonable_python(out.output_info, fallback=str),
                "tripwire_triggered": out.tripwire_triggered,
            }

        done = await step.run(f"{agent_name}.{kind}.{guardrail.get_name()}", call, retries=state.retries)
        return GuardrailFunctionOutput(output_info=done["output_info"], tripwire_triggered=done["tripwire_triggered"])

    return dataclasses.replace(guardrail, guardrail_function=guardrail_function, name=guardrail.get_name())


def _handoff_target(handoff: Handoff[Any, Any]) -> Agent[Any] | None:
    """The agent a handoff goes to, without calling it (which would run its ``on_handoff`` callback again).

    ``agents.handoff(agent, ...)`` keeps the agent in its invoke function's closure (behind a
    ``functools.partial`` in recent releases); a hand-written ``Handoff`` may build it on the fly, and then
    None says "ask by calling".
    """
    todo: list[tuple[Any, int]] = [(handoff.on_invoke_handoff, 0)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, Agent):
            if value.name == handoff.agent_name:
                return value
            continue
        if depth >= 3:  # the SDK's own wrapping is two levels deep; user closures are not searched further
            continue
        if isinstance(value, functools.partial):
            todo.extend((v, depth + 1) for v in (value.func, *value.args, *value.keywords.values()))
        for cell in getattr(value, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                todo.append((cell.cell_contents, depth + 1))
    return None


def _wrap_handoff(handoff: Handoff[Any, Any], agent_name: str, state: _State) -> Handoff[Any, Any]:
    invoke = handoff.on_invoke_handoff

    async def on_invoke_handoff(ctx: Any, input_json: str) -> Agent[Any]:
        step = workflow_step()
        if step is None:
            return _wrap_agent(await invoke(ctx, input_json), state)
        reached: list[Agent[Any]] = []

        async def call(**_inputs: Any) -> str:
            target = await invoke(ctx, input_json)  # runs the handoff's on_handoff callback, once
            reached.append(target)
            return str(target.name)

        target_name = await step.run(f"{agent_name}.handoff.{handoff.tool_name}", call, arguments=input_json)
        if not reached:
            # Replayed: the callback ran before the restart and must not run again. The agent object is not
            # journaled: take it from what the handoff holds; only a custom handoff that holds none is asked again.
            known = _handoff_target(handoff)
            reached.append(known if known is not None else await invoke(ctx, input_json))
        if reached[0].name != target_name:
            raise NonDeterminismError(
                f"{step.run_id!r}: handoff {handoff.tool_name!r} went to {target_name!r} when journaled and to "
                f"{reached[0].name!r} now"
            )
        return _wrap_agent(reached[0], state)

    return dataclasses.replace(handoff, on_invoke_handoff=on_invoke_handoff)


def _wrap_agent(agent: Agent[Any], state: _State) -> Agent[Any]:
    """A clone of ``agent`` whose model, tools, guardrails and handoffs (recursively) are steps."""
    done = state.wrapped.get(id(agent))
    if done is not None:
        return done
    changes: dict[str, Any] = {}
    if isinstance(agent.model, Model) and not isinstance(agent.model, _DurableModel):
        changes["model"] = _DurableModel(agent.model, agent.name, state)
    changes["tools"] = [_wrap_tool(t, agent.name, state) if isinstance(t, FunctionTool) else t for t in agent.tools]
    changes["input_guardrails"] = [_wrap_guardrail(g, agent.name, "input", state) for g in agent.input_guardrails]
    changes["output_guardrails"] = [_wrap_guardrail(g, agent.name, "output", state) for g in agent.output_guardrails]
    clone = agent.clone(**changes)
    state.wrapped[id(agent)] = clone
    from agents.handoffs import handoff as make_handoff

    clone.handoffs = [
        _wrap_handoff(h if isinstance(h, Handoff) else make_handoff(h), agent.name, state) for h in agent.handoffs
    ]
    return clone


def _run_guardrails(config: RunConfig, agent_name: str, state: _State) -> RunConfig:
    return dataclasses.replace(
        config,
        input_guardrails=[_wrap_guardrail(g, agent_name, "input", state) for g in config.input_guardrails or []],
        output_guardrails=[_wrap_guardrail(g, agent_name, "output", state) for g in config.output_guardrails or []],
    )


def _journal_result(result: RunResult) -> Any:
    return {"final_output": to_jsonable_python(result.final_output, fallback=str)}


class NbDurableRunner:
    """``Runner`` with nbdurable underneath (see the module's docstring)."""

    @classmethod
    async def run(
        cls,
        starting_agent: Agent[Any],
        input: Any,
        *,
        run_id: str | None = None,
        retries: int | None = None,
        run_config: RunConfig | None = None,
        **kwargs: Any,
    ) -> RunResult:
        """Run the agent as ``Runner.run`` does, each model call, tool call, handoff and guardrail a step.

        ``run_id`` names the nbdurable run started outside a cell or function (call again
        with it to resume or replay); ``retries`` is each step's retries (default: the
        run's, 0 for runs started here). Other keyword arguments go to ``Runner.run``.
        """
        state = _State(retries)
        config = run_config or RunConfig()
        config = dataclasses.replace(config, model_provider=_DurableProvider(state, starting_agent.name))
        config = _run_guardrails(config, starting_agent.name, state)

        async def body(_step: Step) -> RunResult:
            return await Runner.run(_wrap_agent(starting_agent, state), input, run_config=config, **kwargs)

        return await join_or_start(
            body,
            function_id=f"openai-agents:{starting_agent.name}",
            run_id=run_id,
            data={"input": input} if isinstance(input, str) else {},
            journal_as=_journal_result,
            retries=0,
        )

    @classmethod
    def run_sync(cls, starting_agent: Agent[Any], input: Any, **kwargs: Any) -> RunResult:
        """``run`` from synchronous code (not inside a running event loop, such as a notebook's)."""
        import asyncio

        return asyncio.run(cls.run(starting_agent, input, **kwargs))

    @classmethod
    def run_streamed(cls, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            "NbDurableRunner.run_streamed is not available: a streamed run cannot be replayed step by step. "
            "Use NbDurableRunner.run()."
        )
