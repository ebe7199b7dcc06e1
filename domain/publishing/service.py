"""What each channel may sell, and the state of telling it.

How a stock change reaches a channel:

1. A trigger on `stock_levels` (see the migration) appends the SKU to
   `publish_dirty_skus` in the changing transaction, whatever code path made the
   change, and NOTIFYs `oms_stock` (a wake-up only).
2. `drain` (under one advisory lock, so values are computed in commit order) takes
   those rows, computes every channel's sellable quantity for the SKUs with the same
   SQL sum and the same `Allocation` as the `availability` query, and stores the
   values that changed in `channel_stock_published`; it also raises inventory alerts.
3. Per channel, one publisher at a time (a lease) turns pending values (computed but
   not acknowledged) into batches (`channel_publications`), each with the next
   per-channel `sequence`, and records the receiver's answer. Values are marked
   published only on acknowledgement, so a value goes out again until acknowledged,
   and running any step twice is harmless: a receiver keeps, per SKU, the value of
   the highest sequence it has seen.

A resync (full or recompute-only) walks every SKU in order, in batches, from a
checkpoint (the last SKU done) that advances only with acknowledgements, so a
publisher that dies mid-way resumes where it stopped. HTTP and files are the worker's
business (jobs/publishing.py); this module is computation and SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.availability.calendar import iso
from domain.availability.rules import Allocation
from domain.db import driver_connection
from domain.publishing import alerts

STOCK_CHANNEL = "oms_stock"
DEFAULT_BATCH_SIZE = 1000
DRAIN_LIMIT = 20_000
LEASE_SECONDS = 60.0
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_BASE_SECONDS = 2.0
DEFAULT_DEAD_PAUSE_SECONDS = 900.0
DEFAULT_MIN_INTERVAL_SECONDS = 1.0
RESYNC_JOB = "resync_channel"

# Every writer of `channel_stock_published.quantity` holds this lock for its
# transaction, so a value computed from an older snapshot never overwrites a newer one.
# Taken by worker jobs only, for transactions that can take a few seconds (a resync
# chunk): they wait for one another longer than a request would (set_config first, so
# the lock's own wait is bounded by it).
_VALUES_LOCK = (
    "SELECT set_config('lock_timeout', '30000', true),"
    " pg_advisory_xact_lock(hashtext('oms.publishing.values'))"
)

# The network's available units of a SKU: the sum of the `availability` query
# (domain/availability/service.py), so a channel is sent the number its storefront is
# shown and `placeOrder` accepts; `Allocation.sellable` then applies share and buffer.
_NETWORK_AVAILABLE = (
    "COALESCE(SUM(GREATEST(s.on_hand - s.reserved - s.safety_stock - s.damaged, 0)), 0)::int"
)


class LeaseLost(Exception):
    """Another publisher took the channel over (ours ran out): stop without writing."""


# ---------- signing and payloads ----------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`X-OMS-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
    the same scheme as order webhooks."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def backoff_seconds(failed_attempts: int, base: float = DEFAULT_BACKOFF_BASE_SECONDS) -> float:
    """Delay before the next attempt: base x 3^(n-1), at most 30 minutes
    (2 s, 6 s, 18 s, 54 s, 2.7 min, 8 min, 24 min, 30 min at the default base)."""
    return float(min(base * 3 ** max(failed_attempts - 1, 0), 1800.0))


@dataclass(frozen=True, slots=True)
class Target:
    """A channel as its publisher sees it."""

    channel_id: int
    code: str
    webhook_url: str | None
    secret: str | None
    feed_directory: str | None
    allocation: Allocation

    @property
    def key(self) -> str | None:
        """What published values refer to; a change means republishing everything."""
        if self.webhook_url:
            return f"webhook:{self.webhook_url}"
        if self.feed_directory:
            return f"feed:{self.feed_directory}"
        return None


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    channel_id: int
    sequence: int
    kind: str
    attempt: int  # 1 for the first
    items: tuple[tuple[str, int], ...] | None  # None: a feed write (the whole list)
    resync_upto: str | None = None
    resync_generation: int | None = None

    def body(self, channel_code: str) -> bytes:
        """The webhook body, the same on every attempt. Each item carries the batch's
        sequence: a receiver applies an item only if it is newer than what it holds."""
        return orjson.dumps(
            {
                "channel": channel_code,
                "sequence": self.sequence,
                "kind": self.kind,
                "items": [
                    {"sku": sku, "quantity": qty, "sequence": self.sequence}
                    for sku, qty in self.items or ()
                ],
            }
        )


def feed_files(
    channel_code: str, sequence: int, generated_at: dt.datetime, items: Sequence[tuple[str, int]]
) -> tuple[bytes, bytes]:
    """The JSON and CSV feed of a channel's whole sellable list."""
    as_json = orjson.dumps(
        {
            "channel": channel_code,
            "sequence": sequence,
            "generatedAt": iso(generated_at),
            "items": [{"sku": sku, "quantity": qty} for sku, qty in items],
        }
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("sku", "quantity"))
    writer.writerows(items)
    return as_json, out.getvalue().encode()


