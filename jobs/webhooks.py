"""Webhook delivery jobs: one signed POST per attempt, retries with backoff, dead letter
after the last try, and a sweep for deliveries whose job was lost.

The delivery row is the truth (domain/webhooks/): a job only asks it whether
an attempt is due, so running a job twice, or a stale job after a replay, does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Any

import httpx
from arq import cron
from arq.worker import func

from domain.db import UnitOfWork, driver_connection
from domain.webhooks import delivery
from domain.webhooks import service as webhooks
from jobs import outbound
from jobs.queue import ArqQueue
from jobs.relay import enqueue_all

log = logging.getLogger("oms.webhooks")

# An attempt (outbound.ATTEMPT_DEADLINE_SECONDS, 30 s) stays well inside the lease, so no
# second attempt starts while one is still in flight.
LEASE_SECONDS = 90.0
SWEEP_BATCH = 1000


def max_attempts() -> int:
    return max(1, int(os.environ.get("OMS_WEBHOOK_MAX_ATTEMPTS", webhooks.DEFAULT_MAX_ATTEMPTS)))


def backoff_base_seconds() -> float:
    """Base delay of the backoff schedule (10 s by default); tests make it tiny."""
    return float(
        os.environ.get("OMS_WEBHOOK_BACKOFF_SECONDS", webhooks.DEFAULT_BACKOFF_BASE_SECONDS)
    )


def http_client(ctx: dict[str, Any] | None = None) -> httpx.AsyncClient:
    """A client for webhook POSTs (see jobs/outbound.py): redirects never followed,
    every connection checked by the outbound rules."""
    return outbound.http_client(outbound.guard(ctx or {}), "oms-webhooks/1")


async def deliver_webhook(ctx: dict[str, Any], delivery_id: int) -> str:
    """Make the next attempt at one delivery, if one is due; returns what happened."""
    sessionmaker = ctx["sessionmaker"]
    async with UnitOfWork(sessionmaker) as uow:
        attempt = await delivery.claim_delivery(
            await driver_connection(uow.session), delivery_id, lease_seconds=LEASE_SECONDS
        )
    if attempt is None:
        return "skipped"

    body = attempt.body()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-OMS-Event-Id": str(attempt.event_id),
        "X-OMS-Topic": attempt.topic,
        "X-OMS-Delivery-Id": str(attempt.delivery_id),
        "X-OMS-Timestamp": str(timestamp),
        "X-OMS-Signature": webhooks.signature(attempt.secret, timestamp, body),
    }
    # A worker may share one client across jobs (ctx["webhook_http"]); otherwise each
    # attempt has its own (the costly SSL context is shared anyway).
    shared = ctx.get("webhook_http")
    if shared is not None:
        answer = await outbound.post(shared, attempt.url, body, headers)
    else:
        async with http_client(ctx) as client:
            answer = await outbound.post(client, attempt.url, body, headers)
    code, error = answer.status_code, answer.error

    # A target the outbound rules refuse will not become acceptable by waiting: that
    # attempt is the last (dead letter, replayable once the subscription is fixed).
    last = answer.forbidden or attempt.number >= max_attempts()
    retry_in = None if last else webhooks.backoff_seconds(attempt.number, backoff_base_seconds())
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        if error is None:
            assert code is not None
            await delivery.record_delivered(conn, attempt, code)
            return "delivered"
        recorded = await delivery.record_failure(
            conn, attempt, status_code=code, error=error, retry_in=retry_in
        )
    log.info(
        "webhook attempt failed",
        extra={"delivery_id": delivery_id, "attempt": attempt.number, "error": error},
    )
    if not recorded:
        return "superseded"
    if retry_in is None:
        log.warning("webhook delivery dead", extra={"delivery_id": delivery_id})
        return "dead"
    job = webhooks.deliver_job(delivery_id, attempt.number)
    try:
        await ctx["redis"].enqueue_job(
            job.function, *job.args, _job_id=job.job_id, _defer_by=dt.timedelta(seconds=retry_in)
        )
    except Exception:  # Redis down: the row is due at its time, and the sweep will find it
        log.warning("could not enqueue the webhook retry", exc_info=True)
    return "retrying"


async def sweep_webhooks(ctx: dict[str, Any]) -> int:
    """Cron: enqueue every due PENDING delivery. Covers jobs that never reached Redis
    (enqueue failed after commit) and attempts whose worker died mid-way (their lease
    ran out). A delivery that also has its own job gets two; the second finds it not
    due and does nothing."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        due = await delivery.due_deliveries(await driver_connection(uow.session), SWEEP_BATCH)
    # Ids of their own (per sweep minute): the regular job id may still be remembered by
    # arq after a run that found the row not due, and would silently not be enqueued.
    minute = int(time.time()) // 60
    jobs = [webhooks.deliver_job(pk, attempts, f":sweep-{minute}") for pk, attempts in due]
    await enqueue_all(ArqQueue(ctx["redis"]), jobs)
    if jobs:
        log.info("swept webhook deliveries", extra={"count": len(jobs)})
    return len(jobs)


# For jobs/worker.py: `functions` and `cron_jobs` of WorkerSettings. Results are not
# kept: the row is the result, and a finished job's id is free for the sweep at once.
FUNCTIONS = [
    func(deliver_webhook, name=webhooks.DELIVER_JOB, keep_result=0, max_tries=5),
    func(sweep_webhooks, name="sweep_webhooks", keep_result=0),
]
CRON_JOBS = [cron(sweep_webhooks, second={30}, run_at_startup=True, unique=True, timeout=120)]
