"""Pydantic AI on nbdurable: every model request, tool call and MCP call of an agent is a journaled step.

``DurableAgent(agent)`` wraps any ``pydantic_ai.Agent`` the way Pydantic AI's own
``DBOSAgent``/``TemporalAgent`` did; ``NbDurability()`` is the same engine as a
capability for ``Agent(..., capabilities=[NbDurability()])``. Both are built on
Pydantic AI's public durable-execution surface (``BaseDurabilityCapability`` with a
callable operation backend and the JSON codec): Pydantic AI decides what is a durable
unit and hands each one over; nbdurable runs it as a step, so a kernel restart
replays finished requests and tool calls from the journal and runs only the rest.

Inside a ``%%durable`` cell or an ``@nd.function`` an agent run joins the run
executing there; elsewhere ``await durable.run(prompt, run_id=...)`` starts (or
resumes) a run of its own. Deferred tools (approval required, or executed outside)
wait durably for an event: the timeline's Approve button, ``nd.agent.approve`` or
``%durable send nbdurable/tool.approval`` answer an approval, and
``%durable send nbdurable/tool.result`` an external call, across restarts.
"""

from __future__ import annotations

from . import require

require("pydantic_ai", "pydantic-ai", note="Pydantic AI 2 needs Python >= 3.11")

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Generic

from pydantic import JsonValue
from pydantic_ai import RunContext
from pydantic_ai.agent import AbstractAgent, AgentRunResult, EventStreamHandler, WrapperAgent
from pydantic_ai.capabilities import AgentCapability
from pydantic_ai.durable_exec import (
    JSON_CODEC,
    BaseDurabilityCapability,
    CallableOperationBackend,
    CapabilityOperationId,
    DurabilityEngineSpec,
    DurableOperationId,
    EventStreamHandlerId,
    ExternalEventError,
    ExternalEventWaiter,
    JournalOperationNamer,
    ModelRequestId,
    RoleBasedOperationConfig,
    ToolsetCallToolId,
    ToolsetGetInstructionsId,
    ToolsetGetToolsId,
    ToolsetValidateToolArgumentsId,
    conversation_id_from_run_id,
    external_event_scope,
)
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import AgentStreamEvent, PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta
from pydantic_ai.models import Model
from pydantic_ai.output import OutputDataT
from pydantic_ai.tools import (
    AgentDepsT,
    DeferredToolRequests,
    DeferredToolResults,
    ToolApproved,
    ToolDenied,
)

from .._duration import Duration, parse_duration
from .._errors import ConfigError
from ..ai._approval import APPROVAL_EVENT
from ..engine import Event
from ..workflow import Step, join_or_start, send, stream_text, workflow_step

__all__ = [
    "EXTERNAL_EVENT",
    "RESULT_EVENT",
    "DurableAgent",
    "NbDurability",
    "resolve_external_event",
    "send_tool_result",
]

RESULT_EVENT = "nbdurable/tool.result"
"""Answers a tool call executed outside the agent: ``{"call_id": ..., "result": ...}`` or ``"error"``."""

EXTERNAL_EVENT = "nbdurable/external_event"
"""The event that resolves a ``wait_for_external_event`` token: ``{"token": ..., "payload": ...}`` (or ``"error"``)."""

_StepConfig = dict[str, Any]


def _short(operation_id: DurableOperationId, agent: str, label: str | None) -> str | None:
    """The step name of one durable unit: short enough to read on the timeline, stable across releases."""
    match operation_id:
        case ModelRequestId(model_id=model_id, streaming=streaming):
            suffix = "" if model_id is None else f"[{model_id}]"
            return f"{agent}.model{'-stream' if streaming else ''}{suffix}"
        case ToolsetCallToolId(toolset_kind=kind, toolset_id=toolset_id):
            return f"{agent}.{'mcp.' + toolset_id + '.' if kind == 'mcp' else 'tool.'}{label}"
        case ToolsetValidateToolArgumentsId(toolset_id=toolset_id):
            return f"{agent}.validate.{label}"
        case ToolsetGetToolsId(toolset_id=toolset_id):
            return f"{agent}.{toolset_id}.tools"
        case ToolsetGetInstructionsId(toolset_id=toolset_id):
            return f"{agent}.{toolset_id}.instructions"
        case EventStreamHandlerId():
            return f"{agent}.event"
        case CapabilityOperationId(capability_id=capability_id, operation=operation):
            return f"{agent}.{capability_id}.{operation}"
    return None


class _Namer(JournalOperationNamer):
    """Step names for an agent's durable units; they are journaled, so they never change once released."""

    def __init__(self, agent_name: str) -> None:
        super().__init__(agent_name)
        self._agent = agent_name

    def invocation_name(self, operation_id: DurableOperationId, *, label: str | None) -> Any:
        named = super().invocation_name(operation_id, label=label)
        short = _short(operation_id, self._agent, label)
        return named if short is None else dataclasses.replace(named, operation_name=short)


