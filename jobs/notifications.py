"""Sending customer emails: once per notification row, however often its job runs.

`send_notification` claims the row for one attempt (domain/notifications/delivery.py):
the claim counts the attempt and leases the row (not due until the lease ends), then the
message goes to the SMTP server with no database connection held, then the outcome is
recorded. Two concurrent runs send one email (the second finds the row not due: BUSY)
and a run after SENT sends nothing. If the process dies after the server accepted the
message but before the outcome is recorded, the row falls due again when its lease ends
and the email goes again with the same Message-ID (`<notification-{id}@oms>`), so the
receiving side can drop the duplicate.

Configuration, read from the environment each time a job runs (the jobs layer sits
below api/, so it does not use api.settings):
- `OMS_SMTP_URL`: `smtp://[user:pass@]host[:port][?starttls=true|false&timeout=S]`
  (port 25 by default; without `starttls` the connection is upgraded when the server
  offers STARTTLS) or `smtps://...` (implicit TLS, port 465). Unset: nothing is sent;
  notifications stay PENDING (attempts untouched) and a warning is logged, so that once
  it is set the sweep sends what is still fresh.
- `OMS_MAIL_FROM`: the From address, `orders@oms.localhost` by default.

Failures (server down, timeout, temporary refusal) count an attempt, keep the error and
make the row due again after `RETRY_DELAYS` (a job deferred that long is enqueued too);
when they are used up the row is FAILED. A recipient refused permanently (5xx) fails at
once. Transient database failures are retried by the job itself, promptly
(jobs/resilience.py). `sweep_notifications` (every 15 s, and as a worker starts)
enqueues the due PENDING rows whose job is not queued, and gives up (FAILED) on rows
older than `MAX_AGE`: a two-day-old "your order has shipped" is better not sent. At most
`OMS_DELIVERY_CONCURRENCY` messages go to the mail server at once from one worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from arq import Retry, cron
from arq.worker import func

from domain import metrics
from domain.db import UnitOfWork, driver_connection
from domain.notifications import delivery
from domain.notifications.delivery import SEND_JOB, send_job
from domain.notifications.service import Links, RenderedNotification, render
from domain.outbound import destination
from jobs.queue import ArqQueue
from jobs.resilience import destinations, persist, retry_transient, statements
from jobs.smtp_sessions import SmtpSessions

log = logging.getLogger("oms.jobs.notifications")

DEFAULT_MAIL_FROM = "orders@oms.localhost"
# Seconds to wait before each retry; one more attempt than delays, then FAILED.
RETRY_DELAYS: tuple[float, ...] = (30, 120, 600, 1800, 3600)
MAX_AGE = dt.timedelta(hours=48)
SWEEP_BATCH = 1000  # due rows read at a time
SWEEP_MAX = 20_000  # jobs one sweep enqueues at most


class SmtpUrlError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None  # None: upgrade when the server offers it
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SmtpUrlError("OMS_SMTP_URL must look like smtp://host:port or smtps://host")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        start_tls: bool | None = None
        if "starttls" in query:
            start_tls = query["starttls"].strip().lower() in ("1", "true", "yes", "on")
        if implicit:
            start_tls = False
        try:
            timeout = float(query.get("timeout", "30"))
            port = parts.port or (465 if implicit else 25)
        except ValueError as exc:
            raise SmtpUrlError(f"OMS_SMTP_URL: {exc}") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=start_tls,
            timeout=timeout,
        )


def smtp_config() -> SmtpConfig | None:
    url = os.environ.get("OMS_SMTP_URL", "").strip()
    return SmtpConfig.from_url(url) if url else None


def email_links() -> Links:
    """Emails link to OMS_PUBLIC_URL; label links are signed with OMS_SECRET_KEY (the
    worker command puts the development key there). Without them: bare paths."""
    return Links(
        base_url=os.environ.get("OMS_PUBLIC_URL", "").strip() or None,
        key=os.environ.get("OMS_SECRET_KEY", "").strip() or None,
    )


def mail_from() -> str:
    return os.environ.get("OMS_MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM


def message_id(notification_id: int) -> str:
    return f"<notification-{notification_id}@oms>"


def build_message(n: RenderedNotification, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((n.recipient_name or "", n.recipient))
    msg["Subject"] = n.email.subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id(n.id)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(n.email.text)
    msg.add_alternative(n.email.html, subtype="html")
    return msg


async def deliver(ctx: dict[str, Any], config: SmtpConfig, message: EmailMessage) -> None:
    """Send over a session kept open by the worker (jobs/smtp_sessions.py); a job run
    outside a worker (no `smtp_sessions` in its context) opens one of its own."""
    kept: dict[SmtpConfig, SmtpSessions] | None = ctx.get("smtp_sessions")
    if kept is not None:
        sessions = kept.get(config)
        if sessions is None:
            sessions = kept[config] = SmtpSessions(config)
        await sessions.send(message)
        return
    await aiosmtplib.send(
        message,
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.use_tls,
        start_tls=config.start_tls,
        timeout=config.timeout,
    )


def _permanent(exc: BaseException) -> bool:
    """The server refused the recipient for good: retrying cannot help."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPRecipientRefused) and exc.code >= 500


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


