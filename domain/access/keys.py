"""API keys: creation, lookup by secret, revocation; and customer tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence

import jwt
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.models import ApiKey, ApiKeyLocation
from domain.access.principal import Principal, Role
from domain.catalog.models import Location
from domain.channel.models import Channel
from domain.errors import Collector, NotFound
from domain.fulfillment import carriers

API_KEY_PREFIX = "oms_"
# The roles an API key may have (customers hold tokens, not keys).
KEY_ROLES = tuple(r.value for r in (Role.ADMIN, Role.CHANNEL, Role.PARTNER, Role.CARRIER))
CUSTOMER_TOKEN_MAX_TTL = dt.timedelta(hours=24)
CUSTOMER_TOKEN_DEFAULT_TTL = dt.timedelta(hours=1)
_TOKEN_AUDIENCE = "oms:customer"  # noqa: S105 (a claim value, not a secret)


# A secret chosen rather than generated (OMS_ADMIN_KEY, demo keys) must be at least
# this long; generated secrets are `oms_` and 43 random characters.
MIN_CHOSEN_SECRET_LENGTH = 24
MAX_SECRET_LENGTH = 200


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_customer_token(credential: str) -> bool:
    """Whether a bearer credential has the shape of a customer token: a JWT, three
    base64url parts joined by two dots. Anything else is an API key's secret, whatever
    its prefix (`oms_` is only what generated secrets start with)."""
    return credential.count(".") == 2


def chosen_secret_problem(secret: str) -> str | None:
    """Why a chosen API key secret cannot be used, or None if it can: at least 24 and at
    most 200 printable ASCII characters without spaces, and not shaped like a customer
    token (two dots), which the service would read as one."""
    if not MIN_CHOSEN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        return (
            f"it must have {MIN_CHOSEN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters"
            f" (it has {len(secret)})"
        )
    if not all("!" <= ch <= "~" for ch in secret):
        return "it must be printable ASCII characters without spaces"
    if is_customer_token(secret):
        return "it must not contain exactly two dots (that is the shape of a customer token)"
    return None


def new_secret() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def create_api_key(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    channel_code: str | None,
    location_codes: Sequence[str] | None,
    secret: str | None = None,
    carrier: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is stored only as a hash.
    CHANNEL keys are bound to a channel, PARTNER keys to locations, CARRIER keys to a
    carrier (whose parcels' tracking events it records)."""
    errors = Collector()
    name = name.strip()
    if not name or len(name) > 200:
        errors.add("INVALID", "name must be 1 to 200 characters", ["input", "name"])
    if role not in KEY_ROLES:
        errors.add("INVALID", f"unknown role {role!r}", ["input", "role"])
    if role == Role.CARRIER:
        if not carrier:
            errors.add("REQUIRED", "a CARRIER key is bound to one carrier", ["input", "carrier"])
        elif not carriers.is_known(carrier):
            known = ", ".join(sorted(carriers.TRACKING_URLS))
            errors.add(
                "UNKNOWN_CARRIER",
                f"unknown carrier {carrier!r}; carriers are {known}",
                ["input", "carrier"],
            )
    elif carrier:
        errors.add("INVALID", "only CARRIER keys are bound to a carrier", ["input", "carrier"])
    channel_id: int | None = None
    location_ids: list[int] = []
    if role == Role.CHANNEL:
        if not channel_code:
            errors.add("REQUIRED", "a CHANNEL key is bound to one channel", ["input", "channel"])
        else:
            channel_id = await session.scalar(
                select(Channel.id).where(Channel.code == channel_code)
            )
            if channel_id is None:
                errors.add("UNKNOWN_CHANNEL", f"no channel {channel_code!r}", ["input", "channel"])
    elif channel_code:
        errors.add("INVALID", "only CHANNEL keys are bound to a channel", ["input", "channel"])
    if role == Role.PARTNER:
        codes = list(dict.fromkeys(location_codes or []))
        if not codes:
            errors.add(
                "REQUIRED",
                "a PARTNER key is bound to at least one location",
                ["input", "locations"],
            )
        found = dict(
            (
                await session.execute(
                    select(Location.code, Location.id).where(Location.code.in_(codes))
                )
            ).all()
        )
        for index, code in enumerate(codes):
            if code not in found:
                errors.add(
                    "UNKNOWN_LOCATION", f"no location {code!r}", ["input", "locations", index]
                )
        location_ids = [found[c] for c in codes if c in found]
    elif location_codes:
        errors.add("INVALID", "only PARTNER keys are bound to locations", ["input", "locations"])
    problem = chosen_secret_problem(secret) if secret is not None else None
    if problem is not None:
        errors.add("INVALID", f"a chosen secret is refused: {problem}", ["secret"])
    errors.raise_if_any()

    secret = secret or new_secret()
    key = ApiKey(
        name=name,
        role=role,
        channel_id=channel_id,
        carrier=carrier if role == Role.CARRIER else None,
        prefix=secret[:12],
        secret_hash=hash_secret(secret),
    )
    session.add(key)
    await session.flush()
    if location_ids:
        await session.execute(
            insert(ApiKeyLocation), [{"api_key_id": key.id, "location_id": i} for i in location_ids]
        )
    return key, secret