# ---------- steps of a channel's publisher ----------


@dataclass(frozen=True, slots=True)
class Push:
    """Send this batch now (attempt `batch.attempt`)."""

    target: Target
    batch: Batch


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do before `until`: a retry's backoff ("retry"), the spacing of
    incremental pushes ("spacing"), or the pause after a dead batch ("paused")."""

    until: dt.datetime
    kind: str


@dataclass(frozen=True, slots=True)
class Progress:
    """Some work was done without a push (values recomputed); ask again."""

    done: int
    total: int | None


Step = Push | Wait | Progress | None


async def load_target(conn: Any, channel_id: int) -> Target | None:
    row = await conn.fetchrow(
        "SELECT id, code, publish_webhook_url, publish_secret, publish_feed_directory,"
        " allocation::text AS allocation FROM channels WHERE id = $1",
        channel_id,
    )
    if row is None:
        return None
    return Target(
        channel_id=row["id"],
        code=row["code"],
        webhook_url=row["publish_webhook_url"],
        secret=row["publish_secret"],
        feed_directory=row["publish_feed_directory"],
        allocation=Allocation.from_config(orjson.loads(row["allocation"])),
    )


async def claim_channel(
    conn: Any, channel_id: int, owner: str, lease_seconds: float = LEASE_SECONDS
) -> bool:
    """Become the channel's publisher until the lease runs out (renewed at every step);
    False if another one holds it or the channel does not exist."""
    row = await conn.fetchrow(
        """
        INSERT INTO channel_publish_states AS st (channel_id, lease_owner, lease_until)
        SELECT id, $2, clock_timestamp() + make_interval(secs => $3) FROM channels WHERE id = $1
        ON CONFLICT (channel_id) DO UPDATE
            SET lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until
            WHERE st.lease_until IS NULL OR st.lease_until < clock_timestamp()
               OR st.lease_owner = EXCLUDED.lease_owner
        RETURNING channel_id
        """,
        channel_id,
        owner,
        lease_seconds,
    )
    return row is not None


async def release_channel(conn: Any, channel_id: int, owner: str) -> None:
    await conn.execute(
        "UPDATE channel_publish_states SET lease_owner = NULL, lease_until = NULL"
        " WHERE channel_id = $1 AND lease_owner = $2",
        channel_id,
        owner,
    )


async def next_step(
    conn: Any,
    channel_id: int,
    owner: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    min_interval: float = 0.0,
) -> Step:
    """In one transaction, under the lease: what the channel's publisher does next.

    Order: an open batch first (one batch in flight per channel, retried with the same
    body until acknowledged or dead); then pending values (fresh changes go before a
    resync's next batch, so a long resync does not delay them); then the resync."""
    state = await conn.fetchrow(
        "UPDATE channel_publish_states SET lease_until = clock_timestamp() + make_interval(secs => $3)"
        " WHERE channel_id = $1 AND lease_owner = $2"
        " RETURNING target, resync_mode, resync_generation, resync_requested_at,"
        " resync_checkpoint, resync_done, resync_total, paused_until, last_push_at,"
        " clock_timestamp() AS now",
        channel_id,
        owner,
        LEASE_SECONDS,
    )
    if state is None:
        raise LeaseLost(f"channel {channel_id}")
    target = await load_target(conn, channel_id)
    if target is None:
        return None
    if state["target"] != target.key:
        await _retarget(conn, channel_id, target.key)
        return Progress(0, None)
    now = state["now"]
    spaced_until = (
        state["last_push_at"] + dt.timedelta(seconds=min_interval)
        if state["last_push_at"] is not None and min_interval > 0
        else None
    )
    spacing: Wait | None = None
    if target.key is not None:
        open_batch = await conn.fetchrow(
            "SELECT id, sequence, kind, next_attempt_at, items::text AS items, resync_upto,"
            " resync_generation FROM channel_publications"
            " WHERE channel_id = $1 AND status IN ('PENDING', 'FAILED') ORDER BY sequence LIMIT 1",
            channel_id,
        )
        if open_batch is not None:
            if open_batch["next_attempt_at"] > now:
                return Wait(open_batch["next_attempt_at"], "retry")
            attempt = await conn.fetchval(
                "UPDATE channel_publications SET attempts = attempts + 1 WHERE id = $1"
                " RETURNING attempts",
                open_batch["id"],
            )
            return Push(target, _batch_of(channel_id, open_batch, int(attempt)))
        if state["paused_until"] is not None and state["paused_until"] > now:
            return Wait(state["paused_until"], "paused")
        if target.webhook_url:
            # During a full resync, values it has yet to reach and that changed before
            # it was requested are left to it (it sends them computed afresh): no SKU
            # goes twice. Newer changes go now, so a long resync delays none of them.
            pending = await conn.fetch(
                "SELECT sku, quantity FROM channel_stock_published"
                " WHERE channel_id = $1 AND quantity IS DISTINCT FROM published_quantity"
                "   AND ($3::text IS DISTINCT FROM 'FULL' OR sku <= $4 OR changed_at >= $5)"
                " ORDER BY sku LIMIT $2",
                channel_id,
                batch_size,
                state["resync_mode"],
                state["resync_checkpoint"],
                state["resync_requested_at"],
            )
            if pending:
                if spaced_until is None or spaced_until <= now:
                    items = [(r["sku"], r["quantity"]) for r in pending]
                    return Push(target, await _create_batch(conn, channel_id, "INCREMENTAL", items))
                # Too soon after the last push: a resync goes on meanwhile (its batches
                # are not spaced), else wait.
                spacing = Wait(spaced_until, "spacing")
    mode = state["resync_mode"]
    if mode is not None:
        chunk = await _compute_chunk(
            conn, target, after=state["resync_checkpoint"], limit=batch_size
        )
        if not chunk:
            await conn.execute(
                "UPDATE channel_publish_states SET resync_mode = NULL, resync_checkpoint = NULL,"
                " last_resync_at = clock_timestamp() WHERE channel_id = $1",
                channel_id,
            )
            if target.feed_directory and mode == "FULL":
                return Push(target, await _create_batch(conn, channel_id, "FEED", None))
            return Progress(state["resync_done"], state["resync_total"])
        if target.webhook_url and mode == "FULL":
            batch = await _create_batch(
                conn,
                channel_id,
                "RESYNC",
                chunk,
                upto=chunk[-1][0],
                generation=state["resync_generation"],
            )
            return Push(target, batch)
        await conn.execute(
            "UPDATE channel_publish_states SET resync_checkpoint = $2,"
            " resync_done = resync_done + $3 WHERE channel_id = $1",
            channel_id,
            chunk[-1][0],
            len(chunk),
        )
        return Progress(state["resync_done"] + len(chunk), state["resync_total"])
    if target.feed_directory and await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM channel_stock_published"
        " WHERE channel_id = $1 AND quantity IS DISTINCT FROM published_quantity)",
        channel_id,
    ):
        if spaced_until is not None and spaced_until > now:
            return Wait(spaced_until, "spacing")
        return Push(target, await _create_batch(conn, channel_id, "FEED", None))
    return spacing


