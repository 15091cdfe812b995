"""Tool-calling agents whose every model turn and tool call is a durable step.

``Agent.run`` is a ReAct loop: each model turn is ``step.ai.infer("turn-i")`` and each
tool call a ``step.run("tool-i-name-k")`` with the step's retries, so an agent killed
mid-run resumes after a restart without repeating a completed model call or tool
call. Tools are plain Python functions (sync or async); their JSON schemas come from
type hints and Google-style docstrings through pydantic. A tool with
``requires_approval=True`` waits, durably, for a ``nbdurable/tool.approval`` event.

Example::

    @nd.agent.tool
    def search(query: str, limit: int = 5) -> list[str]:
        '''Search the knowledge base.

        Args:
            query: What to look for.
            limit: How many results to return.
        '''

    agent = nd.agent.Agent(nd.ai.openai("gpt-4o"), tools=[search], system="Be brief.")
    result = await agent.run(step, "What changed in release 2.1?")
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import typing
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

from ._duration import Duration, parse_duration
from ._errors import ConfigError, StepError
from .ai._adapter import Adapter, ToolCall
from .ai._anthropic import ANTHROPIC
from .ai._approval import APPROVAL_EVENT, approval_call_id, approval_if_exp
from .ai._models import Model, _Usage, _usage_of
from .ai._openai import OPENAI
from .workflow import send

if TYPE_CHECKING:
    import pydantic

__all__ = ["APPROVAL_EVENT", "Agent", "AgentResult", "Tool", "approval_call_id", "approve", "tool"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# step.run keeps these keyword names for itself; tools with such parameters are called through a closure.
_STEP_RUN_KEYWORDS = frozenset({"output_type", "serializer", "retries"})

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- the step interface


class _AIStep(Protocol):
    def infer(self, name: str, *, model: Model, body: dict[str, Any], stream: bool = ...) -> Awaitable[Any]: ...


class StepLike(Protocol):
    """What the agent needs from ``step``: the real ``nd`` Step, or a stand-in in tests."""

    @property
    def ai(self) -> _AIStep: ...

    def run(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]: ...

    def wait_for_event(
        self, name: str, *, event: str, timeout: Duration, if_exp: str | None = None
    ) -> Awaitable[Any]: ...


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tool:
    """A Python function the model can call, with its JSON schema.

    Calling a Tool calls the function, so decorating a function keeps it usable.
    """

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: dict[str, Any]
    requires_approval: bool = False
    retries: int | None = None
    _args_model: Any = field(default=None, repr=False, compare=False)
    _aliases: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def schema(self, adapter: Adapter) -> dict[str, Any]:
        """The tool as a provider's API declares tools."""
        return adapter.tool_schema(self.name, self.description, self.parameters)

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI chat-completions form."""
        return self.schema(OPENAI)

    def anthropic_schema(self) -> dict[str, Any]:
        """The tool in Anthropic messages-API form."""
        return self.schema(ANTHROPIC)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The model's JSON arguments as keyword arguments for the function (pydantic coercion).

        Raises ValueError with a message meant for the model when they do not fit.
        """
        import pydantic

        if not isinstance(arguments, Mapping):
            raise ValueError(f"arguments must be a JSON object, got {type(arguments).__name__}")
        try:
            parsed = self._args_model.model_validate(dict(arguments))
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}" for err in exc.errors()
            )
            raise ValueError(f"invalid arguments for {self.name}: {problems}") from None
        return {
            param: getattr(parsed, internal) for internal, param in self._aliases if internal in parsed.model_fields_set
        }


@overload
def tool(
    fn: F,
    *,
    requires_approval: bool = ...,
    name: str | None = ...,
    retries: int | None = ...,
    description: str | None = ...,
) -> Tool: ...


