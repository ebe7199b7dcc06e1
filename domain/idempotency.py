"""Idempotency keys: the same key from the same credential gives the first result.

Used inside the business transaction: `claim` inserts the key (blocking while a
concurrent request with the same key is in flight, thanks to the primary key), and
either returns the stored result of a finished request, refuses a different request
under the same key, or lets this one proceed; `complete` stores the result in the same
transaction. A refused request rolls back, so its key stays free for a retry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
from sqlalchemy import String, delete, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base
from domain.errors import DomainError, IdempotencyKeyReused

TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 200


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    actor: Mapped[str] = mapped_column(String(300), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


def request_fingerprint(payload: Any) -> str:
    """A stable hash of a request's input (keys sorted, so field order does not matter)."""
    return hashlib.sha256(
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


async def claim(
    session: AsyncSession,
    *,
    actor: str,
    operation: str,
    key: str,
    fingerprint: str,
    now: dt.datetime,
) -> dict[str, Any] | None:
    """The stored result if this request was already carried out, else None (go ahead)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters",
            field=["idempotencyKey"],
            code="INVALID",
        )
    ident = {"actor": actor, "operation": operation, "key": key}
    # One statement: insert the key, or take over an expired one; a live key of an
    # in-flight request blocks here until that request commits or rolls back.
    values = insert(IdempotencyRecord).values(
        **ident, request_hash=fingerprint, result=None, created_at=now, expires_at=now + TTL
    )
    claimed = await session.execute(
        values.on_conflict_do_update(
            index_elements=[
                IdempotencyRecord.actor,
                IdempotencyRecord.operation,
                IdempotencyRecord.key,
            ],
            set_={
                "request_hash": values.excluded.request_hash,
                "result": None,
                "created_at": values.excluded.created_at,
                "expires_at": values.excluded.expires_at,
            },
            where=IdempotencyRecord.expires_at <= now,
        ).returning(IdempotencyRecord.key)
    )
    if claimed.first() is not None:
        return None
    record = (await session.execute(select(IdempotencyRecord).filter_by(**ident))).scalar_one()
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this idempotencyKey was used for a different request", field=["idempotencyKey"]
        )
    return record.result or {}


async def complete(
    session: AsyncSession, *, actor: str, operation: str, key: str, result: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .filter_by(actor=actor, operation=operation, key=key)
        .values(result=result)
    )


async def purge_expired(session: AsyncSession, now: dt.datetime) -> int:
    deleted = await session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.expires_at <= now)
        .returning(IdempotencyRecord.key)
    )
    return len(deleted.all())