def _batch_of(channel_id: int, row: Any, attempt: int) -> Batch:
    items = orjson.loads(row["items"]) if row["items"] is not None else None
    return Batch(
        id=row["id"],
        channel_id=channel_id,
        sequence=row["sequence"],
        kind=row["kind"],
        attempt=attempt,
        items=tuple((sku, int(qty)) for sku, qty in items) if items is not None else None,
        resync_upto=row["resync_upto"],
        resync_generation=row["resync_generation"],
    )


async def _create_batch(
    conn: Any,
    channel_id: int,
    kind: str,
    items: Sequence[tuple[str, int]] | None,
    *,
    upto: str | None = None,
    generation: int | None = None,
) -> Batch:
    """A new batch with the channel's next sequence, claimed for its first attempt."""
    sequence = await conn.fetchval(
        "UPDATE channel_publish_states SET last_sequence = last_sequence + 1,"
        " last_push_at = CASE WHEN $2 THEN clock_timestamp() ELSE last_push_at END"
        " WHERE channel_id = $1 RETURNING last_sequence",
        channel_id,
        kind != "RESYNC",
    )
    count = len(items) if items is not None else 0
    batch_id = await conn.fetchval(
        """
        INSERT INTO channel_publications
            (channel_id, sequence, kind, status, items, items_count, resync_upto,
             resync_generation, attempts, next_attempt_at)
        VALUES ($1, $2, $3, 'PENDING', $4::jsonb, $5, $6, $7, 1, clock_timestamp())
        RETURNING id
        """,
        channel_id,
        sequence,
        kind,
        orjson.dumps([[sku, qty] for sku, qty in items]).decode() if items is not None else None,
        count,
        upto,
        generation,
    )
    return Batch(
        id=batch_id,
        channel_id=channel_id,
        sequence=int(sequence),
        kind=kind,
        attempt=1,
        items=tuple(items) if items is not None else None,
        resync_upto=upto,
        resync_generation=generation,
    )


