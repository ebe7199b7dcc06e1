"""Products and locations: what is sold and where it is held."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

LOCATION_KINDS = ("WAREHOUSE", "STORE", "THIRD_PARTY", "DROPSHIP")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = id_column()
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    hs_code: Mapped[str | None] = mapped_column(String(12))
    country_of_origin: Mapped[str | None] = mapped_column(String(2))
    returnable: Mapped[bool] = mapped_column(Boolean, server_default="true")
    return_window_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint(f"kind IN {LOCATION_KINDS}", name="kind"),
        CheckConstraint(
            "latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="coords"
        ),
        CheckConstraint("cutoff_hour BETWEEN 0 AND 23", name="cutoff_hour"),
        CheckConstraint("handling_days >= 0", name="handling_days"),
    )

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    address_name: Mapped[str | None] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country_code: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    can_ship: Mapped[bool] = mapped_column(Boolean)
    can_pickup: Mapped[bool] = mapped_column(Boolean)
    priority: Mapped[int] = mapped_column(Integer, server_default="100")
    # Money of the cost of sending one shipment from here, in minor units.
    cost_per_shipment_minor: Mapped[int | None] = mapped_column()
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    handling_days: Mapped[int] = mapped_column(Integer, server_default="1")
    cutoff_hour: Mapped[int] = mapped_column(Integer, server_default="14")
    daily_capacity: Mapped[int | None] = mapped_column(Integer)
    # Weekly opening hours in the location's own time zone: [{"day": "MONDAY", "opens":
    # "10:00", "closes": "19:00"}, ...]; null: not known (pickup times not adjusted).
    opening_hours: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
