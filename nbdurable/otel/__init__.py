"""OpenTelemetry traces of nbdurable runs (``pip install 'nbdurable[otel]'``).

``NbDurableInstrumentor().instrument(tracer_provider=tp)`` makes every run executed in this
process a span, each step a child span, and AI steps spans under the GenAI semantic conventions;
a resumed run continues its trace. ``import nbdurable`` never imports this package.
"""

from __future__ import annotations

try:
    import opentelemetry.instrumentation.instrumentor  # noqa: F401 - checks the extra is there
except ImportError as exc:  # pragma: no cover - depends on the environment
    from .._errors import ConfigError

    raise ConfigError(
        "nbdurable.otel needs OpenTelemetry: pip install 'nbdurable[otel]' (opentelemetry-api and "
        "opentelemetry-instrumentation), plus an SDK and exporter of your choice."
    ) from exc

from ._instrumentor import CAPTURE_CONTENT_ENV, NbDurableInstrumentor
from ._tracer import TRACE_KEY

__all__ = ["CAPTURE_CONTENT_ENV", "TRACE_KEY", "NbDurableInstrumentor"]
