"""Statements sent straight to asyncpg on a unit of work's session run in its
transaction: their locks hold and a rollback undoes them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from domain.db import UnitOfWork, driver_connection


async def test_raw_statements_share_the_units_transaction(sessionmaker: Any) -> None:
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        first = await conn.fetchval("SELECT txid_current()")
        second = await conn.fetchval("SELECT txid_current()")
        third = (await uow.session.execute(text("SELECT txid_current()"))).scalar_one()
    assert first == second == third


async def test_a_failed_unit_leaves_nothing_written_by_raw_statements(
    sessionmaker: Any, engine: Any
) -> None:
    with pytest.raises(RuntimeError):
        async with UnitOfWork(sessionmaker) as uow:
            conn = await driver_connection(uow.session)
            await conn.execute("INSERT INTO products (sku, name) VALUES ('ROLLED-BACK', 'x')")
            raise RuntimeError("refused")
    async with engine.connect() as conn:
        assert (
            await conn.scalar(text("SELECT count(*) FROM products WHERE sku = 'ROLLED-BACK'")) == 0
        )
