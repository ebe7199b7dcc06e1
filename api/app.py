"""The ASGI application: GraphQL over HTTP and WebSocket, health and readiness."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import documents, tracing
from api.access_log import AccessLogMiddleware, AccessLogSettings
from api.auth import Authenticator
from api.eventhub import EventHub
from api.graphql_view import GRAPHIQL_ASSETS, OmsGraphQL
from api.health import OutageAnswers, OutboxLimits, readiness, server_error
from api.logs import request_id_var
from api.metrics_endpoint import MetricsEndpoint, sample_pools_forever
from api.payments import DevelopmentRefunds
from api.ratelimit import CostBudget
from api.settings import Settings
from domain import metrics
from domain.db import (
    asyncpg_dsn,
    create_engine,
    create_sessionmaker,
    sqlalchemy_url,
)
from domain.outbound import OutboundGuard
from domain.ports import Resolver
from jobs.outbound import system_resolve
from jobs.queue import ArqQueue
from jobs.relay import relay_once
from schema.context import Services
from schema.root import build_schema

log = logging.getLogger("oms.http")


class RequestIdMiddleware:
    """Gives every request an id (or keeps the caller's X-Request-Id) and returns it, so
    a client can quote it (the access log, api/access_log.py, writes it down)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodySizeLimit:
    """Refuses request bodies over a limit with 413 before anything parses them, so an
    absurd request (a 100,000-line order) costs neither memory nor CPU."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "errors": [
                    {
                        "message": f"request body larger than {self.max_bytes:,} bytes",
                        "extensions": {"code": "REQUEST_TOO_LARGE"},
                    }
                ]
            },
            status_code=413,
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


@dataclass
class Runtime:
    """What the app holds for its lifetime."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis
    services: Services
    authenticator: Authenticator


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Young-generation threshold of the garbage collector. At the default (700) a busy
# process promotes in-flight request objects to the old generation, whose full
# collections then stop the process for a time proportional to everything alive:
# 460-660 ms with 2,000 subscribers connected (bench/subscriptions.py, p99 from ~680 ms
# to ~90 ms). At 50,000 a young collection takes 20-40 ms there, and few objects live
# long enough to be promoted.
GC_THRESHOLDS = (50_000, 20, 100)
GC_PAUSE_WARNING_SECONDS = 0.1


def tune_garbage_collector() -> None:
    """Thresholds above, and a warning for each long pause (a latency spike's cause)."""
    gc.set_threshold(*GC_THRESHOLDS)
    if _log_long_gc_pause not in gc.callbacks:
        gc.callbacks.append(_log_long_gc_pause)


_gc_started = 0.0


def _log_long_gc_pause(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
        return
    paused = time.perf_counter() - _gc_started
    metrics.GC_PAUSE_SECONDS.labels(str(info["generation"])).observe(paused)
    if paused >= GC_PAUSE_WARNING_SECONDS:
        logging.getLogger("oms.gc").warning(
            "garbage collection paused the process %.0f ms (generation %d, %d collected)",
            paused * 1000,
            info["generation"],
            info["collected"],
        )


def _ide_key(settings: Settings) -> str:
    """The key GraphiQL opens with in development: OMS_ADMIN_KEY, else the demo admin key
    that `make run` seeds."""
    if settings.admin_key:
        return settings.admin_key
    from api.demo import DEMO_ADMIN_SECRET

    return DEMO_ADMIN_SECRET


def create_app(
    settings: Settings | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    resolve: Resolver | None = None,
) -> Starlette:
    """The application. `clock` is for tests that need to stand at a given time,
    `resolve` for tests that need host names to resolve to given addresses."""
    settings = settings or Settings.from_env()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (`oms dev` sets them for you)")
    # Pools sized to the concurrency a process serves, with little overflow: overflow
    # connections are closed on return and reopened, a fork and ~5 ms each (measured).
    waits = settings.db_waits
    engine = create_engine(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=5, waits=waits
    )
    read_engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=5,
        autocommit=True,
        waits=waits,
    )
    sessionmaker = create_sessionmaker(engine)
    # Lazy: nothing connects until first use, so the API starts (and places orders)
    # while Redis is down; jobs wait in PostgreSQL until it is back.
    redis = ArqRedis(
        connection_pool=ConnectionPool.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    )
    queue = ArqQueue(redis)
    read_sessionmaker = create_sessionmaker(read_engine)
    hub = EventHub(
        asyncpg_dsn(sqlalchemy_url(settings.database_url)),
        relay=lambda: relay_once(sessionmaker, queue),
        connect_args=waits.connect_args(),
    )
    budget = CostBudget(
        redis,
        settings.cost_budget_per_minute,
        anonymous_per_minute=settings.anonymous_budget_per_minute,
    )
    services = Services(
        sessionmaker=sessionmaker,
        read_sessionmaker=read_sessionmaker,
        token_signing_key=settings.signing_key(),
        outbound=OutboundGuard(settings.outbound, resolve or system_resolve),
        clock=clock or _utcnow,
        cost_budget=budget,
        extra={"event_hub": hub, "job_queue": queue, "payments": DevelopmentRefunds()},
    )
    authenticator = Authenticator(
        sessionmaker, services.token_signing_key, settings.auth_cache_seconds, services.clock
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        redis=redis,
        services=services,
        authenticator=authenticator,
    )
    view = OmsGraphQL(
        build_schema(production=settings.production),
        services,
        authenticator,
        production=settings.production,
        allowed_origins=settings.allowed_origins,
        ws_init_timeout_seconds=settings.ws_init_timeout_seconds,
        max_sockets_per_credential=settings.max_sockets_per_credential,
        ide_authorization=None if settings.production else f"Bearer {_ide_key(settings)}",
    )
    access_log = AccessLogSettings.from_env(os.environ)
    outbox_limits = OutboxLimits.from_env(os.environ)
    view.access_log = access_log
    metrics_endpoint = MetricsEndpoint(read_engine, os.environ)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        return await readiness(engine, redis, hub, outbox_limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.runtime = runtime
        await hub.start()
        # Everything loaded at startup lives for the process: keep it out of the garbage
        # collector's generations (big requests spent ~25% of their time in collections).
        gc.collect()
        gc.freeze()
        tune_garbage_collector()
        pools = asyncio.create_task(sample_pools_forever({"write": engine, "read": read_engine}))
        try:
            yield
        finally:
            pools.cancel()
            await hub.stop()
            await budget.close()
            await redis.aclose()
            await engine.dispose()
            await read_engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            *(
                []
                if settings.production
                else [Mount("/graphiql-assets", StaticFiles(directory=GRAPHIQL_ASSETS))]
            ),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint.respond),
            *documents.ROUTES,
        ],
        lifespan=lifespan,
        # Whatever escapes a route is answered in JSON, never uvicorn's text/plain 500:
        # a database outage as a retryable 503 (schema/errors.py).
        exception_handlers={Exception: server_error},
    )
    app.add_middleware(OutageAnswers)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Inside the request id's middleware, so that each access log line carries it.
    app.add_middleware(AccessLogMiddleware, settings=access_log)
    app.add_middleware(RequestIdMiddleware)
    if tracing.configure("oms-api"):
        # Outermost: the request's span covers everything, and is the current span
        # while the access log names it after the GraphQL operation.
        app.add_middleware(tracing.asgi_middleware(), excluded_urls="healthz,readyz,metrics")
    return app
