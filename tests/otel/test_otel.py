"""OpenTelemetry traces of runs with the real SDK and an in-memory exporter: spans, GenAI attributes, resumes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import nbdurable as nd
from nbdurable.otel import NbDurableInstrumentor
from nbdurable.testing import ScriptedLLMServer, reply

KEY = "sk-otel-test-SECRET-0123456789abcdef"


@pytest.fixture
def spans(journal_path: Path) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    NbDurableInstrumentor().instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        NbDurableInstrumentor().uninstrument()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.mark.asyncio
async def test_a_run_is_a_span_and_its_steps_child_spans_with_retries_as_events(
    spans: InMemorySpanExporter,
) -> None:
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise nd.RetryAfterError("busy, try again", 0.01)
        return "ok"

    @nd.function(id="traced", retries=2, lint="off")
    async def traced(ctx: nd.Context) -> str:
        await ctx.step.run("plain", lambda x: x + 1, 1)
        await ctx.step.sleep("nap", "10ms")
        return await ctx.step.run("flaky", flaky)

    assert await traced.run(data={"n": 1}, run_id="r1") == "ok"
    got = by_name(spans)
    run = got["run traced"]
    assert attrs(run) == {
        "nbdurable.function.id": "traced",
        "nbdurable.run.id": "r1",
        "nbdurable.run.attempt": 1,
        "nbdurable.run.kind": "function",
        "nbdurable.run.trigger": "traced/run",
        "nbdurable.run.status": "completed",
    }
    assert run.parent is None and run.status.status_code == StatusCode.OK
    assert [e.name for e in run.events] == ["nbdurable.step.sleeping"]
    for name in ("step plain", "step nap", "step flaky"):
        child = got[name]
        assert child.parent is not None and child.parent.span_id == run.context.span_id, name
        assert child.context.trace_id == run.context.trace_id
        assert attrs(child)["nbdurable.step.replayed"] is False
    plain = attrs(got["step plain"])
    assert (plain["nbdurable.step.kind"], plain["nbdurable.step.status"], plain["nbdurable.step.attempt"]) == (
        "run",
        "completed",
        1,
    )
    assert plain["nbdurable.step.input_hash"] == nd.get_engine().journal.load_steps("r1")[0].input_hash
    flaky_span = got["step flaky"]
    assert attrs(flaky_span)["nbdurable.step.attempt"] == 2
    (retry,) = flaky_span.events
    assert retry.name == "nbdurable.step.retry"
    assert dict(retry.attributes or {})["exception.message"] == "busy, try again"
    assert flaky_span.start_time is not None and retry.timestamp >= flaky_span.start_time  # the span covers both


@pytest.mark.asyncio
async def test_a_failed_step_and_run_are_errors(spans: InMemorySpanExporter) -> None:
    @nd.function(id="fails", lint="off")
    async def fails(ctx: nd.Context) -> None:
        await ctx.step.run("boom", lambda: 1 / 0)

    with pytest.raises(nd.RunFailedError):
        await fails.run(run_id="r-fail")
    got = by_name(spans)
    for span in (got["step boom"], got["run fails"]):
        assert span.status.status_code == StatusCode.ERROR
        assert attrs(span)["error.type"] == "ZeroDivisionError"


async def ai_workflow(server: ScriptedLLMServer, run_id: str) -> Any:
    model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url)

    @nd.function(id="asks", lint="off")
    async def asks(ctx: nd.Context) -> str:
        body = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Hi {KEY}"}]}
        answer = await ctx.step.ai.infer("ask", model=model, body=body)
        return str(answer["choices"][0]["message"]["content"])

    return await asks.run(run_id=run_id)


@pytest.mark.asyncio
async def test_ai_steps_follow_the_genai_conventions_without_content_by_default(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    with ScriptedLLMServer([reply("hello there", usage=(42, 7))]) as server:
        await ai_workflow(server, "r-ai")
        port = int(server.openai_base_url.rsplit(":", 1)[1].split("/")[0])
    span = by_name(spans)["chat gpt-4o-mini"]
    a = attrs(span)
    assert span.kind == SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (42, 7)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", port)
    usage = genai_prices.Usage(input_tokens=42, output_tokens=7)
    listed = float(genai_prices.calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price)
    assert a["nbdurable.ai.cost_usd"] == pytest.approx(listed)
    assert a["nbdurable.ai.price.source"] == f"genai-prices {genai_prices.__version__}"
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output.messages", "gen_ai.system")) for k in a)
    assert KEY not in json.dumps(a)


@pytest.mark.asyncio
async def test_content_is_recorded_when_opted_in_and_redacted(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    NbDurableInstrumentor().instrument(tracer_provider=provider)
    try:
        with ScriptedLLMServer([reply(f"echo {KEY}", usage=(5, 5))]) as server:
            await ai_workflow(server, "r-content")
    finally:
        NbDurableInstrumentor().uninstrument()
    a = attrs(by_name(exporter)["chat gpt-4o-mini"])
    inputs = json.loads(a["gen_ai.input.messages"])
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
    assert inputs[1]["role"] == "user" and inputs[1]["parts"][0]["content"].startswith("Hi ")
    outputs = json.loads(a["gen_ai.output.messages"])
    assert outputs[0]["role"] == "assistant" and outputs[0]["finish_reason"] == "stop"
    assert outputs[0]["parts"][0]["content"].startswith("echo ")
    assert KEY not in json.dumps(a)  # the key in the prompt and in the answer: masked as in the journal


@pytest.mark.asyncio
async def test_a_resumed_run_continues_its_trace_and_replays_are_not_new_work(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    broken = {"yes": True}
    with ScriptedLLMServer([reply("one", usage=(10, 2))]) as server:
        model = nd.ai.openai("gpt-4o-mini", base_url=server.openai_base_url)

        @nd.function(id="resumes", lint="off")
        async def resumes(ctx: nd.Context) -> str:
            await ctx.step.ai.infer("ask", model=model, body={"messages": [{"role": "user", "content": "x"}]})
            if broken["yes"]:
                raise nd.NonRetriableError("stop here")  # fail the run now, without function-level retries
            return str(await ctx.step.run("after", lambda: "done"))

        with pytest.raises(nd.RunFailedError):
            await resumes.run(run_id="r-resume")
        first = by_name(spans)
        spans.clear()
        broken["yes"] = False
        assert await nd.get_run("r-resume").resume().result() == "done"
        assert server.count == 1
    second = by_name(spans)
    run1, run2 = first["run resumes"], second["run resumes"]
    assert run2.context.trace_id == run1.context.trace_id
    assert run2.parent is not None and run2.parent.span_id == run1.context.span_id and run2.parent.is_remote
    assert attrs(run2)["nbdurable.run.attempt"] == 2
    stored = nd.get_run("r-resume").record
    assert stored is not None and (stored.options or {})["trace"]["traceparent"].split("-")[1] == format(
        run1.context.trace_id, "032x"
    )
    replayed = attrs(second["chat gpt-4o-mini"])
    assert replayed["nbdurable.step.replayed"] is True
    assert not any(k.startswith("gen_ai.usage") or k.startswith("nbdurable.ai.cost") for k in replayed)
    assert attrs(first["chat gpt-4o-mini"])["gen_ai.usage.input_tokens"] == 10  # counted once, the first time
    assert attrs(second["step after"])["nbdurable.step.replayed"] is False


@pytest.mark.asyncio
async def test_send_inside_a_traced_request_links_the_runs_and_invoke_stays_in_the_trace(
    spans: InMemorySpanExporter,
) -> None:
    @nd.function(id="child", lint="off")
    async def child(ctx: nd.Context) -> int:
        return int(await ctx.step.run("double", lambda: 2 * ctx.event.data["n"]))

    @nd.function(id="on-order", trigger="shop/order.placed", lint="off")
    async def on_order(ctx: nd.Context) -> int:
        return int(await ctx.step.invoke("call-child", function=child, data={"n": ctx.event.data["n"]}))

    tracer = trace.get_tracer("a-web-app", tracer_provider=TracerProvider())
    with tracer.start_as_current_span("POST /orders") as request:
        [handle] = await nd.send("shop/order.placed", data={"n": 21})
    assert await handle.result() == 42
    got = by_name(spans)
    run = got["run on-order"]
    assert run.parent is None  # a trace of its own ...
    assert [link.context.span_id for link in run.links] == [request.get_span_context().span_id]  # ... linked
    assert attrs(run)["nbdurable.run.trigger"] == "shop/order.placed"
    child_run = got["run child"]
    assert child_run.context.trace_id == run.context.trace_id
    assert child_run.parent is not None and child_run.parent.span_id == run.context.span_id
    assert attrs(child_run)["nbdurable.run.parent_id"] == handle.run_id


@pytest.mark.asyncio
async def test_uninstrument_stops_tracing_and_wait_events(spans: InMemorySpanExporter) -> None:
    @nd.function(id="waits", lint="off")
    async def waits(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event("approval", event="ok/given", timeout="5s")
        return None if got is None else got.data

    handle = waits.start(run_id="r-wait")
    while handle.status != "waiting":
        await asyncio.sleep(0.01)
    await nd.send("ok/given", data={"yes": True}, id="ev-1")
    assert await handle.result() == {"yes": True}
    got = by_name(spans)
    assert [e.name for e in got["run waits"].events] == ["nbdurable.step.waiting"]
    assert dict(got["run waits"].events[0].attributes or {})["nbdurable.wait.event"] == "ok/given"
    (matched,) = got["step approval"].events
    assert (matched.name, dict(matched.attributes or {})) == (
        "nbdurable.wait.matched",
        {"nbdurable.wait.event_id": "ev-1"},
    )

    NbDurableInstrumentor().uninstrument()
    count = len(spans.get_finished_spans())

    @nd.function(id="quiet", lint="off")
    async def quiet(ctx: nd.Context) -> None:
        await ctx.step.run("s", lambda: 1)

    await quiet.run()
    assert len(spans.get_finished_spans()) == count
    assert "trace" not in nd.get_engine().claim_hooks
    NbDurableInstrumentor().instrument(tracer_provider=TracerProvider())  # for the fixture's uninstrument
