"""``NbDurableInstrumentor``: nbdurable's runs and steps as OpenTelemetry traces.

Follows opentelemetry-instrumentation's ``BaseInstrumentor``: ``instrument(tracer_provider=...)``
(the global provider when none is given), ``uninstrument()``, one instance per process. It
observes every engine of the process (``nd.configure`` included) through the change feed; nothing
of OpenTelemetry is imported or paid for until this module is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from ._tracer import RunTracer

__all__ = ["CAPTURE_CONTENT_ENV", "NbDurableInstrumentor"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_SPAN_CONTENT = frozenset({"true", "1", "span_only", "span_and_event"})


def capture_content_default() -> bool:
    """The GenAI conventions' switch: ``true`` (or ``SPAN_ONLY``/``SPAN_AND_EVENT``) records prompts and completions."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _SPAN_CONTENT


class NbDurableInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces of nbdurable runs: a span per run execution, a child span per step, GenAI attributes for AI steps.

    ``instrument(tracer_provider=None, capture_content=None, replayed_steps=True)``:
    ``capture_content`` (default: ``$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``) adds
    AI steps' prompts and completions, redacted as the journal is; ``replayed_steps=False`` leaves
    steps answered from the journal out of traces instead of marking them.
    """

    _tracer: RunTracer | None = None
    _stops: list[Callable[[], None]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        from .._about import __version__
        from ..engine._engine import observe_engines

        provider = kwargs.get("tracer_provider")
        tracer = trace.get_tracer(
            "nbdurable.otel",
            __version__,
            tracer_provider=provider,
            schema_url="https://opentelemetry.io/schemas/1.37.0",
        )
        capture = kwargs.get("capture_content")
        self._tracer = RunTracer(
            tracer,
            capture_content=capture_content_default() if capture is None else bool(capture),
            replayed_steps=bool(kwargs.get("replayed_steps", True)),
        )
        self._stops = []
        run_tracer = self._tracer

        def follow(engine: Any) -> None:
            self._stops.append(run_tracer.attach(engine))

        self._stops.append(observe_engines(follow))

    def _uninstrument(self, **kwargs: Any) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops = []
        if self._tracer is not None:
            self._tracer.close()
            self._tracer = None
