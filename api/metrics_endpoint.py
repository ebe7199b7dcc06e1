"""`/metrics`: the Prometheus exposition of this API process, or of all of them.

Who may read it: with OMS_METRICS_TOKEN set, a request bearing it (`Authorization:
Bearer <token>`); without it, clients on this host only (a Prometheus agent or sidecar
beside the service), since metrics say much about the business (order rates, errors).

Under `oms serve --workers N` each process writes its figures in a shared directory
(PROMETHEUS_MULTIPROC_DIR, set by the supervisor) and whichever process answers adds
them all up. Figures read at scrape time (the outbox backlog) come from the database;
pool figures are sampled every few seconds by each process (`sample_pools`).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain import metrics
from domain.events.backlog import unrelayed

log = logging.getLogger("oms.metrics")

POOL_SAMPLE_SECONDS = 5.0


def _local(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class MetricsEndpoint:
    def __init__(self, engine: AsyncEngine, environ: Mapping[str, str]) -> None:
        self.engine = engine
        self.token = (environ.get("OMS_METRICS_TOKEN") or "").strip() or None

    def allowed(self, request: Request) -> bool:
        if self.token is None:
            return _local(request)
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def respond(self, request: Request) -> Response:
        if not self.allowed(request):
            return JSONResponse(
                {"error": "metrics need OMS_METRICS_TOKEN as a bearer token, or a local client"},
                status_code=403,
            )
        try:
            async with asyncio.timeout(2.0):
                async with self.engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    count, age = await unrelayed(raw.driver_connection)
            metrics.OUTBOX_UNRELAYED.set(count)
            metrics.OUTBOX_OLDEST_AGE_SECONDS.set(age)
        except Exception as exc:  # the other figures are worth having during an outage
            log.warning("metrics: could not read the outbox backlog: %s", exc)
        body = await asyncio.to_thread(generate_latest, _registry())
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def sample_pools(pools: Mapping[str, AsyncEngine]) -> None:
    """Set the pool gauges of this process from SQLAlchemy's pool counters."""
    for name, engine in pools.items():
        pool = engine.pool
        in_use = int(getattr(pool, "checkedout", lambda: 0)())
        idle = int(getattr(pool, "checkedin", lambda: 0)())
        overflow = max(0, int(getattr(pool, "overflow", lambda: 0)()))
        metrics.DB_POOL_CONNECTIONS.labels(name, "in_use").set(in_use)
        metrics.DB_POOL_CONNECTIONS.labels(name, "idle").set(idle)
        metrics.DB_POOL_CONNECTIONS.labels(name, "overflow").set(overflow)


async def sample_pools_forever(pools: Mapping[str, AsyncEngine]) -> None:
    while True:
        sample_pools(pools)
        await asyncio.sleep(POOL_SAMPLE_SECONDS)
