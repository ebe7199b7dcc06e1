"""Stock per SKU and location, its append-only ledger, and inbound supply."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

MOVEMENT_KINDS = (
    "RECEIPT",
    "ADJUSTMENT",
    "SYNC",
    "RESERVE",
    "RELEASE",
    "SHIP",
    "RETURN_RESTOCK",
    "QUARANTINE",
    "REPAIR",
    "WRITE_OFF",
)


class StockLevel(Base):
    """One SKU at one location. `available` is derived, never stored:
    on_hand - reserved - safety_stock - damaged, floored at 0.

    The constraints are the last line of defence of "never oversell": whatever code
    runs, reserved can never exceed what is on hand."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("damaged >= 0 AND damaged <= on_hand", name="damaged_within_on_hand"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
        CheckConstraint("incoming >= 0", name="incoming_not_negative"),
        CheckConstraint(
            "reorder_point IS NULL OR reorder_point >= 0", name="reorder_point_not_negative"
        ),
        Index("ix_stock_levels_location_sku", "location_id", "sku"),
    )

    sku: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("products.sku", ondelete="RESTRICT", onupdate="CASCADE"),
        primary_key=True,
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True
    )
    on_hand: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, server_default="0")
    safety_stock: Mapped[int] = mapped_column(Integer, server_default="0")
    damaged: Mapped[int] = mapped_column(Integer, server_default="0")
    incoming: Mapped[int] = mapped_column(Integer, server_default="0")
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    # `asOf` of the last absolute count applied (setStockLevels); older counts are ignored.
    counted_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class InventoryMovement(Base):
    """One change to a stock level. Append-only: on_hand, reserved and damaged of every
    stock level equal the sums of their movements' deltas."""

    __tablename__ = "inventory_movements"
    __table_args__ = (
        CheckConstraint(f"kind IN {MOVEMENT_KINDS}", name="kind"),
        Index("ix_inventory_movements_sku_location", "sku", "location_id"),
    )

    id: Mapped[int] = id_column()
    sku: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    damaged_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    # What caused it: "order:123", "shipment:45", "return:6", "sync:<idempotency key>".
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    actor: Mapped[str] = mapped_column(String(300))
    occurred_at: Mapped[dt.datetime] = created_at_column()


class InboundSupply(Base):
    """A purchase order or transfer on its way to a location."""

    __tablename__ = "inbound_supplies"
    __table_args__ = (
        CheckConstraint("kind IN ('PURCHASE_ORDER', 'TRANSFER')", name="kind"),
        CheckConstraint("status IN ('OPEN', 'RECEIVED', 'CANCELLED')", name="status"),
    )

    id: Mapped[int] = id_column()
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), index=True
    )
    expected_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), server_default="OPEN")
    created_at: Mapped[dt.datetime] = created_at_column()


class InboundSupplyLine(Base):
    __tablename__ = "inbound_supply_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("quantity_received >= 0", name="received_not_negative"),
        Index("ix_inbound_supply_lines_sku", "sku"),
    )

    supply_id: Mapped[int] = mapped_column(
        ForeignKey("inbound_supplies.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(64), ForeignKey("products.sku"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer, server_default="0")
