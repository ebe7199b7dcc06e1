"""Customer notifications (email), one per event and kind."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column


class Notification(Base):
    """One email. PENDING until SENT or FAILED; `next_attempt_at` is when it is due: at
    once when recorded, later after a failed attempt (the retry's delay), or the end of
    the lease of an attempt under way (jobs/notifications.py)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "kind"),
        CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="status"),
        Index("ix_notifications_due", "next_attempt_at", postgresql_where="status = 'PENDING'"),
    )

    id: Mapped[int] = id_column()
    event_id: Mapped[int] = mapped_column(ForeignKey("order_events.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # Who holds the lease (the arq job id of the attempt): see WebhookDelivery.lease_token.
    lease_token: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = created_at_column()
