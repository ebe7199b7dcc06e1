"""Test session: a throwaway PostgreSQL and Redis, migrated, and the app over ASGI.

The servers are real (pip-installed binaries, see api/embedded.py), started once per
session in a temporary directory with durability off for speed. Each test starts from
empty tables.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.embedded import EmbeddedPostgres, EmbeddedRedis
from domain.db import create_engine, create_sessionmaker
from tests.support import Api

pytest_plugins = ["tests.fixtures", "tests.receivers"]

# The session's own servers (None when OMS_TEST_DATABASE_URL / OMS_TEST_REDIS_URL point
# elsewhere), for the tests that restart or stop them.
EMBEDDED: dict[str, Any] = {"pg": None, "redis": None}


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    external_db = os.environ.get("OMS_TEST_DATABASE_URL")
    external_redis = os.environ.get("OMS_TEST_REDIS_URL")
    with tempfile.TemporaryDirectory(prefix="oms-test-") as tmp:
        pg = redis = None
        if external_db:
            database_url = external_db
        else:
            pg = EmbeddedPostgres(Path(tmp) / "pg", durable=False, max_connections=300)
            database_url = pg.start()
        if external_redis:
            redis_url = external_redis
        else:
            redis = EmbeddedRedis(Path(tmp) / "redis", durable=False)
            redis_url = redis.start()
        from api.cli import migrate

        migrate(database_url)
        EMBEDDED["pg"], EMBEDDED["redis"] = pg, redis
        try:
            yield {"database_url": database_url, "redis_url": redis_url, "tmp": tmp}
        finally:
            if redis:
                redis.stop()
            if pg:
                pg.stop()


@pytest.fixture(scope="session")
def pg_server(servers: dict[str, str]) -> str:
    return servers["database_url"]


@pytest.fixture(scope="session")
async def engine(servers: dict[str, str]) -> AsyncIterator[object]:
    engine = create_engine(servers["database_url"], pool_size=20, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def shared_sessionmaker(engine):  # type: ignore[no-untyped-def]
    return create_sessionmaker(engine)


@pytest.fixture(scope="session")
async def table_names(engine) -> list[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        )
        return [r[0] for r in rows]


@pytest.fixture
async def clean_db(engine, table_names) -> None:  # type: ignore[no-untyped-def]
    """Every test that touches the database starts from empty tables."""
    await truncate_all(engine, table_names)


async def truncate_all(engine: Any, table_names: list[str]) -> None:
    # The app's event relay may hold locks on the event tables at this moment; a
    # deadlock between it and TRUNCATE aborts one of them, so try again.
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(f"TRUNCATE {', '.join(table_names)} RESTART IDENTITY CASCADE")
                )
            return
        except DBAPIError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
def sessionmaker(clean_db, shared_sessionmaker):  # type: ignore[no-untyped-def]
    return shared_sessionmaker


@pytest.fixture(scope="session")
def feed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The feed root of the tests' app and worker: pytest's base temporary directory,
    so that every test's `tmp_path` lies under it."""
    return tmp_path_factory.getbasetemp().resolve()


@pytest.fixture(scope="session")
def app_settings(servers: dict[str, str], feed_root: Path):  # type: ignore[no-untyped-def]
    from api.settings import Settings

    return Settings.from_env(
        {
            "DATABASE_URL": servers["database_url"],
            "REDIS_URL": servers["redis_url"],
            "OMS_DATA_DIR": servers["tmp"],
            "OMS_FEED_ROOT": str(feed_root),
            "OMS_SECRET_KEY": "test-signing-key-0123456789abcdef0123456789",
            "OMS_AUTH_CACHE_SECONDS": "0",
            "OMS_LOG_JSON": "false",
        }
    )


class Clock:
    """The service's clock in tests: stands still at a known time unless moved."""

    START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Paris

    def __init__(self) -> None:
        self.now = self.START

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when


@pytest.fixture(scope="session")
def session_clock() -> Clock:
    return Clock()


@pytest.fixture
def clock(session_clock: Clock) -> Iterator[Clock]:
    session_clock.set(Clock.START)
    yield session_clock
    session_clock.set(Clock.START)


@pytest.fixture(scope="session")
async def app(app_settings, session_clock):  # type: ignore[no-untyped-def]
    from api.app import create_app

    application = create_app(app_settings, clock=session_clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app, clean_db, clock) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    async with Api.over_asgi(app) as client:
        yield client
