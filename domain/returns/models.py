"""Return cases (RMAs), their lines, and refunds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

RETURN_STATUSES = (
    "REQUESTED",
    "APPROVED",
    "REJECTED",
    "IN_TRANSIT",
    "RECEIVED",
    "INSPECTED",
    "REFUNDED",
    "CLOSED",
    "CANCELLED",
)
REASONS = (
    "WRONG_SIZE",
    "DAMAGED",
    "DEFECTIVE",
    "NOT_AS_DESCRIBED",
    "WRONG_ITEM",
    "NO_LONGER_NEEDED",
    "LATE_DELIVERY",
    "UNDELIVERABLE",
    "OTHER",
)
# How a person reads each reason (labels, emails); the codes are for statistics.
REASON_LABELS = {
    "WRONG_SIZE": "Wrong size",
    "DAMAGED": "Damaged",
    "DEFECTIVE": "Defective",
    "NOT_AS_DESCRIBED": "Not as described",
    "WRONG_ITEM": "Wrong item",
    "NO_LONGER_NEEDED": "No longer needed",
    "LATE_DELIVERY": "Arrived late",
    "UNDELIVERABLE": "Could not be delivered",
    "OTHER": "Other",
}
INITIATORS = ("CUSTOMER", "MERCHANT", "CARRIER")
CONDITIONS = ("NEW", "GOOD", "DAMAGED", "DEFECTIVE")
DISPOSITIONS = ("RESTOCK", "REPAIR", "DISPOSE", "RETURN_TO_VENDOR")


class Return(Base):
    __tablename__ = "returns"
    __table_args__ = (
        CheckConstraint(f"status IN {RETURN_STATUSES}", name="status"),
        CheckConstraint(f"initiated_by IN {INITIATORS}", name="initiated_by"),
        Index("ix_returns_order", "order_id"),
        Index("ix_returns_requested_at", "requested_at"),
    )

    id: Mapped[int] = id_column()
    # RMA-<order number>-<n> (domain/returns/numbers.py); earlier cases R<sequence>-<check>.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16))
    initiated_by: Mapped[str] = mapped_column(String(16))
    receiving_location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT")
    )
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[dt.datetime] = mapped_column()
    approved_at: Mapped[dt.datetime | None] = mapped_column()
    received_at: Mapped[dt.datetime | None] = mapped_column()
    refunded_at: Mapped[dt.datetime | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = created_at_column()


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (
        UniqueConstraint("return_id", "order_line_id"),
        CheckConstraint(f"reason_code IN {REASONS}", name="reason_code"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "quantity_received >= 0 AND quantity_received <= quantity", name="received_within"
        ),
        CheckConstraint(
            "quantity_refunded >= 0 AND quantity_refunded <= quantity_received",
            name="refunded_within",
        ),
        CheckConstraint(
            "quantity_restocked + quantity_repair + quantity_disposed + quantity_to_vendor = quantity_received",
            name="dispositions_add_up",
        ),
    )

    id: Mapped[int] = id_column()
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str] = mapped_column(String(24))
    reason_note: Mapped[str | None] = mapped_column(Text)
    quantity_received: Mapped[int] = mapped_column(Integer, server_default="0")
    condition: Mapped[str | None] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(24))
    quantity_restocked: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_repair: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_disposed: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_to_vendor: Mapped[int] = mapped_column(Integer, server_default="0")
    # Units under repair that were later restocked or written off.
    quantity_repaired: Mapped[int] = mapped_column(Integer, server_default="0")
    quantity_refunded: Mapped[int] = mapped_column(Integer, server_default="0")


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'SUCCEEDED', 'FAILED')", name="status"),
        CheckConstraint("amount_minor >= 0 AND shipping_minor >= 0", name="not_negative"),
    )

    id: Mapped[int] = id_column()
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    # Total refunded, shipping included.
    amount_minor: Mapped[int] = mapped_column()
    shipping_minor: Mapped[int] = mapped_column(server_default="0")
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    provider_reference: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    includes_shipping: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[dt.datetime] = created_at_column()
    settled_at: Mapped[dt.datetime | None] = mapped_column()
