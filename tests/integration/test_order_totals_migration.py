"""The migration that brings the amounts of orders cancelled in part before it in line
with the code: its SQL gives what `current_totals` gives, and keeps the amounts as placed."""

from __future__ import annotations

import importlib.util
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from api.cli import ROOT
from domain.order.totals import LineAmounts, current_totals
from tests.fixtures import World

MIGRATION = ROOT / "alembic/versions/20261201_c4a1d2e3f501_order_totals_net_of_cancellations.py"


def recompute_sql() -> str:
    spec = importlib.util.spec_from_file_location("order_totals_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.RECOMPUTE)


@st.composite
def orders(draw: st.DrawFn) -> list[tuple[list[LineAmounts], int]]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        order_lines = []
        for _ in range(draw(st.integers(1, 3))):
            quantity = draw(st.integers(1, 9))
            unit = draw(st.integers(1, 10_000))
            order_lines.append(
                LineAmounts(
                    quantity,
                    draw(st.integers(0, quantity)),
                    unit,
                    draw(st.integers(0, unit * quantity)),
                    draw(st.integers(0, unit * quantity)),
                )
            )
        out.append((order_lines, draw(st.integers(0, 999))))
    return out


async def test_the_migration_computes_what_the_code_computes(world: World, engine: Any) -> None:
    sql = recompute_sql()
    cases: list[list[tuple[list[LineAmounts], int]]] = []

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(orders())
    def collect(example: list[tuple[list[LineAmounts], int]]) -> None:
        cases.append(example)

    collect()
    async with engine.begin() as conn:
        channel = await conn.scalar(text("SELECT id FROM channels WHERE code = 'web-fr'"))
        customer = await conn.scalar(
            text(
                "INSERT INTO customers (channel_id, email) VALUES (:c, 'm@example.com') RETURNING id"
            ),
            {"c": channel},
        )
        expected: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        for n, (order_lines, shipping) in enumerate(o for case in cases for o in case):
            placed = current_totals(
                [LineAmounts(x.quantity, 0, x.unit_price, x.discount, x.tax) for x in order_lines],
                shipping,
            )
            order_id = await conn.scalar(
                text(
                    "INSERT INTO orders (number, channel_id, external_id, customer_id, currency, status,"
                    " delivery_method, split_preference, subtotal_minor, discount_minor, tax_minor,"
                    " shipping_minor, total_minor, placed_at) VALUES (:n, :ch, :n, :cu, 'EUR', 'CONFIRMED',"
                    " 'SHIP', 'CONSOLIDATE', :s, :d, :t, :sh, :tot, now()) RETURNING id"
                ),
                {
                    "n": f"MIG-{n}",
                    "ch": channel,
                    "cu": customer,
                    "s": placed.subtotal,
                    "d": placed.discount,
                    "t": placed.tax,
                    "sh": placed.shipping,
                    "tot": placed.total,
                },
            )
            for number, x in enumerate(order_lines, start=1):
                await conn.execute(
                    text(
                        "INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor,"
                        " discount_minor, tax_minor, allocated_at_placement, quantity_cancelled,"
                        " quantity_allocated) VALUES (:o, :n, 'TEE-BLUE-M', :q, :p, :d, :t, :q, :c, :a)"
                    ),
                    {
                        "o": order_id,
                        "n": number,
                        "q": x.quantity,
                        "p": x.unit_price,
                        "d": x.discount,
                        "t": x.tax,
                        "c": x.cancelled,
                        "a": x.quantity - x.cancelled,
                    },
                )
            now = current_totals(order_lines, shipping)
            changed = any(x.cancelled for x in order_lines)
            as_placed = (
                placed.subtotal,
                placed.discount,
                placed.tax,
                placed.shipping,
                placed.total,
            )
            expected[order_id] = (
                (now.subtotal, now.discount, now.tax, now.shipping, now.total)
                if changed
                else as_placed,
                as_placed if changed else (None,) * 5,
            )
        await conn.execute(text(sql))
        await conn.execute(text(sql))  # a second run changes nothing
        rows = await conn.execute(
            text(
                "SELECT id, subtotal_minor, discount_minor, tax_minor, shipping_minor, total_minor,"
                " original_subtotal_minor, original_discount_minor, original_tax_minor,"
                " original_shipping_minor, original_total_minor FROM orders"
            )
        )
        found = {r[0]: (tuple(r[1:6]), tuple(r[6:11])) for r in rows}
    assert found == expected
