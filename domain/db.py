"""Persistence plumbing shared by every business area: the declarative base, the
engine factory and the unit of work.

One business operation is one `async with UnitOfWork(...)` block opened by its entry
point (a mutation resolver, a job, a CLI command). It commits on clean exit and rolls
back on error; domain code below it never commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, event, func
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from domain.faults import Fault, fault_of

# Deterministic constraint names, so that alembic autogenerate and `alembic check`
# compare like with like.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: DateTime(timezone=True),
        int: BigInteger,
    }


def id_column() -> Mapped[int]:
    return mapped_column(BigInteger, primary_key=True, autoincrement=True)


def created_at_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what people and PaaS give) and use asyncpg."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


def asyncpg_dsn(url: str) -> str:
    """The same URL in the form asyncpg itself accepts (no `+asyncpg`)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# Handing out a pooled connection: one whose socket the server has closed (a restart
# closes them all, and the event loop sees it at once) is replaced for free; one idle
# for longer than this is pinged first (one round trip, three on a transactional
# engine: BEGIN, ping, ROLLBACK), for the silent losses a closed socket does not show.
# A busy connection is not pinged: a ping per checkout cost the order path a fifth of
# its database time (bench/place_order.py).
PING_AFTER_IDLE_SECONDS = 5.0

# TCP keepalives the server sends on each connection (PostgreSQL settings, per session):
# a client whose host vanished is found out within about a minute and its session ended,
# with its locks. tcp_user_timeout bounds how long data the server sent may stay
# unacknowledged. (A frozen process's kernel still acknowledges: the idle-in-transaction
# timeout is what frees the locks of a stopped peer.)
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "60000",
}
# asyncpg's own per-statement deadline, on the client, beyond the server's statement
# timeout: a server that stops answering altogether (a frozen host, a partition) does
# not hold a caller forever either.
CLIENT_DEADLINE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Waits:
    """How long anything on a connection may wait ("every connection has bounded
    waits"): for a lock (`lock_timeout`), for a statement (`statement_timeout`), with
    a transaction open and nothing sent (`idle_in_transaction_session_timeout`: the
    server ends such a session, which frees what a stuck or stopped peer holds), to
    connect, and for a free pooled connection. Milliseconds for the server's settings,
    seconds for the client's; 0 turns a server timeout off."""

    lock_timeout_ms: int = 2_000
    statement_timeout_ms: int = 30_000
    idle_in_transaction_ms: int = 10_000
    connect_timeout_s: float = 5.0
    pool_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Waits:
        """OMS_DB_LOCK_TIMEOUT_MS, OMS_DB_STATEMENT_TIMEOUT_MS,
        OMS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, OMS_DB_CONNECT_TIMEOUT_SECONDS and
        OMS_DB_POOL_TIMEOUT_SECONDS (see the README); unset ones keep the defaults."""
        d = cls()

        def get(name: str, default: float) -> float:
            value = environ.get(name, "").strip()
            return float(value) if value else default

        return cls(
            lock_timeout_ms=int(get("OMS_DB_LOCK_TIMEOUT_MS", d.lock_timeout_ms)),
            statement_timeout_ms=int(get("OMS_DB_STATEMENT_TIMEOUT_MS", d.statement_timeout_ms)),
            idle_in_transaction_ms=int(
                get("OMS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", d.idle_in_transaction_ms)
            ),
            connect_timeout_s=get("OMS_DB_CONNECT_TIMEOUT_SECONDS", d.connect_timeout_s),
            pool_timeout_s=get("OMS_DB_POOL_TIMEOUT_SECONDS", d.pool_timeout_s),
        )

    def server_settings(self) -> dict[str, str]:
        """What each new session is started with (asyncpg's `server_settings`)."""
        return {
            "lock_timeout": str(self.lock_timeout_ms),
            "statement_timeout": str(self.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_ms),
            **KEEPALIVE_SETTINGS,
        }

    def connect_args(self) -> dict[str, Any]:
        """asyncpg.connect's arguments for these waits."""
        deadline = None
        if self.statement_timeout_ms > 0:
            deadline = self.statement_timeout_ms / 1000 + CLIENT_DEADLINE_MARGIN_SECONDS
        return {
            "server_settings": self.server_settings(),
            "timeout": self.connect_timeout_s,
            "command_timeout": deadline,
        }


