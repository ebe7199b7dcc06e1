"""Readiness, dependency by dependency, and the answer to a request that failed for
want of one.

`/readyz` says what works and what does not, and what that means for callers:

- `postgres` down: the API cannot serve (503, `"status": "unavailable"`);
- `redis` down: orders are still taken; webhooks, emails and channel publishing wait
  in PostgreSQL (nothing is lost) until it returns; rate limits count per process;
- `worker` missing (no arq heartbeat in Redis for a while): the same waits;
- `events` (this process's LISTEN connection) lost: live subscriptions lag until it
  reconnects (the event hub does so by itself).

- `migrations`: `behind` (the database lacks migrations this code needs) is 503 for
  this process; `ahead` (a newer deployment migrated further) is degraded, still 200;
- `outbox`: committed events not yet relayed, and the age of the oldest; `lagging`
  past OMS_READY_OUTBOX_MAX_AGE_SECONDS (60 s): degraded. With
  OMS_READY_OUTBOX_FAIL_SECONDS set, 503 past that age (off by default).

Anything else makes the service `"degraded"`, still 200: taking the API out of a load
balancer would not bring Redis or the worker back, nor relay events faster, and would
stop checkouts for want of webhooks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.eventhub import EventHub
from api.logs import request_id_var
from api.migration_state import compare, database_revisions, scripts
from domain.events.backlog import unrelayed
from schema.errors import retryable

log = logging.getLogger("oms.http")

CHECK_SECONDS = 2.0
# The worker's arq heartbeat (jobs/worker.py: health_check_interval), which expires
# shortly after the interval.
WORKER_HEARTBEAT_KEY = "arq:queue:health-check"

IMPACT = {
    "postgres": "nothing can be read or written: requests answer 503 SERVICE_UNAVAILABLE",
    "redis": "orders are still taken; webhooks, emails and channel publishing wait in"
    " PostgreSQL until it returns (nothing is lost); rate limits are counted per process",
    "worker": "webhooks, emails and channel publishing wait in PostgreSQL until a worker runs",
    "events": "live subscriptions of this process lag until its listener reconnects",
    "outbox": "webhooks, emails, channel stock and live subscriptions are behind by the"
    " oldest event's age: the relay is not keeping up or not running",
}


def _failed(name: str, exc: BaseException | None, status: str = "unavailable") -> dict[str, Any]:
    found: dict[str, Any] = {"status": status, "impact": IMPACT[name]}
    if exc is not None:
        found["error"] = (
            type(exc).__name__
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"[:200]
        )
    return found


async def _timed(check: Any) -> tuple[float, BaseException | None, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            value = await check
    except Exception as exc:  # readiness reports any failure, whatever its kind
        return time.perf_counter() - started, exc, None
    return time.perf_counter() - started, None, value


@dataclass(frozen=True)
class OutboxLimits:
    lagging_seconds: float = 60.0
    fail_seconds: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OutboxLimits:
        lagging = float(environ.get("OMS_READY_OUTBOX_MAX_AGE_SECONDS") or 60)
        fail = (environ.get("OMS_READY_OUTBOX_FAIL_SECONDS") or "").strip()
        return cls(lagging, float(fail) if fail else None)


async def readiness(
    engine: AsyncEngine, redis: Redis, hub: EventHub, limits: OutboxLimits | None = None
) -> JSONResponse:
    limits = limits or OutboxLimits()
    found: dict[str, Any] = {}

    async def ping_postgres() -> None:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            found["migrations"] = compare(await database_revisions(raw), scripts())
            found["outbox"] = await unrelayed(raw)

    (pg_s, pg_error, _), (redis_s, redis_error, _) = await asyncio.gather(
        _timed(ping_postgres()), _timed(redis.ping())
    )
    checks: dict[str, dict[str, Any]] = {}
    checks["postgres"] = (
        {"status": "ok", "ms": round(pg_s * 1000, 1)}
        if pg_error is None
        else _failed("postgres", pg_error)
    )
    checks["redis"] = (
        {"status": "ok", "ms": round(redis_s * 1000, 1)}
        if redis_error is None
        else _failed("redis", redis_error)
    )
    if redis_error is not None:
        checks["worker"] = _failed("worker", None, "unknown")
    else:
        _, error, beat = await _timed(redis.get(WORKER_HEARTBEAT_KEY))
        checks["worker"] = (
            {"status": "ok"} if error is None and beat else _failed("worker", error, "missing")
        )
    checks["events"] = {"status": "ok"} if hub.listening else _failed("events", None)
    failing = False
    if "migrations" in found:
        checks["migrations"] = found["migrations"]
        failing = found["migrations"]["status"] == "behind"
    if "outbox" in found:
        count, age = found["outbox"]
        lagging = age > limits.lagging_seconds
        checks["outbox"] = {
            "status": "lagging" if lagging else "ok",
            "unrelayed": count,
            "oldest_age_seconds": round(age, 1),
        }
        if lagging:
            checks["outbox"]["impact"] = IMPACT["outbox"]
        failing = failing or (limits.fail_seconds is not None and age > limits.fail_seconds)
    if checks["postgres"]["status"] != "ok" or failing:
        status, code = "unavailable", 503
    elif any(c["status"] != "ok" for c in checks.values()):
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return JSONResponse({"status": status, "dependencies": checks}, status_code=code)


def unavailable(exc: BaseException) -> JSONResponse | None:
    """The answer to a request that failed for want of the database (or a lock), or None
    when `exc` is something else."""
    transient = retryable(exc)
    if transient is None:
        return None
    return JSONResponse(
        {"errors": [{"message": transient.message, "extensions": transient.extensions()}]},
        status_code=503,
        headers={"Retry-After": str(transient.retry_after)},
    )


class OutageAnswers:
    """A route that fails because the database is away answers a retryable 503 in
    JSON, and the connection stays open (an exception that reaches uvicorn closes it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            answer = None if started else unavailable(exc)
            if answer is None:
                raise
            log.warning("%s %s: %s", scope.get("method"), scope.get("path"), exc)
            await answer(scope, receive, send)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's handler of last resort: JSON, with a code and the request id."""
    answer = unavailable(exc)
    if answer is not None:
        return answer
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "Internal error",
                    "extensions": {"code": "INTERNAL", "requestId": request_id_var.get()},
                }
            ]
        },
        status_code=500,
    )
