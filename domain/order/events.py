"""Writing order events: one per committed state change, in the same transaction.

The per-order `sequence` is taken from the order row under its lock, so it is
gap-free and follows commit order for that order. NOTIFY wakes listeners at commit
(it carries no data: listeners read the outbox table)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

EVENTS_CHANNEL = "oms_events"


async def append_event(
    conn: Any,
    *,
    order_id: int,
    channel_id: int,
    type: str,
    actor: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> tuple[int, int]:
    """Append an event; returns (global id, per-order sequence)."""
    row = await conn.fetchrow(
        """
        WITH seq AS (
            UPDATE orders SET last_event_sequence = last_event_sequence + 1, updated_at = $6
            WHERE id = $1 RETURNING last_event_sequence
        ), ins AS (
            INSERT INTO order_events (order_id, channel_id, sequence, type, actor, payload, occurred_at)
            SELECT $1, $2, seq.last_event_sequence, $3, $4, $5::jsonb, $6 FROM seq
            RETURNING id, sequence
        )
        SELECT ins.id, ins.sequence, pg_notify($7, '') FROM ins
        """,
        order_id,
        channel_id,
        type,
        actor,
        orjson.dumps(payload).decode(),
        now,
        EVENTS_CHANNEL,
    )
    return int(row["id"]), int(row["sequence"])
