"""Turning an `Authorization` header into a principal."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access.keys import (
    API_KEY_PREFIX,
    hash_secret,
    principal_for_customer_token,
    principal_for_secret,
)
from domain.access.principal import ANONYMOUS, Principal


class InvalidCredential(Exception):
    """A credential was given but is unknown, revoked, malformed or expired."""


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    expires_at: dt.datetime | None = None


class Authenticator:
    """Resolves bearer credentials. API keys are cached for a short time (revocation
    takes effect within `cache_seconds`), which keeps a hot endpoint to its own query."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        signing_key: str,
        cache_seconds: float,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._clock = clock
        self._sessionmaker = sessionmaker
        self._signing_key = signing_key
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, authorization: object) -> Authenticated:
        """`authorization` as the client sent it: a header, or a WebSocket's
        connection_init value, which can be anything JSON has."""
        if not authorization:
            return Authenticated(ANONYMOUS)
        # Credentials are printable ASCII: anything else (a NUL, a lone surrogate from
        # a JSON escape, a number) is refused before it reaches a hash or a query.
        if not (
            isinstance(authorization, str)
            and authorization.isascii()
            and authorization.isprintable()
        ):
            raise InvalidCredential("use 'Authorization: Bearer <credential>'")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise InvalidCredential("use 'Authorization: Bearer <credential>'")
        if credential.startswith(API_KEY_PREFIX):
            principal = await self._api_key(credential)
            if principal is None:
                raise InvalidCredential("unknown or revoked API key")
            return Authenticated(principal)
        decoded = principal_for_customer_token(self._signing_key, credential, self._clock())
        if decoded is None:
            raise InvalidCredential("invalid or expired customer token")
        return Authenticated(decoded[0], decoded[1])

    async def _api_key(self, secret: str) -> Principal | None:
        key = hash_secret(secret)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._sessionmaker() as session:
            principal = await principal_for_secret(session, secret)
        if self._cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self._cache_seconds, principal)
        return principal
