"""API keys: who may call, in which role, bound to what."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, created_at_column, id_column

ROLES = ("ADMIN", "CHANNEL", "PARTNER", "CARRIER")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES}", name="role"),
        CheckConstraint("(role = 'CHANNEL') = (channel_id IS NOT NULL)", name="channel_binding"),
        CheckConstraint("(role = 'CARRIER') = (carrier IS NOT NULL)", name="carrier_binding"),
    )

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # The carrier a CARRIER key speaks for (a code of domain/fulfillment/carriers.py): it
    # records the tracking events of the parcels handed to that carrier, nothing else.
    carrier: Mapped[str | None] = mapped_column(String(64))
    # The first characters of the secret, shown in listings so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the secret. Secrets are 256 random bits, so a fast hash is safe here
    # (no dictionary to attack) and keeps authentication to one indexed lookup.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class ApiKeyLocation(Base):
    """A location a PARTNER key may act on."""

    __tablename__ = "api_key_locations"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )
