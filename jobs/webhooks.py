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
from arq import Retry, cron
from arq.worker import func

from domain import metrics
from domain.db import UnitOfWork, driver_connection
from domain.outbound import destination as outbound_destination
from domain.webhooks import delivery
from domain.webhooks import service as webhooks
from jobs import outbound
from jobs.queue import ArqQueue
from jobs.resilience import destinations, persist, retry_transient, statements

log = logging.getLogger("oms.webhooks")

# An attempt (outbound.ATTEMPT_DEADLINE_SECONDS, 30 s) stays well inside the lease, so no
# second attempt starts while one is still in flight.
LEASE_SECONDS = 90.0
SWEEP_BATCH = 1000  # due rows read at a time
SWEEP_MAX = 20_000  # jobs one sweep enqueues at most


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


@retry_transient
async def deliver_webhook(
    ctx: dict[str, Any], delivery_id: int, destination: str | None = None
) -> str:
    """Make the next attempt at one delivery, if one is due; returns what happened.
    `destination` (the receiver, see deliver_job) lets a job for a crowded receiver
    step aside before it claims anything."""
    limits = destinations(ctx)
    if destination is not None:
        wait = limits.step_aside(destination)
        if wait is not None:
            raise Retry(defer=wait)
    async with statements(ctx) as conn:
        attempt = await delivery.claim_delivery(
            conn, delivery_id, lease_seconds=LEASE_SECONDS, token=ctx.get("job_id")
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
    # The worker shares one client (and its kept-alive connections) across jobs
    # (ctx["webhook_http"], built with the worker's outbound rules); a job run with
    # other rules, or none shared, has a client of its own.
    async with limits.slot(outbound_destination(attempt.url)):
        shared = ctx.get("webhook_http")
        if shared is not None and ctx.get("webhook_http_guard") is outbound.guard(ctx):
            answer = await outbound.post(shared, attempt.url, body, headers)
        else:
            async with http_client(ctx) as client:
                answer = await outbound.post(client, attempt.url, body, headers)
    code, error = answer.status_code, answer.error

    # A target the outbound rules refuse will not become acceptable by waiting: that
    # attempt is the last (dead letter, replayable once the subscription is fixed).
    last = answer.forbidden or attempt.number >= max_attempts()
    retry_in = None if last else webhooks.backoff_seconds(attempt.number, backoff_base_seconds())

    # What the receiver answered is known only here: recorded whatever the database is
    # doing meanwhile (a job run again would find the delivery leased, for 90 s).
    async def record() -> bool:
        async with statements(ctx) as conn:
            if error is None:
                assert code is not None
                await delivery.record_delivered(conn, attempt, code)
                return True
            return await delivery.record_failure(
                conn, attempt, status_code=code, error=error, retry_in=retry_in
            )

    recorded = await persist(record)
    outcome = "delivered" if error is None else "retrying" if retry_in is not None else "dead"
    metrics.DELIVERIES.labels("webhook", outcome).inc()
    if error is None:
        return "delivered"
    log.info(
        "webhook attempt failed",
        extra={"delivery_id": delivery_id, "attempt": attempt.number, "error": error},
    )
    if not recorded:
        return "superseded"
    if retry_in is None:
        log.warning("webhook delivery dead", extra={"delivery_id": delivery_id})
        return "dead"
    job = webhooks.deliver_job(delivery_id, attempt.number, attempt.url)
    try:
        await ctx["redis"].enqueue_job(
            job.function, *job.args, _job_id=job.job_id, _defer_by=dt.timedelta(seconds=retry_in)
        )
    except Exception as exc:  # Redis down: the row is due at its time; the sweep finds it
        log.warning("could not enqueue the webhook retry (%s)", exc)
    return "retrying"


async def sweep_webhooks(ctx: dict[str, Any]) -> int:
    """Cron: enqueue every due PENDING delivery whose job is not queued; returns how
    many were. Covers jobs that never reached Redis (enqueue failed after commit, a
    Redis that came back empty), attempts whose worker died mid-way (their lease ran
    out) and retries whose deferred job was lost. A delivery's job id is the one its
    attempt count gives (deliver_job), so a queued, deferred or running job is seen
    and skipped (results are not kept: a finished job's id is free at once)."""
    queue = ArqQueue(ctx["redis"])
    added = 0
    after: tuple[dt.datetime, int] | None = None
    while added < SWEEP_MAX:
        async with UnitOfWork(ctx["sessionmaker"]) as uow:
            due = await delivery.due_deliveries(
                await driver_connection(uow.session), SWEEP_BATCH, after
            )
        if not due:
            break
        jobs = [webhooks.deliver_job(pk, attempts, url) for pk, attempts, url, _ in due]
        added += await queue.enqueue_many(jobs, ignore_results=True)
        if len(due) < SWEEP_BATCH:
            break
        after = (due[-1][3], due[-1][0])
    if added:
        log.info("swept webhook deliveries", extra={"count": added})
    return added


# For jobs/worker.py: `functions` and `cron_jobs` of WorkerSettings. Results are not
# kept: the row is the result, and a finished job's id is free for the sweep at once.
# arq's tries count the job's own retries after transient failures and its steps aside
# from a crowded receiver, not attempts (the row counts those).
FUNCTIONS = [
    func(deliver_webhook, name=webhooks.DELIVER_JOB, keep_result=0, max_tries=1000),
    func(sweep_webhooks, name="sweep_webhooks", keep_result=0),
]
# Every 15 seconds, and as each worker starts (after a Redis outage too: jobs/runner.py).
CRON_JOBS = [
    cron(
        sweep_webhooks,
        second={0, 15, 30, 45},
        run_at_startup=True,
        unique=True,
        timeout=120,
    )
]
