"""End to end over OTLP/HTTP: spans reach a collector of our own on loopback, and a run killed with
SIGKILL and resumed in a new process continues the same trace."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

WORKER = Path(__file__).with_name("_otel_worker.py")
pytestmark = pytest.mark.crash


class Collector(http.server.ThreadingHTTPServer):
    """Decodes OTLP/HTTP protobuf trace exports into (service, span) pairs."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        assert self.path == "/v1/traces" and self.headers.get("content-type") == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    self.server.spans.extend((service, span) for span in scope.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        kind = a.value.WhichOneof("value")
        out[a.key] = getattr(a.value, kind) if kind else None
    return out


def test_a_run_killed_and_resumed_in_a_new_process_continues_its_trace(collector: Collector, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal.db")
    crashed = subprocess.run(
        [sys.executable, str(WORKER), journal, collector.endpoint, "crash"], capture_output=True, timeout=120
    )
    assert crashed.returncode == -9, crashed.stderr.decode()
    first = [span for service, span in collector.spans if service == "otel-worker-crash"]
    assert [s.name for s in first] == ["step a"]  # the run's own span died with the process
    (step_a,) = first
    resumed = subprocess.run(
        [sys.executable, str(WORKER), journal, collector.endpoint, "resume"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "a done, b done"
    second = {span.name: span for service, span in collector.spans if service == "otel-worker-resume"}
    assert set(second) == {"run otlp-flow", "step a", "step b"}
    run = second["run otlp-flow"]
    # One trace across both processes: the resumed execution's span is a child of the first one's.
    assert run.trace_id == step_a.trace_id
    assert run.parent_span_id == step_a.parent_span_id
    assert attributes(run)["nbdurable.run.attempt"] == 2
    assert attributes(run)["nbdurable.run.status"] == "completed"
    assert attributes(second["step a"])["nbdurable.step.replayed"] is True
    assert attributes(second["step b"])["nbdurable.step.replayed"] is False
    assert attributes(step_a)["nbdurable.step.replayed"] is False
    for span in second.values():
        assert span.trace_id == step_a.trace_id
    assert second["step b"].parent_span_id == run.span_id