# For command-line work that may legitimately run long (reports, checks of the whole
# ledger, seeding): still bounded, more generously.
BATCH_WAITS = Waits(
    lock_timeout_ms=30_000,
    statement_timeout_ms=600_000,
    idle_in_transaction_ms=60_000,
    pool_timeout_s=60.0,
)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    autocommit: bool = False,
    waits: Waits | None = None,
    settings: Mapping[str, str] | None = None,
) -> AsyncEngine:
    """`autocommit` engines serve reads: their connections never open a transaction.
    `waits` bound every wait on its connections (the defaults of `Waits` if None);
    `settings`, more PostgreSQL settings for each session."""
    waits = waits or Waits()
    connect_args = waits.connect_args()
    connect_args["server_settings"] = {**connect_args["server_settings"], **(settings or {})}
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,  # see _ping_if_idle: survive a PostgreSQL restart
        pool_recycle=1800,
        pool_timeout=waits.pool_timeout_s,
        connect_args=connect_args,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    _ping_if_idle(engine)
    lock_wait = waits.lock_timeout_ms / 1000 if waits.lock_timeout_ms > 0 else None

    @event.listens_for(engine.sync_engine, "connect")
    def _remember_waits(dbapi_connection: Any, record: Any) -> None:
        record.info[_LOCK_WAIT] = lock_wait

    return engine


async def set_local(conn: Any, **settings: int) -> None:
    """Settings for the rest of the current transaction only (`SET LOCAL`), in one round
    trip: a transaction with needs of its own (a long wait it expects, a shorter one it
    must not exceed) says so where it starts."""
    names = list(settings)
    await conn.execute(
        "SELECT "
        + ", ".join(
            f"set_config(${i + 1}, ${len(names) + i + 1}, true)" for i in range(len(names))
        ),
        *names,
        *(str(settings[n]) for n in names),
    )


def _ping_if_idle(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _fresh(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()
        # A connection that comes back still inside a transaction (a statement that
        # failed in the driver before it reached the server can leave asyncpg believing
        # its transaction is over while the server's is not) would hold its locks and
        # turn every later transaction on it into a savepoint that never commits: it is
        # closed instead (the server rolls it back) and never handed out again.
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and not driver.is_closed() and driver.is_in_transaction():
            record.invalidate()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # DisconnectionError: the pool discards this connection and hands out a new one.
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        if driver is not None and driver.is_in_transaction():
            raise DisconnectionError("this pooled connection is still in a transaction")
        idle = time.monotonic() - record.info.get("idle_since", 0.0)
        if idle <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("pooled connection is dead") from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads outside any business transaction: autocommit, so a query is one
    round trip (no BEGIN and ROLLBACK around it)."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
    )


class UnitOfWork:
    """A transaction around one business operation.

    `after_commit` callbacks run only once the transaction is durable, which is where
    work that leaves the process (announcing events, enqueuing jobs) belongs.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._after_commit: list[Callable[[], Any]] = []
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        await self.session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            elif exc is not None and await discard_if_broken(self.session, exc):
                pass
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
        if exc_type is None:
            for callback in self._after_commit:
                result = callback()
                if hasattr(result, "__await__"):
                    await result

    def after_commit(self, callback: Callable[[], Any]) -> None:
        self._after_commit.append(callback)


_DRIVER = "oms.driver_connection"
_LOCK_WAIT = "oms.lock_wait"


@event.listens_for(Session, "after_transaction_end")
def _forget_driver_connection(session: Session, transaction: Any) -> None:
    # The connection may go back to the pool when the transaction ends.
    session.info.pop(_DRIVER, None)
    session.info.pop(_LOCK_WAIT, None)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under a session's transaction, for hot paths where
    SQLAlchemy's per-statement overhead would dominate (see STACK-NOTES: Core ~0.8x,
    ORM 0.2-0.3x of raw asyncpg throughput). Statements run in the session's transaction.
    Kept on the session until its transaction ends: asking SQLAlchemy for it cost as
    much as a statement (bench/place_order.py)."""
    cached = session.info.get(_DRIVER)
    if cached is not None:
        return cached
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before the first statement *it*
    # runs; statements sent straight to asyncpg would otherwise each commit on their own
    # (and their row locks end with them). Begin now. Autocommit (read) sessions are
    # left alone: `_start_transaction` is a no-op for them.
    if getattr(adapted, "_transaction", None) is None:
        await adapted._start_transaction()
    session.info[_DRIVER] = raw.driver_connection
    session.info[_LOCK_WAIT] = raw.info.get(_LOCK_WAIT)
    return raw.driver_connection


async def discard_if_broken(session: AsyncSession, exc: BaseException) -> bool:
    """If `exc` says the session's connection is lost or unusable, invalidate it (the
    pool drops it rather than hand it out again) and say so. A connection a server
    restart left mid-operation is not always seen as closed, and would fail the next
    caller too."""
    if fault_of(exc) is not Fault.UNAVAILABLE:
        return False
    with contextlib.suppress(Exception):  # already gone: nothing to give back
        await session.invalidate()
    return True


def lock_wait(session: AsyncSession) -> float | None:
    """The lock timeout of the session's connection, in seconds (after
    `driver_connection`): the longest a statement that takes several locks in a row may
    wait for all of them, as its own deadline (see domain/order/writing.py)."""
    found: float | None = session.info.get(_LOCK_WAIT)
    return found
