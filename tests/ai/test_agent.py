"""Agents: tool schemas, the ReAct loop against the scripted server, approvals, and durable resume."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest

import nbdurable as nd
import nbdurable.ai as _ai
import nbdurable.engine._engine as engine_module
from nbdurable._errors import ConfigError, StepError
from nbdurable.agent import APPROVAL_EVENT, Agent, Tool, _parse_docstring, approval_call_id, approve, tool
from nbdurable.ai import _http
from nbdurable.engine import registry
from nbdurable.testing._llm_server import ScriptedLLMServer, reply, tool_call

OPENAI_KEY = "sk-test-agent-KNOWN-0a1b2c3d4e5f"
ANTHROPIC_KEY = "ant-test-agent-KNOWN-9f8e7d6c"
CLAUDE = "claude-haiku-4-5"
NO_JSON_FORM = object()


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


def model_for(server: ScriptedLLMServer, provider: str) -> _ai.Model:
    if provider == "openai":
        return _ai.openai("gpt-4o", base_url=server.openai_base_url)
    return _ai.anthropic(CLAUDE, base_url=server.anthropic_base_url)


# --------------------------------------------------------------------------- a stand-in step


class ProcessDiedError(Exception):
    """Stands for the process dying inside a step: nothing is journaled."""


class _FakeEvent:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


class FakeStep:
    """The step interface the agent uses, memoized in a dict like a journal (fast layer only).

    ``run`` assigns its place synchronously, like the real step; AI calls go over real
    HTTP to the scripted server through nbdurable's own provider code.
    """

    def __init__(
        self,
        journal: dict[str, Any] | None = None,
        *,
        approvals: Callable[[str], dict[str, Any] | None] | None = None,
        retries: int = 0,
    ) -> None:
        self.journal: dict[str, Any] = {} if journal is None else journal
        self.approvals = approvals or (lambda _call_id: None)
        self.retries = retries
        self.order: list[str] = []
        self.executed: list[str] = []
        self.waits: list[dict[str, Any]] = []
        self.deltas: list[str] = []
        self.ai = self

    async def infer(self, name: str, *, model: _ai.Model, body: dict[str, Any], stream: bool = False) -> dict[str, Any]:
        self.order.append(name)
        if name not in self.journal:
            self.executed.append(name)
            self.journal[name] = (await _http.infer(model, body, stream=stream, on_delta=self.deltas.append)).response
        return dict(self.journal[name])

    def run(self, name: str, fn: Callable[..., Any], *args: Any, retries: int | None = None, **kwargs: Any) -> Any:
        self.order.append(name)
        return self._run(name, fn, args, kwargs, self.retries if retries is None else retries)

    async def _run(self, name: str, fn: Callable[..., Any], args: Any, kwargs: Any, retries: int) -> Any:
        if name in self.journal:
            return self.journal[name]
        for attempt in range(retries + 1):
            self.executed.append(name)
            try:
                value = fn(*args, **kwargs)
                if asyncio.iscoroutine(value):
                    value = await value
            except ProcessDiedError:
                raise
            except Exception as exc:
                if attempt == retries:
                    raise StepError(
                        f"step {name} failed", step_id=name, error_type=type(exc).__name__, error_message=str(exc)
                    ) from exc
                continue
            self.journal[name] = value
            return value

    async def wait_for_event(self, name: str, *, event: str, timeout: Any, if_exp: str | None = None) -> Any:
        self.order.append(name)
        self.waits.append({"name": name, "event": event, "timeout": timeout, "if_exp": if_exp})
        call_id = json.loads((if_exp or "").split("==", 1)[1])
        data = self.approvals(call_id)
        return None if data is None else _FakeEvent(data)


# --------------------------------------------------------------------------- tools and schemas


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Place(pydantic.BaseModel):
    city: str
    country: str = "NO"


def forecast(place: Place, days: int, unit: Unit = Unit.C, detail: Literal["short", "long"] = "short") -> str:
    """Forecast the weather somewhere.

    Uses the national weather service; slow for long forecasts.

    Args:
        place: Where to forecast.
        days: How many days ahead,
            at most 10.
        unit (Unit): Temperature unit.
        detail: How much to say.

    Returns:
        The forecast as text.
    """
    return f"{place.city}/{place.country}: {days}d in {unit.value} ({detail})"


def test_schema_from_type_hints_and_docstring() -> None:
    t = tool(forecast)
    assert t.name == "forecast"
    assert (
        t.description
        == "Forecast the weather somewhere.\n\nUses the national weather service; slow for long forecasts."
    )
    schema = t.parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["place", "days"]
    props = schema["properties"]
    assert props["days"] == {"type": "integer", "description": "How many days ahead, at most 10."}
    assert props["unit"]["default"] == "celsius"
    assert props["unit"]["description"] == "Temperature unit."
    assert props["detail"]["enum"] == ["short", "long"]
    assert props["place"]["description"] == "Where to forecast."
    assert schema["$defs"]["Place"]["properties"]["city"] == {"type": "string"}
    assert schema["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "title" not in json.dumps(schema)
    assert t.openai_schema() == {
        "type": "function",
        "function": {"name": "forecast", "description": t.description, "parameters": schema},
    }
    assert t.anthropic_schema() == {"name": "forecast", "description": t.description, "input_schema": schema}
    # Still callable as the function it wraps.
    assert t(Place(city="Oslo"), 2) == "Oslo/NO: 2d in celsius (short)"


def test_validate_coerces_json_arguments_to_the_hinted_types() -> None:
    t = tool(forecast)
    kwargs = t.validate({"place": {"city": "Bergen"}, "days": "3", "unit": "fahrenheit"})
    assert kwargs == {"place": Place(city="Bergen"), "days": 3, "unit": Unit.F}  # defaults stay the function's own
    with pytest.raises(ValueError, match=r"invalid arguments for forecast: days: .*integer") as caught:
        t.validate({"place": {"city": "x"}, "days": "many"})
    assert "place" not in str(caught.value)
    with pytest.raises(ValueError, match="place: Field required"):
        t.validate({"days": 1})


def test_tool_decorator_forms_and_options() -> None:
    @tool
    def plain(x: int) -> int:
        return x + 1

    @tool(requires_approval=True, name="pay-invoice", retries=5, description="Pay it.")
    async def pay(invoice_id: str, json: bool = False, title: str = "") -> str:  # names that clash with pydantic
        return invoice_id

    assert isinstance(plain, Tool)
    assert plain(1) == 2
    assert plain.description == "plain"  # no docstring: the name
    assert (pay.name, pay.requires_approval, pay.retries, pay.description) == ("pay-invoice", True, 5, "Pay it.")
    assert set(pay.parameters["properties"]) == {"invoice_id", "json", "title"}
    assert pay.validate({"invoice_id": "A1", "title": "t"}) == {"invoice_id": "A1", "title": "t"}
    assert tool(plain) is plain


def test_docstring_styles() -> None:
    google = """Summary line.

    Args:
        a (int): First
            continued.
        *rest: Ignored ones.
        b: Second.

    Raises:
        ValueError: never documented as a param.
    """
    import inspect

    text, params = _parse_docstring(inspect.cleandoc(google))
    assert text == "Summary line."
    assert params == {"a": "First continued.", "rest": "Ignored ones.", "b": "Second."}
    text, params = _parse_docstring("Do it.\n\n:param x: the x\n:param int y: the y\n    more\n:returns: z")
    assert text == "Do it."
    assert params == {"x": "the x", "y": "the y more"}


def test_bad_tools_are_refused_with_a_clear_error() -> None:
    def positional(a: int, /) -> int:
        return a

    def needs_socket(sock: socket.socket) -> None:  # a type with no JSON form
        pass

    def odd_default(x: Any = NO_JSON_FORM) -> None:  # a default with no JSON form is left out
        pass

    with pytest.raises(ConfigError, match="positional-only"):
        tool(positional)
    with pytest.raises(ConfigError, match="not a valid tool name"):
        tool(lambda: None)
    with pytest.raises(ConfigError, match="JSON schema"):
        tool(needs_socket)
    assert tool(odd_default).parameters["properties"]["x"] == {}
    with pytest.raises(ConfigError, match="two tools are named 'forecast'"):
        Agent(_ai.openai("gpt-4o"), tools=[forecast, tool(forecast)])
    with pytest.raises(ConfigError, match="max_turns"):
        Agent(_ai.openai("gpt-4o"), max_turns=0)
    with pytest.raises(ConfigError, match="approval_timeout"):
        Agent(_ai.openai("gpt-4o"), approval_timeout="soon")
    with pytest.raises(ConfigError, match=r"nd\.ai\.openai"):
        Agent("gpt-4o")


# --------------------------------------------------------------------------- the loop


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def lookup(key: str) -> dict[str, Any]:
    """Look a key up."""
    await asyncio.sleep(0)
    return {"key": key, "value": len(key)}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_agent_loop_with_parallel_tools(server: ScriptedLLMServer, provider: str) -> None:
    server.add(
        [tool_call("add", {"a": 2, "b": "3"}, id="call_add"), tool_call("lookup", {"key": "abc"}, id="call_look")],
        reply("2 + 3 = 5 and abc has 3 letters.", usage=(120, 12)),
    )
    agent = Agent(model_for(server, provider), tools=[add, lookup], system="Be brief.", max_tokens=256)
    step = FakeStep()
    result = asyncio.run(agent.run(step, "Add 2 and 3, and look up abc."))

    assert result.answer == "2 + 3 = 5 and abc has 3 letters."
    assert (result.turns, result.stop_reason) == (2, "answer")
    assert step.order == ["turn-0", "tool-0-add-0", "tool-0-lookup-1", "turn-1"]
    assert step.journal["tool-0-add-0"] == 5  # "3" coerced to 3 by the hint
    first, second = (r.body for r in server.requests)
    assert [t.get("name") or t["function"]["name"] for t in first["tools"]] == ["add", "lookup"]
    assert first["max_tokens"] == 256
    if provider == "openai":
        assert first["messages"][0] == {"role": "system", "content": "Be brief."}
        results = [(m["tool_call_id"], m["content"]) for m in second["messages"] if m["role"] == "tool"]
        assert results == [("call_add", "5"), ("call_look", '{"key": "abc", "value": 3}')]
        assert first["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
    else:
        assert first["system"] == "Be brief."
        blocks = second["messages"][-1]["content"]
        assert [(b["tool_use_id"], b["content"]) for b in blocks] == [
            ("call_add", "5"),
            ("call_look", '{"key": "abc", "value": 3}'),
        ]
        assert first["tools"][0]["input_schema"]["required"] == ["a", "b"]
    # The transcript is what a next turn would send.
    assert result.transcript[: len(second["messages"])] == second["messages"]
    assert result.transcript[-1]["role"] == "assistant"
    assert result.tokens_in is not None
    assert result.tokens_in > 120
    assert result.cost is not None
    assert result.cost > 0


def test_sync_and_async_tools_of_one_turn_run_in_parallel(server: ScriptedLLMServer) -> None:
    """Each tool waits until all six have started: run one after another, none would ever see the others (they
    give up after a while and the count shows it). A property of the schedule, not of the clock."""
    lock = threading.Lock()
    started: list[int] = []
    seen: list[int] = []  # how many had started when each tool finished waiting

    def arrive() -> None:
        with lock:
            started.append(1)

    def leave() -> int:
        with lock:
            seen.append(len(started))
            return len(started)

    def slow_sync(n: int) -> int:
        arrive()
        deadline = time.monotonic() + 5
        while len(started) < 6 and time.monotonic() < deadline:
            time.sleep(0.005)
        return leave()

    async def slow_async(n: int) -> int:
        arrive()
        deadline = time.monotonic() + 5
        while len(started) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return leave()

    calls = [tool_call("slow_sync", {"n": i}) for i in range(3)] + [tool_call("slow_async", {"n": i}) for i in range(3)]
    server.add(calls, "done")
    agent = Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[slow_sync, slow_async])
    result = asyncio.run(agent.run(FakeStep(), "go"))
    assert result.answer == "done"
    assert seen == [6] * 6, f"tools saw {seen} of six started: the tools of one turn did not run in parallel"


def test_approval_granted_denied_and_timed_out(server: ScriptedLLMServer) -> None:
    ran: list[str] = []

    @tool(requires_approval=True)
    def refund(order: str) -> str:
        """Refund an order."""
        ran.append(order)
        return f"refunded {order}"

    server.add(
        [
            tool_call("refund", {"order": "A"}, id="call_ok"),
            tool_call("refund", {"order": "B"}, id="call_no"),
            tool_call("refund", {"order": "C"}, id="call_late"),
            tool_call("add", {"a": 1, "b": 1}, id="call_free"),
        ],
        "Refunded A only.",
    )
    decisions: dict[str, dict[str, Any] | None] = {
        "call_ok": {"call_id": "call_ok", "approved": True},
        "call_no": {"call_id": "call_no", "approved": False, "reason": "too large"},
        "call_late": None,
    }
    step = FakeStep(approvals=lambda call_id: decisions[call_id])
    agent = Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[refund, add], approval_timeout="2h")
    result = asyncio.run(agent.run(step, "refund A, B and C"))

    assert ran == ["A"]
    assert result.answer == "Refunded A only."
    assert [w["name"] for w in step.waits] == ["approve-0-refund-0", "approve-0-refund-1", "approve-0-refund-2"]
    assert {w["event"] for w in step.waits} == {APPROVAL_EVENT}
    assert {w["timeout"] for w in step.waits} == {"2h"}
    assert step.waits[0]["if_exp"] == 'async.data.call_id == "call_ok"'
    assert [approval_call_id(w["if_exp"]) for w in step.waits] == ["call_ok", "call_no", "call_late"]
    assert approval_call_id('async.data.call_id == "a\\"b"') == 'a"b'
    assert approval_call_id("async.data.ticket == event.data.ticket") is None
    assert approval_call_id(None) is None
    # All approvals are settled before any tool step starts, so replays meet steps in the same order.
    assert step.order == [
        "turn-0",
        "approve-0-refund-0",
        "approve-0-refund-1",
        "approve-0-refund-2",
        "tool-0-refund-0",
        "tool-0-add-3",
        "turn-1",
    ]
    told = {m["tool_call_id"]: m["content"] for m in server.requests[1].body["messages"] if m["role"] == "tool"}
    assert told["call_ok"] == "refunded A"
    assert told["call_no"] == "The user did not approve this call to refund; it was not made. Reason: too large"
    assert told["call_late"].startswith("No approval arrived within 2h")
    assert told["call_free"] == "2"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_bad_calls_are_reported_to_the_model(server: ScriptedLLMServer, provider: str) -> None:
    server.add(
        [tool_call("nope", {}, id="c1"), tool_call("add", {"a": "x", "b": 1}, id="c2")],
        "I could not do it.",
    )
    step = FakeStep()
    result = asyncio.run(Agent(model_for(server, provider), tools=[add]).run(step, "add"))
    assert result.answer == "I could not do it."
    assert step.executed == ["turn-0", "turn-1"]  # no tool step for either call
    text = json.dumps(server.requests[1].body["messages"])
    assert "there is no tool named 'nope' (available: add)" in text
    assert "invalid arguments for add: a:" in text
    if provider == "anthropic":
        blocks = server.requests[1].body["messages"][-1]["content"]
        assert all(b["is_error"] for b in blocks)


def test_arguments_that_are_not_json_are_reported() -> None:
    agent = Agent(_ai.openai("gpt-4o"), tools=[add])
    response = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "add", "arguments": "{a: 1"}}],
                }
            }
        ]
    }
    text, calls, assistant = agent._read(response)
    assert text == ""
    assert calls[0].problem is not None
    assert calls[0].problem.startswith("the arguments are not valid JSON")
    assert assistant["tool_calls"][0]["function"]["arguments"] == "{a: 1"


def test_failing_tools_retry_then_report_or_raise(server: ScriptedLLMServer) -> None:
    attempts: list[int] = []

    @tool(retries=2)
    def flaky(x: int) -> int:
        """Fails twice, then works."""
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return x * 10

    def broken() -> None:
        raise ValueError("disk on fire")

    server.add([tool_call("flaky", {"x": 4}), tool_call("broken", {})], "partial", tool_call("broken", {}))
    step = FakeStep()
    agent = Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[flaky, broken])
    result = asyncio.run(agent.run(step, "go"))
    assert result.answer == "partial"
    assert attempts == [4, 4, 4]
    told = [m["content"] for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert told == ["40", "Error: ValueError: disk on fire"]

    strict = Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[broken], on_tool_error="raise")
    with pytest.raises(StepError, match="broken"):
        asyncio.run(strict.run(FakeStep(), "go"))


def test_tool_parameters_named_like_step_options(server: ScriptedLLMServer) -> None:
    def configure(retries: int, serializer: str = "json") -> str:
        """Parameters step.run keeps for itself."""
        return f"{retries}/{serializer}"

    server.add(tool_call("configure", {"retries": 3}), "ok")
    step = FakeStep()
    asyncio.run(Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[configure]).run(step, "x"))
    assert step.journal["tool-0-configure-0"] == "3/json"


def test_max_turns_stops_the_loop(server: ScriptedLLMServer) -> None:
    server.add(tool_call("add", {"a": 1, "b": 2}, text="thinking"), tool_call("add", {"a": 3, "b": 4}, text="still"))
    result = asyncio.run(
        Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[add], max_turns=2).run(FakeStep(), "x")
    )
    assert (result.stop_reason, result.turns, result.answer) == ("max_turns", 2, "still")
    assert server.count == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_streaming_agent_turns(server: ScriptedLLMServer, provider: str) -> None:
    server.add(tool_call("add", {"a": 20, "b": 22}), reply("The answer is 42."))
    step = FakeStep()
    result = asyncio.run(Agent(model_for(server, provider), tools=[add], stream=True).run(step, "add"))
    assert result.answer == "The answer is 42."
    assert step.deltas == ["The ", "answer ", "is ", "42."]
    assert all(r.stream for r in server.requests)
    assert step.journal["tool-0-add-0"] == 42


def test_unknown_price_makes_the_total_cost_unknown(server: ScriptedLLMServer) -> None:
    server.add("hi")
    model = _ai.openai("my-local-llm", base_url=server.openai_base_url, api_key_env=None)
    result = asyncio.run(Agent(model).run(FakeStep(), "hello"))
    assert result.cost is None
    assert result.tokens_in is not None


def test_rerunning_after_a_crash_repeats_no_completed_call(server: ScriptedLLMServer) -> None:
    counts: dict[str, int] = {}
    crash_once = {"armed": True}

    def visit(city: str) -> str:
        """Visit a city."""
        counts[city] = counts.get(city, 0) + 1
        if city == "Oslo" and crash_once["armed"]:
            crash_once["armed"] = False
            raise ProcessDiedError
        return f"visited {city}"

    server.add(tool_call("visit", {"city": "Paris"}), tool_call("visit", {"city": "Oslo"}), "Saw Paris and Oslo.")
    journal: dict[str, Any] = {}
    agent = Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[visit])
    with pytest.raises(ProcessDiedError):
        asyncio.run(agent.run(FakeStep(journal), "travel"))
    assert server.count == 2
    step = FakeStep(journal)
    result = asyncio.run(agent.run(step, "travel"))
    assert result.answer == "Saw Paris and Oslo."
    assert server.count == 3  # turns 0 and 1 were not sent again
    assert step.executed == ["tool-1-visit-0", "turn-2"]
    assert counts == {"Paris": 1, "Oslo": 2}  # only the call in flight at the crash ran again


# --------------------------------------------------------------------------- with the real engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Path]:
    """A fresh journal file for the process engine; functions defined by the test are forgotten after it."""
    engine_module._default = None
    path = tmp_path / "journal.db"
    configured = nd.configure(path, poll_interval=0.02)
    saved = dict(registry())
    yield path
    registry().clear()
    registry().update(saved)
    configured.journal.close()
    engine_module._default = None


def journal_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_agent_in_a_real_workflow_with_approval(server: ScriptedLLMServer, engine: Path) -> None:
    @tool(requires_approval=True)
    def send_mail(to: str, body: str) -> str:
        """Send an email."""
        return f"sent to {to}"

    server.add(
        tool_call("send_mail", {"to": "ops@example.com", "body": f"key {OPENAI_KEY}"}, id="call_mail"),
        reply("Mail sent.", usage=(300, 20)),
    )
    agent = Agent(_ai.openai("gpt-4o", base_url=server.openai_base_url), tools=[send_mail], system="You mail.")

    @nd.function(id="mailer-agent")
    async def mailer(ctx: nd.Context) -> dict[str, Any]:
        result = await agent.run(ctx.step, ctx.event.data["task"])
        return {"answer": result.answer, "turns": result.turns, "cost": result.cost}

    async def main() -> dict[str, Any]:
        handle = mailer.start({"task": "mail ops"}, run_id="mail-1")
        for _ in range(200):
            if handle.status == "waiting":
                break
            await asyncio.sleep(0.02)
        assert handle.status == "waiting"
        waiting = [s for s in handle.steps() if s.kind == "wait"]
        assert [approval_call_id((s.meta or {}).get("if_exp")) for s in waiting] == ["call_mail"]
        await approve("call_mail")
        out: dict[str, Any] = await handle.result(timeout=30)
        steps = {s.step_id: s.kind for s in handle.steps()}
        assert steps == {"turn-0": "ai", "approve-0-send_mail-0": "wait", "tool-0-send_mail-0": "run", "turn-1": "ai"}
        again = await mailer.run({"task": "mail ops"}, run_id="mail-1")  # finished: read from the journal
        assert again == out
        return out

    out = asyncio.run(main())
    assert out["answer"] == "Mail sent."
    assert out["turns"] == 2
    assert out["cost"] is not None
    assert server.count == 2
    assert server.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    raw = journal_bytes(engine)
    assert b"Mail sent." in raw
    assert OPENAI_KEY.encode() not in raw


WORKER = """
import asyncio, json, os, signal, sys
import nbdurable as nd
import nbdurable.engine._engine as engine_module
import nbdurable.ai as _ai
from nbdurable.engine import registry
from nbdurable.agent import Agent

