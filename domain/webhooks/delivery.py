"""One webhook delivery attempt, as the worker makes it: claim the row (leased, so no
other attempt starts meanwhile), build the signed body, record the outcome.

The body is built from the event row and the subscription at each attempt, the same
bytes every time. Its ids are the API's global ids, and a partner's subscription is
shown only its part of the event (domain/events/catalog.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from domain.availability.calendar import iso
from domain.events import catalog as event_catalog
from domain.global_ids import global_id


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed delivery: everything needed to send it, and which attempt this is."""

    delivery_id: int
    number: int  # 1 for the first attempt
    url: str
    secret: str
    topic: str
    event_id: int
    order_id: int
    sequence: int
    stream_seq: int
    occurred_at: dt.datetime
    actor: str
    payload: dict[str, Any]
    # A partner's subscription: its locations, whose part of the event it is shown.
    partner_locations: tuple[int, ...] | None = None

    def body(self) -> bytes:
        """The JSON body, built from the event row and the subscription (whose locations
        never change), byte-identical on every attempt. Ids are the API's global ids."""
        return orjson.dumps(
            {
                "id": self.event_id,
                "topic": self.topic,
                "orderId": global_id("Order", self.order_id),
                "sequence": self.sequence,
                "globalSequence": self.stream_seq,
                "occurredAt": iso(self.occurred_at),
                "actor": self.actor,
                "data": event_catalog.public_payload(
                    self.topic, self.payload, locations=self.partner_locations
                ),
            }
        )


async def claim_delivery(
    conn: Any,
    delivery_id: int,
    *,
    lease_seconds: float,
    tolerance_seconds: float = 1.0,
    token: str | None = None,
) -> Attempt | None:
    """Take a due PENDING delivery for one attempt, or None (delivered, dead, not due,
    or being attempted elsewhere). The claim counts the attempt and leases the row
    until `lease_seconds` from now: another run finds it not due, and if this worker
    dies, the sweep finds it again once the lease is over. No lock is held during
    the HTTP request, so a slow receiver holds no database connection.

    `token` names the claimant (the job's id): a claim that committed but whose answer
    was lost (the database restarting) leaves the row leased to that token, and the same
    job run again takes it back at once, as the same attempt, instead of leaving the
    delivery to the sweep after the lease (90 s)."""
    # One statement, so the claim is atomic whatever transaction it runs in: the row
    # lock taken by the sub-select lasts until the UPDATE has moved the row on.
    row = await conn.fetchrow(
        """
        WITH target AS (
            SELECT id, next_attempt_at > clock_timestamp() + make_interval(secs => $2)
                       AS reclaim
            FROM webhook_deliveries
            WHERE id = $1 AND status = 'PENDING'
              AND (next_attempt_at <= clock_timestamp() + make_interval(secs => $2)
                   OR lease_token = $5)
            FOR UPDATE SKIP LOCKED
        ), subject AS (
            SELECT t.id, t.reclaim, s.url, s.secret, s.owner_role, s.location_ids,
                   s.active AND (s.owner_role <> 'PARTNER' OR k.revoked_at IS NULL) AS live
            FROM target t
            JOIN webhook_deliveries d ON d.id = t.id
            JOIN webhook_subscriptions s ON s.id = d.subscription_id
            LEFT JOIN api_keys k ON k.id = s.owner_api_key_id
        )
        UPDATE webhook_deliveries d
        SET attempts = d.attempts + CASE WHEN j.live AND NOT j.reclaim THEN 1 ELSE 0 END,
            lease_token = $5,
            status = CASE WHEN j.live THEN 'PENDING' ELSE 'DEAD' END,
            last_error = CASE WHEN j.live THEN d.last_error ELSE $4 END,
            next_attempt_at = CASE WHEN j.live
                THEN clock_timestamp() + make_interval(secs => $3) ELSE d.next_attempt_at END
        FROM subject j, order_events e
        WHERE d.id = j.id AND e.id = d.event_id
        RETURNING d.attempts, d.topic, j.url, j.secret, j.live, j.owner_role, j.location_ids,
                  e.id AS event_id, e.order_id, e.sequence, e.stream_seq, e.occurred_at, e.actor,
                  e.payload::text AS payload
        """,
        delivery_id,
        tolerance_seconds,
        lease_seconds,
        "subscription deleted, or its partner API key revoked",
        token,
    )
    if row is None or not row["live"]:
        return None
    return Attempt(
        delivery_id=delivery_id,
        number=int(row["attempts"]),
        url=row["url"],
        secret=row["secret"],
        topic=row["topic"],
        event_id=row["event_id"],
        order_id=row["order_id"],
        sequence=row["sequence"],
        stream_seq=row["stream_seq"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        payload=orjson.loads(row["payload"]),
        partner_locations=(
            tuple(row["location_ids"] or ()) if row["owner_role"] == "PARTNER" else None
        ),
    )


async def record_delivered(conn: Any, attempt: Attempt, status_code: int) -> bool:
    """The receiver accepted it. False if the row moved on meanwhile (replayed)."""
    result = await conn.execute(
        """
        UPDATE webhook_deliveries
        SET status = 'DELIVERED', delivered_at = clock_timestamp(), last_status_code = $3,
            last_error = NULL
        WHERE id = $1 AND status = 'PENDING' AND attempts = $2
        """,
        attempt.delivery_id,
        attempt.number,
        status_code,
    )
    return bool(result == "UPDATE 1")


async def record_failure(
    conn: Any,
    attempt: Attempt,
    *,
    status_code: int | None,
    error: str,
    retry_in: float | None,
) -> bool:
    """The attempt failed: due again in `retry_in` seconds, or DEAD when None (that was
    the last try). False if the row moved on meanwhile (replayed)."""
    result = await conn.execute(
        """
        UPDATE webhook_deliveries
        SET status = CASE WHEN $5::float8 IS NULL THEN 'DEAD' ELSE 'PENDING' END,
            last_status_code = $3, last_error = $4,
            next_attempt_at = clock_timestamp() + make_interval(secs => COALESCE($5::float8, 0))
        WHERE id = $1 AND status = 'PENDING' AND attempts = $2
        """,
        attempt.delivery_id,
        attempt.number,
        status_code,
        error[:1000],
        retry_in,
    )
    return bool(result == "UPDATE 1")


async def due_deliveries(
    conn: Any, limit: int = 1000, after: tuple[dt.datetime, int] | None = None
) -> list[tuple[int, int, str, dt.datetime]]:
    """(delivery id, attempts so far, URL, when due) of PENDING deliveries that are due,
    oldest first, `limit` of them after the position `after` (when due, id)."""
    rows = await conn.fetch(
        """
        SELECT d.id, d.attempts, s.url, d.next_attempt_at FROM webhook_deliveries d
        JOIN webhook_subscriptions s ON s.id = d.subscription_id
        WHERE d.status = 'PENDING' AND d.next_attempt_at <= clock_timestamp()
          AND ($2::timestamptz IS NULL OR (d.next_attempt_at, d.id) > ($2, $3::bigint))
        ORDER BY d.next_attempt_at, d.id LIMIT $1
        """,
        limit,
        after[0] if after else None,
        after[1] if after else 0,
    )
    return [(r["id"], r["attempts"], r["url"], r["next_attempt_at"]) for r in rows]