@overload
def tool(
    fn: None = None,
    *,
    requires_approval: bool = ...,
    name: str | None = ...,
    retries: int | None = ...,
    description: str | None = ...,
) -> Callable[[F], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    requires_approval: bool = False,
    name: str | None = None,
    retries: int | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a tool: ``@tool``, ``@tool(requires_approval=True)`` or ``tool(fn, name=...)``.

    The schema comes from the type hints; descriptions from the docstring (its text
    before the sections, and the ``Args:`` entries for parameters). ``retries``
    overrides the run's retries for this tool's steps.
    """

    def make(f: Callable[..., Any]) -> Tool:
        return _make_tool(f, requires_approval=requires_approval, name=name, retries=retries, description=description)

    return make if fn is None else make(fn)


def _make_tool(
    fn: Callable[..., Any], *, requires_approval: bool, name: str | None, retries: int | None, description: str | None
) -> Tool:
    if isinstance(fn, Tool):
        return fn
    if not callable(fn):
        raise ConfigError(f"nd.agent.tool: expected a function, got {type(fn).__name__}.")
    tool_name = name or getattr(fn, "__name__", None) or type(fn).__name__
    if not _TOOL_NAME.match(tool_name):
        raise ConfigError(
            f"nd.agent.tool: {tool_name!r} is not a valid tool name (letters, digits, '_' and '-', at most 64); "
            "pass name='...' to choose one."
        )
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise ConfigError(f"nd.agent.tool({tool_name!r}): retries must be a non-negative int or None, got {retries!r}.")
    doc_text, param_docs = _parse_docstring(inspect.getdoc(fn) or "")
    args_model, aliases = _args_model(fn, tool_name, param_docs)
    with warnings.catch_warnings():
        # A default without a JSON form is left out of the schema; the function still applies it.
        warnings.simplefilter("ignore")
        schema = _clean_schema(args_model.model_json_schema(by_alias=True))
    schema.setdefault("properties", {})
    return Tool(
        fn=fn,
        name=tool_name,
        description=description if description is not None else (doc_text or tool_name),
        parameters=schema,
        requires_approval=requires_approval,
        retries=retries,
        _args_model=args_model,
        _aliases=aliases,
    )


def _args_model(
    fn: Callable[..., Any], tool_name: str, param_docs: Mapping[str, str]
) -> tuple[type[pydantic.BaseModel], tuple[tuple[str, str], ...]]:
    """A pydantic model of the function's parameters, each field aliased to the parameter's name.

    Internal field names (p0, p1, ...) keep parameters named like BaseModel attributes
    (``json``, ``copy``, ``model_x``) from clashing with pydantic.
    """
    import pydantic

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"nd.agent.tool({tool_name!r}): cannot read the function's signature ({exc}).") from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        # Hints that do not resolve (names defined later, in another scope): the raw
        # annotations that are real types still count, the rest are Any.
        hints = {k: v for k, v in getattr(fn, "__annotations__", {}).items() if not isinstance(v, str)}
    fields: dict[str, Any] = {}
    aliases: list[tuple[str, str]] = []
    for index, (pname, param) in enumerate(signature.parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise ConfigError(
                f"nd.agent.tool({tool_name!r}): parameter {pname!r} is positional-only; the model passes arguments "
                "by name, so make it a normal parameter."
            )
        internal = f"p{index}"
        default = ... if param.default is param.empty else param.default
        fields[internal] = (
            hints.get(pname, Any),
            pydantic.Field(default, alias=pname, description=param_docs.get(pname)),
        )
        aliases.append((internal, pname))
    try:
        model = pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=pydantic.ConfigDict(populate_by_name=False, arbitrary_types_allowed=False),
            **fields,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.model_json_schema(by_alias=True)
    except Exception as exc:
        raise ConfigError(
            f"nd.agent.tool({tool_name!r}): cannot build a JSON schema from the type hints ({exc}). Use JSON-friendly "
            "types (str, int, float, bool, lists, dicts, Literal, enums, pydantic models, dataclasses)."
        ) from None
    return typing.cast("type[pydantic.BaseModel]", model), tuple(aliases)


def _clean_schema(schema: Any) -> Any:
    """Drop pydantic's generated titles; keep property names that happen to be 'title'."""
    if isinstance(schema, list):
        return [_clean_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _clean_schema(sub) for name, sub in value.items()}
        else:
            out[key] = _clean_schema(value)
    return out


_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|Yields?|Raises|Examples?|Notes?|"
    r"Attributes|See Also|Warnings?|Todo|References)\s*:\s*$",
    re.IGNORECASE,
)
_ARG_LINE = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Description and parameter descriptions from a Google-style (or Sphinx ``:param:``) docstring."""
    lines = doc.splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    base_indent: int | None = None
    for raw in lines:
        stripped = raw.strip()
        sphinx = _SPHINX_PARAM.match(stripped)
        if sphinx:
            current, section = sphinx.group(1), "sphinx"
            params[current] = sphinx.group(2).strip()
            continue
        if stripped.startswith(":") and re.match(r"^:(returns?|rtype|raises?)\b", stripped):
            section, current = "other", None
            continue
        header = _SECTION.match(stripped)
        if header and (len(raw) - len(raw.lstrip())) == 0:
            section = header.group(1).lower()
            current, base_indent = None, None
            continue
        if section is None:
            description.append(raw)
            continue
        if section in ("args", "arguments", "parameters", "params", "keyword args", "keyword arguments"):
            if not stripped:
                current = None
                continue
            indent = len(raw) - len(raw.lstrip())
            if base_indent is None:
                base_indent = indent
            match = _ARG_LINE.match(stripped)
            if match and indent <= base_indent:
                current = match.group(1).lstrip("*")
                params[current] = match.group(2).strip()
            elif current is not None:
                params[current] = f"{params[current]} {stripped}".strip()
        elif section == "sphinx" and current is not None and stripped:
            params[current] = f"{params[current]} {stripped}".strip()
    text = "\n".join(description).strip()
    return text, {k: v for k, v in params.items() if v}


# --------------------------------------------------------------------------- results


@dataclass
class AgentResult:
    """What ``Agent.run`` returns.

    ``transcript`` is the conversation in the provider's own message format (what the
    next turn would send). ``stop_reason`` is "answer" when the model answered without
    calling tools, "max_turns" when the turn budget ran out first (``answer`` is then
    the last text the model wrote). Token totals and cost are None when unknown.
    """

    answer: str
    transcript: list[dict[str, Any]]
    turns: int
    stop_reason: Literal["answer", "max_turns"] = "answer"
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None


_Call = ToolCall  # a tool call the model asked for


@dataclass(frozen=True)
class _Outcome:
    content: str
    is_error: bool = False


# --------------------------------------------------------------------------- the agent


class Agent:
    """A tool-calling (ReAct) loop over one model; see the module docstring.

    ``params`` are extra request fields (temperature, ...). ``max_tokens`` bounds each
    turn's answer (required by Anthropic; sent to OpenAI only when given). With
    ``on_tool_error="report"`` a tool that fails after its retries tells the model what
    went wrong, so it can try another way; ``"raise"`` fails the run with the StepError.
    ``prefix`` goes in front of every step name, for two agents in one run.
    ``stream=True`` streams each turn, so its tokens show on the timeline as they arrive.
    """

    def __init__(
        self,
        model: Model,
        tools: Sequence[Callable[..., Any] | Tool] = (),
        system: str | None = None,
        max_turns: int = 10,
        approval_timeout: Duration = "24h",
        *,
        max_tokens: int | None = None,
        params: Mapping[str, Any] | None = None,
        on_tool_error: Literal["report", "raise"] = "report",
        prefix: str = "",
        stream: bool = False,
    ) -> None:
        if not isinstance(model, Model):
            raise ConfigError(
                f"nd.agent.Agent: model must come from nd.ai.openai(...) or nd.ai.anthropic(...), got {model!r}."
            )
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigError(f"nd.agent.Agent: max_turns must be a positive int, got {max_turns!r}.")
        if on_tool_error not in ("report", "raise"):
            raise ConfigError(f"nd.agent.Agent: on_tool_error must be 'report' or 'raise', got {on_tool_error!r}.")
        parse_duration(approval_timeout, what="nd.agent.Agent approval_timeout")
        self.model = model
        self.tools: dict[str, Tool] = {}
        for item in tools:
            made = item if isinstance(item, Tool) else tool(item)
            if made.name in self.tools:
                raise ConfigError(
                    f"nd.agent.Agent: two tools are named {made.name!r}; give one another name with "
                    "nd.agent.tool(fn, name='...')."
                )
            self.tools[made.name] = made
        self.system = system
        self.max_turns = max_turns
        self.approval_timeout = approval_timeout
        self.max_tokens = max_tokens
        self.params = dict(params or {})
        self.on_tool_error = on_tool_error
        self.prefix = prefix
        self.stream = stream

    # ----------------------------------------------------------------- request building

    def _first_messages(self, task: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if isinstance(task, str):
            messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        else:
            messages = [dict(m) for m in task]
        return self.model.adapter.first_messages(messages, self.system)

    def _body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        adapter = self.model.adapter
        body: dict[str, Any] = {"model": self.model.model, **self.params}
        tools = [t.schema(adapter) for t in self.tools.values()]
        adapter.agent_body(body, system=self.system, tools=tools, max_tokens=self.max_tokens)
        # A snapshot: the transcript grows after this turn, the journaled request must not.
        body["messages"] = list(messages)
        return body

    # ----------------------------------------------------------------- response reading

    def _read(self, response: Any) -> tuple[str, list[_Call], dict[str, Any]]:
        """(text, tool calls, assistant message for the transcript) from a provider response."""
        if not isinstance(response, Mapping):
            raise ConfigError(
                f"nd.agent: step.ai.infer returned {type(response).__name__}, not a provider JSON response; "
                "the agent needs the response dict."
            )
        return self.model.adapter.read_turn(response)

    def _results_messages(self, calls: list[_Call], outcomes: list[_Outcome]) -> list[dict[str, Any]]:
        results = [(call, outcome.content, outcome.is_error) for call, outcome in zip(calls, outcomes, strict=True)]
        return self.model.adapter.tool_results(results)

    # ----------------------------------------------------------------- the loop

    async def run(self, step: StepLike, task: str | Sequence[Mapping[str, Any]]) -> AgentResult:
        """Run the loop until the model answers without tool calls, or ``max_turns`` model turns.

        ``step`` is the workflow's step object (``ctx.step``, or ``step`` in a
        ``%%durable`` cell); ``task`` the user's request (or a list of messages in the
        provider's format). Deterministic given the journal, so re-running it after a
        restart replays finished turns and tool calls and continues where it stopped.
        """
        messages = self._first_messages(task)
        tokens_in: int | None = 0
        tokens_out: int | None = 0
        cost: float | None = 0.0
        text = ""
        for turn in range(self.max_turns):
            name, body = f"{self.prefix}turn-{turn}", self._body(messages)
            # stream is passed only when asked for, so simpler step objects need not know it.
            pending = (
                step.ai.infer(name, model=self.model, body=body, stream=True)
                if self.stream
                else step.ai.infer(name, model=self.model, body=body)
            )
            result = await pending
            response = getattr(result, "response", result)
            tokens_in, tokens_out, cost = _add_usage(response, self.model, tokens_in, tokens_out, cost)
            text, calls, assistant = self._read(response)
            messages.append(assistant)
            if not calls:
                return AgentResult(text, messages, turn + 1, "answer", tokens_in, tokens_out, cost)
            outcomes = await self._call_tools(step, turn, calls)
            messages.extend(self._results_messages(calls, outcomes))
        return AgentResult(text, messages, self.max_turns, "max_turns", tokens_in, tokens_out, cost)

    async def _call_tools(self, step: StepLike, turn: int, calls: list[_Call]) -> list[_Outcome]:
        """Run one turn's tool calls in parallel.

        Approvals are all awaited before any tool step starts, so step positions are
        the same in every replay whatever order the approvals arrived in.
        """
        outcomes: list[_Outcome | None] = [None] * len(calls)
        prepared: dict[int, tuple[Tool, dict[str, Any]]] = {}
        for k, call in enumerate(calls):
            found = self.tools.get(call.name)
            if found is None:
                known = ", ".join(self.tools) or "none"
                outcomes[k] = _Outcome(f"Error: there is no tool named {call.name!r} (available: {known}).", True)
                continue
            if call.problem is not None:
                outcomes[k] = _Outcome(f"Error: {call.problem}", True)
                continue
            try:
                prepared[k] = (found, found.validate(call.arguments if call.arguments is not None else {}))
            except ValueError as exc:
                outcomes[k] = _Outcome(f"Error: {exc}", True)

        needs_approval = [k for k, (t, _) in prepared.items() if t.requires_approval]
        if needs_approval:
            waits = [
                step.wait_for_event(
                    f"{self.prefix}approve-{turn}-{calls[k].name}-{k}",
                    event=APPROVAL_EVENT,
                    timeout=self.approval_timeout,
                    if_exp=approval_if_exp(calls[k].id),
                )
                for k in needs_approval
            ]
            for k, event in zip(needs_approval, await asyncio.gather(*waits), strict=True):
                refusal = _refusal(calls[k].name, event, self.approval_timeout)
                if refusal is not None:
                    outcomes[k] = _Outcome(refusal, True)
                    del prepared[k]

        order = sorted(prepared)
        # step.run assigns each step's id when called, so the calls happen in order here.
        running = [self._tool_step(step, f"{self.prefix}tool-{turn}-{calls[k].name}-{k}", *prepared[k]) for k in order]
        results = await asyncio.gather(*running, return_exceptions=True)
        for k, value in zip(order, results, strict=True):
            if isinstance(value, StepError):
                if self.on_tool_error == "raise":
                    raise value
                outcomes[k] = _Outcome(f"Error: {value.error_type or 'error'}: {value.error_message or value}", True)
            elif isinstance(value, BaseException):
                raise value
            else:
                outcomes[k] = _Outcome(_content(value))
        return [o if o is not None else _Outcome("Error: the tool was not run.", True) for o in outcomes]

    def _tool_step(self, step: StepLike, name: str, found: Tool, kwargs: dict[str, Any]) -> Awaitable[Any]:
        fn = _threaded(found.fn)
        options: dict[str, Any] = {} if found.retries is None else {"retries": found.retries}
        if _STEP_RUN_KEYWORDS.isdisjoint(kwargs):
            return step.run(name, fn, **kwargs, **options)

        # A parameter named like one of step.run's own options: pass the arguments as one
        # dict instead, so they still count in the step's input hash and preview.
        @functools.wraps(found.fn)
        async def call(arguments: dict[str, Any]) -> Any:
            return await fn(**arguments)

        return step.run(name, call, kwargs, **options)


def _threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Async tools as they are; sync ones moved to a worker thread so parallel calls overlap.

    The thread gets a copy of the context, so ``nd.current_step()`` (and its
    idempotency key) works inside the tool.
    """
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
        return fn

    @functools.wraps(fn)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        value = await asyncio.to_thread(fn, *args, **kwargs)
        if inspect.isawaitable(value):  # a sync function that returned a coroutine
            value = await value
        return value

    return in_thread


