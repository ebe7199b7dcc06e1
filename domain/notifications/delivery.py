"""The life of a notification row as the worker sends it: PENDING until SENT or FAILED.

Like webhook deliveries (domain/webhooks/service.py), a send is claimed for one attempt
with a lease rather than a lock held while the mail server talks: the claim counts the
attempt and makes the row not due until the lease ends, so a second run finds it not
due and sends nothing, and a worker that dies mid-way leaves a row that falls due again
when its lease ends (the sweep finds it). No database connection waits on SMTP.

A failed attempt makes the row due again after its retry's delay (`next_attempt_at`),
which the sweep respects: a Redis that comes back empty loses the deferred retries'
jobs, not their times.
"""

from __future__ import annotations

from typing import Any

from domain.ports import Job

SEND_JOB = "send_notification"


def send_job(notification_id: int, attempts: int = 0) -> Job:
    """The job that makes the next attempt. Its id carries the attempts so far: a retry
    is enqueued while the job that failed still runs, under an id of its own (arq#416)."""
    return Job(SEND_JOB, (notification_id,), job_id=f"notification:{notification_id}:{attempts}")


async def claim(
    conn: Any,
    notification_id: int,
    *,
    lease_seconds: float,
    tolerance_seconds: float = 1.0,
    token: str | None = None,
) -> int | None:
    """Take a due PENDING notification for one attempt: the attempt's number, or None
    (sent, failed, missing, not due, or being sent by another run). `token` names the
    claimant (the job's id): the same job run again after its claim's answer was lost
    takes the lease back as the same attempt (see webhooks' claim_delivery)."""
    return await conn.fetchval(
        """
        UPDATE notifications
        SET attempts = attempts + CASE
                WHEN next_attempt_at > clock_timestamp() + make_interval(secs => $2)
                THEN 0 ELSE 1 END,
            lease_token = $4,
            next_attempt_at = clock_timestamp() + make_interval(secs => $3)
        WHERE id = $1 AND status = 'PENDING'
          AND (next_attempt_at <= clock_timestamp() + make_interval(secs => $2)
               OR lease_token = $4)
        RETURNING attempts
        """,
        notification_id,
        tolerance_seconds,
        lease_seconds,
        token,
    )


async def state(conn: Any, notification_id: int) -> str | None:
    """Why a claim failed: the row's status (PENDING: not due or being sent), or None."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM notifications WHERE id = $1", notification_id
    )
    return status


async def record_sent(conn: Any, notification_id: int, attempt: int) -> bool:
    """The server accepted it. False if the row moved on meanwhile."""
    result = await conn.execute(
        "UPDATE notifications SET status = 'SENT', sent_at = clock_timestamp(), last_error = NULL"
        " WHERE id = $1 AND status = 'PENDING' AND attempts = $2",
        notification_id,
        attempt,
    )
    return bool(result == "UPDATE 1")


async def record_failure(
    conn: Any, notification_id: int, attempt: int, *, error: str, retry_in: float | None
) -> bool:
    """The attempt failed: due again in `retry_in` seconds, or FAILED when None."""
    result = await conn.execute(
        """
        UPDATE notifications
        SET status = CASE WHEN $4::float8 IS NULL THEN 'FAILED' ELSE 'PENDING' END,
            last_error = $3,
            next_attempt_at = clock_timestamp() + make_interval(secs => COALESCE($4::float8, 0))
        WHERE id = $1 AND status = 'PENDING' AND attempts = $2
        """,
        notification_id,
        attempt,
        error[:2000],
        retry_in,
    )
    return bool(result == "UPDATE 1")


async def expire(conn: Any, max_age_hours: float) -> int:
    """Give up (FAILED) PENDING notifications older than `max_age_hours`: news that old
    is better not sent. Returns how many."""
    rows = await conn.fetch(
        "UPDATE notifications SET status = 'FAILED',"
        " last_error = concat_ws(' / ', last_error, $1::text)"
        " WHERE status = 'PENDING' AND created_at < now() - make_interval(hours => $2::int)"
        " RETURNING id",
        f"not sent within {max_age_hours:g} hours",
        int(max_age_hours),
    )
    return len(rows)


async def due(conn: Any, limit: int, after: tuple[Any, int] | None = None) -> list[Any]:
    """(id, attempts, next_attempt_at) of due PENDING notifications, oldest first,
    `limit` of them after the position `after` (when due, id)."""
    return list(
        await conn.fetch(
            """
            SELECT id, attempts, next_attempt_at FROM notifications
            WHERE status = 'PENDING' AND next_attempt_at <= clock_timestamp()
              AND ($2::timestamptz IS NULL OR (next_attempt_at, id) > ($2, $3::bigint))
            ORDER BY next_attempt_at, id LIMIT $1
            """,
            limit,
            after[0] if after else None,
            after[1] if after else 0,
        )
    )
