"""Inventory alerts (low stock, a channel out of stock) POSTed to the subscriptions that
want them: signed, retried with backoff, FAILED after the last try (the rows and their
rules: domain/publishing/alerts.py; raised by the publishing drain, jobs/publishing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

from arq.worker import func

from domain.db import UnitOfWork, driver_connection
from domain.global_ids import global_id
from domain.publishing import alerts
from domain.publishing import service as publishing
from jobs import outbound
from jobs.publishing import ALERT_LEASE_SECONDS, _client, backoff_base_seconds, max_attempts
from jobs.resilience import retry_transient

log = logging.getLogger("oms.jobs.alerts")


@retry_transient
async def deliver_inventory_alert(ctx: dict[str, Any], alert_id: int) -> str:
    """POST one alert, signed, to every subscription that wants it and may see it;
    retried with backoff for those that did not acknowledge, FAILED after the last try."""
    sessionmaker = ctx["sessionmaker"]
    async with UnitOfWork(sessionmaker) as uow:
        attempt = await alerts.claim_alert(
            await driver_connection(uow.session), alert_id, lease_seconds=ALERT_LEASE_SECONDS
        )
    if attempt is None:
        return "skipped"
    body = attempt.body()
    timestamp = int(time.time())

    def headers(secret: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-OMS-Topic": attempt.topic,
            "X-OMS-Alert-Id": global_id("InventoryAlert", attempt.alert_id),
            "X-OMS-Timestamp": str(timestamp),
            "X-OMS-Signature": publishing.sign(secret, timestamp, body),
        }

    async with contextlib.AsyncExitStack() as stack:
        http = await _client(ctx, stack)
        answers = await asyncio.gather(
            *(outbound.post(http, r.url, body, headers(r.secret)) for r in attempt.recipients)
        )
    sent = list(zip(attempt.recipients, answers, strict=True))
    delivered = [r.subscription_id for r, a in sent if a.error is None]
    errors = [f"{r.subscription_id}: {a.error}" for r, a in sent if a.error]
    error = "; ".join(errors) or None
    # When every recipient left is refused by the outbound rules, trying again is useless.
    last = attempt.number >= max_attempts() or all(a.forbidden for _, a in sent if a.error)
    retry_in = (
        None
        if error is None or last
        else publishing.backoff_seconds(attempt.number, backoff_base_seconds())
    )
    async with UnitOfWork(sessionmaker) as uow:
        status = await alerts.record_alert_attempt(
            await driver_connection(uow.session),
            attempt,
            delivered=delivered,
            error=error,
            retry_in=retry_in,
        )
    if status == "PENDING" and retry_in is not None:
        job = alerts.deliver_job(alert_id, attempt.number)
        try:
            await ctx["redis"].enqueue_job(
                job.function,
                *job.args,
                _job_id=job.job_id,
                _defer_by=dt.timedelta(seconds=retry_in),
            )
        except Exception:
            log.warning("could not enqueue the alert retry; the sweep will", exc_info=True)
    return status.lower()


# For jobs/worker.py. arq's tries count the job's own retries after transient
# failures; the row counts attempts.
FUNCTIONS = [
    func(deliver_inventory_alert, name=alerts.DELIVER_JOB, keep_result=0, max_tries=50),
]
