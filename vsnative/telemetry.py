"""OpenTelemetry, optional: spans (agent start, reconnect, clip write) and metrics, exported over OTLP
when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the `otel` extra is installed; otherwise every call is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
except ImportError:  # the `otel` extra is not installed
    otel_trace = None  # type: ignore[assignment]
    otel_metrics = None  # type: ignore[assignment]

Attributes = Mapping[str, str | int | float | bool]


@contextlib.contextmanager
def span(name: str, attributes: Attributes | None = None) -> Iterator[None]:
    """A span named `name` around the block (nothing at all without OpenTelemetry)."""
    if otel_trace is None:
        yield
        return
    with otel_trace.get_tracer("vsnative").start_as_current_span(name, attributes=attributes):
        yield


def event(name: str, attributes: Attributes | None = None) -> None:
    """A span with no duration, for things that happen at an instant (a reconnect, a closed clip)."""
    with span(name, attributes):
        pass


def observe(
    name: str, description: str, unit: str, read: Callable[[], Mapping[str, float]], counter: bool = True
) -> None:
    """An observable counter (or gauge): `read()` returns {camera id: value} at each collection."""
    if otel_metrics is None:
        return

    def callback(_options: Any) -> list[Any]:
        return [otel_metrics.Observation(value, {"camera": camera}) for camera, value in read().items()]

    meter = otel_metrics.get_meter("vsnative")
    create = meter.create_observable_counter if counter else meter.create_observable_gauge
    create(name, [callback], unit=unit, description=description)


def observe_agents(agents: Callable[[], list[Any]]) -> None:
    """Per-camera counters of the agents `agents()` returns, as OpenTelemetry metrics."""
    units = {
        "packets": "{packet}",
        "bytes": "By",
        "keyframes": "{frame}",
        "clips": "{clip}",
        "reconnects": "1",
    }
    for field, unit in units.items():

        def read(field: str = field) -> dict[str, float]:
            return {a.camera.id: getattr(a.counters, field) for a in agents()}

        observe(f"vsnative.camera.{field}", f"{field} per camera", unit, read)
    observe(
        "vsnative.camera.healthy",
        "1 while packets flow",
        "1",
        lambda: {a.camera.id: int(a.healthy) for a in agents()},
        counter=False,
    )


def configure_from_env() -> bool:
    """Install OTLP exporters for traces and metrics when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is missing: pip install 'vsnative[otel]'"
        )
        return False
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "vsnative")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if otel_trace is None or otel_metrics is None:
        return False
    otel_trace.set_tracer_provider(provider)
    otel_metrics.set_meter_provider(
        MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    )
    log.info("OpenTelemetry: exporting traces and metrics to %s", os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
    return True