async def _retarget(conn: Any, channel_id: int, key: str | None) -> None:
    """The channel's target changed: what the old receiver acknowledged says nothing of
    the new one, so batches in flight are given up and everything is sent again."""
    await conn.execute(
        "UPDATE channel_publications SET status = 'DEAD', last_error = 'publish target changed'"
        " WHERE channel_id = $1 AND status IN ('PENDING', 'FAILED')",
        channel_id,
    )
    await conn.execute(
        "UPDATE channel_publish_states SET target = $2, paused_until = NULL WHERE channel_id = $1",
        channel_id,
        key,
    )
    if key is not None:
        await request_resync(conn, channel_id, "FULL", restart=True)


async def record_acknowledged(
    conn: Any,
    batch: Batch,
    *,
    status_code: int | None,
    items: Sequence[tuple[str, int]],
    items_count: int | None = None,
) -> bool:
    """The receiver took the batch (2xx, or the feed files are in place): its values
    are now published, unless a newer push already was. False if the batch moved on
    meanwhile (another publisher, after our lease ran out)."""
    result = await conn.execute(
        """
        UPDATE channel_publications
        SET status = 'ACKNOWLEDGED', acknowledged_at = clock_timestamp(), last_status_code = $3,
            last_error = NULL, items_count = COALESCE($4, items_count)
        WHERE id = $1 AND attempts = $2 AND status IN ('PENDING', 'FAILED')
        """,
        batch.id,
        batch.attempt,
        status_code,
        items_count,
    )
    if result != "UPDATE 1":
        return False
    if items:
        await conn.execute(
            """
            UPDATE channel_stock_published c
            SET published_quantity = t.q, published_sequence = $2, published_at = clock_timestamp()
            FROM unnest($3::text[], $4::int[]) AS t(sku, q)
            WHERE c.channel_id = $1 AND c.sku = t.sku
              AND (c.published_sequence IS NULL OR c.published_sequence < $2)
            """,
            batch.channel_id,
            batch.sequence,
            [sku for sku, _ in items],
            [qty for _, qty in items],
        )
    await conn.execute(
        """
        UPDATE channel_publish_states SET
            last_acknowledged_at = clock_timestamp(),
            resync_checkpoint = CASE WHEN $2::text IS NOT NULL AND resync_mode IS NOT NULL
                AND resync_generation = $3 THEN $2 ELSE resync_checkpoint END,
            resync_done = CASE WHEN $2::text IS NOT NULL AND resync_mode IS NOT NULL
                AND resync_generation = $3 THEN resync_done + $4 ELSE resync_done END
        WHERE channel_id = $1
        """,
        batch.channel_id,
        batch.resync_upto,
        batch.resync_generation,
        len(batch.items or ()),
    )
    return True


