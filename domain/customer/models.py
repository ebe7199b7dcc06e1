"""Customers, one record per email and channel (a channel owns its customers)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel_id", "email"),)

    id: Mapped[int] = id_column()
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # Stored lower-cased: emails compare case-insensitively in practice.
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = created_at_column()
