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
from sqlalchemy import String, delete
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base, driver_connection
from domain.errors import DomainError, IdempotencyKeyReused

TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 200

# The statements of claim and complete (bench/place_order.py issues them too).
CLAIM_SQL = (
    "INSERT INTO idempotency_keys AS k (actor, operation, key, request_hash, result, created_at, expires_at)"
    " VALUES ($1, $2, $3, $4, NULL, $5, $6)"
    " ON CONFLICT (actor, operation, key) DO UPDATE SET request_hash = excluded.request_hash,"
    " result = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at"
    " WHERE k.expires_at <= $5"
    " RETURNING true"
)
STORED_SQL = (
    "SELECT request_hash, result::text AS result FROM idempotency_keys"
    " WHERE actor = $1 AND operation = $2 AND key = $3"
)
COMPLETE_SQL = "UPDATE idempotency_keys SET result = $4::jsonb WHERE actor = $1 AND operation = $2 AND key = $3"


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
    # One statement: insert the key, or take over an expired one; a live key of an
    # in-flight request blocks here until that request commits or rolls back. Plain SQL
    # on the transaction's connection: this runs on every mutation, and SQLAlchemy's
    # statement building cost more than the round trip (bench/place_order.py).
    conn = await driver_connection(session)
    claimed = await conn.fetchval(
        CLAIM_SQL,
        actor,
        operation,
        key,
        fingerprint,
        now,
        now + TTL,
    )
    if claimed:
        return None
    record = await conn.fetchrow(
        STORED_SQL,
        actor,
        operation,
        key,
    )
    if record["request_hash"] != fingerprint:
        raise IdempotencyKeyReused(
            "this idempotencyKey was used for a different request", field=["idempotencyKey"]
        )
    result = orjson.loads(record["result"]) if record["result"] is not None else None
    return result or {}


async def complete(
    session: AsyncSession, *, actor: str, operation: str, key: str, result: dict[str, Any]
) -> None:
    conn = await driver_connection(session)
    await conn.execute(
        COMPLETE_SQL,
        actor,
        operation,
        key,
        orjson.dumps(result).decode(),
    )


async def purge_expired(session: AsyncSession, now: dt.datetime) -> int:
    deleted = await session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.expires_at <= now)
        .returning(IdempotencyRecord.key)
    )
    return len(deleted.all())
