"""The demo data set, loaded into a real PostgreSQL through the domain services,
in a database of its own on the test session's server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.cli import migrate
from api.demo import CHANNELS, DEMO_KEYS, LOCATIONS, STORES, WAREHOUSES, DemoSummary, seed
from domain.access.keys import principal_for_secret
from domain.access.models import ApiKey
from domain.access.principal import Role
from domain.catalog.models import Location, Product
from domain.channel.models import Channel, ChannelLocation
from domain.db import asyncpg_dsn, create_engine, create_sessionmaker


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def demo_db_url(pg_server: str) -> AsyncIterator[str]:
    admin_url = _with_database(pg_server, "postgres")
    name = f"demo_test_{uuid.uuid4().hex[:12]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = _with_database(pg_server, name)
        migrate(url)
        yield url
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def first_seed(demo_db_url: str) -> DemoSummary:
    return await seed(demo_db_url)


@pytest.fixture
async def session(demo_db_url: str, first_seed: DemoSummary) -> AsyncIterator[AsyncSession]:
    engine = create_engine(demo_db_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def _counts(session: AsyncSession) -> dict[str, int]:
    out = {}
    for label, model in (
        ("locations", Location),
        ("products", Product),
        ("channels", Channel),
        ("keys", ApiKey),
        ("network", ChannelLocation),
    ):
        out[label] = await session.scalar(select(func.count()).select_from(model)) or 0
    return out


async def test_first_seed_loads_everything(first_seed: DemoSummary, session: AsyncSession) -> None:
    assert not first_seed.already_loaded
    assert first_seed.locations == len(LOCATIONS) >= 12
    assert first_seed.channels == 3
    assert 250 <= first_seed.products <= 400
    assert first_seed.keys_created == len(DEMO_KEYS) == 6
    assert "loaded" in str(first_seed) and "\n" not in str(first_seed)

    counts = await _counts(session)
    assert counts["locations"] == first_seed.locations
    assert counts["products"] == first_seed.products
    assert counts["channels"] == 3
    assert counts["keys"] == 6


async def test_required_locations_and_products(session: AsyncSession) -> None:
    lyon = await session.scalar(select(Location).where(Location.code == "WH-LYON"))
    assert lyon is not None
    assert (lyon.kind, lyon.latitude, lyon.longitude) == ("WAREHOUSE", 45.7275, 4.8302)
    assert (lyon.timezone, lyon.handling_days, lyon.can_pickup) == ("Europe/Paris", 1, False)
    assert lyon.cost_currency == "EUR" and lyon.cost_per_shipment_minor

    paris = await session.scalar(select(Location).where(Location.code == "ST-PARIS-11"))
    assert paris is not None
    assert (paris.name, paris.kind) == ("Paris Oberkampf store", "STORE")
    assert (paris.latitude, paris.longitude) == (48.8650, 2.3780)
    assert (paris.can_pickup, paris.handling_days, paris.postal_code) == (True, 0, "75011")

    rows = await session.execute(select(Location.kind, func.count()).group_by(Location.kind))
    kinds = {kind: count for kind, count in rows}
    assert kinds["WAREHOUSE"] >= 5 and kinds["STORE"] >= 7
    assert kinds["THIRD_PARTY"] == 1 and kinds["DROPSHIP"] == 1
    zones = set((await session.scalars(select(Location.timezone))).all())
    assert zones == {"Europe/Paris", "Europe/Brussels", "Europe/Zurich"}

    tee = await session.scalar(select(Product).where(Product.sku == "TEE-BLUE-M"))
    mug = await session.scalar(select(Product).where(Product.sku == "MUG-STONE"))
    assert tee is not None and tee.name == "Organic tee, blue, M"
    assert mug is not None and mug.name == "Stoneware mug"
    assert tee.hs_code is not None and len(tee.hs_code) == 6 and tee.country_of_origin
    missing_customs = await session.scalar(
        select(func.count())
        .select_from(Product)
        .where(Product.hs_code.is_(None) | Product.weight_grams.is_(None))
    )
    assert missing_customs == 0


async def test_channels(session: AsyncSession) -> None:
    channels = {c.code: c for c in (await session.scalars(select(Channel))).all()}
    assert set(channels) == {c.code for c in CHANNELS}

    web = channels["web-fr"]
    assert (web.kind, web.currency) == ("WEB", "EUR")
    assert web.sourcing == {
        "rules": [
            "PICKUP_LOCATION",
            "FEWEST_PARCELS",
            "DISTANCE",
            "PRIORITY",
            "COST",
            "MOST_STOCK",
        ],
        "maxSplits": 3,
        "pickupRadiusKm": 50.0,
    }
    assert web.publish_webhook_url is None and web.publish_feed_directory is None

    market = channels["marketplace-fr"]
    assert market.kind == "MARKETPLACE"
    assert (market.allocation["sharePercent"], market.allocation["buffer"]) == (60, 2)
    assert channels["b2b-fr"].kind == "B2B" and channels["b2b-fr"].allow_backorders

    async def network(code: str) -> set[str]:
        rows = await session.scalars(
            select(Location.code)
            .join(ChannelLocation, ChannelLocation.location_id == Location.id)
            .join(Channel, Channel.id == ChannelLocation.channel_id)
            .where(Channel.code == code)
        )
        return set(rows.all())

    warehouses = {loc.code for loc in WAREHOUSES}
    assert await network("web-fr") == warehouses | {loc.code for loc in STORES}
    assert await network("marketplace-fr") == warehouses
    assert await network("b2b-fr") == warehouses


async def test_demo_keys_authenticate(session: AsyncSession) -> None:
    ids = {code: id_ for code, id_ in await session.execute(select(Channel.code, Channel.id))}
    locs = {code: id_ for code, id_ in await session.execute(select(Location.code, Location.id))}
    principals = {}
    for label, (_, secret) in DEMO_KEYS.items():
        principal = await principal_for_secret(session, secret)
        assert principal is not None, label
        principals[secret] = principal

    assert principals["oms_demo_admin_key_0000000000000000"].role is Role.ADMIN
    for secret, channel in (
        ("oms_demo_web_fr_key_000000000000000", "web-fr"),
        ("oms_demo_marketplace_key_0000000000", "marketplace-fr"),
        ("oms_demo_b2b_fr_key_000000000000000", "b2b-fr"),
    ):
        assert principals[secret].role is Role.CHANNEL
        assert principals[secret].channel_id == ids[channel]
    for secret, location in (
        ("oms_demo_wh_lyon_key_00000000000000", "WH-LYON"),
        ("oms_demo_st_paris_11_key_00000000000", "ST-PARIS-11"),
    ):
        assert principals[secret].role is Role.PARTNER
        assert principals[secret].location_ids == frozenset({locs[location]})

    assert await principal_for_secret(session, "oms_demo_not_a_key_000000000000000") is None


async def test_second_seed_is_a_no_op(demo_db_url: str, session: AsyncSession) -> None:
    before = await _counts(session)
    stamp = await session.scalar(select(func.max(Product.updated_at)))

    again = await seed(demo_db_url)

    assert again.already_loaded
    assert (again.locations, again.products, again.keys_created) == (0, 0, 0)
    assert "already loaded" in str(again)
    assert await _counts(session) == before
    assert await session.scalar(select(func.max(Product.updated_at))) == stamp


async def test_forced_seed_upserts_without_duplicate_keys(
    demo_db_url: str, first_seed: DemoSummary, session: AsyncSession
) -> None:
    before = await _counts(session)

    forced = await seed(demo_db_url, force=True)

    assert not forced.already_loaded
    assert forced.locations == first_seed.locations
    assert forced.products == first_seed.products
    assert forced.keys_created == 0
    assert await _counts(session) == before
    for _, secret in DEMO_KEYS.values():
        assert await principal_for_secret(session, secret) is not None
