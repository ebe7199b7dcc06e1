"""Sales channels and the network of locations each may sell from."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

CHANNEL_KINDS = ("WEB", "MARKETPLACE", "POS", "B2B", "SOCIAL")


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (CheckConstraint(f"kind IN {CHANNEL_KINDS}", name="kind"),)

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    allow_backorders: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Allocation rules: {"sharePercent", "buffer", "excludedSkus", "skuRules": {sku: {...}}}
    allocation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Sourcing strategy: {"rules": [...], "maxSplits": n}
    sourcing: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Return policy: {"windowDays": n, "refundShipping": bool}
    return_policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
    publish_webhook_url: Mapped[str | None] = mapped_column(String(2000))
    publish_secret: Mapped[str | None] = mapped_column(String(128))
    publish_feed_directory: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ChannelLocation(Base):
    """A location in a channel's network."""

    __tablename__ = "channel_locations"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
