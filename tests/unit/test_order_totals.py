"""An order's amounts after cancellations: the units kept carry exactly what refunds
of them can pay back, and kept plus cancelled make the order as placed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.order.totals import LineAmounts, current_totals
from domain.returns.refunds import refund_line


@st.composite
def lines(draw: st.DrawFn) -> list[LineAmounts]:
    out = []
    for _ in range(draw(st.integers(1, 5))):
        quantity = draw(st.integers(1, 30))
        unit = draw(st.integers(0, 100_000))
        out.append(
            LineAmounts(
                quantity=quantity,
                cancelled=draw(st.integers(0, quantity)),
                unit_price=unit,
                discount=draw(st.integers(0, unit * quantity)),
                tax=draw(st.integers(0, unit * quantity)),
            )
        )
    return out


def as_placed(order_lines: list[LineAmounts]) -> list[LineAmounts]:
    return [LineAmounts(x.quantity, 0, x.unit_price, x.discount, x.tax) for x in order_lines]


@given(lines(), st.integers(0, 2_000))
def test_refunding_every_unit_kept_pays_back_exactly_the_current_total(
    order_lines: list[LineAmounts], shipping: int
) -> None:
    now = current_totals(order_lines, shipping)
    refunds = [
        refund_line(
            order_line_id=i,
            unit_price=x.unit_price,
            quantity=x.quantity,
            discount=x.discount,
            tax=x.tax,
            already=0,
            units=x.quantity - x.cancelled,
        )
        for i, x in enumerate(order_lines)
    ]
    assert sum(r.amount for r in refunds) + now.shipping == now.total
    assert sum(r.tax for r in refunds) == now.tax
    assert now.total == now.subtotal - now.discount + now.shipping
    assert 0 <= now.discount <= current_totals(as_placed(order_lines), shipping).discount


@given(lines(), st.integers(0, 2_000))
def test_as_placed_the_totals_are_the_placement_arithmetic(
    order_lines: list[LineAmounts], shipping: int
) -> None:
    placed = current_totals(as_placed(order_lines), shipping)
    assert placed.subtotal == sum(x.unit_price * x.quantity for x in order_lines)
    assert placed.discount == sum(x.discount for x in order_lines)
    assert placed.tax == sum(x.tax for x in order_lines)
    assert placed.shipping == shipping
    assert placed.total == placed.subtotal - placed.discount + shipping


def test_shipping_goes_only_when_every_unit_is_cancelled() -> None:
    tee = LineAmounts(quantity=3, cancelled=1, unit_price=2490, discount=500, tax=1245)
    mug = LineAmounts(quantity=1, cancelled=0, unit_price=1200, discount=0, tax=200)
    now = current_totals([tee, mug], 490)
    # 69.70 over 3 tees: 23.24 + 23.23 + 23.23; the two kept pay 46.47.
    assert (now.subtotal, now.discount, now.tax, now.shipping, now.total) == (
        6180,
        333,
        1030,
        490,
        6337,
    )
    gone = current_totals(
        [LineAmounts(3, 3, 2490, 500, 1245), LineAmounts(1, 1, 1200, 0, 200)], 490
    )
    assert (gone.subtotal, gone.discount, gone.tax, gone.shipping, gone.total) == (0, 0, 0, 0, 0)
