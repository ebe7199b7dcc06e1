"""OpenTelemetry traces: off by default, at no cost; on, with the maintained
instrumentations and an OTLP exporter when one is configured.

Switched on by OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), the
SDK's own variables, which also set headers, timeouts and the like; OMS_TRACING=on
records spans without exporting them (to measure the cost of tracing itself), and
OMS_TRACING=off keeps it off whatever else is set. The service name is
OTEL_SERVICE_NAME, else `oms-api` or `oms-worker`.

What is traced when on: every HTTP request (ASGI), renamed after its GraphQL
operation (`mutation PlaceOrder`) with its name, type and cost as attributes; each
WebSocket operation; every statement sent to PostgreSQL through asyncpg, every Redis
command, every outgoing HTTP request (webhooks, channel publishing: they carry the
`traceparent` header to the receiver); each worker job. Log lines and masked errors
carry the trace id, so a client's report leads to the trace.

Without a TracerProvider set, opentelemetry-api's tracer is a no-op and none of the
instrumentations is installed: the only cost left is reading the current span in log
formatting and error masking (a context variable lookup).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

log = logging.getLogger("oms.tracing")

_configured = False


def asgi_middleware() -> Any:
    """OpenTelemetry's ASGI middleware class (a server span per request), imported only
    when tracing is on."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware


def wanted(environ: Mapping[str, str]) -> tuple[bool, bool]:
    """(whether to trace, whether to export)."""
    switch = (environ.get("OMS_TRACING") or "").strip().lower()
    if switch in ("off", "false", "0", "no"):
        return False, False
    exporting = bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    return exporting or switch in ("on", "true", "1", "yes"), exporting


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Set up tracing for this process once; True if it traces."""
    global _configured
    environ = os.environ if environ is None else environ
    on, exporting = wanted(environ)
    if not on or _configured:
        return on
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    _configured = True
    log.info("tracing on", extra={"service": name, "exporting": exporting})
    return True


def trace_id() -> str | None:
    """The current trace's id (32 hex digits), or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x")


def name_operation(operation_type: str | None, name: str | None, cost: int | None) -> None:
    """Rename the current span after the GraphQL operation it served."""
    span = trace.get_current_span()
    if not span.is_recording() or operation_type is None:
        return
    span.update_name(f"{operation_type} {name or 'anonymous'}")
    span.set_attribute("graphql.operation.type", operation_type)
    if name:
        span.set_attribute("graphql.operation.name", name)
    if cost is not None:
        span.set_attribute("oms.query_cost", cost)
