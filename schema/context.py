"""What every resolver gets: who is calling, a way to open a unit of work, loaders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access.principal import Principal
from domain.db import UnitOfWork
from domain.outbound import OutboundGuard


class CostBudget(Protocol):
    """Query cost per caller and minute (api/ratelimit.py)."""

    async def charge(self, actor: str, cost: int, *, anonymous: bool = False) -> bool:
        """Charge the cost; False when the caller is over its budget."""
        ...

    def retry_after(self) -> int:
        """Seconds until a refused caller's budget is renewed."""
        ...


@dataclass(frozen=True, slots=True)
class Services:
    """Process-wide dependencies, built once by the process that serves the schema."""

    sessionmaker: async_sessionmaker[AsyncSession]
    # Autocommit sessions for reads: no BEGIN/ROLLBACK round trips around a SELECT.
    read_sessionmaker: async_sessionmaker[AsyncSession]
    token_signing_key: str
    # Where webhooks and channel publishing may send data (public addresses only in
    # production, plain http to loopback in development and tests; feed root).
    outbound: OutboundGuard
    clock: Callable[[], dt.datetime]
    # Each query's cost is charged to its caller's budget (none: no rate limit).
    cost_budget: CostBudget | None = None
    # Anything a later area needs (event hub, job queue), by name.
    extra: dict[str, Any] = field(default_factory=dict)


class Context:
    """Per request (HTTP) or per connection (WebSocket)."""

    def __init__(
        self,
        services: Services,
        principal: Principal,
        request_id: str,
        request: Any = None,
        response: Any = None,
    ) -> None:
        self.services = services
        self.principal = principal
        self.request_id = request_id
        self.request = request
        self.response = response
        self.principal_expires_at: dt.datetime | None = None
        # Set by strawberry from connection_init on WebSocket connections.
        self.connection_params: dict[str, Any] | None = None
        self._loaders: dict[str, Any] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.services.sessionmaker)

    def session(self) -> AsyncSession:
        """A short-lived session of its own, for one read; never shared between fields."""
        return self.services.read_sessionmaker()

    def loader(self, name: str, factory: Callable[[Context], Any]) -> Any:
        """The request's dataloader of this name, created on first use."""
        loader = self._loaders.get(name)
        if loader is None:
            loader = self._loaders[name] = factory(self)
        return loader

    def reset_loaders(self) -> None:
        """Forget cached loads (subscriptions call this per event: data changes)."""
        self._loaders.clear()

    def now(self) -> dt.datetime:
        return self.services.clock()
