"""Shipments: the part of an order one location sends or prepares for pickup."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

SHIPMENT_STATUSES = (
    "PENDING",
    "ALLOCATED",
    "PICKING",
    "PACKED",
    "SHIPPED",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "DELIVERY_FAILED",
    "RETURNED_TO_SENDER",
    "READY_FOR_PICKUP",
    "PICKED_UP",
    "CANCELLED",
)


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (
        CheckConstraint(f"status IN {SHIPMENT_STATUSES}", name="status"),
        CheckConstraint("method IN ('SHIP', 'PICKUP')", name="method"),
        Index("ix_shipments_location_status", "location_id", "status", "ship_by"),
        Index("ix_shipments_tracking", "carrier", "tracking_number"),
    )

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24))
    service_level: Mapped[str | None] = mapped_column(String(16))
    carrier: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    ship_by: Mapped[dt.datetime | None] = mapped_column()
    deliver_by: Mapped[dt.datetime | None] = mapped_column()
    pickup_code: Mapped[str | None] = mapped_column(String(16))
    pickup_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    parcels: Mapped[int | None] = mapped_column(Integer)
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    # occurred_at of the last carrier event that moved it: older events only join history.
    last_tracking_at: Mapped[dt.datetime | None] = mapped_column()
    shipped_at: Mapped[dt.datetime | None] = mapped_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True
    )
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_cancelled: Mapped[int] = mapped_column(Integer, server_default="0")


class TrackingEvent(Base):
    """A carrier's scan of a shipment. Kept whatever its effect: a late or duplicate
    event joins the history without moving the shipment."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("carrier", "event_id"),)

    id: Mapped[int] = id_column()
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    carrier: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    location: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    # Whether it moved the shipment (false: late, out of order, or not a valid step).
    applied: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[dt.datetime] = created_at_column()