def _tool_call_id(cache_key: tuple[object, ...]) -> str | None:
    for part in cache_key:
        if isinstance(part, RunContext):
            return part.tool_call_id
    return None


def _tool_args(cache_key: tuple[object, ...]) -> Any:
    # The tool call's projection is (name, arguments, run context, tool).
    return cache_key[1] if len(cache_key) > 1 and isinstance(cache_key[1], Mapping) else None


class _StepBackend(CallableOperationBackend[_StepConfig]):
    """Runs each durable unit Pydantic AI hands over as one nbdurable step of the run executing here."""

    def __init__(self, agent_name: str, *, retries: int | None) -> None:
        config: _StepConfig = {"retries": retries}
        super().__init__(
            namer=_Namer(agent_name),
            config=RoleBasedOperationConfig(model=config, event=config, capability=config, tool=config),
        )

    async def execute(
        self,
        *,
        operation_id: DurableOperationId,
        name: str,
        body: Callable[[], Awaitable[object]],
        cache_key: tuple[object, ...],
        config: _StepConfig,
    ) -> object:
        step = workflow_step()
        if step is None:  # inside another step's code: that step's result is what gets journaled
            return await body()
        retries = (config or {}).get("retries")

        async def unit(**_inputs: Any) -> object:  # the inputs are hashed and shown by the step
            return await body()

        if isinstance(operation_id, ModelRequestId):
            model = operation_id.model_name or operation_id.model_id
            return await step.ai.wrap(name, unit, retries=retries, model=model)
        if isinstance(operation_id, (ToolsetCallToolId, ToolsetValidateToolArgumentsId)):
            # The call id comes from the journaled model response, so it is the same on every replay; in the
            # step's name it keeps parallel calls of one tool apart whatever order they reach this point in.
            call_id = _tool_call_id(cache_key)
            step_name = f"{name}#{call_id}" if call_id else name
            return await step.run(step_name, unit, retries=retries, arguments=_tool_args(cache_key))
        return await step.run(name, unit, retries=retries)


class _StepWaiter(ExternalEventWaiter):
    """``wait_for_external_event`` (and ``RequestInput``) inside a durable run: a journaled ask, then a durable wait."""

    def __init__(self, agent_name: str) -> None:
        self._agent = agent_name

    async def wait(
        self, name: str, *, ask: Callable[[str], Awaitable[JsonValue]], timeout: timedelta | None
    ) -> JsonValue:
        step = workflow_step()
        if step is None:
            raise ExternalEventError(f"{self._agent}: no nbdurable run is executing here to wait in")
        token = str(step.uuid())  # journaled: the same token on every replay
        answer = await step.run(f"{self._agent}.ask.{name}", ask, token)
        if answer is not None:
            return answer
        seconds = "3650d" if timeout is None else timeout.total_seconds()
        event = await step.wait_for_event(
            f"{self._agent}.wait.{name}",
            event=EXTERNAL_EVENT,
            timeout=seconds,
            if_exp=f"async.data.token == {json.dumps(token)}",
        )
        if event is None:
            raise ExternalEventError(f"No resolution arrived within {timeout}.")
        if "error" in event.data:
            raise ExternalEventError(str(event.data["error"]))
        payload: JsonValue = event.data.get("payload")
        return payload


def _stream_to_timeline(handler: EventStreamHandler[Any] | None) -> EventStreamHandler[Any]:
    """An event handler that shows a streamed model answer's text on the timeline, then calls ``handler``."""

    async def show(ctx: RunContext[Any], events: Any) -> None:
        async def tee() -> AsyncIterator[AgentStreamEvent]:
            async for event in events:
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    stream_text(event.part.content)
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    stream_text(event.delta.content_delta)
                yield event

        if handler is None:
            async for _ in tee():
                pass
        else:
            await handler(ctx, tee())

    return show