async def revoke_api_key(session: AsyncSession, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("no such API key", field=["id"])
    if key.revoked_at is None:
        key.revoked_at = dt.datetime.now(dt.UTC)
    return key


async def principal_for_secret(session: AsyncSession, secret: str) -> Principal | None:
    """The principal of a live API key, or None for an unknown or revoked one."""
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.channel_id, ApiKey.carrier).where(
                ApiKey.secret_hash == hash_secret(secret), ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    location_ids: frozenset[int] = frozenset()
    if row.role == Role.PARTNER:
        location_ids = frozenset(
            (
                await session.scalars(
                    select(ApiKeyLocation.location_id).where(ApiKeyLocation.api_key_id == row.id)
                )
            ).all()
        )
    return Principal(
        role=Role(row.role),
        name=row.name,
        api_key_id=row.id,
        channel_id=row.channel_id,
        location_ids=location_ids,
        carrier=row.carrier,
    )


async def api_key_is_live(session: AsyncSession, key_id: int) -> bool:
    """Whether the key exists and is not revoked (what a customer token it minted needs)."""
    return bool(
        await session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        )
    )


async def ensure_admin_key(session: AsyncSession, secret: str, name: str = "OMS_ADMIN_KEY") -> None:
    """Make sure an admin key with this secret exists (development convenience)."""
    exists = await session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.secret_hash == hash_secret(secret))
    )
    if not exists:
        await create_api_key(
            session, name=name, role="ADMIN", channel_code=None, location_codes=None, secret=secret
        )
    else:
        await session.execute(
            update(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)).values(revoked_at=None)
        )


def issue_customer_token(
    signing_key: str,
    *,
    customer_id: int,
    channel_id: int,
    api_key_id: int,
    email: str,
    ttl: dt.timedelta,
    now: dt.datetime,
) -> tuple[str, dt.datetime]:
    """A signed token for one customer of a channel, minted by one of its API keys. The
    key's id is in the token (`key`): revoking the key ends the tokens it minted."""
    expires_at = now + ttl
    claims = {
        "sub": str(customer_id),
        "ch": channel_id,
        "key": api_key_id,
        "email": email,
        "aud": _TOKEN_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, signing_key, algorithm="HS256"), expires_at


def principal_for_customer_token(
    signing_key: str, token: str, now: dt.datetime
) -> tuple[Principal, dt.datetime] | None:
    """The customer a valid, unexpired token names, with its expiry; None otherwise.
    Expiry is judged by the service's clock, the same one that issued the token. Whether
    the key that minted it (`Principal.issuing_key_id`) is still live is the caller's
    question (api/auth.py asks it through its cache of keys). A token without that
    claim, minted before tokens carried it, is not valid: no key answers for it."""
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=["HS256"],
            audience=_TOKEN_AUDIENCE,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require": ["exp", "sub", "ch", "key"],
            },
        )
    except jwt.PyJWTError:
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now.timestamp():
        return None
    if not isinstance(claims["key"], int):
        return None
    principal = Principal(
        role=Role.CUSTOMER,
        name=claims["email"],
        channel_id=int(claims["ch"]),
        customer_id=int(claims["sub"]),
        customer_email=claims["email"],
        issuing_key_id=claims["key"],
    )
    return principal, dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