async def record_failure(
    conn: Any,
    batch: Batch,
    *,
    status_code: int | None,
    error: str,
    retry_in: float | None,
    dead_pause_seconds: float = DEFAULT_DEAD_PAUSE_SECONDS,
) -> dt.datetime | None:
    """The attempt failed: FAILED and due again in `retry_in` seconds, or DEAD when None
    (that was the last try; the channel then pauses). Returns when it is due again."""
    due = await conn.fetchval(
        """
        UPDATE channel_publications
        SET status = CASE WHEN $5::float8 IS NULL THEN 'DEAD' ELSE 'FAILED' END,
            last_status_code = $3, last_error = $4,
            next_attempt_at = clock_timestamp() + make_interval(secs => COALESCE($5::float8, 0))
        WHERE id = $1 AND attempts = $2 AND status IN ('PENDING', 'FAILED')
        RETURNING next_attempt_at
        """,
        batch.id,
        batch.attempt,
        status_code,
        error[:1000],
        retry_in,
    )
    if due is None:
        return None
    if retry_in is None:
        return await conn.fetchval(
            "UPDATE channel_publish_states"
            " SET paused_until = clock_timestamp() + make_interval(secs => $2)"
            " WHERE channel_id = $1 RETURNING paused_until",
            batch.channel_id,
            dead_pause_seconds,
        )
    return due


