"""Orders, their lines and their event history (the outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

ORDER_STATUSES = (
    "PLACED",
    "BACKORDERED",
    "CONFIRMED",
    "IN_PREPARATION",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "PARTIALLY_DELIVERED",
    "DELIVERED",
    "CANCELLED",
)
RETURN_STATUSES = ("NONE", "REQUESTED", "IN_PROGRESS", "PARTIALLY_RETURNED", "RETURNED")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        CheckConstraint(f"status IN {ORDER_STATUSES}", name="status"),
        CheckConstraint(f"return_status IN {RETURN_STATUSES}", name="return_status"),
        CheckConstraint("delivery_method IN ('SHIP', 'PICKUP')", name="delivery_method"),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint(
            "ship_latitude BETWEEN -90 AND 90 AND ship_longitude BETWEEN -180 AND 180",
            name="ship_coords",
        ),
        Index("ix_orders_channel_placed", "channel_id", "placed_at", "id"),
        Index("ix_orders_placed", "placed_at", "id"),
        Index("ix_orders_customer", "customer_id", "placed_at"),
    )

    id: Mapped[int] = id_column()
    number: Mapped[str] = mapped_column(String(20), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    external_id: Mapped[str] = mapped_column(String(100))
    # Hash of the placement request: a repeat of the externalId with the same content
    # is the same order (placeOrder is idempotent by externalId), other content an error.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24))
    return_status: Mapped[str] = mapped_column(String(24), server_default="NONE")
    delivery_method: Mapped[str] = mapped_column(String(8))
    service_level: Mapped[str | None] = mapped_column(String(16))
    pickup_location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT")
    )
    split_preference: Mapped[str] = mapped_column(String(16))
    ship_name: Mapped[str | None] = mapped_column(String(200))
    ship_line1: Mapped[str | None] = mapped_column(String(200))
    ship_line2: Mapped[str | None] = mapped_column(String(200))
    ship_city: Mapped[str | None] = mapped_column(String(100))
    ship_postal_code: Mapped[str | None] = mapped_column(String(20))
    ship_country_code: Mapped[str | None] = mapped_column(String(2))
    ship_latitude: Mapped[float | None] = mapped_column(Float)
    ship_longitude: Mapped[float | None] = mapped_column(Float)
    company: Mapped[str | None] = mapped_column(String(200))
    purchase_order_number: Mapped[str | None] = mapped_column(String(100))
    sales_rep: Mapped[str | None] = mapped_column(String(200))
    subtotal_minor: Mapped[int] = mapped_column()
    discount_minor: Mapped[int] = mapped_column(server_default="0")
    tax_minor: Mapped[int] = mapped_column(server_default="0")
    shipping_minor: Mapped[int] = mapped_column(server_default="0")
    total_minor: Mapped[int] = mapped_column()
    # The amounts above are those of the units still ordered (domain/order/totals.py);
    # these keep them as placed, written by the first change (NULL: none yet).
    original_subtotal_minor: Mapped[int | None] = mapped_column()
    original_discount_minor: Mapped[int | None] = mapped_column()
    original_tax_minor: Mapped[int | None] = mapped_column()
    original_shipping_minor: Mapped[int | None] = mapped_column()
    original_total_minor: Mapped[int | None] = mapped_column()
    sourcing_decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Last per-order event sequence; bumped under the order's row lock, so the
    # sequence is gap-free and in commit order for each order.
    last_event_sequence: Mapped[int] = mapped_column(Integer, server_default="0")
    placed_at: Mapped[dt.datetime] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_number"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "quantity = quantity_cancelled + quantity_allocated + quantity_backordered",
            name="quantities_add_up",
        ),
        CheckConstraint(
            "quantity_cancelled >= 0 AND quantity_allocated >= 0 AND quantity_backordered >= 0",
            name="not_negative",
        ),
        CheckConstraint(
            "quantity_shipped <= quantity_allocated AND quantity_delivered <= quantity_shipped"
            # An undeliverable parcel comes back without being delivered: returns are
            # bounded by what shipped here; customers' returns by what was delivered (in code).
            " AND quantity_returned <= quantity_shipped AND quantity_returned >= 0",
            name="flow",
        ),
        Index("ix_order_lines_sku", "sku"),
    )

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_number: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64), ForeignKey("products.sku", onupdate="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column()
    discount_minor: Mapped[int] = mapped_column(server_default="0")
    tax_minor: Mapped[int] = mapped_column(server_default="0")
    # Allocated at placement (fill rate), kept for reports even after cancellation.
    allocated_at_placement: Mapped[int] = mapped_column(Integer)
    quantity_cancelled: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_allocated: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_backordered: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_shipped: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_delivered: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_returned: Mapped[int] = mapped_column(Integer, server_default="0")


class OrderEvent(Base):
    """One thing that happened to an order: the outbox that subscriptions, webhooks and
    channel publishing read. `id` is the global sequence; `sequence` is per order."""

    __tablename__ = "order_events"
    __table_args__ = (
        UniqueConstraint("order_id", "sequence"),
        Index("ix_order_events_channel_id", "channel_id", "id"),
        Index("ix_order_events_unstamped", "id", postgresql_where=text("stream_seq IS NULL")),
    )

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[dt.datetime] = created_at_column()
    # Position on the global event stream, stamped by the relay in commit order (ids
    # are taken at insert time and can commit out of order; stream positions cannot).
    stream_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
