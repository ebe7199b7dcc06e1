"""Refunds of any split of an order's lines add up exactly to what was paid."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.money import Money
from domain.returns.refunds import paid_share, refund_line, refund_units


@st.composite
def lines_and_refunds(draw: st.DrawFn) -> tuple[list[tuple[int, int, int, int]], list[list[int]]]:
    """Order lines (unit price, quantity, discount, tax) and, per line, the units of
    each successive refund (summing to the quantity)."""
    lines = []
    splits = []
    for _ in range(draw(st.integers(1, 6))):
        quantity = draw(st.integers(1, 40))
        unit = draw(st.integers(0, 1_000_000))
        discount = draw(st.integers(0, unit * quantity))
        tax = draw(st.integers(0, unit * quantity))
        lines.append((unit, quantity, discount, tax))
        parts = []
        left = quantity
        while left:
            take = draw(st.integers(1, left))
            parts.append(take)
            left -= take
        splits.append(parts)
    return lines, splits


@given(lines_and_refunds(), st.sampled_from(["JPY", "EUR", "KWD"]))
def test_refunds_of_any_split_add_up_to_the_paid_amount(
    data: tuple[list[tuple[int, int, int, int]], list[list[int]]], currency: str
) -> None:
    lines, splits = data
    paid = Money.zero(currency)
    refunded = Money.zero(currency)
    for line_id, ((unit, quantity, discount, tax), parts) in enumerate(
        zip(lines, splits, strict=True)
    ):
        paid += Money(unit * quantity - discount, currency)
        already = 0
        tax_total = 0
        for units in parts:
            line = refund_line(
                order_line_id=line_id,
                unit_price=unit,
                quantity=quantity,
                discount=discount,
                tax=tax,
                already=already,
                units=units,
            )
            assert line.amount >= 0
            refunded += Money(line.amount, currency)
            tax_total += line.tax
            already += units
        assert tax_total == tax
    assert refunded == paid


def test_a_unit_of_a_discounted_line_refunds_its_share_to_the_minor_unit() -> None:
    # 3 x 10.00 EUR with a 1.00 discount: 29.00 paid, as 9.67 + 9.67 + 9.66
    total = 3 * 1000 - 100
    assert [refund_units(total, 3, n, 1) for n in range(3)] == [967, 967, 966]
    assert paid_share(total, 3, 3) == total
    # KWD has three decimals: 7 x 1.000 KWD less 0.001 discount
    assert sum(refund_units(6999, 7, n, 1) for n in range(7)) == 6999
    # JPY has none: 2 x 999 yen less 1 yen
    assert [refund_units(1997, 2, n, 1) for n in range(2)] == [999, 998]