@dataclasses.dataclass(init=False, kw_only=True)
class NbDurability(BaseDurabilityCapability[AgentDepsT]):
    """The capability that makes an agent's runs durable on nbdurable (see the module's docstring).

    Outside an nbdurable run it changes nothing; inside one (a ``%%durable`` cell, an
    ``@nd.function``, or a run ``DurableAgent.run`` starts), each model request, tool
    call and MCP call is a step. ``retries`` is each such step's retries (default:
    the run's). ``approval_timeout`` bounds the wait for a deferred tool call's answer;
    ``answer_deferred_calls=False`` leaves deferred calls to other capabilities (such
    as ``RequestInput``) or to the run's ``DeferredToolRequests`` output.
    """

    engine_spec = DurabilityEngineSpec(
        engine_name="nbdurable",
        durable_unit_noun="step",
        durable_unit_plural="steps",
        durable_container_noun="run",
        # The journal stores JSON, and decoding it must never build arbitrary classes: values cross as JSON and
        # are validated back into Pydantic AI's own types.
        codec=JSON_CODEC,
        wrapped_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        toolset_lifecycles={"function": "enter-always", "mcp": "enter-in-durable-unit", "dynamic": "enter-never"},
        unsupported_runtime_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        journal_discovery=True,
        sequential_tools_in_durable_context=False,
        tool_config_key="nbdurable",
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        models: Mapping[str, Model] | None = None,
        event_stream_handler: EventStreamHandler[AgentDepsT] | None = None,
        retries: int | None = None,
        approval_timeout: Duration = "24h",
        answer_deferred_calls: bool = True,
    ) -> None:
        super().__init__(models=models, event_stream_handler=event_stream_handler, name=name)
        if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or retries < 0):
            raise ConfigError(f"NbDurability: retries must be an integer >= 0 or None, got {retries!r}")
        self._retries = retries
        self._approval_timeout = approval_timeout
        self._approval_seconds = parse_duration(approval_timeout, what="NbDurability approval_timeout")
        self._answer_deferred_calls = answer_deferred_calls
        self._backend: _StepBackend | None = None

    def _bind_to_agent(self, agent: AbstractAgent[AgentDepsT, Any]) -> None:
        self._backend = _StepBackend(self.name, retries=self._retries)
        self._register_toolsets(agent)

    @property
    def in_durable_context(self) -> bool:
        return workflow_step() is not None

    def get_durable_operation_backend(self) -> _StepBackend:
        if self._backend is None:
            self._backend = _StepBackend(self.name, retries=self._retries)
        return self._backend

    def get_default_run_id(self) -> str | None:
        step = workflow_step()
        return None if step is None else str(step.uuid())

    def get_default_conversation_id(self, run_id: str) -> str | None:
        return conversation_id_from_run_id(run_id) if self.in_durable_context else None

    async def get_run_start_time(self, run_id: str) -> datetime | None:
        # Journaled, so a resumed run counts its timeout= from when it first started.
        step = workflow_step()
        return None if step is None else step.now()

    def _model_stream_event_handler(self) -> EventStreamHandler[AgentDepsT] | None:
        return _stream_to_timeline(self._effective_event_stream_handler())

    async def wrap_run(self, ctx: RunContext[AgentDepsT], *, handler: Any) -> AgentRunResult[Any]:
        if not self.in_durable_context:
            return await handler()  # type: ignore[no-any-return]
        with external_event_scope(_StepWaiter(self.name)):
            return await super().wrap_run(ctx, handler=handler)

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[AgentDepsT], *, requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        step = workflow_step()
        if step is None or not self._answer_deferred_calls:
            return None
        waits = [
            step.wait_for_event(
                f"{self.name}.approve.{call.tool_name}#{call.tool_call_id}",
                event=APPROVAL_EVENT,
                timeout=self._approval_seconds,
                if_exp=f"async.data.call_id == {json.dumps(call.tool_call_id)}",
            )
            for call in requests.approvals
        ] + [
            step.wait_for_event(
                f"{self.name}.result.{call.tool_name}#{call.tool_call_id}",
                event=RESULT_EVENT,
                timeout=self._approval_seconds,
                if_exp=f"async.data.call_id == {json.dumps(call.tool_call_id)}",
            )
            for call in requests.calls
        ]
        answers = await asyncio.gather(*waits)
        approvals = {
            call.tool_call_id: self._approval(call.tool_name, event)
            for call, event in zip(requests.approvals, answers, strict=False)
        }
        calls = {
            call.tool_call_id: self._external_result(call.tool_name, event)
            for call, event in zip(requests.calls, answers[len(requests.approvals) :], strict=True)
        }
        return requests.build_results(approvals=approvals, calls=calls)

    def _approval(self, tool: str, event: Event | None) -> ToolApproved | ToolDenied:
        if event is None:
            return ToolDenied(
                f"No approval arrived within {self._approval_timeout}; the call to {tool} was not made. "
                "Do not retry it unasked."
            )
        if event.data.get("approved") is True:
            override = event.data.get("override_args")
            return ToolApproved(override_args=override if isinstance(override, dict) else None)
        reason = event.data.get("reason")
        return ToolDenied(
            f"The user did not approve this call to {tool}; it was not made."
            + (f" Reason: {reason}" if isinstance(reason, str) and reason else "")
        )

    def _external_result(self, tool: str, event: Event | None) -> Any:
        if event is None:
            return ToolFailed(f"No result for the call to {tool} arrived within {self._approval_timeout}.")
        if "error" in event.data:
            return ToolFailed(str(event.data["error"]))
        return event.data.get("result")


