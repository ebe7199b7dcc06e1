"""Channel stock publishing: what changed, what each channel may sell, what it was told,
the log of every push, and inventory alerts.

The state lives in PostgreSQL, not in Redis: a trigger on `stock_levels` records every
stock change in `publish_dirty_skus` in the changing transaction, whatever code made
it, so a change is never lost between commit and the queue, and the worker catches up
from the tables whenever it can run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

PUBLICATION_KINDS = ("INCREMENTAL", "RESYNC", "FEED")
PUBLICATION_STATUSES = ("PENDING", "ACKNOWLEDGED", "FAILED", "DEAD")
RESYNC_MODES = ("FULL", "RECOMPUTE")
ALERT_TOPICS = ("INVENTORY_LOW_STOCK", "CHANNEL_OUT_OF_STOCK")
ALERT_DELIVERY_STATUSES = ("PENDING", "DELIVERED", "FAILED")


class PublishDirtySku(Base):
    """A stock change not yet published: one row per changing statement and SKU, written
    by the `stock_levels` trigger (see the migration).

    Append-only on purpose (no unique SKU): an `INSERT ... ON CONFLICT DO NOTHING` on a
    SKU that another transaction has just inserted waits for that transaction, which
    would make orders for one SKU at different locations queue behind each other, and
    behind the publisher's DELETE. Plain inserts never wait; the publisher coalesces."""

    __tablename__ = "publish_dirty_skus"

    id: Mapped[int] = id_column()
    sku: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(server_default=func.clock_timestamp())


class ChannelPublishState(Base):
    """Per channel: the sequence counter of its pushes, the publisher's lease, the target
    its acknowledged values refer to, and a resync in progress (resumable)."""

    __tablename__ = "channel_publish_states"
    __table_args__ = (
        CheckConstraint(f"resync_mode IS NULL OR resync_mode IN {RESYNC_MODES}", name="mode"),
    )

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    # "webhook:<url>" or "feed:<directory>": what `published_*` values were sent to. A
    # channel whose target changed is republished in full.
    target: Mapped[str | None] = mapped_column(String(1100))
    last_sequence: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # One publisher per channel at a time, across workers and the CLI. A lease rather
    # than a lock held on a connection: no connection is held during HTTP, and a dead
    # worker's lease simply runs out.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    # FULL: push every SKU again; RECOMPUTE: recompute every SKU (allocation or network
    # changed) and push what differs. Resumes after `resync_checkpoint` (last SKU done).
    resync_mode: Mapped[str | None] = mapped_column(String(16))
    resync_generation: Mapped[int] = mapped_column(BigInteger, server_default="0")
    resync_requested_at: Mapped[dt.datetime | None] = mapped_column()
    resync_checkpoint: Mapped[str | None] = mapped_column(String(64))
    resync_done: Mapped[int] = mapped_column(Integer, server_default="0")
    resync_total: Mapped[int | None] = mapped_column(Integer)
    last_resync_at: Mapped[dt.datetime | None] = mapped_column()
    # After a dead batch the receiver is left alone until then (a circuit breaker).
    paused_until: Mapped[dt.datetime | None] = mapped_column()
    last_acknowledged_at: Mapped[dt.datetime | None] = mapped_column()
    # When the last incremental push (or feed write) was made: they are spaced by a
    # minimum interval, so a burst of changes makes a few pushes, not one per change.
    last_push_at: Mapped[dt.datetime | None] = mapped_column()


class ChannelStockPublished(Base):
    """What a channel may sell of a SKU (`quantity`, as last computed) and what its
    receiver acknowledged (`published_*`). A row whose two differ is pending: it goes
    out in the next push, and again until a push carrying it is acknowledged."""

    __tablename__ = "channel_stock_published"
    __table_args__ = (
        Index(
            "ix_channel_stock_published_pending",
            "channel_id",
            "sku",
            postgresql_where=text("quantity IS DISTINCT FROM published_quantity"),
        ),
    )

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("products.sku", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    quantity: Mapped[int] = mapped_column(Integer)
    # When the oldest change not yet acknowledged happened (the lag is measured from it).
    changed_at: Mapped[dt.datetime] = mapped_column()
    published_quantity: Mapped[int | None] = mapped_column(Integer)
    published_sequence: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[dt.datetime | None] = mapped_column()


class ChannelPublication(Base):
    """One push to a channel (a webhook batch or a feed write): the publication log.
    PENDING (not answered yet) → ACKNOWLEDGED, or FAILED (retry due at next_attempt_at)
    → ... → DEAD after the last try. A batch's items are fixed at creation, so every
    attempt sends the same body with the same sequence."""

    __tablename__ = "channel_publications"
    __table_args__ = (
        UniqueConstraint("channel_id", "sequence"),
        Index("ix_channel_publications_channel_id_id", "channel_id", "id"),
        CheckConstraint(f"kind IN {PUBLICATION_KINDS}", name="kind"),
        CheckConstraint(f"status IN {PUBLICATION_STATUSES}", name="status"),
        Index(
            "ix_channel_publications_open",
            "channel_id",
            postgresql_where=text("status IN ('PENDING', 'FAILED')"),
        ),
    )

    id: Mapped[int] = id_column()
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    # [[sku, quantity], ...]; null for feed writes (the whole list at the time).
    items: Mapped[list[list[object]] | None] = mapped_column(JSONB)
    items_count: Mapped[int] = mapped_column(Integer)
    # A resync batch: the last SKU it covers (the checkpoint once acknowledged), and
    # the resync it belongs to (a newer request restarts from the beginning).
    resync_upto: Mapped[str | None] = mapped_column(String(64))
    resync_generation: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column()


class InventoryAlert(Base):
    """A SKU at a location fell to its reorder point (INVENTORY_LOW_STOCK), or a channel
    can no longer sell a SKU (CHANNEL_OUT_OF_STOCK); delivered to webhook subscribers."""

    __tablename__ = "inventory_alerts"
    __table_args__ = (
        CheckConstraint(f"topic IN {ALERT_TOPICS}", name="topic"),
        CheckConstraint(f"delivery_status IN {ALERT_DELIVERY_STATUSES}", name="delivery_status"),
        Index(
            "ix_inventory_alerts_due",
            "next_attempt_at",
            postgresql_where=text("delivery_status = 'PENDING'"),
        ),
    )

    id: Mapped[int] = id_column()
    topic: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # Units available at the location, or the channel's sellable quantity (0).
    quantity: Mapped[int] = mapped_column(Integer)
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    delivery_status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # Subscriptions that acknowledged it: a retry goes only to the others.
    delivered_to: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()


class LowStockFlag(Base):
    """A level at or below its reorder point that has been alerted: no new alert until
    it rises above the reorder point again (hysteresis: once per crossing)."""

    __tablename__ = "inventory_low_stock_flags"

    sku: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("products.sku", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[dt.datetime] = created_at_column()
