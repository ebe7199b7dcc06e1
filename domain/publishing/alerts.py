"""Inventory alerts: a stock level down to its reorder point, a channel out of stock.

Raised by the publisher's drain (domain/publishing/service.py) as it examines stock
changes, so they follow every stock change whatever made it. A level alerts once per
crossing: it is flagged when alerted, and re-armed only once it is above its reorder
point again. Delivered to webhook subscriptions (domain/webhooks/models.py) whose
topics include the alert's and whose owner may see it: admin all; a partner the
alerts of its locations; a channel its own CHANNEL_OUT_OF_STOCK.

Only the drain's view is examined: a level that dips under and back above its reorder
point between two drains (a second or so) raises nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.availability.calendar import iso
from domain.availability.rules import available_at_location
from domain.db import driver_connection
from domain.global_ids import global_id
from domain.ports import Job

LOW_STOCK = "INVENTORY_LOW_STOCK"
OUT_OF_STOCK = "CHANNEL_OUT_OF_STOCK"
DELIVER_JOB = "deliver_inventory_alert"
DEFAULT_MAX_ATTEMPTS = 6


def deliver_job(alert_id: int, attempts: int, suffix: str = "") -> Job:
    """Its id carries the attempt count: arq will not enqueue an id it remembers."""
    return Job(DELIVER_JOB, (alert_id,), job_id=f"inventory-alert:{alert_id}:{attempts}{suffix}")


async def raise_alerts(
    conn: Any, skus: Sequence[str], out_of_stock: Sequence[tuple[int, str]]
) -> list[int]:
    """In the drain's transaction: alerts for levels of these SKUs that reached their
    reorder point, and for (channel id, SKU) pairs whose sellable quantity fell to 0.
    Returns the ids of those some subscription may want."""
    levels = await conn.fetch(
        """
        SELECT s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.damaged,
               s.reorder_point, f.sku IS NOT NULL AS flagged
        FROM stock_levels s
        LEFT JOIN inventory_low_stock_flags f ON f.sku = s.sku AND f.location_id = s.location_id
        WHERE s.sku = ANY($1::text[]) AND (s.reorder_point IS NOT NULL OR f.sku IS NOT NULL)
        """,
        list(skus),
    )
    new: list[tuple[str, str, int | None, int | None, int, int | None]] = []
    rearm: list[tuple[str, int]] = []
    for r in levels:
        available = available_at_location(
            r["on_hand"], r["reserved"], r["safety_stock"], r["damaged"]
        )
        low = r["reorder_point"] is not None and available <= r["reorder_point"]
        if low and not r["flagged"]:
            new.append((LOW_STOCK, r["sku"], r["location_id"], None, available, r["reorder_point"]))
        elif not low and r["flagged"]:
            rearm.append((r["sku"], r["location_id"]))
    new.extend((OUT_OF_STOCK, sku, None, channel_id, 0, None) for channel_id, sku in out_of_stock)
    flagged = [(a[1], a[2]) for a in new if a[0] == LOW_STOCK]
    if flagged:
        await conn.execute(
            "INSERT INTO inventory_low_stock_flags (sku, location_id)"
            " SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
            [f[0] for f in flagged],
            [f[1] for f in flagged],
        )
    if rearm:
        await conn.execute(
            "DELETE FROM inventory_low_stock_flags f USING unnest($1::text[], $2::bigint[]) AS t(sku, location_id)"
            " WHERE f.sku = t.sku AND f.location_id = t.location_id",
            [r[0] for r in rearm],
            [r[1] for r in rearm],
        )
    if not new:
        return []
    # Alerts nobody subscribed to are recorded (the console lists them) but not queued.
    wanted = {
        r["topic"]
        for r in await conn.fetch(
            "SELECT DISTINCT unnest(topics) AS topic FROM webhook_subscriptions WHERE active"
        )
    }
    rows = await conn.fetch(
        """
        INSERT INTO inventory_alerts
            (topic, sku, location_id, channel_id, quantity, reorder_point, delivery_status)
        SELECT t.topic, t.sku, t.location_id, t.channel_id, t.quantity, t.reorder_point,
               CASE WHEN t.topic = ANY($7::text[]) THEN 'PENDING' ELSE 'DELIVERED' END
        FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::int[])
            AS t(topic, sku, location_id, channel_id, quantity, reorder_point)
        RETURNING id, delivery_status
        """,
        [a[0] for a in new],
        [a[1] for a in new],
        [a[2] for a in new],
        [a[3] for a in new],
        [a[4] for a in new],
        [a[5] for a in new],
        sorted(wanted),
    )
    return sorted(r["id"] for r in rows if r["delivery_status"] == "PENDING")


# ---------- delivery ----------


@dataclass(frozen=True, slots=True)
class Recipient:
    subscription_id: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class AlertAttempt:
    alert_id: int
    number: int  # 1 for the first attempt
    topic: str
    sku: str
    location_code: str | None
    channel_code: str | None
    quantity: int
    reorder_point: int | None
    created_at: dt.datetime
    recipients: tuple[Recipient, ...]

    def body(self) -> bytes:
        data: dict[str, Any] = {"sku": self.sku}
        if self.topic == LOW_STOCK:
            data.update(
                location=self.location_code,
                available=self.quantity,
                reorderPoint=self.reorder_point,
            )
        else:
            data.update(channel=self.channel_code, quantity=self.quantity)
        return orjson.dumps(
            {
                # The API's id of the alert (`inventoryAlerts`, `node(id:)`).
                "id": global_id("InventoryAlert", self.alert_id),
                "topic": self.topic,
                "occurredAt": iso(self.created_at),
                "data": data,
            }
        )


def _may_see(
    subscription: Any, topic: str, location_id: int | None, channel_id: int | None
) -> bool:
    role = subscription["owner_role"]
    if role == "ADMIN":
        return True
    if role == "PARTNER":
        return location_id is not None and location_id in subscription["location_ids"]
    if role == "CHANNEL":
        return topic == OUT_OF_STOCK and channel_id == subscription["channel_id"]
    return False


async def claim_alert(conn: Any, alert_id: int, *, lease_seconds: float) -> AlertAttempt | None:
    """Take a due PENDING alert for one attempt (leased, so no other attempt starts
    meanwhile), with the subscriptions still to receive it; None if not due."""
    row = await conn.fetchrow(
        """
        SELECT a.id, a.topic, a.sku, a.location_id, a.channel_id, a.quantity, a.reorder_point,
               a.created_at, a.delivered_to, l.code AS location_code, c.code AS channel_code
        FROM inventory_alerts a
        LEFT JOIN locations l ON l.id = a.location_id
        LEFT JOIN channels c ON c.id = a.channel_id
        WHERE a.id = $1 AND a.delivery_status = 'PENDING'
          AND a.next_attempt_at <= clock_timestamp() + interval '1 second'
        FOR UPDATE OF a SKIP LOCKED
        """,
        alert_id,
    )
    if row is None:
        return None
    number = await conn.fetchval(
        "UPDATE inventory_alerts SET attempts = attempts + 1,"
        " next_attempt_at = clock_timestamp() + make_interval(secs => $2)"
        " WHERE id = $1 RETURNING attempts",
        alert_id,
        lease_seconds,
    )
    subscriptions = await conn.fetch(
        """
        SELECT s.id, s.url, s.secret, s.owner_role, s.channel_id, s.location_ids
        FROM webhook_subscriptions s LEFT JOIN api_keys k ON k.id = s.owner_api_key_id
        WHERE s.active AND $1 = ANY(s.topics) AND NOT (s.id = ANY($2::bigint[]))
          AND (s.owner_role <> 'PARTNER' OR k.revoked_at IS NULL)
        ORDER BY s.id
        """,
        row["topic"],
        list(row["delivered_to"]),
    )
    return AlertAttempt(
        alert_id=alert_id,
        number=int(number),
        topic=row["topic"],
        sku=row["sku"],
        location_code=row["location_code"],
        channel_code=row["channel_code"],
        quantity=row["quantity"],
        reorder_point=row["reorder_point"],
        created_at=row["created_at"],
        recipients=tuple(
            Recipient(s["id"], s["url"], s["secret"])
            for s in subscriptions
            if _may_see(s, row["topic"], row["location_id"], row["channel_id"])
        ),
    )


async def record_alert_attempt(
    conn: Any,
    attempt: AlertAttempt,
    *,
    delivered: Sequence[int],
    error: str | None,
    retry_in: float | None,
) -> str:
    """Record which subscriptions took it; DELIVERED when none is left, else due again in
    `retry_in` seconds, or FAILED after the last try. Returns the new status."""
    done = error is None
    status = await conn.fetchval(
        """
        UPDATE inventory_alerts SET
            delivered_to = delivered_to || $3::bigint[],
            delivery_status = CASE WHEN $4 THEN 'DELIVERED'
                                   WHEN $6::float8 IS NULL THEN 'FAILED' ELSE 'PENDING' END,
            last_error = $5,
            next_attempt_at = clock_timestamp() + make_interval(secs => COALESCE($6::float8, 0))
        WHERE id = $1 AND attempts = $2 AND delivery_status = 'PENDING'
        RETURNING delivery_status
        """,
        attempt.alert_id,
        attempt.number,
        list(delivered),
        done,
        error[:1000] if error else None,
        retry_in,
    )
    return str(status or "superseded")


async def due_alerts(
    conn: Any, *, min_age_seconds: float = 0.0, limit: int = 1000
) -> list[tuple[int, int]]:
    """(alert id, attempts so far) of PENDING alerts due for `min_age_seconds` already
    (their own job had its chance), oldest first."""
    rows = await conn.fetch(
        "SELECT id, attempts FROM inventory_alerts WHERE delivery_status = 'PENDING'"
        " AND next_attempt_at <= clock_timestamp() - make_interval(secs => $2)"
        " ORDER BY next_attempt_at LIMIT $1",
        limit,
        min_age_seconds,
    )
    return [(r["id"], r["attempts"]) for r in rows]


# ---------- reads ----------


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    topic: str
    sku: str
    location_code: str | None
    channel_code: str | None
    quantity: int
    reorder_point: int | None
    delivery_status: str
    created_at: dt.datetime


def _visible(principal: Principal) -> tuple[str, list[int] | None]:
    """SQL condition ($1: location ids, NULL for all) of the alerts a caller may see."""
    locations = None if principal.role is Role.ADMIN else sorted(principal.location_ids)
    return (
        "($1::bigint[] IS NULL OR (a.topic = 'INVENTORY_LOW_STOCK' AND a.location_id = ANY($1)))",
        locations,
    )


_ALERT_SELECT = """
    SELECT a.id, a.topic, a.sku, l.code AS location_code, c.code AS channel_code,
           a.quantity, a.reorder_point, a.delivery_status, a.created_at
    FROM inventory_alerts a
    LEFT JOIN locations l ON l.id = a.location_id
    LEFT JOIN channels c ON c.id = a.channel_id
"""


async def get_alert(session: AsyncSession, principal: Principal, alert_id: int) -> AlertRow | None:
    """One alert, if the caller may see it."""
    conn = await driver_connection(session)
    where, locations = _visible(principal)
    row = await conn.fetchrow(f"{_ALERT_SELECT} WHERE {where} AND a.id = $2", locations, alert_id)
    return AlertRow(**dict(row)) if row else None


async def list_alerts(
    session: AsyncSession, principal: Principal, *, limit: int, before_id: int | None
) -> tuple[list[AlertRow], int]:
    """Alerts the caller may see, newest first: all for admin; a partner's, the
    low-stock alerts of its locations. With the total count."""
    conn = await driver_connection(session)
    where, locations = _visible(principal)
    rows = await conn.fetch(
        f"{_ALERT_SELECT} WHERE {where} AND ($2::bigint IS NULL OR a.id < $2)"
        " ORDER BY a.id DESC LIMIT $3",
        locations,
        before_id,
        limit,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM inventory_alerts a WHERE {where}", locations)
    return [AlertRow(**dict(r)) for r in rows], int(total)
