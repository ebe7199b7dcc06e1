"""Turning an `Authorization` header into a principal."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access.keys import (
    api_key_is_live,
    hash_secret,
    is_customer_token,
    principal_for_customer_token,
    principal_for_secret,
)
from domain.access.principal import ANONYMOUS, Principal

K = TypeVar("K")
V = TypeVar("V")


class InvalidCredential(Exception):
    """A credential was given but is unknown, revoked, malformed or expired."""


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    expires_at: dt.datetime | None = None


class _Cache(Generic[K, V]):
    """Answers kept for `seconds` (0: not kept), and one lookup at a time per key: many
    requests (or WebSockets re-checking their credential) that miss together share one
    query."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._pending: dict[K, asyncio.Future[V]] = {}

    def put(self, key: K, value: V) -> None:
        if self._seconds <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self._seconds, value)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        cached = self._entries.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._pending[key] = pending
            pending.add_done_callback(
                lambda done: self._pending.pop(key) if self._pending.get(key) is done else None
            )
        # Shielded: a caller that gives up does not cancel the others' lookup.
        value = await asyncio.shield(pending)
        self.put(key, value)
        return value


class Authenticator:
    """Resolves bearer credentials: a customer token (a JWT: two dots) or else an API
    key's secret, whatever its prefix. Key lookups are cached for `cache_seconds`
    (revocation takes effect within it), which keeps a hot endpoint to its own query; a
    customer token is checked against the same cache, by the id of the key that minted
    it, so revoking a key ends its tokens within the same time."""

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
        self.cache_seconds = cache_seconds
        self._by_secret: _Cache[str, Principal | None] = _Cache(cache_seconds)
        self._live: _Cache[int, bool] = _Cache(cache_seconds)

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
        if not is_customer_token(credential):
            principal = await self._api_key(credential)
            if principal is None:
                raise InvalidCredential("unknown or revoked API key")
            return Authenticated(principal)
        decoded = principal_for_customer_token(self._signing_key, credential, self._clock())
        if decoded is None:
            raise InvalidCredential("invalid or expired customer token")
        if not await self.still_valid(decoded[0]):
            raise InvalidCredential(
                "revoked customer token: the API key that minted it was revoked"
            )
        return Authenticated(decoded[0], decoded[1])

    async def still_valid(self, principal: Principal) -> bool:
        """Whether the API key a credential stands on (the key, or the key that minted
        the customer token) is still live, as the cache knows it."""
        key_id = principal.credential_key_id
        if key_id is None:
            return True
        return await self._live.get(key_id, lambda: self._key_is_live(key_id))

    async def _key_is_live(self, key_id: int) -> bool:
        async with self._sessionmaker() as session:
            return await api_key_is_live(session, key_id)

    async def _api_key(self, secret: str) -> Principal | None:
        return await self._by_secret.get(
            hash_secret(secret), lambda: self._principal_for_secret(secret)
        )

    async def _principal_for_secret(self, secret: str) -> Principal | None:
        async with self._sessionmaker() as session:
            principal = await principal_for_secret(session, secret)
        if principal is not None and principal.api_key_id is not None:
            # What was just read of the key serves its customer tokens too (for no
            # longer than the answer by secret is kept).
            self._live.put(principal.api_key_id, True)
        return principal
