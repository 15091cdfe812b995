"""Runs and steps as OpenTelemetry spans, built from the engine's change feed.

A run's execution in a process is one span (a resumed run's next execution is another, in the
same trace: the trace context is kept in the run's options when it is first claimed). Each step
that does work is a child span built when the step ends, from the record the engine committed
(its journaled times, attempt, status, input hash, AI usage and cost); its failed attempts are
``nbdurable.step.retry`` events. A step answered from the journal is a short span marked
``nbdurable.step.replayed`` with no usage or cost, so traces never count old work again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..journal._protocol import RunRecord, StepRecord
from ._genai import ai_attributes, content_attributes, operation, request_model

if TYPE_CHECKING:
    from ..engine._engine import Engine
    from ..engine._feed import Notice

__all__ = ["TRACE_KEY", "RunTracer"]

TRACE_KEY = "trace"  # the key of the run's options that keeps its trace context
_log = logging.getLogger("nbdurable.otel")
_W3C = TraceContextTextMapPropagator()


def _ns(seconds: float | None) -> int:
    return int((time.time() if seconds is None else seconds) * 1e9)


@dataclasses.dataclass(slots=True)
class _Run:
    span: trace.Span
    context: otel_context.Context
    record: RunRecord


@dataclasses.dataclass(slots=True)
class _Pending:
    """What is known of a step before it ends: its failed attempts."""

    failed: list[StepRecord] = dataclasses.field(default_factory=list)


class RunTracer:
    """One change-feed subscriber and claim hook per engine, sharing the open spans of this process."""

    def __init__(self, tracer: trace.Tracer, *, capture_content: bool, replayed_steps: bool) -> None:
        self.tracer = tracer
        self.capture_content = capture_content
        self.replayed_steps = replayed_steps
        self.runs: dict[str, _Run] = {}
        self.pending: dict[tuple[str, str], _Pending] = {}

    # -- attaching --------------------------------------------------------------------------------

    def attach(self, engine: Engine) -> Any:
        """Follow ``engine``; returns a function that stops following it."""
        unsubscribe = engine.subscribe(self.on_notice)
        engine.claim_hooks[TRACE_KEY] = self.on_claim

        def detach() -> None:
            unsubscribe()
            if engine.claim_hooks.get(TRACE_KEY) == self.on_claim:
                del engine.claim_hooks[TRACE_KEY]

        return detach

    def close(self) -> None:
        """End the spans of runs still open here (instrumentation is being removed)."""
        for run_id in list(self.runs):
            self._end_run(run_id, None)

    # -- runs ---------------------------------------------------------------------------------------

    def on_claim(self, rec: RunRecord) -> dict[str, str] | None:
        """A run is being claimed here: open its span; return the trace context to keep with the run."""
        open_run = self.runs.get(rec.run_id)
        if open_run is None:
            open_run = self._start_run(rec)
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=open_run.context)
        return carrier

    def _start_run(self, rec: RunRecord) -> _Run:
        stored = (rec.options or {}).get(TRACE_KEY)
        links: list[Link] = []
        if isinstance(stored, Mapping) and isinstance(stored.get("traceparent"), str):
            # Resumed (or claimed again): the earlier executions' trace goes on.
            parent = _W3C.extract({k: v for k, v in stored.items() if isinstance(v, str)})
        elif rec.parent_run_id and rec.parent_run_id in self.runs:
            parent = self.runs[rec.parent_run_id].context  # step.invoke: a child run, in its parent's trace
        else:
            parent = otel_context.Context()  # a run is a trace of its own...
            caller = trace.get_current_span().get_span_context()
            if caller.is_valid:
                # ...linked to the traced code that started it (a request calling nd.send).
                links.append(Link(caller, {"nbdurable.link": "started_by"}))
        event = rec.event or {}
        attrs: dict[str, Any] = {
            "nbdurable.function.id": rec.function_id,
            "nbdurable.run.id": rec.run_id,
            "nbdurable.run.attempt": rec.attempt,
            "nbdurable.run.kind": rec.kind,
        }
        if isinstance(event.get("name"), str):
            attrs["nbdurable.run.trigger"] = event["name"]
        if rec.parent_run_id:
            attrs["nbdurable.run.parent_id"] = rec.parent_run_id
        span = self.tracer.start_span(
            f"run {rec.function_id}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs, links=links
        )
        run = _Run(span, trace.set_span_in_context(span), rec)
        self.runs[rec.run_id] = run
        return run

    def _end_run(self, run_id: str, rec: RunRecord | None) -> None:
        run = self.runs.pop(run_id, None)
        for key in [k for k in self.pending if k[0] == run_id]:
            del self.pending[key]
        if run is None:
            return
        status = rec.status if rec is not None else "unknown"
        run.span.set_attribute("nbdurable.run.status", status)
        if rec is not None and status == "failed":
            error = rec.error or {}
            kind = str(error.get("type") or "_OTHER")
            run.span.set_attribute("error.type", kind)
            run.span.set_status(Status(StatusCode.ERROR, f"{kind}: {error.get('message', '')}"[:500]))
        elif status == "completed":
            run.span.set_status(Status(StatusCode.OK))
        ended = rec.ended_at if rec is not None else None
        run.span.end(end_time=_ns(ended))

    # -- the feed -----------------------------------------------------------------------------------

    def on_notice(self, notice: Notice) -> None:
        try:
            self._dispatch(notice)
        except Exception:
            # A trace is never worth a run: log and go on (the feed would drop a raising subscriber).
            _log.exception("nbdurable.otel: could not record %s of run %s", notice.kind, notice.run_id)

    def _dispatch(self, notice: Notice) -> None:
        kind, record = notice.kind, notice.record
        if kind == "run_finished":
            self._end_run(notice.run_id, record if isinstance(record, RunRecord) else None)
            return
        if not isinstance(record, StepRecord):
            return
        run = self.runs.get(notice.run_id)
        if run is None:
            return  # a run this process does not execute (or claimed before instrumenting)
        if kind == "step_finished":
            self._step_span(run, record, replayed=False)
        elif kind == "step_replayed":
            if self.replayed_steps:
                self._step_span(run, record, replayed=True)
        elif kind == "step_retrying":
            self.pending.setdefault((record.run_id, record.step_id), _Pending()).failed.append(record)
        elif kind == "step_started" and record.kind in ("sleep", "wait"):
            self._waiting_event(run, record)

    def _waiting_event(self, run: _Run, record: StepRecord) -> None:
        attrs: dict[str, Any] = {"nbdurable.step.name": record.name, "nbdurable.step.id": record.step_id}
        if record.kind == "sleep":
            if record.next_at is not None:
                attrs["nbdurable.sleep.until"] = record.next_at
            run.span.add_event("nbdurable.step.sleeping", attrs)
            return
        meta = record.meta or {}
        if isinstance(meta.get("event"), str):
            attrs["nbdurable.wait.event"] = meta["event"]
        if isinstance(meta.get("if_exp"), str):
            attrs["nbdurable.wait.if"] = meta["if_exp"]
        if record.next_at is not None:
            attrs["nbdurable.wait.timeout_at"] = record.next_at
        run.span.add_event("nbdurable.step.waiting", attrs)

    # -- steps --------------------------------------------------------------------------------------

    def _step_span(self, run: _Run, record: StepRecord, *, replayed: bool) -> None:
        pending = self.pending.pop((record.run_id, record.step_id), None)
        failed = pending.failed if pending is not None else []
        meta = record.meta or {}
        ai = meta.get("ai") if isinstance(meta.get("ai"), Mapping) else None
        output: Any = None
        if ai is not None and record.output is not None:
            try:
                output = json.loads(record.output)
            except (ValueError, RecursionError):
                output = record.output
        name = f"step {record.name}"
        attrs: dict[str, Any] = {
            "nbdurable.step.name": record.name,
            "nbdurable.step.id": record.step_id,
            "nbdurable.step.kind": record.kind,
            "nbdurable.step.position": record.position,
            "nbdurable.step.status": record.status,
            "nbdurable.step.attempt": record.attempt + 1,
            "nbdurable.step.replayed": replayed,
            "nbdurable.run.id": record.run_id,
        }
        if record.input_hash:
            attrs["nbdurable.step.input_hash"] = record.input_hash
        kind = SpanKind.INTERNAL
        if ai is not None:
            model = request_model(ai)
            name = f"{operation(ai, output)} {model}" if model else operation(ai, output)
            if replayed:
                attrs["gen_ai.operation.name"] = operation(ai, output)  # what it was, not new usage or cost
            else:
                kind = SpanKind.CLIENT
                attrs.update(ai_attributes(ai, output))
                if self.capture_content:
                    attrs.update(content_attributes(ai, output))
        if replayed:
            # Answered from the journal now: no new work. The original timing stays findable.
            now = time.time()
            attrs["nbdurable.step.original_started_at"] = record.started_at
            if record.ended_at is not None:
                attrs["nbdurable.step.original_ended_at"] = record.ended_at
            start = end = _ns(now)
        else:
            start = _ns(min([record.started_at, *(f.started_at for f in failed)]))
            end = _ns(record.ended_at)
        span = self.tracer.start_span(name, context=run.context, kind=kind, attributes=attrs, start_time=start)
        for attempt in failed:
            self._retry_event(span, attempt)
        if record.kind == "wait" and not replayed:
            found = meta.get("event_id")
            span.add_event(
                "nbdurable.wait.matched" if isinstance(found, str) else "nbdurable.wait.timed_out",
                {"nbdurable.wait.event_id": found} if isinstance(found, str) else {},
                timestamp=end,
            )
        if record.status == "failed":
            error = record.error or {}
            error_type = str(error.get("type") or "_OTHER")
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, f"{error_type}: {error.get('message', '')}"[:500]))
        span.end(end_time=max(end, start))

    @staticmethod
    def _retry_event(span: trace.Span, attempt: StepRecord) -> None:
        error = attempt.error or {}
        attrs: dict[str, Any] = {"nbdurable.step.attempt": attempt.attempt}
        if error.get("type"):
            attrs["error.type"] = str(error["type"])
        if error.get("message"):
            attrs["exception.message"] = str(error["message"])[:1000]
        if attempt.next_at is not None:
            attrs["nbdurable.step.next_attempt_at"] = attempt.next_at
        span.add_event("nbdurable.step.retry", attrs, timestamp=_ns(attempt.ended_at))
