"""The global event stream: order events in commit order.

An event's `id` is taken when it is inserted, and transactions can commit in another
order, so a reader resuming "after id N" could miss an event with a smaller id that
committed later. The relay therefore stamps committed events with a `stream_seq`, one
stamper at a time (an advisory lock), in the order it finds them committed: a reader
resuming after stream position N misses nothing and sees nothing twice.

A stamper never waits for another: if the lock is taken, it leaves the work to its
holder and looks again later. Its transaction also may not stay idle for more than
`STAMP_IDLE_TIMEOUT_MS`, so a stamper whose process stops (frozen, swapped out, stuck)
holds the lock that long at most: the server ends its session and frees the lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

STREAM_CHANNEL = "oms_stream"
_STAMP_LOCK = 0x0E5_7EA  # advisory lock key of the stamper
# A stamping transaction is a few statements sent back to back: seconds of silence mean
# its process has stopped.
STAMP_IDLE_TIMEOUT_MS = 3_000
_TRY_LOCK = (
    "SELECT set_config('idle_in_transaction_session_timeout', $2, true),"
    " pg_try_advisory_xact_lock($1) AS locked"
)

_COLUMNS = "id, stream_seq, order_id, channel_id, sequence, type, actor, payload::text AS payload, occurred_at"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    stream_seq: int
    order_id: int
    channel_id: int
    sequence: int
    type: str
    actor: str
    payload: dict[str, Any]
    occurred_at: dt.datetime


def _event(r: Any) -> StreamEvent:
    return StreamEvent(**{**dict(r), "payload": orjson.loads(r["payload"])})


async def stamp_pending(conn: Any, limit: int = 1000) -> list[StreamEvent] | None:
    """In the caller's transaction: give committed, unstamped events their stream
    positions, oldest first; returns them, or None if another stamper is at work (this
    one does not wait for it)."""
    found = await conn.fetchrow(_TRY_LOCK, _STAMP_LOCK, str(STAMP_IDLE_TIMEOUT_MS))
    if not found["locked"]:
        return None
    rows = await conn.fetch(
        """
        WITH pending AS (
            SELECT id FROM order_events WHERE stream_seq IS NULL ORDER BY id LIMIT $1
        ), numbered AS (
            SELECT id, nextval('order_event_stream_seq') AS seq FROM (SELECT id FROM pending ORDER BY id) p
        )
        UPDATE order_events e SET stream_seq = numbered.seq FROM numbered WHERE e.id = numbered.id
        RETURNING e.id, e.stream_seq, e.order_id, e.channel_id, e.sequence, e.type, e.actor,
                  e.payload::text AS payload, e.occurred_at
        """,
        limit,
    )
    events = sorted((_event(r) for r in rows), key=lambda e: e.stream_seq)
    if events:
        await conn.execute("SELECT pg_notify($1, $2)", STREAM_CHANNEL, str(events[-1].stream_seq))
    return events


async def read_stream(
    conn: Any,
    after: int,
    limit: int = 1000,
    *,
    channel_id: int | None = None,
    order_id: int | None = None,
) -> list[StreamEvent]:
    clauses = ["stream_seq > $1"]
    args: list[Any] = [after]
    if channel_id is not None:
        args.append(channel_id)
        clauses.append(f"channel_id = ${len(args)}")
    if order_id is not None:
        args.append(order_id)
        clauses.append(f"order_id = ${len(args)}")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM order_events WHERE {' AND '.join(clauses)} ORDER BY stream_seq LIMIT ${len(args)}",
        *args,
    )
    return [_event(r) for r in rows]


async def order_events_after(
    conn: Any, order_id: int, after_sequence: int, limit: int = 1000
) -> list[StreamEvent]:
    """An order's stamped events after a per-order sequence (gap-free, in order)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM order_events WHERE order_id = $1 AND sequence > $2 AND stream_seq IS NOT NULL"
        " ORDER BY sequence LIMIT $3",
        order_id,
        after_sequence,
        limit,
    )
    return [_event(r) for r in rows]


async def stream_head(conn: Any) -> int:
    return int(await conn.fetchval("SELECT COALESCE(max(stream_seq), 0) FROM order_events"))