@retry_transient
async def send_notification(ctx: dict[str, Any], notification_id: int) -> str:
    """Send one notification unless it is sent, being sent, or gone; returns what happened."""
    config = smtp_config()
    if config is None:
        log.warning(
            "OMS_SMTP_URL is not set: notification recorded but not sent",
            extra={"notification_id": notification_id},
        )
        return "UNCONFIGURED"
    server = destination(f"{'smtps' if config.use_tls else 'smtp'}://{config.host}:{config.port}")
    limits = destinations(ctx)
    wait = limits.step_aside(server)
    if wait is not None:
        raise Retry(defer=wait)
    # Claim and render in one transaction: if rendering fails (the database going away),
    # the claim goes with it, rather than leave the row leased for nothing.
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        conn = await driver_connection(uow.session)
        attempt = await delivery.claim(
            conn, notification_id, lease_seconds=lease_seconds(config), token=ctx.get("job_id")
        )
        if attempt is None:
            status = await delivery.state(conn, notification_id)
            if status is None:
                return "MISSING"
            return "BUSY" if status == "PENDING" else f"ALREADY_{status}"
        rendered = await render(conn, notification_id, links=email_links())
    if rendered is None:  # deleted with its order between claim and render
        return "MISSING"

    error: BaseException | None = None
    async with limits.slot(server):
        try:
            await deliver(ctx, config, build_message(rendered, mail_from()))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = exc
    give_up = error is not None and (_permanent(error) or attempt > len(RETRY_DELAYS))
    retry_in = None if error is None or give_up else RETRY_DELAYS[attempt - 1]

    # What the server answered is known only here: recorded whatever the database is
    # doing meanwhile (a job run again would find the row leased).
    async def record() -> bool:
        async with statements(ctx) as conn:
            if error is None:
                return await delivery.record_sent(conn, notification_id, attempt)
            return await delivery.record_failure(
                conn, notification_id, attempt, error=_describe(error), retry_in=retry_in
            )

    await persist(record)
    outcome = "delivered" if error is None else "retrying" if retry_in is not None else "dead"
    metrics.DELIVERIES.labels("email", outcome).inc()
    if error is None:
        log.info(
            "notification sent", extra={"notification_id": notification_id, "kind": rendered.kind}
        )
        return "SENT"
    extra = {"notification_id": notification_id, "attempts": attempt, "error": str(error)}
    if retry_in is None:
        log.error("notification failed for good", extra=extra)
        return "FAILED"
    log.warning("notification not sent; will retry", extra=extra)
    job = send_job(notification_id, attempt)
    try:
        await ctx["redis"].enqueue_job(
            job.function, *job.args, _job_id=job.job_id, _defer_by=dt.timedelta(seconds=retry_in)
        )
    except Exception as exc:  # Redis down: the row is due at its time; the sweep finds it
        log.warning("could not enqueue the notification retry (%s)", exc)
    return "RETRY"


def lease_seconds(config: SmtpConfig) -> float:
    """Longer than an attempt can take (connect, TLS, the message: each bounded by the
    SMTP timeout), so that no second attempt starts while one is under way."""
    return 3 * config.timeout + 30


async def sweep_notifications(ctx: dict[str, Any]) -> int:
    """Cron: give up on stale PENDING rows, and enqueue the due ones whose job is not
    queued (lost jobs: Redis down at relay time or restarted empty, a worker killed mid-
    way, a retry's deferred job lost). Returns how many were enqueued."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        expired = await delivery.expire(
            await driver_connection(uow.session), MAX_AGE.total_seconds() / 3600
        )
    if expired:
        log.warning("notifications given up as stale", extra={"count": expired})
    queue = ArqQueue(ctx["redis"])
    added = 0
    after: tuple[Any, int] | None = None
    while added < SWEEP_MAX:
        async with UnitOfWork(ctx["sessionmaker"]) as uow:
            rows = await delivery.due(await driver_connection(uow.session), SWEEP_BATCH, after)
        if not rows:
            break
        if smtp_config() is None:
            log.warning("OMS_SMTP_URL is not set: notifications wait to be sent")
            return 0
        jobs = [send_job(r["id"], r["attempts"]) for r in rows]
        added += await queue.enqueue_many(jobs, ignore_results=True)
        if len(rows) < SWEEP_BATCH:
            break
        after = (rows[-1]["next_attempt_at"], rows[-1]["id"])
    return added


# For jobs/worker.py. Results are not kept: the row is the result, and a finished
# job's id is free for the sweep at once. arq's tries count the job's own retries after
# transient failures and its steps aside from a crowded server, not attempts (the row
# counts those).
FUNCTIONS = [
    func(send_notification, name=SEND_JOB, keep_result=0, max_tries=1000),
    func(sweep_notifications, name="sweep_notifications", keep_result=0),
]
CRON_JOBS = [
    cron(
        sweep_notifications,
        second={5, 20, 35, 50},
        run_at_startup=True,
        unique=True,
        timeout=120,
    )
]
