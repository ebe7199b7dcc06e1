"""Traces, exported with OTLP over HTTP to a collector in the test (a real HTTP server
decoding the protobuf the SDK sends): one span per GraphQL operation, named after it,
with the database statements it ran beneath it; the worker's jobs traced too."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import ServerProcess
from tests.e2e.load import place
from tests.e2e.test_outages import SKUS, stock
from tests.fixtures import World
from tests.receivers import Receiver
from tests.support import Api


def spans(collector: Receiver) -> list[tuple[str, Any]]:
    """(service name, span) of everything exported so far."""
    found = []
    for request in collector.requests:
        if request.path != "/v1/traces":
            continue
        export = ExportTraceServiceRequest()
        export.ParseFromString(request.body)
        for resource_spans in export.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                found.extend((service, span) for span in scope_spans.spans)
    return found


def attributes(span: Any) -> dict[str, Any]:
    return {
        a.key: a.value.string_value or a.value.int_value or a.value.bool_value
        for a in span.attributes
    }


async def test_a_placement_is_one_trace_with_its_statements_and_the_worker_traces_jobs(
    api: Api,
    world: World,
    receiver: Receiver,
    servers: dict[str, str],
    start_worker: Any,
) -> None:
    await stock(api, world)
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url(""),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    server = ServerProcess(servers, **otlp)
    worker = start_worker(**otlp)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            answer = await place(client, world.channel, SKUS, "TRACED-1")
        assert answer.placed, answer

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = spans(receiver)
            operations = [s for service, s in found if s.name == "mutation PlaceOrder"]
            jobs = [
                s for service, s in found if service == "oms-worker" and s.name.startswith("job ")
            ]
            if operations and jobs:
                break
            await asyncio.sleep(0.3)
        assert operations, sorted({(svc, s.name) for svc, s in spans(receiver) if s.kind != 3})
        [operation] = operations
        assert attributes(operation)["graphql.operation.name"] == "PlaceOrder"
        assert attributes(operation)["graphql.operation.type"] == "mutation"
        # The statements of the placement, in the same trace.
        statements = [
            s
            for _, s in found
            if s.trace_id == operation.trace_id
            and attributes(s).get("db.system") in ("postgresql", "postgres")
        ]
        assert len(statements) >= 3, [s.name for _, s in found if s.trace_id == operation.trace_id]
        assert jobs, sorted({s.name for service, s in found if service == "oms-worker"})
        assert {service for service, _ in found} == {"oms-api", "oms-worker"}
    finally:
        server.stop()
        worker.stop()