async def approve(call_id: str, *, approved: bool = True, reason: str | None = None) -> None:
    """Approve (or, with ``approved=False``, deny) a tool call that waits for a human.

    Sends the ``nbdurable/tool.approval`` event the waiting run matches on; the same
    as ``%durable send nbdurable/tool.approval {"call_id": ..., "approved": true}``.
    """
    data: dict[str, Any] = {"call_id": call_id, "approved": approved}
    if reason:
        data["reason"] = reason
    await send(APPROVAL_EVENT, data)


def _refusal(name: str, event: Any, timeout: Duration) -> str | None:
    """None when approved; otherwise the message the model gets instead of the tool's result."""
    if event is None:
        return f"No approval arrived within {timeout}; the call to {name} was not made. Do not retry it unasked."
    data = getattr(event, "data", None)
    if data is None and isinstance(event, Mapping):
        data = event.get("data")
    data = data if isinstance(data, Mapping) else {}
    if data.get("approved") is True:
        return None
    reason = data.get("reason")
    return f"The user did not approve this call to {name}; it was not made." + (
        f" Reason: {reason}" if isinstance(reason, str) and reason else ""
    )


def _content(value: Any) -> str:
    """A tool's result as the text the model reads (JSON for anything but a string)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (set, frozenset)):
        # Journaled sets come back in another order; sort so a replay sends the model the same text.
        value = sorted(value, key=repr)
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)


def _add_usage(
    response: Any, requested: Model, tokens_in: int | None, tokens_out: int | None, cost: float | None
) -> tuple[int | None, int | None, float | None]:
    """Running totals; once one turn's usage or price is unknown, the total is unknown too."""
    usage = _usage_of(response.get("usage")) if isinstance(response, Mapping) else _Usage()
    model = response.get("model") if isinstance(response, Mapping) else None
    turn_cost = usage.cost(model if isinstance(model, str) and model else requested.model, requested.provider)
    return (
        None if tokens_in is None or usage.tokens_in is None else tokens_in + usage.tokens_in,
        None if tokens_out is None or usage.tokens_out is None else tokens_out + usage.tokens_out,
        None if cost is None or turn_cost is None else cost + turn_cost,
    )