async def send_tool_result(call_id: str, result: Any = None, *, error: str | None = None) -> None:
    """Answer a tool call an agent left to be executed outside it (``CallDeferred``) with its result or an error."""
    data: dict[str, Any] = {"call_id": call_id}
    if error is not None:
        data["error"] = error
    else:
        data["result"] = result
    await send(RESULT_EVENT, data)


async def resolve_external_event(token: str, payload: Any = None, *, error: str | None = None) -> None:
    """Resolve a ``wait_for_external_event`` token (``RequestInput``'s) handed out inside a durable run."""
    data: dict[str, Any] = {"token": token}
    if error is not None:
        data["error"] = error
    else:
        data["payload"] = payload
    await send(EXTERNAL_EVENT, data)


def _journal_result(result: AgentRunResult[Any]) -> Any:
    """What the journal keeps as a durable agent run's result: its output, as JSON."""
    from pydantic_core import to_jsonable_python

    return {"output": to_jsonable_python(result.output, fallback=repr)}


class DurableAgent(WrapperAgent[AgentDepsT, OutputDataT], Generic[AgentDepsT, OutputDataT]):
    """Any ``pydantic_ai.Agent`` whose runs are durable on nbdurable.

    ``await durable.run(prompt, run_id=...)`` joins the nbdurable run executing here
    (a ``%%durable`` cell, an ``@nd.function``) or starts, resumes or replays the run
    ``run_id`` and returns Pydantic AI's own ``AgentRunResult``. ``run_sync`` does the
    same from synchronous code; ``run_stream``, ``run_stream_events`` and ``iter`` work
    inside a run (a cell or function), streaming each model answer's text to the
    timeline as it arrives. The agent needs a ``name`` (or pass ``name=``): it names
    the steps and the runs.
    """

    def __init__(
        self,
        wrapped: AbstractAgent[AgentDepsT, OutputDataT],
        *,
        name: str | None = None,
        models: Mapping[str, Model] | None = None,
        event_stream_handler: EventStreamHandler[AgentDepsT] | None = None,
        retries: int | None = None,
        run_retries: int = 0,
        approval_timeout: Duration = "24h",
        answer_deferred_calls: bool = True,
    ) -> None:
        super().__init__(wrapped)
        agent_name = name or wrapped.name
        if not agent_name:
            raise ConfigError(
                "DurableAgent needs a name: give the agent one (Agent(..., name='support')) or pass "
                "DurableAgent(agent, name='support'). It names the agent's steps in the journal, so keep it stable."
            )
        self._name = agent_name
        self._run_retries = run_retries
        self._durability: NbDurability[AgentDepsT] = NbDurability(
            name=agent_name,
            models=models,
            event_stream_handler=event_stream_handler,
            retries=retries,
            approval_timeout=approval_timeout,
            answer_deferred_calls=answer_deferred_calls,
        )

    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        raise ConfigError("a DurableAgent's name names its journaled steps; set it when wrapping the agent")

    @property
    def function_id(self) -> str:
        """The function id of the runs this agent starts outside a run (``pydantic-ai:<name>``)."""
        return f"pydantic-ai:{self._name}"

    def _with_durability(
        self, capabilities: Sequence[AgentCapability[AgentDepsT]] | None
    ) -> list[AgentCapability[AgentDepsT]]:
        return [*(capabilities or ()), self._durability]

    @asynccontextmanager
    async def iter(self, *args: Any, capabilities: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        if workflow_step() is None:
            # Its caller drives the run step by step, so there is no body to start a run with: not durable here.
            raise ConfigError(
                f"DurableAgent({self._name!r}).iter/run_stream need an nbdurable run to join: call them inside a "
                "%%durable cell or an @nd.function, or use run() / run_stream_events(), which start one."
            )
        async with self.wrapped.iter(*args, capabilities=self._with_durability(capabilities), **kwargs) as run:
            yield run

    async def run(self, *args: Any, run_id: str | None = None, **kwargs: Any) -> AgentRunResult[Any]:
        async def body(_step: Step) -> AgentRunResult[Any]:
            return await self._agent_run(*args, run_id=run_id, **kwargs)

        return await join_or_start(
            body,
            function_id=self.function_id,
            run_id=run_id,
            data=_event_data(args, kwargs),
            journal_as=_journal_result,
            retries=self._run_retries,
        )

    async def _agent_run(self, *args: Any, **kwargs: Any) -> AgentRunResult[Any]:
        # The wrapper's own run, which drives self.iter (so the capability is added) with every option Pydantic AI has.
        return await super().run(*args, **kwargs)  # type: ignore[no-any-return]


def _event_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The run's trigger data: the prompt when it is text (what the timeline shows the run was asked)."""
    prompt = args[0] if args else kwargs.get("user_prompt")
    return {"prompt": prompt} if isinstance(prompt, str) else {}
