"""Sending customer emails: once per notification row, however often its job runs.

`send_notification` claims the row with `FOR UPDATE SKIP LOCKED` and keeps the lock
while it talks to the SMTP server, then marks it SENT in the same transaction: two
concurrent runs send one email (the second finds the row locked and does nothing) and a
run after SENT sends nothing. If the process dies after the server accepted the message
but before the commit, the row is still PENDING and the email goes again with the same
Message-ID (`<notification-{id}@oms>`), so the receiving side can drop the duplicate.

Configuration, read from the environment each time a job runs (the jobs layer sits
below api/, so it does not use api.settings):
- `OMS_SMTP_URL`: `smtp://[user:pass@]host[:port][?starttls=true|false&timeout=S]`
  (port 25 by default; without `starttls` the connection is upgraded when the server
  offers STARTTLS) or `smtps://...` (implicit TLS, port 465). Unset: nothing is sent;
  notifications stay PENDING (attempts untouched) and a warning is logged, so that once
  it is set the sweep sends what is still fresh.
- `OMS_MAIL_FROM`: the From address, `orders@oms.localhost` by default.

Failures (server down, timeout, temporary refusal) count an attempt, keep the error and
retry with arq's `Retry` after `RETRY_DELAYS`; when they are used up the row is FAILED.
A recipient refused permanently (5xx) fails at once. `sweep_notifications` (every minute)
re-enqueues PENDING rows older than a minute under the same job id, which arq ignores
while that job is still queued or deferred for a retry, and gives up (FAILED) on rows
older than `MAX_AGE`: a two-day-old "your order has shipped" is better not sent.
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

from domain.db import UnitOfWork, driver_connection
from domain.notifications.service import (
    SEND_JOB,
    Links,
    RenderedNotification,
    render,
    send_job,
)
from jobs.queue import ArqQueue
from jobs.relay import enqueue_all

log = logging.getLogger("oms.jobs.notifications")

DEFAULT_MAIL_FROM = "orders@oms.localhost"
# Seconds to wait before each retry; one more attempt than delays, then FAILED.
RETRY_DELAYS: tuple[float, ...] = (30, 120, 600, 1800, 3600)
SWEEP_AFTER = dt.timedelta(minutes=1)
MAX_AGE = dt.timedelta(hours=48)
SWEEP_BATCH = 500


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


async def deliver(config: SmtpConfig, message: EmailMessage) -> None:
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


async def send_notification(ctx: dict[str, Any], notification_id: int) -> str:
    """Send one notification unless it is sent, being sent, or gone; returns what happened."""
    config = smtp_config()
    if config is None:
        log.warning(
            "OMS_SMTP_URL is not set: notification recorded but not sent",
            extra={"notification_id": notification_id},
        )
        return "UNCONFIGURED"
    retry_in: float | None = None
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        conn = await driver_connection(uow.session)
        row = await conn.fetchrow(
            "SELECT id, status, attempts FROM notifications WHERE id = $1 FOR UPDATE SKIP LOCKED",
            notification_id,
        )
        if row is None:
            exists = await conn.fetchval(
                "SELECT 1 FROM notifications WHERE id = $1", notification_id
            )
            return "BUSY" if exists else "MISSING"  # BUSY: another run holds it
        if row["status"] != "PENDING":
            return f"ALREADY_{row['status']}"
        rendered = await render(conn, notification_id, links=email_links())
        if rendered is None:  # unreachable: the row is locked
            return "MISSING"
        attempts = row["attempts"] + 1
        try:
            await deliver(config, build_message(rendered, mail_from()))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            give_up = _permanent(exc) or attempts > len(RETRY_DELAYS)
            await conn.execute(
                "UPDATE notifications SET attempts = $2, last_error = $3, status = $4 WHERE id = $1",
                notification_id,
                attempts,
                _describe(exc),
                "FAILED" if give_up else "PENDING",
            )
            extra = {"notification_id": notification_id, "attempts": attempts, "error": str(exc)}
            if give_up:
                log.error("notification failed for good", extra=extra)
                outcome = "FAILED"
            else:
                log.warning("notification not sent; will retry", extra=extra)
                retry_in = RETRY_DELAYS[attempts - 1]
                outcome = "RETRY"
        else:
            await conn.execute(
                "UPDATE notifications SET status = 'SENT', sent_at = now(), attempts = $2, last_error = NULL"
                " WHERE id = $1",
                notification_id,
                attempts,
            )
            log.info(
                "notification sent",
                extra={"notification_id": notification_id, "kind": rendered.kind},
            )
            outcome = "SENT"
    if retry_in is not None:  # after the commit that recorded the attempt
        raise Retry(defer=retry_in)
    return outcome


async def sweep_notifications(ctx: dict[str, Any]) -> int:
    """Cron: give up on stale PENDING rows, re-enqueue the others older than a minute
    (lost jobs: Redis down at relay time, a worker killed). Returns how many were queued."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        conn = await driver_connection(uow.session)
        expired = await conn.fetch(
            "UPDATE notifications SET status = 'FAILED',"
            " last_error = concat_ws(' / ', last_error, $1::text)"
            " WHERE status = 'PENDING' AND created_at < now() - $2::interval RETURNING id",
            f"not sent within {MAX_AGE.total_seconds() / 3600:g} hours",
            MAX_AGE,
        )
        rows = await conn.fetch(
            "SELECT id FROM notifications WHERE status = 'PENDING' AND created_at < now() - $1::interval"
            " ORDER BY id LIMIT $2",
            SWEEP_AFTER,
            SWEEP_BATCH,
        )
    if expired:
        log.warning("notifications given up as stale", extra={"count": len(expired)})
    if not rows:
        return 0
    if smtp_config() is None:
        log.warning("OMS_SMTP_URL is not set: %d notifications wait to be sent", len(rows))
        return 0
    await enqueue_all(ArqQueue(ctx["redis"]), [send_job(r["id"]) for r in rows])
    return len(rows)


# For jobs/worker.py. The result is not kept, so a finished job's id is free again for
# the sweep; arq's own try limit sits above ours (each try is one of our attempts).
FUNCTIONS = [
    func(send_notification, name=SEND_JOB, keep_result=0, max_tries=len(RETRY_DELAYS) + 5),
    func(sweep_notifications, name="sweep_notifications", keep_result=0),
]
CRON_JOBS = [cron(sweep_notifications, second={0}, run_at_startup=False)]
