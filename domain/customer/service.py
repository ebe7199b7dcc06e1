"""Finding or creating a channel's customer by email."""

from __future__ import annotations

import re

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.customer.models import Customer
from domain.errors import DomainError

# Deliberately loose: the channel has already validated its customer's address; this
# only keeps out what is clearly not an email.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


class InvalidEmail(DomainError):
    code = "INVALID_EMAIL"


def normalise_email(email: str, field: list[str | int]) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidEmail(f"{email!r} is not an email address", field=field)
    return email


async def upsert_customer(
    session: AsyncSession,
    *,
    channel_id: int,
    email: str,
    name: str | None = None,
    phone: str | None = None,
) -> int:
    """Return the customer's id, creating them, or refreshing name and phone if given."""
    values = insert(Customer).values(channel_id=channel_id, email=email, name=name, phone=phone)
    stmt = values.on_conflict_do_update(
        index_elements=[Customer.channel_id, Customer.email],
        set_={
            "name": func.coalesce(values.excluded.name, Customer.name),
            "phone": func.coalesce(values.excluded.phone, Customer.phone),
        },
    ).returning(Customer.id)
    return int((await session.execute(stmt)).scalar_one())
