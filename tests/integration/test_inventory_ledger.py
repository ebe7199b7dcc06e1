"""Property: whatever mix of counts, adjustments and receipts runs (refused ones
included), every level equals the sum of its ledger movements, never goes negative,
and matches a simple model of what should have happened."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.access.principal import SYSTEM
from domain.catalog.service import (
    AddressData,
    LocationData,
    ProductData,
    upsert_locations,
    upsert_products,
)
from domain.db import UnitOfWork
from domain.errors import DomainError
from domain.inventory import inbound
from domain.inventory import service as inventory

SKUS = ["A", "B", "C"]
LOCATIONS = ["L1", "L2"]
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

operation = st.one_of(
    st.tuples(
        st.just("count"),
        st.sampled_from(LOCATIONS),
        st.lists(st.tuples(st.sampled_from(SKUS), st.integers(-2, 60)), min_size=1, max_size=3),
        st.integers(-3, 3),
    ),
    st.tuples(
        st.just("adjust"),
        st.sampled_from(LOCATIONS),
        st.lists(st.tuples(st.sampled_from(SKUS), st.integers(-40, 40)), min_size=1, max_size=3),
        st.just(0),
    ),
    st.tuples(
        st.just("inbound"),
        st.sampled_from(LOCATIONS),
        st.lists(
            st.tuples(st.sampled_from(SKUS), st.integers(1, 30)),
            min_size=1,
            max_size=2,
            unique_by=lambda x: x[0],
        ),
        st.just(0),
    ),
)


async def _world(sessionmaker: Any) -> dict[str, int]:
    async with UnitOfWork(sessionmaker) as uow:
        await upsert_products(uow.session, [ProductData(sku=s, name=s) for s in SKUS])
        locs = await upsert_locations(
            uow.session,
            [
                LocationData(
                    code=code,
                    name=code,
                    kind="WAREHOUSE",
                    address=AddressData(
                        line1="1 rue", city="Lyon", postal_code="69000", country_code="FR"
                    ),
                    latitude=45.7,
                    longitude=4.8,
                    timezone="Europe/Paris",
                    can_ship=True,
                    can_pickup=False,
                )
                for code in LOCATIONS
            ],
        )
    return {loc.code: loc.id for loc in locs}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=150, max_size=250))
async def test_ledger_equals_levels_after_any_mix_of_operations(
    sessionmaker: Any, engine: Any, table_names: list[str], ops: list[Any]
) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(table_names)} RESTART IDENTITY CASCADE"))
    ids = await _world(sessionmaker)
    model: dict[tuple[str, str], int] = {}
    counted_at: dict[tuple[str, str], dt.datetime] = {}
    clock = itertools.count(1)
    refused = 0
    for n, (kind, loc, lines, skew) in enumerate(ops):
        try:
            async with UnitOfWork(sessionmaker) as uow:
                if kind == "count":
                    as_of = (
                        NOW
                        - dt.timedelta(hours=1)
                        + dt.timedelta(seconds=next(clock) * 10 + skew * 15)
                    )
                    result = await inventory.set_stock_levels(
                        uow.session,
                        SYSTEM,
                        location_code=loc,
                        as_of=as_of,
                        lines=[inventory.CountLine(sku, qty) for sku, qty in lines],
                        reference=f"t:{n}",
                        now=NOW,
                    )
                    applied = {lv.sku for lv in result.levels}
                    for sku, qty in lines:
                        if sku in applied:
                            model[(sku, loc)] = qty
                            counted_at[(sku, loc)] = as_of
                elif kind == "adjust":
                    await inventory.adjust_stock(
                        uow.session,
                        SYSTEM,
                        location_code=loc,
                        lines=[inventory.AdjustLine(sku, d, "CYCLE_COUNT") for sku, d in lines],
                        reference=f"t:{n}",
                        now=NOW,
                    )
                    for sku, d in lines:
                        model[(sku, loc)] = model.get((sku, loc), 0) + d
                else:
                    supply = await inbound.create_inbound_supply(
                        uow.session,
                        SYSTEM,
                        reference=f"PO-{n}",
                        kind="PURCHASE_ORDER",
                        location_code=loc,
                        expected_at=NOW,
                        lines=[inbound.SupplyLine(sku, q) for sku, q in lines],
                    )
                    await inbound.receive_inbound_supply(
                        uow.session,
                        SYSTEM,
                        supply_id=supply,
                        lines=[inbound.SupplyLine(sku, q) for sku, q in lines],
                        reference=f"t:{n}",
                        now=NOW,
                    )
                    for sku, q in lines:
                        model[(sku, loc)] = model.get((sku, loc), 0) + q
        except DomainError:
            refused += 1
            # a refused operation changed nothing at all
            stored = await _levels(sessionmaker, ids)
            assert {k: v for k, v in stored.items() if v} == {k: v for k, v in model.items() if v}
    async with sessionmaker() as session:
        assert await inventory.ledger_discrepancies(session) == []
    stored = await _levels(sessionmaker, ids)
    assert all(v >= 0 for v in stored.values())
    assert {k: v for k, v in stored.items() if v} == {k: v for k, v in model.items() if v}


async def _levels(sessionmaker: Any, ids: dict[str, int]) -> dict[tuple[str, str], int]:
    codes = {v: k for k, v in ids.items()}
    from sqlalchemy import text

    async with sessionmaker() as session:
        rows = await session.execute(text("SELECT sku, location_id, on_hand FROM stock_levels"))
        return {(r[0], codes[r[1]]): r[2] for r in rows}
