"""Partner webhooks: who subscribed to which topics, and every delivery attempt's state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

DELIVERY_STATUSES = ("PENDING", "DELIVERED", "DEAD")


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        CheckConstraint("owner_role IN ('ADMIN', 'CHANNEL', 'PARTNER')", name="owner_role"),
    )

    id: Mapped[int] = id_column()
    # Whose events it receives: an admin's (all), a channel's (its orders), a partner's
    # (events of its locations).
    owner_role: Mapped[str] = mapped_column(String(16))
    owner_api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE")
    )
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    location_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    url: Mapped[str] = mapped_column(String(2000))
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[dt.datetime] = created_at_column()


class WebhookDelivery(Base):
    """One event for one subscription. Created in the relay's transaction, so no event is
    lost; the worker moves it to DELIVERED, or to DEAD after the last try."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
        Index(
            "ix_webhook_deliveries_due", "next_attempt_at", postgresql_where="status = 'PENDING'"
        ),
    )

    id: Mapped[int] = id_column()
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("order_events.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column()
    # Who holds the lease (the arq job id of the attempt): that job, run again after its
    # claim's answer was lost, takes the lease back instead of waiting for it to expire.
    lease_token: Mapped[str | None] = mapped_column(String(200))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = created_at_column()