async def feed_snapshot(
    conn: Any, channel_id: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """A channel's whole sellable list (every product; 0 where nothing was computed),
    and which of its values are pending."""
    rows = await conn.fetch(
        "SELECT p.sku, COALESCE(c.quantity, 0) AS quantity,"
        " (c.sku IS NOT NULL AND c.quantity IS DISTINCT FROM c.published_quantity) AS pending"
        " FROM products p LEFT JOIN channel_stock_published c ON c.channel_id = $1 AND c.sku = p.sku"
        " ORDER BY p.sku",
        channel_id,
    )
    items = [(r["sku"], r["quantity"]) for r in rows]
    return items, [(r["sku"], r["quantity"]) for r in rows if r["pending"]]


# ---------- values: from stock changes, and resync chunks ----------


@dataclass(frozen=True, slots=True)
class Drained:
    changes: int  # dirty rows consumed
    skus: int
    values_changed: int
    alert_ids: list[int]


async def drain(conn: Any, *, limit: int = DRAIN_LIMIT) -> Drained:
    """In one transaction: consume up to `limit` recorded stock changes, recompute every
    channel's sellable quantity of their SKUs, store those that changed (they become
    pending), and raise inventory alerts. A crash rolls it all back: the changes are
    still recorded, and the next drain takes them."""
    await conn.execute(_VALUES_LOCK)
    rows = await conn.fetch(
        "DELETE FROM publish_dirty_skus WHERE id IN"
        " (SELECT id FROM publish_dirty_skus ORDER BY id LIMIT $1) RETURNING sku, changed_at",
        limit,
    )
    if not rows:
        return Drained(0, 0, 0, [])
    changed_at: dict[str, dt.datetime] = {}
    for r in rows:
        seen = changed_at.get(r["sku"])
        if seen is None or r["changed_at"] < seen:
            changed_at[r["sku"]] = r["changed_at"]
    skus = sorted(changed_at)
    channels = {
        r["id"]: Allocation.from_config(orjson.loads(r["allocation"]))
        for r in await conn.fetch("SELECT id, allocation::text AS allocation FROM channels")
    }
    available = await conn.fetch(
        f"""
        SELECT c.id AS channel_id, p.sku, {_NETWORK_AVAILABLE} AS available
        FROM channels c
        CROSS JOIN (SELECT sku FROM products WHERE sku = ANY($1::text[])) p
        LEFT JOIN (channel_locations cl JOIN stock_levels s ON s.location_id = cl.location_id)
            ON cl.channel_id = c.id AND s.sku = p.sku
        GROUP BY c.id, p.sku
        """,
        skus,
    )
    current = {
        (r["channel_id"], r["sku"]): r["quantity"]
        for r in await conn.fetch(
            "SELECT channel_id, sku, quantity FROM channel_stock_published"
            " WHERE channel_id = ANY($2::bigint[]) AND sku = ANY($1::text[])",  # the primary key
            skus,
            list(channels),
        )
    }
    changes: list[tuple[int, str, int, dt.datetime]] = []
    out_of_stock: list[tuple[int, str]] = []
    for r in available:
        key = (r["channel_id"], r["sku"])
        value = channels[r["channel_id"]].sellable(r["sku"], r["available"])
        before = current.get(key)
        if before == value:
            continue
        changes.append((*key, value, changed_at[r["sku"]]))
        if before is not None and before > 0 and value == 0:
            out_of_stock.append(key)
    await _store_values(conn, changes)
    alert_ids = await alerts.raise_alerts(conn, skus, out_of_stock)
    return Drained(len(rows), len(skus), len(changes), alert_ids)


async def _store_values(conn: Any, changes: Sequence[tuple[int, str, int, dt.datetime]]) -> None:
    if not changes:
        return
    await conn.execute(
        """
        INSERT INTO channel_stock_published AS c (channel_id, sku, quantity, changed_at)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::timestamptz[])
        ON CONFLICT (channel_id, sku) DO UPDATE SET
            quantity = EXCLUDED.quantity,
            -- the lag counts from the oldest change not yet acknowledged
            changed_at = CASE WHEN c.quantity IS DISTINCT FROM c.published_quantity
                THEN LEAST(c.changed_at, EXCLUDED.changed_at) ELSE EXCLUDED.changed_at END
        WHERE c.quantity IS DISTINCT FROM EXCLUDED.quantity
        """,
        [c[0] for c in changes],
        [c[1] for c in changes],
        [c[2] for c in changes],
        [c[3] for c in changes],
    )


async def _compute_chunk(
    conn: Any, target: Target, *, after: str | None, limit: int
) -> list[tuple[str, int]]:
    """The next `limit` SKUs after `after` (every product, in order) with the channel's
    sellable quantity, computed now and stored."""
    await conn.execute(_VALUES_LOCK)
    rows = await conn.fetch(
        f"""
        WITH p AS (SELECT sku FROM products WHERE $2::text IS NULL OR sku > $2 ORDER BY sku LIMIT $3)
        SELECT p.sku, {_NETWORK_AVAILABLE} AS available
        FROM p LEFT JOIN (channel_locations cl JOIN stock_levels s ON s.location_id = cl.location_id)
            ON cl.channel_id = $1 AND s.sku = p.sku
        GROUP BY p.sku ORDER BY p.sku
        """,
        target.channel_id,
        after,
        limit,
    )
    values = [(r["sku"], target.allocation.sellable(r["sku"], r["available"])) for r in rows]
    if values:
        now = await conn.fetchval("SELECT clock_timestamp()")
        await _store_values(conn, [(target.channel_id, sku, qty, now) for sku, qty in values])
    return values


# ---------- resync requests ----------


async def request_resync(conn: Any, channel_id: int, mode: str, *, restart: bool) -> bool:
    """Ask for a resync: FULL republishes every SKU, RECOMPUTE recomputes every SKU and
    publishes what differs. A FULL resync already under way continues from its
    checkpoint unless `restart`; anything else starts over (a recompute after a FULL
    one would leave SKUs before the checkpoint computed under the old rules). An
    explicit FULL request lifts the pause after a dead batch. False: no such channel."""
    await conn.execute(
        "INSERT INTO channel_publish_states (channel_id) SELECT id FROM channels WHERE id = $1"
        " ON CONFLICT (channel_id) DO NOTHING",
        channel_id,
    )
    row = await conn.fetchrow(
        "SELECT resync_mode FROM channel_publish_states WHERE channel_id = $1 FOR UPDATE",
        channel_id,
    )
    if row is None:
        return False
    current = row["resync_mode"]
    if not (current == mode == "FULL" and not restart):
        await conn.execute(
            """
            UPDATE channel_publish_states SET
                resync_mode = $2, resync_generation = resync_generation + 1,
                resync_requested_at = clock_timestamp(), resync_checkpoint = NULL,
                resync_done = 0, resync_total = (SELECT count(*) FROM products)
            WHERE channel_id = $1
            """,
            channel_id,
            "FULL" if "FULL" in (mode, current) else "RECOMPUTE",
        )
    if mode == "FULL":
        await conn.execute(
            "UPDATE channel_publish_states SET paused_until = NULL WHERE channel_id = $1",
            channel_id,
        )
    await conn.execute("SELECT pg_notify($1, '')", STOCK_CHANNEL)
    return True


async def channel_configured(session: AsyncSession, channel_id: int) -> None:
    """upsertChannel changed the channel (allocation, network, target): recompute what it
    may sell of every SKU, in the same transaction, so the change is never missed."""
    await request_resync(await driver_connection(session), channel_id, "RECOMPUTE", restart=True)


async def channels_with_work(conn: Any, channel_id: int | None = None) -> list[int]:
    """Channels whose publisher has something to do now and is not running elsewhere."""
    rows = await conn.fetch(
        """
        SELECT c.id FROM channels c
        LEFT JOIN channel_publish_states st ON st.channel_id = c.id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN c.publish_webhook_url IS NOT NULL THEN 'webhook:' || c.publish_webhook_url
                        WHEN c.publish_feed_directory IS NOT NULL THEN 'feed:' || c.publish_feed_directory
                   END AS target,
                   COALESCE(st.paused_until > clock_timestamp(), false) AS paused
        ) x
        WHERE ($1::bigint IS NULL OR c.id = $1)
          AND (st.lease_until IS NULL OR st.lease_until < clock_timestamp())
          AND (
            st.target IS DISTINCT FROM x.target
            OR (st.resync_mode IS NOT NULL AND (x.target IS NULL OR NOT x.paused))
            OR (x.target IS NOT NULL AND EXISTS (
                SELECT 1 FROM channel_publications p WHERE p.channel_id = c.id
                  AND p.status IN ('PENDING', 'FAILED') AND p.next_attempt_at <= clock_timestamp()))
            OR (x.target IS NOT NULL AND NOT x.paused
                AND NOT EXISTS (SELECT 1 FROM channel_publications p
                                WHERE p.channel_id = c.id AND p.status IN ('PENDING', 'FAILED'))
                AND EXISTS (SELECT 1 FROM channel_stock_published cs WHERE cs.channel_id = c.id
                              AND cs.quantity IS DISTINCT FROM cs.published_quantity))
          )
        ORDER BY c.id
        """,
        channel_id,
    )
    return [r["id"] for r in rows]


async def purge_publications(conn: Any, older_than_days: int) -> int:
    """Drop acknowledged and dead log entries older than that; returns how many."""
    result = await conn.execute(
        "DELETE FROM channel_publications WHERE status IN ('ACKNOWLEDGED', 'DEAD')"
        " AND created_at < clock_timestamp() - make_interval(days => $1)",
        older_than_days,
    )
    return int(result.split()[-1])


# ---------- reads for the API and the CLI ----------


async def visible_channel(session: AsyncSession, principal: Principal, code: str) -> int | None:
    """The channel's id if the caller may see it (admin, or its own channel key)."""
    conn = await driver_connection(session)
    channel_id = await conn.fetchval("SELECT id FROM channels WHERE code = $1", code)
    if channel_id is None or not principal.can_see_channel(channel_id):
        return None
    return int(channel_id)


@dataclass(frozen=True, slots=True)
class PublicationRow:
    id: int
    channel_id: int
    sequence: int
    kind: str
    status: str
    items: list[tuple[str, int]] | None
    items_count: int
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None


_PUBLICATION_COLUMNS = (
    "id, channel_id, sequence, kind, status, items::text AS items, items_count, attempts,"
    " next_attempt_at, last_status_code, last_error, created_at, acknowledged_at"
)


def _publication_of(r: Any) -> PublicationRow:
    items = orjson.loads(r["items"]) if r["items"] is not None else None
    return PublicationRow(
        id=r["id"],
        channel_id=r["channel_id"],
        sequence=r["sequence"],
        kind=r["kind"],
        status=r["status"],
        items=[(sku, int(qty)) for sku, qty in items] if items is not None else None,
        items_count=r["items_count"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"] if r["status"] in ("PENDING", "FAILED") else None,
        last_status_code=r["last_status_code"],
        last_error=r["last_error"],
        created_at=r["created_at"],
        acknowledged_at=r["acknowledged_at"],
    )


async def list_publications(
    session: AsyncSession, channel_id: int, *, limit: int, before_id: int | None
) -> tuple[list[PublicationRow], int]:
    """The channel's publication log, newest first, and how long it is."""
    conn = await driver_connection(session)
    rows = await conn.fetch(
        f"SELECT {_PUBLICATION_COLUMNS} FROM channel_publications"
        " WHERE channel_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        channel_id,
        before_id,
        limit,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM channel_publications WHERE channel_id = $1", channel_id
    )
    return [_publication_of(r) for r in rows], int(total)


async def get_publication(
    session: AsyncSession, principal: Principal, publication_id: int
) -> PublicationRow | None:
    """One log entry, if the caller may see its channel."""
    conn = await driver_connection(session)
    row = await conn.fetchrow(
        f"SELECT {_PUBLICATION_COLUMNS} FROM channel_publications WHERE id = $1", publication_id
    )
    if row is None or not principal.can_see_channel(row["channel_id"]):
        return None
    return _publication_of(row)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    channel_code: str
    target_kind: str | None  # WEBHOOK, FEED, or None
    last_sequence: int
    last_acknowledged_at: dt.datetime | None
    pending_items: int
    lag_seconds: float
    failing_batches: int
    dead_batches: int
    paused_until: dt.datetime | None
    resync_mode: str | None
    resync_done: int
    resync_total: int | None
    last_resync_at: dt.datetime | None


async def sync_status(session: AsyncSession, channel_id: int) -> SyncStatus:
    """How far behind the channel's receiver is. The lag runs from the oldest change
    not yet acknowledged, including stock changes not yet examined."""
    conn = await driver_connection(session)
    row = await conn.fetchrow(
        """
        SELECT c.code, c.publish_webhook_url, c.publish_feed_directory,
               COALESCE(st.last_sequence, 0) AS last_sequence, st.last_acknowledged_at,
               st.paused_until, st.resync_mode, COALESCE(st.resync_done, 0) AS resync_done,
               st.resync_total, st.last_resync_at,
               (SELECT count(*) FROM channel_stock_published cs WHERE cs.channel_id = c.id
                  AND cs.quantity IS DISTINCT FROM cs.published_quantity) AS pending,
               (SELECT min(cs.changed_at) FROM channel_stock_published cs WHERE cs.channel_id = c.id
                  AND cs.quantity IS DISTINCT FROM cs.published_quantity) AS oldest_pending,
               (SELECT min(changed_at) FROM publish_dirty_skus) AS oldest_unexamined,
               (SELECT count(*) FILTER (WHERE status = 'FAILED') FROM channel_publications p
                  WHERE p.channel_id = c.id AND p.status IN ('PENDING', 'FAILED')) AS failing,
               (SELECT count(*) FROM channel_publications p
                  WHERE p.channel_id = c.id AND p.status = 'DEAD') AS dead,
               clock_timestamp() AS now
        FROM channels c LEFT JOIN channel_publish_states st ON st.channel_id = c.id
        WHERE c.id = $1
        """,
        channel_id,
    )
    target = (
        "WEBHOOK"
        if row["publish_webhook_url"]
        else "FEED"
        if row["publish_feed_directory"]
        else None
    )
    oldest = [t for t in (row["oldest_pending"], row["oldest_unexamined"]) if t is not None]
    if target is None:
        oldest = []
    lag = max(0.0, (row["now"] - min(oldest)).total_seconds()) if oldest else 0.0
    return SyncStatus(
        channel_code=row["code"],
        target_kind=target,
        last_sequence=row["last_sequence"],
        last_acknowledged_at=row["last_acknowledged_at"],
        pending_items=int(row["pending"]) if target else 0,
        lag_seconds=round(lag, 3),
        failing_batches=int(row["failing"]),
        dead_batches=int(row["dead"]),
        paused_until=row["paused_until"]
        if row["paused_until"] and row["paused_until"] > row["now"]
        else None,
        resync_mode=row["resync_mode"],
        resync_done=row["resync_done"],
        resync_total=row["resync_total"],
        last_resync_at=row["last_resync_at"],
    )
