"""A process that runs (or resumes) a traced workflow, exporting spans over OTLP/HTTP as they end.

Usage: python _otel_worker.py JOURNAL ENDPOINT crash|resume

``crash`` starts run "otlp-run" and kills itself with SIGKILL inside step "b", after step "a"
is journaled and its span exported; ``resume`` resumes the run in a new process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import nbdurable as nd
from nbdurable.otel import NbDurableInstrumentor

journal, endpoint, mode = sys.argv[1], sys.argv[2], sys.argv[3]
provider = TracerProvider(resource=Resource.create({"service.name": f"otel-worker-{mode}"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=10)))
NbDurableInstrumentor().instrument(tracer_provider=provider)
nd.configure(journal)


def b() -> str:
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    return "b done"


@nd.function(id="otlp-flow", lint="off")
async def flow(ctx: nd.Context) -> str:
    a = await ctx.step.run("a", lambda: "a done")
    return a + ", " + await ctx.step.run("b", b)


async def main() -> None:
    if mode == "crash":
        await flow.run(run_id="otlp-run")
    else:
        print(await nd.get_run("otlp-run").resume().result(), flush=True)


asyncio.run(main())
provider.shutdown()