journal, marks, base_url = sys.argv[1:4]
nd.configure(journal)

def visit(city: str) -> str:
    '''Visit a city.'''
    with open(os.path.join(marks, "visits"), "a") as fh:
        fh.write(city + "\\n")
    crashed = os.path.join(marks, "crashed")
    if city == "Oslo" and not os.path.exists(crashed):
        open(crashed, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return f"visited {city}"

agent = Agent(_ai.openai("gpt-4o", base_url=base_url), tools=[visit], system="Travel.")

@nd.function(id="travel-agent", retries=0)
async def travel(ctx):
    result = await agent.run(ctx.step, "Visit Paris, then Oslo.")
    return {"answer": result.answer, "turns": result.turns}

print(json.dumps(asyncio.run(travel.run(run_id="trip-1"))))
"""


@pytest.mark.crash
def test_agent_killed_mid_run_resumes_without_repeating_calls(server: ScriptedLLMServer, tmp_path: Path) -> None:
    worker = tmp_path / "worker.py"
    worker.write_text(textwrap.dedent(WORKER))
    server.add(
        tool_call("visit", {"city": "Paris"}, id="call_paris"),
        tool_call("visit", {"city": "Oslo"}, id="call_oslo"),
        "Visited Paris and Oslo.",
    )
    journal = tmp_path / "journal.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OPENAI_API_KEY": OPENAI_KEY}
    command = [sys.executable, str(worker), str(journal), str(tmp_path), server.openai_base_url]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert server.count == 2

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1]) == {"answer": "Visited Paris and Oslo.", "turns": 3}
    assert server.count == 3, "a completed model call was sent again"
    visits = (tmp_path / "visits").read_text().split()
    assert visits == ["Paris", "Oslo", "Oslo"]  # Paris completed before the kill; Oslo was in flight
    third_turn = server.requests[2].body["messages"]
    assert [m["content"] for m in third_turn if m["role"] == "tool"] == ["visited Paris", "visited Oslo"]
    assert OPENAI_KEY.encode() not in journal_bytes(journal)
